/** Pure-logic pieces of the vector stores: Qdrant filter translation, point-id mapping, factory config (also the served store's), BM25. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Bm25Index, Bm25Slots, idf, tfWeight } from '#engine/vector/bm25.ts';
import { analyzeEnglish, tokenize } from '#engine/vector/text-analysis.ts';
import { createVectorStore, vectorStoreConfigFromEnv } from '#engine/vector/create.ts';
import { compileFilter } from '#engine/vector/filter-compile.ts';
import { pathVariants, toQdrantFilter } from '#engine/vector/qdrant/filter.ts';
import { pointUuid } from '#engine/vector/qdrant/qdrant-store.ts';
import { pruneBefore } from '#engine/vector/embedded/lance-store.ts';
import type { PayloadIndexType } from '#core/ports/vector-store.ts';

const idx = new Map<string, PayloadIndexType>([
  ['category', 'keyword'],
  ['price', 'float'],
  ['created_at', 'datetime'],
  ['title', 'text'],
  ['metadata.status', 'keyword'],
]);

test('Qdrant translation: the documented example becomes must / should / must_not', () => {
  const f = compileFilter({
    AND: [
      { field: 'metadata.status', operator: 'eq', value: 'published' },
      { OR: [{ field: 'category', operator: 'in', value: ['video', 'audio'] }, { field: 'score', operator: 'gte', value: 4 }] },
      { NOT: [{ field: 'restricted', operator: 'eq', value: true }] },
    ],
  });
  assert.deepEqual(toQdrantFilter(f, idx), {
    must: [
      { should: [{ key: 'metadata.status', match: { value: 'published' } }, { key: 'metadata[].status', match: { value: 'published' } }] },
      { should: [{ key: 'category', match: { any: ['video', 'audio'] } }, { key: 'score', range: { gte: 4 } }] },
      { must_not: [{ key: 'restricted', match: { value: true } }] },
    ],
  });
});

test('Qdrant translation: floats use ranges, datetimes RFC 3339 ranges, exists/is_null, text on a text index', () => {
  assert.deepEqual(toQdrantFilter(compileFilter({ field: 'price', value: 2.5 }), idx), { must: [{ key: 'price', range: { gte: 2.5, lte: 2.5 } }] });
  assert.deepEqual(toQdrantFilter(compileFilter({ field: 'created_at', operator: 'lt', value: '2026-02-01' }), idx), {
    must: [{ key: 'created_at', range: { lt: '2026-02-01T00:00:00.000Z' } }],
  });
  // Not empty, and not an array of nulls only (Qdrant 1.19 counts [null] as non-empty).
  const hasValue = (key: string) => ({ must_not: [{ is_empty: { key } }, { must: [{ is_empty: { key: `${key}[]` } }, { is_null: { key: `${key}[]` } }] }] });
  assert.deepEqual(toQdrantFilter(compileFilter({ field: 'rating', operator: 'exists', value: true }), idx), hasValue('rating'));
  assert.deepEqual(toQdrantFilter(compileFilter({ field: 'rating', operator: 'is_null', value: true }), idx), { must: [{ is_null: { key: 'rating' } }] });
  assert.deepEqual(toQdrantFilter(compileFilter({ field: 'title', operator: 'text', value: 'red car' }), idx), { must: [{ key: 'title', match: { text: 'red car' } }] });
});

test('Qdrant translation: operators Qdrant lacks are left to client-side evaluation', () => {
  for (const node of [
    { field: 'title', operator: 'starts_with' as const, value: 'a' },
    { field: 'title', operator: 'regex' as const, value: '^a' },
    { field: 'title', operator: 'contains' as const, value: 'sub' },
    { field: 'body', operator: 'text' as const, value: 'no text index' },
    { field: 'items.sku', operator: 'eq' as const, value: 's1' },
  ]) {
    assert.equal(toQdrantFilter(compileFilter({ AND: [{ field: 'category', value: 'x' }, node] }), idx), undefined, JSON.stringify(node));
  }
});

test('point ids map to stable, distinct version-5 UUIDs', () => {
  const a = pointUuid('doc-1');
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(pointUuid('doc-1'), a);
  assert.notEqual(pointUuid('doc-2'), a);
});

test('factory: environment picks the adapter; bad settings name the variable', async () => {
  assert.deepEqual(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'exact' }), { kind: 'exact' });
  assert.equal(vectorStoreConfigFromEnv({ QDRANT_URL: 'http://127.0.0.1:6333' }).kind, 'qdrant');
  assert.equal(vectorStoreConfigFromEnv({ QUARRY_DATA_DIR: '/tmp/q' }).kind, 'embedded');
  assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_MODE: 'cluster' }), /QDRANT_URL/);
  assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'faiss' }), /QUARRY_VECTOR_STORE='faiss'/);
  // The embedded store's index settings come from the environment (issue 14 item 5); a bad one is named.
  assert.deepEqual(
    vectorStoreConfigFromEnv({ QUARRY_DATA_DIR: '/tmp/q', QUARRY_EMBEDDED_INDEX_THRESHOLD: '500', QUARRY_EMBEDDED_EF: '64', QUARRY_EMBEDDED_REFINE_FACTOR: '2', QUARRY_EMBEDDED_HNSW_M: '24', QUARRY_EMBEDDED_EF_CONSTRUCTION: '200', QUARRY_EMBEDDED_NUM_PARTITIONS: '1' }),
    { kind: 'embedded', dataDir: '/tmp/q/vectors', indexThreshold: 500, ef: 64, refineFactor: 2, hnswM: 24, efConstruction: 200, numPartitions: 1 },
  );
  assert.deepEqual(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded' }, '/data/v'), { kind: 'embedded', dataDir: '/data/v' });
  for (const bad of ['0', '-1', '1.5', 'ten', '1e3']) {
    assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_EMBEDDED_EF: bad }), (e: Error & { status?: number }) => /QUARRY_EMBEDDED_EF/.test(e.message) && /positive integer/.test(e.message));
  }
  for (const [raw, on] of [['false', false], ['0', false], ['TRUE', true], ['1', true]] as const) {
    assert.equal((vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_EMBEDDED_MEMORY_INDEX: raw }, '/d') as { memoryIndex?: boolean }).memoryIndex, on);
  }
  assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_EMBEDDED_MEMORY_INDEX: 'off' }), (e: Error & { status?: number }) => /QUARRY_EMBEDDED_MEMORY_INDEX='off' is not true or false/.test(e.message) && e.status === 400);
  assert.equal((vectorStoreConfigFromEnv({ QDRANT_URL: 'http://q:6333', QDRANT_INDEXING_THRESHOLD_KB: '64' }) as { indexingThresholdKb?: number }).indexingThresholdKb, 64);
  const store = createVectorStore({ kind: 'exact' });
  assert.equal(store.kind, 'exact');
  await store.close();
});

test('factory: the served store (remote) from its URL and a token or token file; what is missing is named', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-token-'));
  try {
    const url = 'http://vs.q.svc:8090';
    assert.deepEqual(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE_URL: url, QUARRY_VECTOR_STORE_TOKEN: 't0k', QUARRY_MODE: 'cluster' }), { kind: 'remote', url, token: 't0k' });
    const file = path.join(dir, 'token');
    writeFileSync(file, '  from-a-file\n');
    assert.deepEqual(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'remote', QUARRY_VECTOR_STORE_URL: url, QUARRY_VECTOR_STORE_TOKEN_FILE: file, QUARRY_VECTOR_STORE_TIMEOUT_MS: '5000' }), { kind: 'remote', url, token: 'from-a-file', timeoutMs: 5000 });
    assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'remote', QUARRY_VECTOR_STORE_TOKEN: 't' }), /QUARRY_VECTOR_STORE_URL is not set/);
    assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE_URL: url }), /QUARRY_VECTOR_STORE_TOKEN/);
    assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE_URL: url, QUARRY_VECTOR_STORE_TOKEN_FILE: path.join(dir, 'absent') }), /QUARRY_VECTOR_STORE_TOKEN_FILE='.*absent' cannot be read \(ENOENT\)/);
    writeFileSync(file, '\n');
    assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE_URL: url, QUARRY_VECTOR_STORE_TOKEN_FILE: file }), /is empty/);
    assert.throws(() => createVectorStore({ kind: 'remote', url: 'vs:8090', token: 't' }), /must be http:\/\/ or https:\/\/|is not a URL/);
    assert.equal(createVectorStore({ kind: 'remote', url, token: 't' }).kind, 'remote');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BM25: tokenizer and Lucene IDF; rarer terms and shorter documents score higher', () => {
  assert.deepEqual(tokenize('Hello, WORLD — straße 42!'), ['hello', 'world', 'straße', '42']);
  assert.ok(Math.abs(idf(10, 1) - Math.log(1 + 9.5 / 1.5)) < 1e-12);
  const ix = new Bm25Index();
  ix.add('a', 'apple banana');
  ix.add('b', 'apple banana cherry date elder fig');
  ix.add('c', 'cherry');
  const s = ix.score('apple');
  assert.ok(s.get('a')! > s.get('b')!, 'shorter document first');
  assert.equal(s.has('c'), false);
  ix.remove('a');
  assert.equal(ix.score('apple').has('a'), false);
});

test('BM25 slots: scores equal a from-scratch computation through rewrites, clears, slot reuse and compactions', () => {
  const words = ['owl', 'lark', 'river', 'stone', 'winter', 'light', 'cell', 'mouse'];
  const ix = new Bm25Slots();
  const docs = new Map<number, string[]>();
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  // From scratch: Lucene IDF over the live documents, term weights summed in the query's term order.
  const oracle = (query: string[], accepts: (slot: number) => boolean) => {
    const avg = [...docs.values()].reduce((s, d) => s + d.length, 0) / docs.size;
    const out = new Map<number, number>();
    for (const term of new Set(query)) {
      const df = [...docs.values()].filter((d) => d.includes(term)).length;
      for (const [slot, d] of docs) {
        const tf = d.filter((w) => w === term).length;
        if (tf && accepts(slot)) out.set(slot, (out.get(slot) ?? 0) + idf(docs.size, df) * tfWeight(tf, d.length, avg));
      }
    }
    return out;
  };
  for (let step = 0; step < 3000; step++) {
    const slot = rand(60);
    if (rand(3) === 0) {
      ix.clear(slot);
      docs.delete(slot);
    } else {
      const d = Array.from({ length: 1 + rand(12) }, () => words[rand(words.length)]!);
      ix.set(slot, d.join(' '));
      docs.set(slot, d);
    }
    if (step % 50 === 0) {
      const query = [words[rand(8)]!, words[rand(8)]!];
      const accepts = step % 100 === 0 ? (s: number) => s % 3 === 0 : () => true;
      const got = new Map(ix.score(query.join(' '), accepts).map((h) => [h.slot, h.score]));
      assert.deepEqual(got, oracle(query, accepts), `step ${step}, query ${query.join(' ')}`);
      assert.equal(ix.size, docs.size);
      // top(k): exactly the scores at or above the k-th best (ties at the edge kept), as sorting them all gives.
      for (const k of [0, 1, 3, 10, 100]) {
        const all = [...got.values()].sort((x, y) => y - x);
        const edge = k === 0 ? Infinity : all.length > k ? all[k - 1]! : -Infinity;
        const want = new Map([...got].filter(([, v]) => v >= edge));
        const top = ix.top(query.join(' '), k, accepts);
        assert.deepEqual(new Map(top.map((h) => [h.slot, h.score])), want, `top ${k} at step ${step}`);
        assert.equal(top.length, want.size, 'each slot once');
      }
    }
  }
});

test('BM25 English analysis: stop words dropped, accents folded, Porter2 stems shared by index and query', () => {
  assert.deepEqual(analyzeEnglish('The studies of Café running'), ['studi', 'cafe', 'run']);
  const ix = new Bm25Index();
  ix.add('a', 'Effects of running on cardiac studies');
  ix.add('b', 'the the the and of');
  assert.ok(ix.score('runs study').get('a')! > 0, 'inflected query words match stems');
  assert.equal(ix.score('the and of').size, 0, 'a stop-word query matches nothing');
});

test('pruneBefore: versions superseded within the keep window, and the current one, survive (issue 14 item 12)', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  const versions = [1, 2, 3, 4, 5].map((v) => ({ version: v, timestamp: at(v * 10) })); // commits at 10, 20, …, 50 s
  // Keep what was current since t=35 s: version 3 (superseded at 40 s) onwards.
  assert.deepEqual(pruneBefore(versions, at(35).getTime()), at(30));
  // Keep since t=60 s (nothing superseded since): only the current version 5.
  assert.deepEqual(pruneBefore(versions, at(60).getTime()), at(50));
  // Keep since t=0: everything.
  assert.deepEqual(pruneBefore([...versions].reverse(), at(0).getTime()), at(10));
  assert.deepEqual(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_EMBEDDED_KEEP_VERSIONS_SECONDS: '0' }, '/d'), { kind: 'embedded', dataDir: '/d', keepVersionsSeconds: 0 });
  assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_EMBEDDED_KEEP_VERSIONS_SECONDS: '-5' }), /QUARRY_EMBEDDED_KEEP_VERSIONS_SECONDS='-5' is not a non-negative integer/);
});

test('Qdrant filters: a declared dotted path is asked with and without [] after each inner segment (issue 24 item 2)', () => {
  assert.deepEqual(pathVariants('sku'), ['sku']);
  assert.deepEqual(pathVariants('items.sku'), ['items.sku', 'items[].sku']);
  assert.deepEqual(pathVariants('a.b.c'), ['a.b.c', 'a.b[].c', 'a[].b.c', 'a[].b[].c']);
  assert.equal(pathVariants('a.b.c.d.e'), undefined);
  const idx = new Map<string, PayloadIndexType>([['items.sku', 'keyword']]);
  const m = (key: string) => ({ key, match: { value: 'a' } });
  assert.deepEqual(toQdrantFilter(compileFilter({ field: 'items.sku', value: 'a' }), idx), { should: [m('items.sku'), m('items[].sku')] });
  assert.deepEqual(toQdrantFilter(compileFilter({ field: 'items.sku', operator: 'ne', value: 'a' }), idx), { must_not: [{ should: [m('items.sku'), m('items[].sku')] }] });
  assert.deepEqual(toQdrantFilter(compileFilter({ field: 'items.sku', operator: 'exists', value: true }), idx), {
    should: ['items.sku', 'items[].sku'].map((key) => ({ must_not: [{ is_empty: { key } }, { must: [{ is_empty: { key: `${key}[]` } }, { is_null: { key: `${key}[]` } }] }] })),
  });
  assert.equal(toQdrantFilter(compileFilter({ field: 'items.sku', operator: 'contains', value: 'x' }), idx), undefined, 'substring: evaluated here');
});
