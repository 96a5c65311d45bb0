/**
 * query_expand (reference §4.1): the LLM writes `num_expansions` variations of the query (a JSON array of exactly
 * that many strings, enforced while generating), feature_search runs once per variation (and the original with
 * include_original) with `feature_search_config` — its text queries replaced by the variation — and the result
 * lists are fused: rrf Σ 1/(rrf_k + rank), linear Σ score, max; de-duplicated by document_id.
 */
import { badRequest } from '#core/lib/errors.ts';
import { asText, messages } from '#engine/llm/prompt.ts';
import { validateParams } from '../../params.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias } from '../common.ts';
import { stage as featureSearch } from '../filter/feature_search.ts';
import { llmCommonProperties } from './llm_filter.ts';

/** The longest variation the model may write. */
const MAX_QUERY_CHARS = 100;

const DEFAULT_PROMPT = 'Write {{NUM_EXPANSIONS}} different search queries that find documents answering this query, using other words and related terms: {{QUERY}}';

const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['feature_search_config'],
  properties: {
    num_expansions: { type: 'integer', minimum: 1, maximum: 10, default: 3 },
    expansion_prompt: { type: 'string', minLength: 1, default: DEFAULT_PROMPT },
    expansion_model: { type: 'string', default: 'gpt-4o-mini', description: 'Accepted for compatibility: calls go to the configured LLM' },
    api_key: llmCommonProperties.api_key,
    feature_search_config: { type: 'object', description: 'A full feature_search parameter object; its text queries are replaced by each variation' },
    include_original: { type: 'boolean', default: true },
    rrf_k: { type: 'integer', minimum: 1, maximum: 1000, default: 60 },
    fusion_strategy: { enum: ['rrf', 'linear', 'max'], default: 'rrf' },
    deduplicate: { type: 'boolean', default: true },
  },
};

type Search = { query?: unknown; [k: string]: unknown };

const textOf = (q: unknown): string | undefined => {
  if (typeof q === 'string') return q;
  if (q && typeof q === 'object') {
    const o = q as { input_mode?: unknown; value?: unknown; text?: unknown };
    if ((o.input_mode ?? 'text') === 'text') return typeof o.value === 'string' ? o.value : typeof o.text === 'string' ? o.text : undefined;
  }
  return undefined;
};

async function execute(_docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const base = featureSearch.normalize!(structuredClone(p.feature_search_config as Record<string, unknown>));
  const searches = (Array.isArray(base.searches) ? base.searches : []) as Search[];
  const original = searches.map((s) => textOf(s.query)).find((t) => t !== undefined && t.trim() !== '');
  if (original === undefined) {
    throw badRequest(`stage '${ctx.stageName}': feature_search_config needs a search with a text query to expand (searches[].query)`, { stage: ctx.stageName, parameter: 'feature_search_config.searches' });
  }
  const n = p.num_expansions as number;
  const prompt = asText(ctx.renderForDoc(p.expansion_prompt, {}, 'expansion_prompt', { QUERY: original, NUM_EXPANSIONS: n }));
  const r = await ctx.complete({
    messages: messages(prompt, 'You rewrite search queries. Answer with JSON: {"queries": [...]}.'),
    jsonSchema: {
      type: 'object',
      properties: { queries: { type: 'array', items: { type: 'string', minLength: 1, maxLength: MAX_QUERY_CHARS }, minItems: n, maxItems: n } },
      required: ['queries'],
      additionalProperties: false,
    },
    // Room for the longest answer the schema allows: a token may carry a single character (digits do in many
    // vocabularies), and an answer cut short is not JSON (a small model once wrote 100-digit "queries").
    maxTokens: n * (MAX_QUERY_CHARS + 8) + 20,
    temperature: 0.3,
  });
  const variations = [...new Set(((r.json as { queries: string[] }).queries).map((q) => q.trim()).filter((q) => q && q !== original))];
  const queries = p.include_original ? [original, ...variations] : variations.length ? variations : [original];
  const lists = await Promise.all(
    queries.map((q) => {
      const params = { ...base, searches: searches.map((s) => (textOf(s.query) !== undefined ? { ...s, query: { input_mode: 'text', value: q } } : s)) };
      const validated = validateParams(featureSearch, ctx.stageName, params);
      return featureSearch.execute([], { ...ctx, stageId: 'feature_search', params: validated, metadata: {} });
    }),
  );
  ctx.metadata.expansions = variations;
  ctx.metadata.queries_run = queries.length;
  const strategy = p.fusion_strategy as string;
  const k = p.rrf_k as number;
  const contribution = (d: Doc, rank: number) => (strategy === 'rrf' ? 1 / (k + rank + 1) : typeof d.score === 'number' ? d.score : 0);
  if (!p.deduplicate) {
    return lists.flatMap((l) => l.map((d, rank) => ({ ...d, score: contribution(d, rank) }))).sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
  }
  const fused = new Map<string, { doc: Doc; score: number; matched: number }>();
  lists.forEach((l) =>
    l.forEach((d, rank) => {
      const id = String(d.document_id);
      const c = contribution(d, rank);
      const f = fused.get(id);
      if (!f) fused.set(id, { doc: d, score: c, matched: 1 });
      else {
        f.score = strategy === 'max' ? Math.max(f.score, c) : f.score + c;
        f.matched++;
      }
    }),
  );
  const limit = typeof base.final_top_k === 'number' ? base.final_top_k : 25;
  return [...fused.values()]
    .sort((a, b) => b.score - a.score)
    .slice(0, limit)
    .map((f) => ({ ...f.doc, score: f.score, matched_queries: f.matched }));
}

export const stage: StageModule = {
  id: 'query_expand',
  category: 'filter',
  description: 'Expand the query into variations with an LLM and fuse the results',
  icon: 'wand',
  parameterSchema,
  perDocParameters: ['expansion_prompt'],
  normalize: (params) => {
    alias(params, { model: 'expansion_model', num_variations: 'num_expansions', fusion_method: 'fusion_strategy' });
    // DOCS form: {query, vector_index, top_k} instead of a feature_search_config.
    if (params.feature_search_config === undefined && typeof params.vector_index === 'string' && params.query !== undefined) {
      params.feature_search_config = { searches: [{ feature_uri: params.vector_index, query: params.query }], final_top_k: params.top_k ?? 20 };
      delete params.vector_index;
      delete params.query;
      delete params.top_k;
    }
    return params;
  },
  execute,
};
