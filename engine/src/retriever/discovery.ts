/**
 * Stage discovery for agents and UIs (reference §3.7 `StageDiscovery`, served at `GET /v1/discovery/stages`): the
 * registry entry plus a ready-to-use `example_config` in the canonical stage envelope, `common_use_cases`,
 * `cost_tier` and whether the stage reads collections itself (`requires_collections`).
 */
import { DEFAULT_TEMPLATE } from './stages/apply/json_transform.ts';
import { describeStage } from './registry.ts';
import type { StageModule } from './types.ts';

const QUERY = '{{INPUT.query}}';

/** Example parameters per stage (each validates against the stage's parameter schema; a test checks it). */
const EXAMPLES: Record<string, Record<string, unknown>> = {
  feature_search: {
    searches: [{ feature_uri: 'quarry://text_extractor@v1/multilingual_e5_large_instruct_v1', query: { input_mode: 'text', value: QUERY }, top_k: 100 }],
    final_top_k: 25,
  },
  attribute_filter: { field: 'metadata.status', operator: 'eq', value: 'published' },
  sort_relevance: { score_field: 'score', direction: 'desc' },
  sort_attribute: { field: 'metadata.created_at', direction: 'desc' },
  score_normalize: { method: 'min_max' },
  mmr: { lambda: 0.7, top_k: 25 },
  rerank: { inference_name: 'BAAI__bge_reranker_v2_m3', query: QUERY, document_field: 'content', top_k: 10 },
  limit: { limit: 10 },
  sample: { count: 10, strategy: 'random', seed: 42 },
  deduplicate: { strategy: 'field', fields: ['source_object_id'] },
  aggregate: { aggregations: [{ function: 'count', alias: 'count' }], group_by: [{ field: 'metadata.category' }], sort_by: 'count' },
  group_by: { group_by_field: 'source_object_id', max_per_group: 3, output_mode: 'all' },
  cluster: { algorithm: 'kmeans', n_clusters: 5, output_mode: 'clusters' },
  json_transform: { template: DEFAULT_TEMPLATE },
  rag_prepare: { max_tokens: 8000, output_mode: 'single_context' },
  unwind: { field: 'metadata.tags' },
  api_call: { url: 'https://api.example.com/items/{{DOC.metadata.item_id}}', allowed_domains: ['api.example.com'], method: 'GET', output_field: 'metadata.api_response' },
  document_enrich: { target_collection_id: 'catalog', source_field: 'metadata.product_id', target_field: 'product_id', output_field: 'catalog' },
  taxonomy_enrich: { taxonomy_id: 'product_categories', top_k: 1 },
  llm_filter: { criteria: 'Keep only documents relevant to {{INPUT.query}}', include_reasoning: false },
  llm_enrich: { prompt: 'Classify this text: {{DOC.content}}', output_field: 'metadata.classification', schema: { type: 'object', properties: { label: { enum: ['positive', 'neutral', 'negative'] } }, required: ['label'] } },
  summarize: { prompt: 'Summarize the following {{DOC_COUNT}} documents concisely: {{DOCUMENTS}}', output_field: 'summary', max_output_tokens: 256 },
  agentic_enrich: { system_prompt: 'Classify the document by its main topic.', output_schema: { type: 'object', properties: { label: { type: 'string' } }, required: ['label'] }, output_field: 'metadata.classification', max_turns: 4 },
  agent_search: {
    strategy: 'iterative_refinement',
    max_iterations: 3,
    feature_search_config: { searches: [{ feature_uri: 'quarry://text_extractor@v1/multilingual_e5_large_instruct_v1', query: QUERY, top_k: 50 }], final_top_k: 20 },
  },
  cross_compare: { reference_collection_id: 'product-docs', source_field: 'content', reference_field: 'content', extraction_mode: 'labels', match_tiers: ['exact', 'fuzzy'] },
  web_scrape: { url_field: 'metadata.url', output_field: 'metadata.web_content', strategy: 'static', timeout: 10 },
  external_web_search: { query: QUERY, num_results: 10, include_text: true },
  sql_lookup: { connection_id: 'orders', query: 'SELECT status, total FROM orders WHERE customer_id = $1', parameters: { customer_id: '{{DOC.metadata.customer_id}}' }, output_field: 'order' },
  query_expand: {
    num_expansions: 3,
    feature_search_config: { searches: [{ feature_uri: 'quarry://text_extractor@v1/multilingual_e5_large_instruct_v1', query: { input_mode: 'text', value: QUERY }, top_k: 50 }], final_top_k: 25 },
  },
};

const USE_CASES: Record<string, string[]> = {
  feature_search: ['semantic search', 'hybrid (dense + BM25) search with fusion', 'faceted search'],
  attribute_filter: ['metadata filtering', 'access control filters', 'browse a collection by attribute'],
  sort_relevance: ['order by score', 'restore score order after a transform'],
  sort_attribute: ['newest first', 'order by price or rating'],
  score_normalize: ['comparable scores across searches', 'score thresholds'],
  mmr: ['diverse results', 'avoid near-duplicates in the top results'],
  rerank: ['precision at the top with a cross-encoder'],
  limit: ['top-k cutoff', 'cap cost of later stages'],
  sample: ['random sampling', 'stratified samples for review'],
  deduplicate: ['one result per source object', 'remove near-duplicate texts'],
  aggregate: ['counts per category', 'analytics over results'],
  group_by: ['one result per video or document', 'grouped result pages'],
  cluster: ['topic discovery in results', 'representative documents'],
  json_transform: ['reshape documents for an API', 'project fields'],
  rag_prepare: ['LLM context with citations', 'token-budgeted context'],
  unwind: ['one document per array element', 'flatten tags or segments'],
  api_call: ['enrich with an external API', 'live prices or stock'],
  document_enrich: ['join another collection', 'attach related documents'],
  taxonomy_enrich: ['classify results against a taxonomy', 'tag documents at query time'],
  llm_filter: ['keep only results an LLM judges relevant', 'policy or safety screening'],
  llm_enrich: ['structured extraction into fields', 'per-result summaries or labels'],
  summarize: ['answer a question from the top results (RAG)', 'one summary per group'],
  query_expand: ['recall for short or ambiguous queries', 'synonyms and related terms'],
  agentic_enrich: ['classification that consults a taxonomy or examples', 'structured extraction with analysis steps'],
  agent_search: ['multi-step research over a collection', 'refine a search with filters the model chooses'],
  cross_compare: ['check documentation against the product UI labels', 'find content missing from a reference collection'],
  web_scrape: ['read the pages results link to', 'page text for an LLM stage'],
  external_web_search: ['add fresh web results beside your own documents', 'research beyond the collection'],
  sql_lookup: ['join results with rows of your database', 'live order or account status'],
};

/** Stages that read collections themselves (the others work on the documents earlier stages produced). */
const READS_COLLECTIONS = new Set(['feature_search', 'attribute_filter', 'document_enrich', 'taxonomy_enrich', 'agent_search', 'query_expand', 'cross_compare']);

export function discoverStage(m: StageModule): Record<string, unknown> {
  return {
    ...describeStage(m),
    example_config: { stage_name: m.id, stage_type: m.category, config: { stage_id: m.id, parameters: EXAMPLES[m.id] ?? {} } },
    common_use_cases: USE_CASES[m.id] ?? [m.description.replace(/ \(not available.*$/, '')],
    requires_collections: READS_COLLECTIONS.has(m.id),
  };
}
