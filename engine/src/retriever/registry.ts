/**
 * The stage registry: every stage module registered once by canonical id (aliases resolve through
 * resources/stage-ids.ts), with category, description, icon, parameter schema and availability.
 */
import { QuarryError } from '../lib/errors.ts';
import { canonicalStageId, STAGE_IDS } from '../resources/stage-ids.ts';
import type { StageModule } from './types.ts';
import { stage as featureSearch } from './stages/filter/feature_search.ts';
import { stage as attributeFilter } from './stages/filter/attribute_filter.ts';
import { stage as sortRelevance } from './stages/sort/sort_relevance.ts';
import { stage as sortAttribute } from './stages/sort/sort_attribute.ts';
import { stage as scoreNormalize } from './stages/sort/score_normalize.ts';
import { stage as mmr } from './stages/sort/mmr.ts';
import { stage as rerank } from './stages/sort/rerank.ts';
import { stage as limit } from './stages/reduce/limit.ts';
import { stage as sample } from './stages/reduce/sample.ts';
import { stage as deduplicate } from './stages/reduce/deduplicate.ts';
import { stage as aggregate } from './stages/reduce/aggregate.ts';
import { stage as groupBy } from './stages/group/group_by.ts';
import { stage as cluster } from './stages/group/cluster.ts';
import { stage as jsonTransform } from './stages/apply/json_transform.ts';
import { stage as ragPrepare } from './stages/apply/rag_prepare.ts';
import { stage as unwind } from './stages/apply/unwind.ts';
import { stage as apiCall } from './stages/apply/api_call.ts';
import { stage as documentEnrich } from './stages/enrich/document_enrich.ts';
import { stage as taxonomyEnrich } from './stages/enrich/taxonomy_enrich.ts';
import { stage as llmFilter } from './stages/llm/llm_filter.ts';
import { stage as llmEnrich } from './stages/llm/llm_enrich.ts';
import { stage as summarize } from './stages/llm/summarize.ts';
import { stage as queryExpand } from './stages/llm/query_expand.ts';
import { stage as crossCompare } from './stages/apply/cross_compare.ts';
import { stage as agenticEnrich } from './stages/llm/agentic_enrich.ts';
import { stage as agentSearch } from './stages/llm/agent_search.ts';
import { stage as sqlLookup } from './stages/apply/sql_lookup.ts';
import { stage as webScrape } from './stages/web/web_scrape.ts';
import { stage as externalWebSearch } from './stages/web/external_web_search.ts';
import { unavailableStages } from './stages/unavailable.ts';

const MODULES: StageModule[] = [
  featureSearch, attributeFilter,
  sortRelevance, sortAttribute, scoreNormalize, mmr, rerank,
  limit, sample, deduplicate, aggregate,
  groupBy, cluster,
  jsonTransform, ragPrepare, unwind, apiCall, webScrape, externalWebSearch, sqlLookup,
  documentEnrich, taxonomyEnrich,
  llmFilter, llmEnrich, summarize, queryExpand, crossCompare, agenticEnrich, agentSearch,
  ...unavailableStages,
];

const registry = new Map<string, StageModule>();
for (const m of MODULES) {
  if (registry.has(m.id)) throw new Error(`stage ${m.id} registered twice`);
  registry.set(m.id, m);
}
for (const id of STAGE_IDS) if (!registry.has(id)) throw new Error(`stage ${id} is accepted by the resource model but has no module`);

export function getStage(id: string): StageModule {
  const c = canonicalStageId(id);
  const m = c ? registry.get(c) : undefined;
  if (!m) throw new QuarryError('BadRequestError', `'${id}' is not a registered stage; GET /v1/retrievers/stages lists them`, { stage_id: id });
  return m;
}

export function allStages(): StageModule[] {
  return [...registry.values()];
}

/** Credits charged per stage run (reference §4.7 latency/cost guide: cheap 0, moderate 1, expensive 2). */
const COST: Record<string, number> = { feature_search: 1, rerank: 2, api_call: 1, web_scrape: 1, external_web_search: 1, sql_lookup: 1, document_enrich: 1, taxonomy_enrich: 1, cluster: 1, cross_compare: 1, llm_filter: 2, llm_enrich: 2, summarize: 2, query_expand: 2, agentic_enrich: 2, agent_search: 2 };
export function stageCredits(id: string): number {
  return COST[id] ?? 0;
}

/** Typical duration (ms) per stage for explain's estimates. */
const DURATION: Record<string, number> = { feature_search: 30, rerank: 80, api_call: 200, web_scrape: 800, external_web_search: 1000, sql_lookup: 50, document_enrich: 20, taxonomy_enrich: 30, cluster: 20, mmr: 5, llm_filter: 350, query_expand: 550, llm_enrich: 550, summarize: 1200, agentic_enrich: 5000, agent_search: 3000 };
export function stageDurationEstimate(id: string): number {
  return DURATION[id] ?? 2;
}

/** Registry entry as `GET /v1/retrievers/stages` returns it. */
export function describeStage(m: StageModule): Record<string, unknown> {
  return {
    stage_id: m.id,
    description: m.description,
    category: m.category,
    icon: m.icon,
    available: m.available !== false,
    cost_tier: stageCredits(m.id) >= 2 ? 'expensive' : stageCredits(m.id) === 1 ? 'moderate' : 'cheap',
    parameter_schema: m.parameterSchema,
  };
}
