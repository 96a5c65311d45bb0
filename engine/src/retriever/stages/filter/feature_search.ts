/**
 * feature_search (reference §4.1): up to 10 searches (text, content, document reference or raw vector), each
 * `top_k` with an optional `min_score`, fused with rrf (k=60), dbsf, weighted or max; optional group_by and facets.
 * Searches run one store query each (so per-search top_k/min_score/collections hold on every adapter) and are fused
 * here; a single search returns the store's scores unchanged.
 */
import { learnedWeights, learningConfig, rewardedInteractions, weightedRrf } from '../../learned-fusion.ts';
import { QuarryError, badRequest } from '#core/lib/errors.ts';
import type { FilterNode } from '#core/ports/filter.ts';
import type { ScoredPoint, SearchRequest } from '#core/ports/vector-store.ts';
import { distrNorm } from '#engine/vector/fusion.ts';
import { smallerIsBetter } from '#engine/vector/spec.ts';
import { groupHits } from '#engine/vector/groups.ts';
import { mergeFilters } from '../../filters.ts';
import { guardedRequest } from '../../ssrf.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { filterSchema } from '../common.ts';
import { runtimeModelOf } from '../../model-scope.ts';

export const RRF_K = 60;

const querySchema = {
  description: 'Query: {input_mode: text|content|document|vector, value}; a bare string is text.',
  oneOf: [
    { type: 'string' },
    {
      type: 'object',
      properties: {
        input_mode: { enum: ['text', 'content', 'document', 'vector'], default: 'text' },
        value: {},
        text: { type: 'string' },
        content: { type: 'object' },
        document_ref: { type: 'object', properties: { collection_id: { type: 'string' }, document_id: { type: 'string' } }, required: ['document_id'] },
      },
    },
  ],
};

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    searches: {
      type: 'array',
      maxItems: 10,
      default: [],
      items: {
        type: 'object',
        required: ['feature_uri', 'query'],
        properties: {
          feature_uri: { type: 'string', minLength: 1, description: 'quarry://<extractor>@<version>/<output> (mixpeek:// accepted)' },
          query: querySchema,
          top_k: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          min_score: { type: 'number' },
          weight: { type: 'number', minimum: 0, maximum: 1, default: 1 },
          on_empty: { enum: ['error', 'skip', 'random'], default: 'error' },
          collection_identifiers: { type: 'array', items: { type: 'string' } },
          filters: filterSchema,
        },
      },
    },
    final_top_k: { type: 'integer', minimum: 1, maximum: 500, default: 25 },
    fusion: { enum: ['rrf', 'dbsf', 'weighted', 'max', 'learned'], default: 'rrf' },
    learning_config: {
      type: 'object',
      description: 'fusion learned: Thompson-sampling weights per search from the interaction records (POST /v1/retrievers/interactions); rrf until min_interactions rewarded ones',
      properties: {
        algorithm: { enum: ['thompson_sampling', 'epsilon_greedy', 'ucb'], default: 'thompson_sampling' },
        context_features: { type: 'array', items: { type: 'string' }, default: [] },
        demographic_features: { type: 'array', items: { type: 'string' }, default: [] },
        fallback_strategy: { enum: ['hierarchical', 'global'], default: 'hierarchical' },
        min_interactions: { type: 'integer', minimum: 1, maximum: 100, default: 5 },
        reward_signal: { type: 'string', minLength: 1, default: 'click' },
        exploration_bonus: { type: 'number', minimum: 1, maximum: 10, default: 1 },
        prior_alpha: { type: 'number', minimum: 1, default: 1 },
        prior_beta: { type: 'number', minimum: 1, default: 1 },
      },
    },
    rrf_k: { type: 'integer', minimum: 1, maximum: 1000, default: RRF_K },
    collection_identifiers: { type: 'array', items: { type: 'string' } },
    facets: {
      type: 'array',
      items: {
        oneOf: [
          { type: 'string' },
          { type: 'object', required: ['key'], properties: { key: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 10 }, exact: { type: 'boolean', default: false } } },
        ],
      },
    },
    group_by: {
      type: 'object',
      required: ['field'],
      properties: {
        field: { type: 'string', minLength: 1 },
        max_per_group: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
        limit: { type: 'integer', minimum: 1, maximum: 500, default: 25 },
        output_mode: { enum: ['first', 'all', 'flatten'], default: 'all' },
      },
    },
    cache_behavior: { enum: ['auto', 'disabled', 'aggressive'], default: 'auto' },
    cache_ttl_seconds: { type: ['integer', 'null'], minimum: 0 },
  },
};

interface Search {
  feature_uri: string;
  query: string | { input_mode?: string; value?: unknown; text?: string; content?: Record<string, unknown>; document_ref?: { collection_id?: string; document_id: string } };
  top_k: number;
  min_score?: number;
  weight: number;
  on_empty: 'error' | 'skip' | 'random';
  collection_identifiers?: string[];
  filters?: FilterNode;
}

interface Params {
  searches: Search[];
  final_top_k: number;
  fusion: 'rrf' | 'dbsf' | 'weighted' | 'max' | 'learned';
  learning_config?: Record<string, unknown>;
  rrf_k: number;
  collection_identifiers?: string[];
  facets?: (string | { key: string; limit: number })[];
  group_by?: { field: string; max_per_group: number; limit: number; output_mode: 'first' | 'all' | 'flatten' };
}

/**
 * Fuses ranked lists: RRF Σ 1/(k+rank) with rank 1-based; DBSF = Qdrant's mean±3σ normalisation summed; weighted
 * Σ wᵢ·sᵢ; max. A list whose scores are distances (`smallerIsBetter`, euclid) is flipped as the stores' own fusion
 * flips it (vector/fusion.ts): DBSF normalises it reversed, weighted and max take 1/(1+d), so the nearest hit counts
 * most and the fused score is again higher-is-better.
 */
export function fuse(lists: { hits: ScoredPoint[]; weight: number; smallerIsBetter?: boolean }[], method: Exclude<Params['fusion'], 'learned'>, k = RRF_K): ScoredPoint[] {
  const byId = new Map<string, { p: ScoredPoint; score: number; first: number }>();
  let order = 0;
  const add = (p: ScoredPoint, s: number, combine: (a: number, b: number) => number) => {
    const cur = byId.get(p.id);
    if (cur) cur.score = combine(cur.score, s);
    else byId.set(p.id, { p, score: s, first: order++ });
  };
  for (const l of lists) {
    if (method === 'rrf') l.hits.forEach((h, i) => add(h, 1 / (k + i + 1), (a, b) => a + b));
    else if (method === 'dbsf') {
      const norm = distrNorm(l.hits.map((h) => h.score), l.smallerIsBetter ?? false);
      l.hits.forEach((h, i) => add(h, norm[i]!, (a, b) => a + b));
    } else {
      const goodness = (s: number) => (l.smallerIsBetter ? 1 / (1 + Math.max(0, s)) : s);
      if (method === 'weighted') l.hits.forEach((h) => add(h, l.weight * goodness(h.score), (a, b) => a + b));
      else l.hits.forEach((h) => add(h, goodness(h.score), Math.max));
    }
  }
  return [...byId.values()].sort((a, b) => b.score - a.score || a.first - b.first).map((x) => ({ ...x.p, score: x.score }));
}

/**
 * Query vectors already checked: a stored retriever's static parameters hand the same array to every execution.
 * Arrays there are never changed after validation (parameters are rebuilt when they hold templates).
 */
const checkedVectors = new WeakSet<unknown[]>();

async function queryOf(s: Search, ctx: StageContext, i: number, model: string | undefined, store: string, lexical: boolean): Promise<{ vector?: Float32Array | number[]; text?: string } | undefined> {
  const q = typeof s.query === 'string' ? { input_mode: 'text', value: s.query } : s.query;
  const mode = q.input_mode ?? 'text';
  const where = `searches[${i}].query`;
  if (mode === 'text') {
    const text = q.value ?? q.text ?? '';
    if (typeof text !== 'string') throw badRequest(`stage '${ctx.stageName}': ${where}.value must be text for input_mode text`, { stage: ctx.stageName, parameter: where });
    if (text.trim() === '') return undefined;
    if (lexical) return { text };
    if (!model) throw badRequest(`stage '${ctx.stageName}': feature '${s.feature_uri}' has no model to embed text queries; send input_mode vector`, { stage: ctx.stageName, parameter: where });
    return { vector: await ctx.embedText(model, text) };
  }
  const lexicalOnly = () => badRequest(`stage '${ctx.stageName}': ${s.feature_uri} is a lexical (BM25) feature and takes text queries only`, { stage: ctx.stageName, parameter: where });
  if (lexical && mode !== 'content') throw lexicalOnly();
  if (mode === 'vector') {
    const v = q.value;
    const flat = Array.isArray(v) && Array.isArray(v[0]) ? (v[0] as unknown[]) : v;
    if (!Array.isArray(flat) || (!checkedVectors.has(flat) && (flat.length === 0 || !flat.every((x) => typeof x === 'number' && Number.isFinite(x))))) {
      throw badRequest(`stage '${ctx.stageName}': ${where}.value must be a non-empty array of numbers for input_mode vector`, { stage: ctx.stageName, parameter: where });
    }
    checkedVectors.add(flat);
    return { vector: flat as number[] };
  }
  if (mode === 'document') {
    const ref = q.document_ref ?? (typeof q.value === 'object' && q.value ? (q.value as { document_id?: string }) : undefined);
    const id = ref?.document_id;
    if (typeof id !== 'string' || !id) throw badRequest(`stage '${ctx.stageName}': ${where}.document_ref.document_id is required for input_mode document`, { stage: ctx.stageName, parameter: where });
    const [p] = await ctx.deps.store.retrieve(store, [id], { withVectors: true });
    if (!p) throw new QuarryError('NotFoundError', `stage '${ctx.stageName}': document '${id}' referenced by ${where} not found`, { resource: 'document', id });
    return { vector: Object.values(p.vectors ?? {})[0] ?? [] };
  }
  if (mode !== 'content') throw badRequest(`stage '${ctx.stageName}': ${where}.input_mode '${mode}' is not one of text, content, document, vector`, { stage: ctx.stageName, parameter: where });
  // content: an http(s) URL (fetched through the SSRF guard), a data URI or raw base64; legacy {content: {url|base64}}.
  const raw = typeof q.value === 'string' ? q.value : typeof q.content?.url === 'string' ? q.content.url : typeof q.content?.base64 === 'string' ? q.content.base64 : undefined;
  if (raw === undefined || raw.trim() === '') {
    throw badRequest(`stage '${ctx.stageName}': ${where}.value must be an http(s) URL, a data URI or base64 bytes for input_mode content`, { stage: ctx.stageName, parameter: where });
  }
  const content = await loadContent(raw.trim(), ctx, where);
  if (content.kind === 'text') {
    const text = content.bytes.toString('utf8');
    if (text.trim() === '') return undefined;
    if (lexical) return { text };
    if (!model) throw badRequest(`stage '${ctx.stageName}': feature '${s.feature_uri}' has no model to embed text content; send input_mode vector`, { stage: ctx.stageName, parameter: where });
    return { vector: await ctx.embedText(model, text) };
  }
  if (lexical) throw lexicalOnly();
  if (!ctx.deps.models || !model) throw new QuarryError('InferenceServiceUnavailableError', `stage '${ctx.stageName}': no model is loaded to embed content queries`, { stage: ctx.stageName });
  const [v] = await ctx.deps.models.embedImage(model, [content.bytes]);
  return { vector: v! };
}

const CONTENT_MAX_BYTES = 20 * 1024 * 1024;
const CONTENT_TIMEOUT_MS = 10_000;

/** Image formats recognised by their first bytes (content sent without a usable type). */
function sniffImage(b: Buffer): string | undefined {
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 6 && /^GIF8[79]a$/.test(b.subarray(0, 6).toString('latin1'))) return 'image/gif';
  if (b.length >= 12 && b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  if (b.length >= 2 && b.subarray(0, 2).toString('latin1') === 'BM') return 'image/bmp';
  return undefined;
}

/**
 * Query content as bytes plus what it is (reference §4.1: "content type auto-detected and routed"): text (text/*,
 * JSON) is embedded as text, images as images; other types have no query embedding here and are refused. URLs go
 * through the same SSRF guard as api_call (any public host; private ranges only when configured).
 */
async function loadContent(raw: string, ctx: StageContext, where: string): Promise<{ kind: 'text' | 'image'; bytes: Buffer }> {
  const fail = (msg: string) => badRequest(`stage '${ctx.stageName}': ${where}: ${msg}`, { stage: ctx.stageName, parameter: where });
  let bytes: Buffer;
  let mime = '';
  if (/^s3:\/\//i.test(raw)) throw fail('s3:// URLs are not fetched for queries; send an http(s) URL, a data URI or base64 bytes');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    const res = await guardedRequest(raw, {
      method: 'GET',
      headers: { accept: '*/*', 'user-agent': 'quarry-content-fetch/1' },
      timeoutMs: ctx.deps.contentFetch?.timeoutMs ?? CONTENT_TIMEOUT_MS,
      maxBytes: ctx.deps.contentFetch?.maxBytes ?? CONTENT_MAX_BYTES,
      policy: { allowCidrs: ctx.deps.ssrfAllowCidrs ?? [] },
      ...(ctx.deps.lookup ? { lookup: ctx.deps.lookup } : {}),
      who: `stage '${ctx.stageName}' (${where})`,
      sizeParameter: 'the content size limit',
    });
    if (res.status >= 400) throw fail(`fetching ${raw} answered HTTP ${res.status}`);
    bytes = res.bytes;
    mime = res.contentType;
  } else if (raw.startsWith('data:')) {
    const comma = raw.indexOf(',');
    if (comma < 0) throw fail('a data URI needs a comma before its payload (data:<type>;base64,<bytes>)');
    const header = raw.slice(5, comma);
    const payload = raw.slice(comma + 1);
    const base64 = /;base64$/i.test(header);
    mime = header.replace(/;base64$/i, '');
    try {
      bytes = base64 ? Buffer.from(payload, 'base64') : Buffer.from(decodeURIComponent(payload), 'utf8');
    } catch {
      throw fail('the data URI payload is not valid percent-encoded text');
    }
  } else {
    if (!/^[A-Za-z0-9+/=_\s-]+$/.test(raw)) throw fail('the value is neither an http(s) URL, a data URI nor base64 bytes');
    bytes = Buffer.from(raw, 'base64');
  }
  if (bytes.length === 0) throw fail('the content is empty');
  const type = mime.split(';')[0]!.trim().toLowerCase();
  if (type.startsWith('text/') || type === 'application/json') return { kind: 'text', bytes };
  if (type.startsWith('image/')) return { kind: 'image', bytes };
  if (type === '' || type === 'application/octet-stream') return { kind: 'image', bytes }; // untyped bytes: images, as before
  if (sniffImage(bytes)) return { kind: 'image', bytes };
  throw fail(`content of type ${type} cannot be embedded as a query (text and images can); search its extracted text or an image instead`);
}

function toDoc(p: ScoredPoint, withVectors: boolean): Doc {
  const d: Doc = { document_id: p.id, ...(p.payload ?? {}), score: p.score };
  if (typeof d.document_id !== 'string') d.document_id = p.id;
  if (withVectors && p.vectors) d._vectors = p.vectors;
  return d;
}

/** fusion: learned (learned-fusion.ts): arm weights from the namespace's interactions, then weighted RRF. */
async function learnedFusion(lists: ScoredPoint[][], ctx: StageContext, p: Params): Promise<ScoredPoint[]> {
  const config = learningConfig(p.learning_config);
  const all = ctx.namespace && ctx.deps.interactions ? await ctx.deps.interactions(ctx.namespace) : [];
  const rewarded = rewardedInteractions(all, { id: ctx.definition.retriever_id, name: ctx.definition.retriever_name }, config);
  const w = learnedWeights(lists, rewarded, config, ctx.inputs);
  ctx.metadata.fusion_used = {
    method: w.method,
    algorithm: config.algorithm,
    scope: w.scope,
    interactions: w.interactions,
    weights: w.weights.map((x) => Math.round(x * 1000) / 1000),
    ...(w.reason ? { reason: w.reason } : {}),
  };
  return weightedRrf(lists, w.weights, p.rrf_k);
}

interface SearchList {
  hits: ScoredPoint[];
  weight: number;
  store: string;
  using: string;
  lexical: boolean;
}

/** Marks the dense lists whose scores are distances (the store's vector uses euclid), for score-based fusion. */
async function withDistanceOrder(lists: SearchList[], ctx: StageContext): Promise<(SearchList & { smallerIsBetter: boolean })[]> {
  const described = new Map<string, ReturnType<StageContext['deps']['store']['describeCollection']>>();
  return Promise.all(
    lists.map(async (l) => {
      if (l.lexical) return { ...l, smallerIsBetter: false };
      if (!described.has(l.store)) described.set(l.store, ctx.deps.store.describeCollection(l.store));
      const v = (await described.get(l.store)!)?.vectors.find((x) => x.name === l.using);
      return { ...l, smallerIsBetter: v ? smallerIsBetter(v.distance) : false };
    }),
  );
}

export async function execute(_docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params as unknown as Params;
  if (p.fusion === 'learned' && !p.learning_config) {
    throw badRequest(`stage '${ctx.stageName}' (feature_search): parameter 'learning_config' is required when fusion is learned`, { stage: ctx.stageName, stage_id: 'feature_search', parameter: 'learning_config' });
  }
  const retrieverColls = p.collection_identifiers ?? ctx.definition.collection_identifiers;
  if (p.searches.length === 0) {
    // Filter-only mode: the pre-filters select documents, no ranking.
    if (!ctx.filters) throw badRequest(`stage '${ctx.stageName}': searches is empty; add a search or pre_filters for filter-only mode`, { stage: ctx.stageName, parameter: 'searches' });
    const scope = await ctx.deps.features.collectionScope(retrieverColls, ctx.namespace);
    const page = await ctx.deps.store.scroll(scope.store, { filter: mergeFilters(scope.filter, ctx.filters)!, limit: p.final_top_k, withVectors: ctx.wantVectors });
    return page.points.map((pt) => toDoc({ ...pt, score: 1 }, ctx.wantVectors));
  }
  const lists: SearchList[] = [];
  let facetScope: { store: string; filter?: FilterNode } | undefined;
  await Promise.all(
    p.searches.map(async (s, i) => {
      const colls = s.collection_identifiers ?? retrieverColls;
      const f = await ctx.deps.features.resolve(s.feature_uri, colls, ctx.namespace);
      const q = await queryOf(s, ctx, i, runtimeModelOf(ctx, f.model), f.store, f.lexical ?? false);
      if (!q) {
        if (s.on_empty === 'skip') return;
        if (s.on_empty === 'error') throw badRequest(`stage '${ctx.stageName}': searches[${i}] has an empty query; send a value or set on_empty to skip`, { stage: ctx.stageName, parameter: `searches[${i}].query` });
      }
      const filter = mergeFilters(f.filter, ctx.filters, s.filters);
      facetScope ??= { store: f.store, ...(filter ? { filter } : {}) };
      const req: SearchRequest = { using: f.using, limit: s.top_k, withPayload: true, withVectors: ctx.wantVectors, ...(filter ? { filter } : {}) };
      if (s.min_score !== undefined) req.scoreThreshold = s.min_score;
      if (q?.text !== undefined) req.text = q.text;
      else if (q?.vector) req.vector = q.vector;
      else {
        // on_empty: random — a random unit-scale vector of the feature's size.
        const size = (await ctx.deps.store.describeCollection(f.store))?.vectors.find((v) => v.name === f.using)?.size ?? 1;
        req.vector = Array.from({ length: size }, () => Math.random() - 0.5);
      }
      lists[i] = { hits: await ctx.deps.store.search(f.store, req), weight: s.weight, store: f.store, using: f.using, lexical: f.lexical ?? false };
    }),
  );
  const present = lists.filter(Boolean);
  if (present.length === 0) throw badRequest(`stage '${ctx.stageName}': every search had an empty query`, { stage: ctx.stageName, parameter: 'searches' });
  let fused: ScoredPoint[];
  if (present.length === 1) fused = present[0]!.hits;
  else if (p.fusion === 'learned') fused = await learnedFusion(present.map((l) => l.hits), ctx, p);
  else fused = fuse(p.fusion === 'rrf' ? present : await withDistanceOrder(present, ctx), p.fusion, p.rrf_k);
  ctx.metadata.fusion = present.length === 1 ? 'none' : p.fusion;
  ctx.metadata.searches = present.length;
  if (p.facets?.length && facetScope) {
    const scope = facetScope;
    const out: Record<string, { value: unknown; count: number }[]> = {};
    await Promise.all(
      p.facets.map(async (fc) => {
        const key = typeof fc === 'string' ? fc : fc.key;
        const limit = typeof fc === 'string' ? 10 : fc.limit;
        out[key] = await ctx.deps.store.facet(scope.store, key, { limit, ...(scope.filter ? { filter: scope.filter } : {}) });
      }),
    );
    ctx.setFacets(out);
  }
  if (p.group_by) {
    const g = p.group_by;
    const groups = groupHits(fused, g.field, g.output_mode === 'first' ? 1 : g.max_per_group, g.limit);
    if (g.output_mode === 'all') {
      return groups.map((gr) => ({
        document_id: `group:${String(gr.key)}`,
        group_key: gr.key,
        score: gr.hits[0]?.score ?? 0,
        count: gr.hits.length,
        documents: gr.hits.map((h) => toDoc(h, ctx.wantVectors)),
      }));
    }
    return groups.flatMap((gr) => gr.hits.map((h) => ({ ...toDoc(h, ctx.wantVectors), group_key: gr.key })));
  }
  return fused.slice(0, p.final_top_k).map((h) => toDoc(h, ctx.wantVectors));
}

function normalize(params: Record<string, unknown>): Record<string, unknown> {
  // DOCS overview form: feature_uris [{uri, input}] and limit.
  if (!params.searches && Array.isArray(params.feature_uris)) {
    params.searches = (params.feature_uris as Record<string, unknown>[]).map((f) => ({ feature_uri: f.uri ?? f.feature_uri, query: f.input ?? f.query }));
    delete params.feature_uris;
  }
  if (params.limit !== undefined && params.final_top_k === undefined) params.final_top_k = params.limit;
  delete params.limit;
  if (params.group_by && typeof params.group_by === 'object') {
    const g = params.group_by as Record<string, unknown>;
    if (g.group_size !== undefined && g.max_per_group === undefined) g.max_per_group = g.group_size;
    delete g.group_size;
  }
  if (Array.isArray(params.searches)) {
    params.searches = params.searches.map((s) => {
      if (!s || typeof s !== 'object') return s;
      const o = { ...(s as Record<string, unknown>) };
      if (typeof o.query === 'string' && o.query === '' && o.on_empty === undefined) o.on_empty = 'error';
      return o;
    });
  }
  return params;
}

export const stage: StageModule = {
  id: 'feature_search',
  category: 'filter',
  description: 'Vector (and BM25) search over collection features with multi-search fusion, pre-filters, group_by and facets',
  icon: 'search',
  parameterSchema,
  normalize,
  execute,
};
