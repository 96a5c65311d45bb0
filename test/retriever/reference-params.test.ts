/**
 * Stage parameters and request shapes a client written against the reference (§3.9, §4) sends: each test names
 * the parameter the engine used to ignore or refuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explain } from '#engine/retriever/explain.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import type { Doc, FeatureResolver } from '#engine/retriever/types.ts';
import { badRequest, type QuarryError } from '#core/lib/errors.ts';
import { URI, seed, vectorSearch } from './fixtures.ts';

const stage = (name: string, id: string, parameters: Record<string, unknown> = {}) => ({ stage_name: name, config: { stage_id: id, parameters } });
const ids = (docs: unknown) => (docs as Doc[]).map((d) => d.document_id);

/**
 * A store collection whose documents carry two named vectors, `a` and `b`, that disagree about which documents are
 * alike: x2 duplicates x1 in `a`, x3 duplicates x1 in `b`. Feature URIs `quarry://two@v1/a|b` resolve to them.
 */
async function twoVectors() {
  const features: FeatureResolver = {
    async resolve(uri) {
      const m = /^quarry:\/\/two@v1\/(a|b|bm25)$/.exec(uri);
      if (!m) throw badRequest(`feature '${uri}' is not exposed`, { field: 'feature_uri' });
      return m[1] === 'bm25' ? { store: 'two', using: 'text', lexical: true } : { store: 'two', using: m[1]! };
    },
    async collectionScope() {
      return { store: 'two' };
    },
  };
  const s = await seed({ features });
  await s.store.ensureCollection({ name: 'two', vectors: [{ name: 'a', size: 2, distance: 'cosine' }, { name: 'b', size: 2, distance: 'cosine' }] });
  const point = (id: string, rank: number, a: number[], b: number[]) => ({ id, vectors: { a, b }, payload: { document_id: id, rank, emb_b: b } });
  await s.store.upsert('two', [point('x1', 3, [1, 0], [1, 0]), point('x2', 2, [1, 0], [0, 1]), point('x3', 1, [0, 1], [1, 0])]);
  const all = stage('all', 'attribute_filter', { field: 'document_id', operator: 'exists', value: true });
  const execute = async (...stages: unknown[]) => (await s.engine.execute(normalizeDefinition({ collection_identifiers: [], stages: [all, ...stages] }), {})).body.documents as Doc[];
  return { s, execute };
}

test('mmr compares the vectors of diversity_feature_uri (reference §4.2), of embedding_field (DOCS alias) and diversity_features', async () => {
  const { execute } = await twoVectors();
  const mmr = (p: Record<string, unknown>) => stage('mmr', 'mmr', { lambda: 0.5, top_k: 2, score_field: 'rank', ...p });
  // Relevance (rank) is x1 > x2 > x3. By `a`, x2 is x1's duplicate, so the diverse second pick is x3; by `b` it is the other way round.
  assert.deepEqual(ids(await execute(mmr({ diversity_feature_uri: 'quarry://two@v1/a' }))), ['x1', 'x3']);
  assert.deepEqual(ids(await execute(mmr({ diversity_feature_uri: 'quarry://two@v1/b' }))), ['x1', 'x2']);
  assert.deepEqual(ids(await execute(mmr({ embedding_field: 'b' }))), ['x1', 'x2'], 'a named vector');
  assert.deepEqual(ids(await execute(mmr({ embedding_field: 'emb_b' }))), ['x1', 'x2'], 'a document field holding the embedding');
  assert.deepEqual(ids(await execute(mmr({ diversity_features: [{ feature_uri: 'quarry://two@v1/a', weight: 1 }, { feature_uri: 'quarry://two@v1/b', weight: 0 }] }))), ['x1', 'x3']);
  await assert.rejects(execute(mmr({ diversity_feature_uri: 'quarry://nope@v1/x' })), (e: QuarryError) => e.status === 400 && /nope/.test(e.message));
  await assert.rejects(execute(mmr({ diversity_feature_uri: 'quarry://two@v1/bm25' })), (e: QuarryError) => e.status === 400 && e.details?.parameter === 'diversity_feature_uri');
});

test('cluster groups by the vectors of feature_uri (reference §4.4) or embedding_field', async () => {
  const { execute } = await twoVectors();
  const pairs = (docs: Doc[]) => {
    const by = new Map(docs.map((d) => [d.document_id, d.cluster_id]));
    return { x1x2: by.get('x1') === by.get('x2'), x1x3: by.get('x1') === by.get('x3') };
  };
  const cluster = (p: Record<string, unknown>) => stage('c', 'cluster', { algorithm: 'kmeans', n_clusters: 2, output_mode: 'labeled', ...p });
  assert.deepEqual(pairs(await execute(cluster({ feature_uri: 'quarry://two@v1/a' }))), { x1x2: true, x1x3: false });
  assert.deepEqual(pairs(await execute(cluster({ feature_uri: 'quarry://two@v1/b' }))), { x1x2: false, x1x3: true });
  assert.deepEqual(pairs(await execute(cluster({ embedding_field: 'emb_b' }))), { x1x2: false, x1x3: true });
});

test('keyset pagination accepts after: {score, id} (reference §3.9) as well as the next_cursor it returns', async () => {
  const s = await seed();
  const def = normalizeDefinition({ collection_identifiers: ['products'], stages: [stage('all', 'attribute_filter', { field: 'document_id', operator: 'exists', value: true }), stage('sort', 'sort_attribute', { field: 'document_id', direction: 'asc' })] });
  const first = await s.engine.execute(def, { pagination: { method: 'keyset', limit: 2 } });
  assert.deepEqual(ids(first.body.documents), ['p1', 'p2']);
  const next = (first.body.pagination as { next_cursor: { document_id: string; score: unknown } }).next_cursor;
  const byDocId = await s.engine.execute(def, { pagination: { method: 'keyset', limit: 2, after: next } });
  const byId = await s.engine.execute(def, { pagination: { method: 'keyset', limit: 2, after: { score: next.score, id: next.document_id } } });
  assert.deepEqual(ids(byDocId.body.documents), ['p3', 'p4']);
  assert.deepEqual(ids(byId.body.documents), ['p3', 'p4']);
  await assert.rejects(s.engine.execute(def, { pagination: { method: 'keyset', after: { score: 1 } } }), (e: QuarryError) => e.status === 400 && e.details?.field === 'pagination.after');
});

test('attribute_filter case_insensitive: true (reference §4.1) makes eq, ne, in and nin ignore case, first stage or later', async () => {
  const s = await seed();
  const run = async (first: boolean, params: Record<string, unknown>) => {
    const f = stage('f', 'attribute_filter', params);
    const stages = first ? [f] : [stage('all', 'attribute_filter', { field: 'document_id', operator: 'exists', value: true }), f];
    return ids((await s.engine.execute(normalizeDefinition({ collection_identifiers: ['products'], stages }), {})).body.documents).sort();
  };
  for (const first of [true, false]) {
    assert.deepEqual(await run(first, { field: 'metadata.category', value: 'AUDIO', case_insensitive: true }), ['p1', 'p2', 'p3'], `eq (first stage: ${first})`);
    assert.deepEqual(await run(first, { field: 'metadata.category', value: 'AUDIO' }), [], 'case-sensitive by default');
    assert.deepEqual(await run(first, { field: 'metadata.category', operator: 'in', value: ['Wearables', 'ACCESSORIES'], case_insensitive: true }), ['p4', 'p5', 'p6']);
    assert.deepEqual(await run(first, { field: 'metadata.category', operator: 'nin', value: ['Audio', 'accessories'], case_insensitive: true }), ['p6']);
    assert.deepEqual(await run(first, { field: 'metadata.brand', operator: 'ne', value: 'Acme', case_insensitive: true }), ['p3', 'p5', 'p6']);
    assert.deepEqual(await run(first, { conditions: { OR: [{ field: 'metadata.brand', value: 'SONIC' }, { 'metadata.category': 'Accessories' }] }, case_insensitive: true }), ['p3', 'p4', 'p5', 'p6']);
    assert.deepEqual(await run(first, { field: 'title', value: 'usb.cable', case_insensitive: true }), [], 'the value is literal, not a pattern');
  }
});

test('group_by honours the DOCS parameters sort_groups_by, sort_order and sort_docs_by (reference §4.4)', async () => {
  const s = await seed();
  const run = async (params: Record<string, unknown>) =>
    (await s.engine.execute(normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), stage('g', 'group_by', { group_by_field: 'metadata.category', ...params })] }), {})).body.documents as Doc[];
  const keys = (docs: Doc[]) => docs.map((d) => d.group_key);
  assert.deepEqual(keys(await run({})), ['audio', 'accessories', 'wearables'], 'default: best score first');
  assert.deepEqual(keys(await run({ sort_groups_by: 'count', sort_order: 'asc' })), ['wearables', 'accessories', 'audio']);
  assert.deepEqual(keys(await run({ sort_groups_by: 'count' })), ['audio', 'accessories', 'wearables']);
  assert.deepEqual(keys(await run({ sort_groups_by: 'field', sort_order: 'asc' })), ['accessories', 'audio', 'wearables']);
  assert.deepEqual(keys(await run({ sort_groups_by: 'count', sort_order: 'asc', max_groups: 1 })), ['wearables'], 'max_groups keeps the first groups in that order');
  assert.deepEqual(ids(await run({ sort_docs_by: 'metadata.price', output_mode: 'first', sort_groups_by: 'field', sort_order: 'asc' })), ['p5', 'p3', 'p6'], 'the most expensive of each group');
  assert.equal(ids(await run({ output_mode: 'first' }))[0], 'p1', 'best score per group by default');
});

test('sort_relevance normalize: true (DOCS alias) min-max normalises the scores before sorting', async () => {
  const s = await seed();
  const run = async (params: Record<string, unknown>) =>
    ((await s.engine.execute(normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0.5, 0.5, 0.5]), stage('r', 'sort_relevance', params)] }), {})).body.documents as Doc[]).map((d) => d.score!);
  const raw = await run({});
  assert.ok(Math.max(...raw) < 0.99 && Math.min(...raw) > 0.01, 'raw cosine scores are inside (0, 1)');
  const norm = await run({ normalize: true });
  assert.equal(norm[0], 1);
  assert.equal(norm[norm.length - 1], 0);
  assert.deepEqual(norm, [...norm].sort((a, b) => b - a));
});

test('stage_statistics carries the SDK form {stages, total_time_ms, credits_used} and the seed page form {stage_name: stats} (reference §3.4)', async () => {
  const s = await seed();
  const def = normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), stage('stages', 'limit', { limit: 2 }), stage('lim', 'limit', { limit: 1 })] });
  for (const cached of [false, true]) {
    const r = await s.engine.execute(def, {});
    assert.equal(r.cacheHit, cached);
    const st = r.body.stage_statistics as Record<string, Record<string, unknown>>;
    assert.equal(typeof st.total_time_ms, 'number');
    assert.equal(st.credits_used, 1);
    assert.deepEqual(Object.keys(st.stages!), ['search', 'stages', 'lim']);
    assert.deepEqual(st.search, st.stages!.search, 'flat entry per stage');
    assert.equal(st.lim!.output_count, 1);
    assert.equal(st.search!.cache_hit, cached);
    assert.equal((st.stages!.stages as Record<string, unknown>).output_count, 2, 'a stage named like an SDK key stays only under stages');
  }
});

test('feature_search fusion learned (reference §4.1) needs learning_config and, with no interaction data, fuses like rrf', async () => {
  const s = await seed();
  const search = (extra: Record<string, unknown>) => stage('search', 'feature_search', {
    searches: [
      { feature_uri: URI, query: { input_mode: 'vector', value: [1, 0, 0, 0] }, top_k: 3 },
      { feature_uri: URI, query: { input_mode: 'vector', value: [0, 1, 0, 0] }, top_k: 3 },
    ],
    final_top_k: 10,
    ...extra,
  });
  const exec = async (extra: Record<string, unknown>) => (await s.engine.execute(normalizeDefinition({ collection_identifiers: ['products'], stages: [search(extra)] }), {})).body;
  const rrf = await exec({ fusion: 'rrf' });
  const learned = await exec({ fusion: 'learned', learning_config: { context_features: ['INPUT.user_id'] } });
  assert.deepEqual(learned.documents, rrf.documents);
  const meta = (learned.stage_statistics as { stages: Record<string, { metadata: Record<string, unknown> }> }).stages.search!.metadata;
  assert.equal(meta.fusion, 'learned');
  assert.equal((meta.fusion_used as Record<string, unknown>).method, 'rrf');
  await assert.rejects(exec({ fusion: 'learned' }), (e: QuarryError) => e.status === 400 && e.details?.parameter === 'learning_config');
  await assert.rejects(exec({ fusion: 'learned', learning_config: { min_interactions: 0 } }), (e: QuarryError) => e.status === 400 && e.details?.parameter === 'learning_config.min_interactions');
});

test('score_normalize: a missing score becomes 0.0 and does not shift the others (reference §4.2 edge cases)', async () => {
  const s = await seed();
  // Only products over 100 keep a "p" field: p2 199, p6 249, p3 299.
  const only = stage('j', 'json_transform', { template: '{"document_id": "{{DOC.document_id}}"{% if DOC.metadata.price > 100 %}, "p": {{DOC.metadata.price}}{% endif %}}' });
  const run = async (method: string) => {
    const docs = (await s.engine.execute(normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), only, stage('n', 'score_normalize', { method, score_field: 'p' })] }), {})).body.documents as Doc[];
    return Object.fromEntries(docs.map((d) => [d.document_id, d.p as number]));
  };
  assert.deepEqual(await run('min_max'), { p1: 0, p2: 0, p3: 1, p4: 0, p5: 0, p6: 0.5 });
  const z = await run('z_score');
  assert.ok(Math.abs(z.p6!) < 1e-12, 'the mean of the present scores is 249');
  assert.ok(Math.abs(z.p2! + z.p3!) < 1e-12);
  assert.equal(z.p1, 0);
});

test('budget carries time_used_ms besides time_elapsed_ms, and stage_complete events budget_used.tokens_used (reference §3.4)', async () => {
  const s = await seed();
  const def = normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0])] });
  const events: Record<string, unknown>[] = [];
  const r = await s.engine.execute(def, {}, { onEvent: (e) => events.push(e) });
  const budget = r.body.budget as Record<string, unknown>;
  assert.equal(typeof budget.time_used_ms, 'number');
  assert.equal(budget.time_used_ms, budget.time_elapsed_ms);
  const done = events.find((e) => e.event_type === 'stage_complete')!;
  assert.deepEqual(Object.keys(done.budget_used as object).sort(), ['credits_used', 'time_elapsed_ms', 'tokens_used']);
});

test('taxonomy_enrich copies the matched nodes\' fields onto documents (reference §4.6 fields: replace or append)', async () => {
  const s = await seed({ taxonomies: async (id) => (id === 'products_tax' ? { taxonomy_id: id, reference_collection: 'catalog', feature_uri: URI, label_field: 'name' } : undefined) });
  const run = async (params: Record<string, unknown>) =>
    (await s.engine.execute(normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), stage('l', 'limit', { limit: 1 }), stage('t', 'taxonomy_enrich', { taxonomy_id: 'products_tax', ...params })] }), {})).body.documents as Doc[];
  const [replaced] = await run({ top_k: 1, fields: [{ field_path: 'warranty', target_field: 'metadata.warranty' }, { field_path: 'name' }] });
  assert.equal((replaced!.metadata as Record<string, unknown>).warranty, '1y');
  assert.equal(replaced!.name, 'WIRELESS EARBUDS');
  assert.equal((replaced!.metadata as Record<string, unknown>).brand, 'acme', 'the rest of metadata stays');
  // p1's nearest catalog nodes are c-p1, c-p2, c-p3 (all audio): appended once to its tags.
  const [appended] = await run({ top_k: 3, fields: [{ field_path: 'category', target_field: 'tags', merge_mode: 'append' }, { field_path: 'name', target_field: 'names', merge_mode: 'append' }] });
  assert.deepEqual(appended!.tags, ['wireless', 'audio']);
  assert.deepEqual(appended!.names, ['WIRELESS EARBUDS', 'WIRELESS HEADPHONES', 'NOISE CANCELLING HEADPHONES']);
});

test('cache_config.cache_stage_names (reference §3.9) caches exactly the listed stages instead of the final result', async () => {
  const s = await seed();
  const stages = [vectorSearch([1, 0, 0, 0]), stage('rr', 'rerank', { query: 'wireless', document_field: 'title' }), stage('l', 'limit', { limit: 2 })];
  const def = normalizeDefinition({ collection_identifiers: ['products'], stages, cache_config: { cache_stage_names: ['l'] } });
  await s.engine.execute(def, {});
  const calls = s.models.calls.rerank;
  const again = await s.engine.execute(def, {});
  assert.equal(again.cacheHit, false, 'the final result is not cached');
  const st = (again.body.stage_statistics as { stages: Record<string, { cache_hit: boolean }> }).stages;
  assert.deepEqual({ search: st.search!.cache_hit, rr: st.rr!.cache_hit, l: st.l!.cache_hit }, { search: false, rr: false, l: true });
  assert.equal(s.models.calls.rerank, calls + 1, 'rerank is not listed, so it runs again');
  assert.deepEqual(ids(again.body.documents), ['p1', 'p2']);
  const camel = normalizeDefinition({ collectionRefs: ['products'], stages, cacheConfig: { cacheStageNames: ['rr'] } });
  assert.deepEqual(camel.cache_config, { cache_stage_names: ['rr'] }, 'the Retriever resource spelling');
  assert.throws(() => normalizeDefinition({ stages, cache_config: { cache_stage_names: ['nope'] } }), (e: QuarryError) => e.status === 400 && e.details?.field === 'cache_config.cache_stage_names');
});

test('parameters a stage does not know are reported (stage metadata ignored_parameters, explain warnings), documented aliases are not', async () => {
  const s = await seed();
  const def = normalizeDefinition({
    collection_identifiers: ['products'],
    stages: [vectorSearch([1, 0, 0, 0]), stage('sort', 'sort_attribute', { field: 'metadata.price', order: 'asc', nulls_first: true }), stage('l', 'limit', { limit: 3 })],
  });
  const body = (await s.engine.execute(def, {})).body;
  assert.deepEqual(ids(body.documents), ['p4', 'p5', 'p1'], 'the alias order is applied');
  const st = (body.stage_statistics as { stages: Record<string, { metadata?: Record<string, unknown> }> }).stages;
  assert.deepEqual(st.sort!.metadata?.ignored_parameters, ['nulls_first']);
  assert.equal(st.l!.metadata, undefined);
  const plan = explain(def).execution_plan as { stage_name: string; warnings: string[] }[];
  assert.match(plan[1]!.warnings.join(), /'nulls_first' is not known to sort_attribute/);
  assert.deepEqual(plan[0]!.warnings, []);
});

test('document_enrich DOCS aliases multiple (all matches, as append) and limit (matches per document)', async () => {
  const s = await seed();
  const run = async (params: Record<string, unknown>) => {
    const body = (await s.engine.execute(normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), stage('l', 'limit', { limit: 1 }), stage('e', 'document_enrich', { collection_id: 'catalog', source_field: 'metadata.category', lookup_field: 'category', select_fields: ['product_id'], result_field: 'same_category', ...params })] }), {})).body;
    return { doc: (body.documents as Doc[])[0]!, meta: (body.stage_statistics as { stages: Record<string, { metadata?: Record<string, unknown> }> }).stages.e!.metadata };
  };
  const all = await run({ multiple: true });
  assert.deepEqual((all.doc.same_category as { product_id: string }[]).map((m) => m.product_id).sort(), ['sku-p1', 'sku-p2', 'sku-p3']);
  assert.equal(all.meta?.ignored_parameters, undefined);
  const two = await run({ multiple: true, limit: 2 });
  assert.equal((two.doc.same_category as unknown[]).length, 2);
  const one = await run({});
  assert.equal(typeof (one.doc.same_category as { product_id: string }).product_id, 'string', 'one match merged by default');
});

test('taxonomy_enrich labels carry the DOCS spellings name and confidence besides label and score', async () => {
  const s = await seed({ taxonomies: async (id) => (id === 'products_tax' ? { taxonomy_id: id, reference_collection: 'catalog', feature_uri: URI, label_field: 'name' } : undefined) });
  const def = normalizeDefinition({ collection_identifiers: ['products'], stages: [vectorSearch([1, 0, 0, 0]), stage('l', 'limit', { limit: 1 }), stage('t', 'taxonomy_enrich', { taxonomy_id: 'products_tax', top_k: 2 })] });
  const tax = ((await s.engine.execute(def, {})).body.documents as Doc[])[0]!.taxonomy as { primary: Record<string, unknown>; all: Record<string, unknown>[] };
  assert.equal(tax.primary.name, 'WIRELESS EARBUDS');
  assert.equal(tax.primary.name, tax.primary.label);
  assert.equal(typeof tax.primary.confidence, 'number');
  assert.ok(tax.all.every((l) => l.confidence === l.score && l.name === l.label));
});

test('execution history keeps large inputs (content queries) only as a preview', async () => {
  const s = await seed();
  const def = normalizeDefinition({ collection_identifiers: ['products'], input_schema: { q: { type: 'text' }, blob: { type: 'text' } }, stages: [vectorSearch([1, 0, 0, 0])] });
  // History is kept per namespace (issue 14 #13): the run names one.
  const r = await s.engine.execute({ ...def, namespace: 'shop' }, { inputs: { q: 'small', blob: 'x'.repeat(50_000) } });
  const d = s.engine.history.get('shop', r.body.execution_id as string)!;
  const inputs = d.inputs as Record<string, Record<string, unknown> | string>;
  assert.equal(inputs.q, 'small');
  assert.equal((inputs.blob as Record<string, unknown>).truncated, true);
  assert.ok(JSON.stringify(d).length < 20_000);
});
