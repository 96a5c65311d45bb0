/**
 * Stages Quarry lists but does not run. They are in the registry (so pipelines and UIs see them) but marked
 * unavailable; a pipeline naming one is refused before any stage runs with the reason.
 * - code_execution: runs tenant code, which is safe only in a real sandbox (a separate process with no network, no
 *   filesystem, CPU/memory/time limits). Unprivileged user namespaces (the basis of bubblewrap/nsjail-style sandboxes)
 *   are disabled on common hosts (Ubuntu's AppArmor restriction) and in many clusters, and Node's permission model and
 *   vm module are not security boundaries; rather than ship an unsafe runner, the stage stays unavailable.
 */
import { QuarryError } from '../../lib/errors.ts';
import type { StageCategory } from '../../resources/stage-ids.ts';
import type { StageModule } from '../types.ts';

const LIST: [string, StageCategory, string, string, string][] = [
  ['code_execution', 'apply', 'Execute custom code in a sandbox', 'terminal', 'Quarry runs tenant code only in an isolated sandbox (no network, no filesystem, CPU/memory/time limits) and none is available'],
];

export const unavailableStages: StageModule[] = LIST.map(([id, category, description, icon, reason]) => ({
  id,
  category,
  description: `${description} (not available: ${reason})`,
  icon,
  available: false,
  unavailableReason: reason,
  parameterSchema: { type: 'object', additionalProperties: true },
  execute: async () => {
    throw new QuarryError('NotEnabledError', `stage ${id} is not available in Quarry: ${reason}`, { stage_id: id });
  },
}));
