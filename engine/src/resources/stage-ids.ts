/**
 * The retriever stage ids the resource model accepts (reference §4.7), their categories, legacy aliases, and the
 * registry of per-stage parameter JSON schemas. The retriever engine (engine/src/retriever/) registers each stage's
 * parameter schema with `registerStageSchema`; validate.ts checks `config.parameters` against it. The stage id list
 * also becomes the enum of `spec.stages[].config.stageId` in the Retriever CRD, so an unknown id is rejected at
 * admission.
 */
import type { JsonSchema } from '../extractors/registry.ts';

export const STAGE_CATEGORIES = ['filter', 'sort', 'reduce', 'group', 'apply', 'enrich'] as const;
export type StageCategory = (typeof STAGE_CATEGORIES)[number];

/**
 * Stage id → categories it may be declared with. Where the sources disagree (reference §4.7: DOCS vs SDK vs MCP),
 * every category a source gives is accepted; the first is the canonical one.
 */
export const STAGES: Readonly<Record<string, readonly StageCategory[]>> = {
  feature_search: ['filter'],
  attribute_filter: ['filter'],
  llm_filter: ['filter'],
  agent_search: ['filter'],
  query_expand: ['filter'],
  sort_relevance: ['sort'],
  sort_attribute: ['sort'],
  mmr: ['sort'],
  rerank: ['sort'],
  score_normalize: ['sort'],
  aggregate: ['reduce'],
  sample: ['reduce'],
  summarize: ['reduce'],
  limit: ['reduce'],
  deduplicate: ['reduce'],
  group_by: ['group', 'reduce'],
  cluster: ['group', 'reduce'],
  json_transform: ['apply'],
  rag_prepare: ['apply'],
  external_web_search: ['apply'],
  api_call: ['apply', 'enrich'],
  sql_lookup: ['apply'],
  cross_compare: ['apply'],
  web_scrape: ['apply', 'enrich'],
  unwind: ['apply'],
  code_execution: ['apply', 'enrich'],
  llm_enrich: ['enrich', 'apply'],
  taxonomy_enrich: ['enrich', 'apply'],
  document_enrich: ['enrich', 'apply'],
  agentic_enrich: ['enrich'],
};

/** Legacy ids (reference §4.7) → the stage they name today. */
export const STAGE_ALIASES: Readonly<Record<string, string>> = {
  feature_filter: 'feature_search',
  semantic_search: 'feature_search',
  hybrid_search: 'feature_search',
  knn_search: 'feature_search',
  structured_filter: 'attribute_filter',
  filter: 'attribute_filter',
  llm_enrichment: 'llm_enrich',
  web_search: 'external_web_search',
  join: 'document_enrich',
};

export const STAGE_IDS: readonly string[] = Object.keys(STAGES);
/** Every id a manifest may write: canonical ids first, then aliases (sorted for a stable CRD enum). */
export const ACCEPTED_STAGE_IDS: readonly string[] = [...STAGE_IDS, ...Object.keys(STAGE_ALIASES).sort()];

/** The canonical id for a canonical id or alias; undefined when unknown. */
export function canonicalStageId(id: string): string | undefined {
  if (id in STAGES) return id;
  return STAGE_ALIASES[id];
}

export function stageCategories(id: string): readonly StageCategory[] {
  const c = canonicalStageId(id);
  return c ? (STAGES[c] ?? []) : [];
}

/**
 * The retriever engine's module that registers every stage's parameter schema (via registerStageSchema) when
 * loaded. `make generate` imports it when it exists and compiles the registered schemas into
 * generated/stage-validators.js, so every process validating Retrievers checks parameters without loading the
 * retriever engine.
 */
export const STAGE_SCHEMAS_MODULE = 'engine/src/retriever/stage-schemas.ts';

const schemas = new Map<string, JsonSchema>();

/**
 * Registers the JSON schema of a stage's `parameters` (draft-07 / 2019 subset ajv understands). Called by the
 * retriever engine at module load; registering an unknown id is a programming error.
 */
export function registerStageSchema(id: string, schema: JsonSchema): void {
  const c = canonicalStageId(id);
  if (!c) throw new Error(`registerStageSchema: '${id}' is not a known stage id (add it to engine/src/resources/stage-ids.ts first)`);
  schemas.set(c, schema);
}

/** The registered parameter schema of a stage (by id or alias), if any. */
export function stageSchema(id: string): JsonSchema | undefined {
  const c = canonicalStageId(id);
  return c ? schemas.get(c) : undefined;
}

export function registeredStageSchemas(): ReadonlyMap<string, JsonSchema> {
  return schemas;
}
