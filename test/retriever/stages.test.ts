/** Stage semantics on known data (the seeded exact store in fixtures.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import { distrNorm } from '#engine/vector/fusion.ts';
import type { Doc } from '#engine/retriever/types.ts';
import { QuarryError } from '#core/lib/errors.ts';
import { URI, seed, vectorSearch } from './fixtures.ts';

const stage = (name: string, id: string, parameters: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({ stage_name: name, config: { stage_id: id, parameters, ...extra } });
const ids = (docs: unknown) => (docs as Doc[]).map((d) => d.document_id);

async function run(stages: unknown[], req: Record<string, unknown> = {}, def: Record<string, unknown> = {}) {
  const s = await seed();
  const r = await s.engine.execute(normalizeDefinition({ collection_identifiers: ['products'], stages, ...def }), req);
  return r.body as { documents: Doc[]; [k: string]: unknown };
}

const twoSearches = (fusion: string, extra: Record<string, unknown> = {}) =>
  stage('search', 'feature_search', {
    searches: [
      { feature_uri: URI, query: { input_mode: 'vector', value: [1, 0, 0, 0] }, top_k: 3 },
      { feature_uri: URI, query: { input_mode: 'vector', value: [0, 1, 0, 0] }, top_k: 3, ...extra },
    ],
    fusion,
    final_top_k: 10,
  });

test('feature_search rrf: scores equal hand-computed sum of 1/(60 + rank)', async () => {
  // List A ([1,0,0,0]) ranks p1, p2, p3; list B ([0,1,0,0]) ranks p4, p3, p5.
  const body = await run([twoSearches('rrf')]);
  const expected: Record<string, number> = { p3: 1 / 63 + 1 / 62, p1: 1 / 61, p4: 1 / 61, p2: 1 / 62, p5: 1 / 63 };
  assert.deepEqual(ids(body.documents), ['p3', 'p1', 'p4', 'p2', 'p5']);
  for (const d of body.documents) assert.ok(Math.abs(d.score! - expected[d.document_id!]!) < 1e-12, `${d.document_id} ${d.score}`);
});

test('feature_search dbsf, weighted and max fuse the per-search scores', async () => {
  const s = await seed();
  const single = async (v: number[]) => (await s.engine.execute(normalizeDefinition({ collection_identifiers: ['products'], stages: [stage('s', 'feature_search', { searches: [{ feature_uri: URI, query: { input_mode: 'vector', value: v }, top_k: 3 }] })] }), {})).body.documents as Doc[];
  const a = await single([1, 0, 0, 0]);
  const b = await single([0, 1, 0, 0]);
  // DBSF by hand: each list mapped with mean ± 3 sample-sd as the extremes, then summed.
  const norm = (l: Doc[]) => {
    const xs = l.map((d) => d.score!);
    const mean = xs.reduce((p, c) => p + c, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((p, c) => p + (c - mean) ** 2, 0) / (xs.length - 1));
    return new Map(l.map((d) => [d.document_id!, (d.score! - (mean - 3 * sd)) / (6 * sd)]));
  };
  const na = norm(a);
  const nb = norm(b);
  distrNorm(a.map((d) => d.score!), false).forEach((x, i) => assert.ok(Math.abs(x - [...na.values()][i]!) < 1e-12));
  const dbsf = await run([twoSearches('dbsf')]);
  for (const d of dbsf.documents) {
    const want = (na.get(d.document_id!) ?? 0) + (nb.get(d.document_id!) ?? 0);
    assert.ok(Math.abs(d.score! - want) < 1e-9, `dbsf ${d.document_id}`);
  }
  const weighted = await run([twoSearches('weighted', { weight: 0.5 })]);
  const sa = new Map(a.map((d) => [d.document_id!, d.score!]));
  const sb = new Map(b.map((d) => [d.document_id!, d.score!]));
  for (const d of weighted.documents) assert.ok(Math.abs(d.score! - ((sa.get(d.document_id!) ?? 0) + 0.5 * (sb.get(d.document_id!) ?? 0))) < 1e-6);
  const max = await run([twoSearches('max')]);
  for (const d of max.documents) assert.ok(Math.abs(d.score! - Math.max(sa.get(d.document_id!) ?? -1, sb.get(d.document_id!) ?? -1)) < 1e-6);
});

test('feature_search: min_score, pre_filters, request filters, group_by, facets, text query through the Models port', async () => {
  const min = await run([stage('s', 'feature_search', { searches: [{ feature_uri: URI, query: { input_mode: 'vector', value: [1, 0, 0, 0] }, min_score: 0.95 }] })]);
  assert.deepEqual(ids(min.documents), ['p1', 'p2', 'p3']);
  const pre = await run([{ ...vectorSearch([1, 0, 0, 0]), config: { ...(vectorSearch([1, 0, 0, 0]).config as object), pre_filters: { field: 'metadata.price', operator: 'lte', value: '{{INPUT.max_price}}' } } }], { inputs: { max_price: 150 } }, { input_schema: { max_price: { type: 'number' } } });
  assert.deepEqual(ids(pre.documents).sort(), ['p1', 'p4', 'p5']);
  const req = await run([vectorSearch([1, 0, 0, 0])], { filters: { field: 'metadata.category', operator: 'eq', value: 'audio' } });
  assert.deepEqual(ids(req.documents), ['p1', 'p2', 'p3']);
  const grouped = await run([vectorSearch([1, 0, 0, 0], { group_by: { field: 'metadata.brand', max_per_group: 1, output_mode: 'first' }, facets: [{ key: 'metadata.brand' }] })]);
  assert.deepEqual(ids(grouped.documents), ['p1', 'p3', 'p5']);
  assert.ok(Array.isArray((grouped.facets as Record<string, unknown>)['metadata.brand']));
  const s = await seed();
  const def = normalizeDefinition({ collection_identifiers: ['products'], input_schema: { q: { type: 'text', required: true } }, stages: [stage('s', 'feature_search', { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.q}}' } }] })] });
  await s.engine.execute(def, { inputs: { q: 'wireless' } });
  await s.engine.execute(def, { inputs: { q: 'wireless' }, limit: 1 });
  assert.equal(s.models.calls.embed, 1, 'identical model calls are de-duplicated');
});

test('attribute_filter, sort_attribute, sort_relevance, score_normalize, limit', async () => {
  const body = await run([
    stage('f', 'attribute_filter', { field: 'metadata.price', operator: 'gte', value: 19 }),
    stage('sort', 'sort_attribute', { field: 'metadata.price', direction: 'asc' }),
    stage('lim', 'limit', { limit: 3 }),
  ]);
  assert.deepEqual(ids(body.documents), ['p5', 'p1', 'p2']);
  const norm = await run([vectorSearch([1, 0, 0, 0]), stage('n', 'score_normalize', { method: 'min_max' }), stage('r', 'sort_relevance', { direction: 'asc' })]);
  const scores = norm.documents.map((d) => d.score!);
  assert.equal(Math.min(...scores), 0);
  assert.equal(Math.max(...scores), 1);
  assert.deepEqual(scores, [...scores].sort((a, b) => a - b));
  const z = await run([vectorSearch([1, 0, 0, 0]), stage('n', 'score_normalize', { method: 'softmax', output_field: 'scores.p' })]);
  assert.ok(Math.abs(z.documents.reduce((a, d) => a + ((d.scores as Record<string, number>).p ?? 0), 0) - 1) < 1e-9);
});

test('mmr picks the diverse item where pure relevance picks the near-duplicate', async () => {
  const q = [1, 0.6, 0, 0];
  const diverse = await run([vectorSearch(q), stage('mmr', 'mmr', { lambda: 0.5, top_k: 2 })]);
  assert.deepEqual(ids(diverse.documents), ['p3', 'p4']);
  const relevance = await run([vectorSearch(q), stage('mmr', 'mmr', { lambda: 1, top_k: 2 })]);
  assert.deepEqual(ids(relevance.documents), ['p3', 'p2']);
  const byField = await run([vectorSearch([1, 0, 0, 0]), stage('mmr', 'mmr', { lambda: 0.5, top_k: 2, diversity_fields: ['metadata.category'] })]);
  assert.notEqual((byField.documents[0]!.category as string | undefined) ?? byField.documents[0]!.metadata, (byField.documents[1]!.metadata as Record<string, unknown>).category);
});

test('deduplicate keeps the first or the last occurrence', async () => {
  const first = await run([vectorSearch([1, 0, 0, 0]), stage('d', 'deduplicate', { fields: ['metadata.brand'] })]);
  assert.deepEqual(ids(first.documents), ['p1', 'p3', 'p5']);
  const last = await run([vectorSearch([1, 0, 0, 0]), stage('d', 'deduplicate', { fields: ['metadata.brand'], keep: 'last' })]);
  // acme: p1,p2,p4 → last p4; sonic: p3,p6 → last p6; cover: p5.
  assert.deepEqual(new Set(ids(last.documents)), new Set(['p4', 'p5', 'p6']));
  const content = await run([vectorSearch([1, 0, 0, 0]), stage('d', 'deduplicate', { strategy: 'content', content_field: 'title', similarity_threshold: 0.3 })]);
  assert.ok(content.documents.length < 6);
});

test('sample is reproducible with a seed and keeps the top-k', async () => {
  const a = await run([vectorSearch([1, 0, 0, 0]), stage('s', 'sample', { count: 3, seed: 7, preserve_top_k: 1 })]);
  const b = await run([vectorSearch([1, 0, 0, 0]), stage('s', 'sample', { count: 3, seed: 7, preserve_top_k: 1 })]);
  assert.deepEqual(ids(a.documents), ids(b.documents));
  assert.equal(a.documents.length, 3);
  assert.ok(ids(a.documents).includes('p1'));
  const seeds = new Set<string>();
  for (const seedValue of [1, 2, 3, 4, 5, 6]) seeds.add(ids((await run([vectorSearch([1, 0, 0, 0]), stage('s', 'sample', { count: 2, seed: seedValue })])).documents).join());
  assert.ok(seeds.size > 1, 'different seeds give different samples');
  const strat = await run([vectorSearch([1, 0, 0, 0]), stage('s', 'sample', { count: 3, strategy: 'stratified', stratify_by: 'metadata.category', seed: 1 })]);
  assert.equal(new Set(strat.documents.map((d) => (d.metadata as Record<string, unknown>).category)).size, 3);
});

test('aggregate, group_by, unwind, json_transform, rag_prepare', async () => {
  const agg = await run([vectorSearch([1, 0, 0, 0]), stage('a', 'aggregate', { aggregations: [{ function: 'count', alias: 'n' }, { function: 'avg', field: 'metadata.price', alias: 'avg_price' }], group_by: [{ field: 'metadata.category' }], sort_by: 'n' })]);
  assert.deepEqual(agg.documents.map((r) => [r.category, r.n]), [['audio', 3], ['accessories', 2], ['wearables', 1]]);
  assert.equal(agg.documents[0]!.avg_price, (99 + 199 + 299) / 3);
  const grp = await run([vectorSearch([1, 0, 0, 0]), stage('g', 'group_by', { group_by_field: 'metadata.category', max_per_group: 2 })]);
  assert.equal(grp.documents.length, 3);
  assert.equal((grp.documents[0]!.documents as Doc[]).length, 2);
  const unw = await run([vectorSearch([1, 0, 0, 0]), stage('u', 'unwind', { field: 'tags', include_array_index: 'tag_index' })]);
  assert.equal(unw.documents.length, 7);
  assert.ok(unw.documents.every((d) => typeof d.tags === 'string'));
  const jt = await run([vectorSearch([1, 0, 0, 0]), stage('j', 'json_transform', { template: '{"id": "{{ DOC.document_id }}", "tags": {{ DOC.tags | tojson }}{% if DOC.metadata.price > 100 %}, "premium": true{% endif %}}' })]);
  assert.deepEqual(jt.documents[1], { id: 'p2', tags: ['wireless'], premium: true });
  const rag = await run([vectorSearch([1, 0, 0, 0]), stage('l', 'limit', { limit: 2 }), stage('r', 'rag_prepare', { content_field: 'title' })]);
  assert.equal(rag.documents.length, 1);
  assert.match(String(rag.documents[0]!.rag_context), /^\[1\] wireless earbuds/);
  assert.equal((rag.documents[0]!.citations as unknown[]).length, 2);
});

test('document_enrich joins another collection (direct) and through an inline retriever', async () => {
  const direct = await run([vectorSearch([1, 0, 0, 0]), stage('e', 'document_enrich', { target_collection_id: 'catalog', source_field: 'metadata.product_id', target_field: 'product_id', fields_to_merge: ['name', 'warranty'], output_field: 'catalog_data' })]);
  assert.deepEqual(direct.documents[0]!.catalog_data, { name: 'WIRELESS EARBUDS', warranty: '1y' });
  const viaRetriever = await run([
    vectorSearch([0, 1, 0, 0]),
    stage('l', 'limit', { limit: 1 }),
    stage('e', 'document_enrich', {
      retriever_config: { collection_identifiers: ['catalog'], input_schema: { sku: { type: 'string', required: true } }, stages: [stage('f', 'attribute_filter', { field: 'product_id', value: '{{INPUT.sku}}' })] },
      retriever_inputs: { sku: '{{DOC.metadata.product_id}}' },
      fields_to_merge: ['name'],
      output_field: 'similar',
      strategy: 'append',
    }),
  ]);
  assert.deepEqual(viaRetriever.documents[0]!.similar, [{ name: 'USB CABLE' }]);
});

test('rerank uses the Models port reranker and records the model', async () => {
  const body = await run([vectorSearch([1, 0, 0, 0]), stage('r', 'rerank', { query: 'phone case', document_field: 'title', top_k: 2 })]);
  assert.equal(body.documents[0]!.document_id, 'p5');
  assert.equal(body.documents.length, 2);
});

test('pagination returns every document exactly once across pages (offset, cursor, scroll, keyset)', async () => {
  const s = await seed();
  const def = normalizeDefinition({ collection_identifiers: [], stages: [stage('all', 'attribute_filter', { field: 'document_id', operator: 'exists', value: true }), stage('sort', 'sort_attribute', { field: 'document_id', direction: 'asc' })] });
  const full = ids((await s.engine.execute(def, {})).body.documents);
  assert.equal(full.length, 12);
  const collect = async (first: Record<string, unknown>, next: (p: Record<string, unknown>) => Record<string, unknown> | undefined) => {
    const seen: unknown[] = [];
    let pag: Record<string, unknown> | undefined = first;
    for (let guard = 0; pag && guard < 20; guard++) {
      const r = await s.engine.execute(def, { pagination: pag });
      seen.push(...ids(r.body.documents));
      pag = next(r.body.pagination as Record<string, unknown>);
    }
    return seen;
  };
  let page = 1;
  assert.deepEqual(await collect({ method: 'offset', page_size: 5, page_number: 1 }, (p) => (p.has_next ? { method: 'offset', page_size: 5, page_number: ++page } : undefined)), full);
  assert.deepEqual(await collect({ method: 'cursor', limit: 5 }, (p) => (p.has_next ? { method: 'cursor', limit: 5, cursor: p.next_cursor } : undefined)), full);
  assert.deepEqual(await collect({ method: 'scroll', limit: 5 }, (p) => (p.has_next ? { method: 'scroll', limit: 5, scroll_id: p.scroll_id } : undefined)), full);
  assert.deepEqual(await collect({ method: 'keyset', limit: 5 }, (p) => (p.has_next ? { method: 'keyset', limit: 5, after: p.next_cursor } : undefined)), full);
  await assert.rejects(s.engine.execute(def, { pagination: { method: 'cursor', cursor: 'garbage!' } }), (e: QuarryError) => e.status === 400 && /pagination.cursor/.test(e.message));
});

test('query cache: hit after a repeat, miss after the index signature changes (new ingestion)', async () => {
  const s = await seed();
  const def = normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0])] });
  assert.equal((await s.engine.execute(def, {})).cacheHit, false);
  const again = await s.engine.execute(def, {});
  assert.equal(again.cacheHit, true);
  assert.equal((again.body.stage_statistics as { stages: Record<string, { cache_hit: boolean }> }).stages.search!.cache_hit, true);
  s.bumpSignature();
  assert.equal((await s.engine.execute(def, {})).cacheHit, false);
  assert.equal((await s.engine.execute(def, { inputs: { other: 1 } })).cacheHit, false, 'different inputs miss');
});

test('budget: max_credits halts before the stage that would exceed it', async () => {
  const body = await run([vectorSearch([1, 0, 0, 0]), stage('r', 'rerank', { query: 'x', document_field: 'title' })], {}, { budget_limits: { max_credits: 1 } });
  const budget = body.budget as Record<string, unknown>;
  assert.equal(budget.exceeded, true);
  assert.equal(budget.halted_before_stage, 'r');
  assert.equal(budget.credits_used, 1);
});

test('errors: input validation, parameter validation and template errors name the field, stage and parameter', async () => {
  const s = await seed();
  const def = normalizeDefinition({ collection_identifiers: ['products'], input_schema: { q: { type: 'text', required: true } }, stages: [stage('lim', 'limit', { limit: '{{ INPUT.q | nosuchfilter }}' })] });
  await assert.rejects(s.engine.execute(def, {}), (e: QuarryError) => e.status === 422 && e.details?.field === 'inputs.q');
  await assert.rejects(s.engine.execute(def, { inputs: { q: 'x' } }), (e: QuarryError) => e.status === 400 && e.details?.stage === 'lim' && e.details?.parameter === 'limit');
  const bad = normalizeDefinition({ collection_identifiers: [], stages: [stage('lim', 'limit', { limit: 0 })] });
  await assert.rejects(s.engine.execute(bad, {}), (e: QuarryError) => e.status === 400 && /stage 'lim' \(limit\): parameter 'limit'/.test(e.message));
  const agent = normalizeDefinition({ collection_identifiers: [], stages: [stage('x', 'code_execution', {})] });
  await assert.rejects(s.engine.execute(agent, {}), (e: QuarryError) => e.type === 'NotEnabledError' && /code_execution.*sandbox/.test(e.message));
  assert.throws(() => normalizeDefinition({ stages: [stage('x', 'nope')] }), /not a registered stage/);
});

test('templates are sandboxed: no prototype access, bounded time', async () => {
  const escape = await run([vectorSearch([1, 0, 0, 0]), stage('l', 'limit', { limit: 1 }), stage('j', 'json_transform', { template: '{"a": "{{ "".constructor.constructor("return process")() }}"}', fail_on_error: true })]).catch((e: Error) => e);
  assert.ok(escape instanceof QuarryError);
  assert.match(escape.message, /stage 'j'/);
  const blank = await run([vectorSearch([1, 0, 0, 0]), stage('l', 'limit', { limit: 1 }), stage('j', 'json_transform', { template: '{"b": "{{ DOC.__proto__ }}{{ range.constructor }}"}' })]);
  assert.deepEqual(blank.documents, [{ b: '' }]);
  const slow = await run([vectorSearch([1, 0, 0, 0]), stage('l', 'limit', { limit: 1 }), stage('j', 'json_transform', { template: '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{}', fail_on_error: true })]).catch((e: Error) => e);
  assert.ok(slow instanceof QuarryError);
  assert.match(slow.message, /stage 'j'.*parameter 'template'/);
  const upper = await run([vectorSearch([1, 0, 0, 0]), stage('l', 'limit', { limit: '{{ inputs.n }}' })], { inputs: { n: 2 } });
  assert.equal(upper.documents.length, 2, 'lowercase namespace renders to a native number');
});

test('per-stage cache: an expensive stage is reused when only a later stage changes; cache_behavior disabled opts out', async () => {
  const s = await seed();
  const rr = (extra: Record<string, unknown> = {}) => stage('rr', 'rerank', { query: 'wireless', document_field: 'title', ...extra });
  const a = normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), rr(), stage('l', 'limit', { limit: 2 })] });
  const b = normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), rr(), stage('l', 'limit', { limit: 3 })] });
  await s.engine.execute(a, {});
  const calls = s.models.calls.rerank;
  const second = await s.engine.execute(b, {});
  assert.equal(s.models.calls.rerank, calls, 'rerank served from the stage cache');
  assert.equal((second.body.stage_statistics as { stages: Record<string, { cache_hit: boolean }> }).stages.rr!.cache_hit, true);
  assert.equal(second.cacheHit, false);
  const c = normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), rr({ cache_behavior: 'disabled' }), stage('l', 'limit', { limit: 4 })] });
  await s.engine.execute(c, {});
  assert.equal(s.models.calls.rerank, calls + 1);
});

test('cluster groups result vectors with k-means; taxonomy_enrich labels documents from a reference collection', async () => {
  const body = await run([vectorSearch([1, 0.2, 0.2, 0.2]), stage('c', 'cluster', { algorithm: 'kmeans', n_clusters: 2, output_mode: 'labeled' })]);
  const label = new Map(body.documents.map((d) => [d.document_id, d.cluster_id]));
  assert.equal(label.get('p1'), label.get('p2'), 'near-identical vectors share a cluster');
  assert.notEqual(label.get('p1'), label.get('p6'), 'the far vector is apart');
  assert.ok(body.documents.every((d) => !('_vectors' in d)), 'vectors are not returned unless asked');
  const clusters = await run([vectorSearch([1, 0.2, 0.2, 0.2]), stage('c', 'cluster', { n_clusters: 2 })]);
  assert.equal(clusters.documents.reduce((a, c) => a + (c.member_count as number), 0), 6);
  const s = await seed({ taxonomies: async (id) => (id === 'products_tax' ? { taxonomy_id: id, reference_collection: 'catalog', feature_uri: URI, label_field: 'name' } : undefined) });
  const def = normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), stage('l', 'limit', { limit: 1 }), stage('t', 'taxonomy_enrich', { taxonomy_id: 'products_tax', top_k: 1 })] });
  const tagged = (await s.engine.execute(def, {})).body.documents as Doc[];
  assert.equal(((tagged[0]!.taxonomy as Record<string, Record<string, unknown>>).primary)!.label, 'WIRELESS EARBUDS');
  const missing = normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), stage('t', 'taxonomy_enrich', {})] });
  await assert.rejects(s.engine.execute(missing, {}), (e: QuarryError) => e.status === 400 && /TAXONOMY_ID/.test(e.message));
});
