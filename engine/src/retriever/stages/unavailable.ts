/**
 * Stages that need an LLM tool loop or an external web service and are not built yet. They are listed in the registry (so pipelines and UIs see
 * them) but marked unavailable; a pipeline naming one is refused before any stage runs with a clear error.
 */
import { QuarryError } from '../../lib/errors.ts';
import type { StageCategory } from '../../resources/stage-ids.ts';
import type { StageModule } from '../types.ts';

const LIST: [string, StageCategory, string, string][] = [
  ['external_web_search', 'apply', 'Search the web with an external search service', 'globe'],
  ['web_scrape', 'apply', 'Fetch and extract web pages', 'globe'],
  ['sql_lookup', 'apply', 'Look up rows in an external SQL database', 'database'],
  ['code_execution', 'apply', 'Execute custom code in a sandbox', 'terminal'],
];

export const unavailableStages: StageModule[] = LIST.map(([id, category, description, icon]) => ({
  id,
  category,
  description: `${description} (not available yet: needs an LLM or an external service)`,
  icon,
  available: false,
  parameterSchema: { type: 'object', additionalProperties: true },
  execute: async () => {
    throw new QuarryError('NotEnabledError', `stage ${id} is not available in Quarry yet`, { stage_id: id });
  },
}));
