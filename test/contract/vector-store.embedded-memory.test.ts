/**
 * The embedded store's in-memory index (engine/src/vector/embedded/memory-mirror.ts) answers dense and lexical
 * (BM25) searches as the exact store does (lexical scores to the last bit: LanceDB's own BM25 scores differ), and stays in step with the Lance table through every kind of write: overwrites, deletes by id
 * and by filter, points without one of the vectors, a schema change and a reopen. The index threshold is set low so
 * the cosine vector is searched through its HNSW graph (checked), with the exact store as the oracle; the euclid
 * vector stays below it and is scanned exactly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FilterNode } from '#core/ports/filter.ts';
import type { Point, SearchRequest, VectorStore } from '#core/ports/vector-store.ts';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { clusteredUnitVectors, recallAtK } from './vector-store.clustered.ts';

const N = 3000;
const D = 24;
const C = 'mem';
const THRESHOLD = 1000;
const { data } = clusteredUnitVectors(N + 400, D, 31);
const { data: queries } = clusteredUnitVectors(8, D, 32);
const vec = (i: number) => data.slice(i * D, (i + 1) * D);
/** A euclid vector for the points that have one (every fourth point: below the threshold, so scanned exactly). */
const small = (i: number) => Float32Array.from({ length: 4 }, (_, d) => Math.sin(i * 0.37 + d));

const WORDS = ['owls', 'running', 'larks', 'studies', 'cardiac', 'the', 'river', 'Café', 'protein', 'cells', 'of', 'mice', 'sleep', 'light', 'winter'];
/** A text of 3 to 17 words (none for every ninth point); overwrites change it. */
function body(i: number, generation: number): string | undefined {
  if (i % 9 === 0) return undefined;
  return Array.from({ length: 3 + ((i * 7 + generation) % 15) }, (_, w) => WORDS[(i * 31 + w * w * 17 + generation * 5) % WORDS.length]).join(' ');
}
const TEXT_QUERIES = ['owl', 'runs studies', 'cafe winter light', 'the of', 'cardiac protein cells mice sleep', 'nothing matches this'];

function point(i: number, generation = 0): Point {
  const vectors: Point['vectors'] = { a: vec(i + generation * 7) };
  if (i % 4 === 0) vectors.b = small(i + generation);
  const text = body(i, generation);
  return {
    id: `p${i}`,
    vectors,
    payload: { shard: (i + generation) % 10, kind: i % 2 ? 'odd' : 'even', meta: { tags: [`t${i % 5}`, 'all'] }, free: `f${i % 4}`, collection_id: 'col_a' },
    ...(text === undefined ? {} : { text: { body: text } }),
  };
}

const FILTERS: [string, FilterNode | undefined][] = [
  ['none', undefined],
  ['keyword eq (50%)', { field: 'kind', operator: 'eq', value: 'odd' }],
  ['integer range (20%)', { field: 'shard', operator: 'lt', value: 2 }],
  ['nested array path', { field: 'meta.tags', operator: 'in', value: ['t1', 't3'] }],
  ['AND / OR / NOT', { AND: [{ field: 'collection_id', operator: 'eq', value: 'col_a' }, { OR: [{ field: 'shard', operator: 'eq', value: 3 }, { field: 'kind', operator: 'eq', value: 'even' }] }], NOT: [{ field: 'meta.tags', operator: 'eq', value: 't0' }] }],
  ['a field without an index (runs in LanceDB)', { field: 'free', operator: 'eq', value: 'f1' }],
  ['matching nothing', { field: 'shard', operator: 'gt', value: 100 }],
];

async function apply(store: VectorStore): Promise<void> {
  await store.ensureCollection({
    name: C,
    vectors: [{ name: 'a', size: D, distance: 'cosine' }, { name: 'b', size: 4, distance: 'euclid' }],
    lexicalFields: ['body'],
    payloadIndexes: [{ field: 'shard', type: 'integer' }, { field: 'kind', type: 'keyword' }, { field: 'meta.tags', type: 'keyword' }],
  });
  for (let i = 0; i < N; i += 500) await store.upsert(C, Array.from({ length: 500 }, (_, j) => point(i + j)));
  await store.upsert(C, Array.from({ length: 200 }, (_, j) => point(j * 7, 1))); // overwrites: new vectors and payloads
  await store.delete(C, Array.from({ length: 100 }, (_, j) => `p${j * 11 + 1}`));
  await store.deleteByFilter(C, { field: 'shard', operator: 'eq', value: 9 });
  await store.upsert(C, Array.from({ length: 50 }, (_, j) => point(N + j))); // new rows reuse freed slots
}

async function compare(store: VectorStore, oracle: VectorStore, label: string): Promise<void> {
  for (const [name, filter] of FILTERS) {
    for (const [using, limit] of [['a', 10], ['a', 200], ['b', 10]] as const) {
      let recall = 0;
      for (let q = 0; q < 8; q++) {
        const vector = using === 'a' ? queries.subarray(q * D, (q + 1) * D) : small(q * 101);
        const req: SearchRequest = { using, vector, limit, withPayload: true, ...(filter ? { filter } : {}) };
        const truth = await oracle.search(C, req);
        const got = await store.search(C, req);
        assert.equal(got.length, truth.length, `${label}, ${name}, ${using} top ${limit}: ${got.length} hits, the exact store ${truth.length}`);
        recall += truth.length ? recallAtK(truth.map((h) => h.id), got.map((h) => h.id)) : 1;
        const byId = new Map(truth.map((h) => [h.id, h]));
        for (const h of got) {
          const t = byId.get(h.id);
          if (!t) continue;
          assert.ok(Math.abs(t.score - h.score) < 1e-4, `${label}, ${name}: ${h.id} scored ${h.score}, the exact store ${t.score}`);
          assert.deepEqual(h.payload, t.payload, `${label}, ${name}: ${h.id}'s payload`);
        }
      }
      const min = using === 'a' && limit === 10 ? 0.95 : 0.97;
      assert.ok(recall / 8 >= min, `${label}, ${name}, ${using} top ${limit}: recall ${recall / 8} < ${min}`);
    }
    if (name.includes('without an index')) continue; // LanceDB's BM25 answers it, with its own scores
    for (const text of TEXT_QUERIES) {
      for (const limit of [10, 500]) {
        const req: SearchRequest = { using: 'body', text, limit, withPayload: true, ...(filter ? { filter } : {}) };
        const [got, truth] = [await store.search(C, req), await oracle.search(C, req)];
        const show = (hits: typeof got) => hits.map((h) => `${h.id}:${h.score}`).join(' ');
        assert.equal(show(got), show(truth), `${label}, ${name}, text '${text}' top ${limit}`);
        assert.deepEqual(got.map((h) => h.payload), truth.map((h) => h.payload));
      }
    }
  }
}

describe('embedded store: the in-memory index', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-memory-index-'));
  const oracle = new ExactVectorStore();
  let store: LanceVectorStore;
  before(async () => {
    await apply(oracle);
    store = new LanceVectorStore({ dataDir: dir, indexThreshold: THRESHOLD });
    await apply(store);
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds every row, and searches the vector above the threshold through its HNSW graph', async () => {
    assert.deepEqual(await store.memoryIndexState(C), { rows: await oracle.count(C), graphed: ['a'], fields: ['collection_id', 'kind', 'meta.tags', 'shard'] });
    assert.deepEqual(await store.annIndexedVectors(C), [], 'no LanceDB ANN index: no search has needed one yet');
  });

  it('has LanceDB build its own ANN index once a dense search needs it (a filter on a field without an index)', async () => {
    await store.search(C, { using: 'a', vector: queries.subarray(0, D), limit: 5, filter: { field: 'free', operator: 'eq', value: 'f1' } });
    await store.optimize(C);
    assert.ok((await store.annIndexedVectors(C)).includes('a'), `LanceDB's index on 'a' (has: ${(await store.annIndexedVectors(C)).join(', ')})`);
  });

  it('optimize() waits for the graph but does not compact after every batch (a rewrite of the whole table)', async () => {
    await store.ensureCollection({ name: 'upkeep', vectors: [{ name: 'a', size: D, distance: 'cosine' }] });
    await store.upsert('upkeep', Array.from({ length: 40 }, (_, i) => point(i)).map(({ text: _t, ...p }) => ({ ...p, vectors: { a: p.vectors.a! } })));
    await store.upsert('upkeep', [{ id: 'late', vectors: { a: vec(99) }, payload: {} }]);
    const version = await store.version('upkeep');
    await store.optimize('upkeep');
    assert.equal(await store.version('upkeep'), version, 'no compaction: two commits are not due');
    assert.equal((await store.search('upkeep', { using: 'a', vector: vec(99), limit: 1 }))[0]?.id, 'late', 'the last write is searchable');
  });

  it('answers as the exact store after overwrites, deletes and deletes by filter', () => compare(store, oracle, 'after the writes'));

  it('returns the vectors from memory', async () => {
    const req: SearchRequest = { using: 'a', vector: queries.subarray(0, D), limit: 5, withVectors: true, withPayload: false };
    const [got, truth] = [await store.search(C, req), await oracle.search(C, req)];
    assert.deepEqual(got.map((h) => h.id), truth.map((h) => h.id));
    for (const [i, h] of got.entries()) {
      assert.equal(h.payload, undefined);
      for (const name of Object.keys(truth[i]!.vectors!)) assert.ok(h.vectors![name]!.every((x, d) => Math.abs(x - truth[i]!.vectors![name]![d]!) < 1e-6), `${h.id}.${name}`);
      assert.deepEqual(Object.keys(h.vectors!).sort(), Object.keys(truth[i]!.vectors!).sort());
    }
  });

  it('is rebuilt from the table on reopen', async () => {
    await store.close();
    store = new LanceVectorStore({ dataDir: dir, indexThreshold: THRESHOLD });
    assert.deepEqual(await store.memoryIndexState(C), { rows: await oracle.count(C), graphed: ['a'], fields: ['collection_id', 'kind', 'meta.tags', 'shard'] });
    await compare(store, oracle, 'after reopening');
  });

  it('follows a schema change: a new vector, a new lexical field and a new payload index (filtered in memory)', async () => {
    const E = 'evolve';
    const spec = { name: E, vectors: [{ name: 'a', size: D, distance: 'cosine' as const }], payloadIndexes: [{ field: 'kind', type: 'keyword' as const }] };
    const evolved = { ...spec, vectors: [...spec.vectors, { name: 'c', size: 4, distance: 'dot' as const }], lexicalFields: ['body'], payloadIndexes: [{ field: 'free', type: 'keyword' as const }] };
    const some = (from: number, evolvedRows: boolean) =>
      Array.from({ length: 150 }, (_, j) => {
        const { text, ...p } = point(from + j);
        return { ...p, vectors: { a: vec(from + j), ...(evolvedRows ? { c: small(from + j) } : {}) }, ...(evolvedRows && text ? { text } : {}) };
      });
    for (const s of [store, oracle] as VectorStore[]) {
      await s.ensureCollection(spec);
      await s.upsert(E, some(0, false));
      await s.ensureCollection(evolved);
      await s.upsert(E, some(150, true));
    }
    assert.deepEqual(await store.memoryIndexState(E), { rows: 300, graphed: [], fields: ['collection_id', 'free', 'kind'] });
    for (const using of ['a', 'c']) {
      const req: SearchRequest = { using, vector: using === 'a' ? queries.subarray(0, D) : small(7), limit: 20, filter: { field: 'free', operator: 'eq', value: 'f1' } };
      const [got, truth] = [await store.search(E, req), await oracle.search(E, req)];
      assert.equal(got.length, using === 'a' ? 20 : truth.length);
      assert.deepEqual(got.map((h) => h.id), truth.map((h) => h.id), `vector ${using}`);
    }
    const req: SearchRequest = { using: 'body', text: 'owls running', limit: 50, filter: { field: 'free', operator: 'eq', value: 'f1' } };
    const [got, truth] = [await store.search(E, req), await oracle.search(E, req)];
    assert.ok(truth.length > 10);
    assert.deepEqual(got.map((h) => [h.id, h.score]), truth.map((h) => [h.id, h.score]), 'the new lexical field, scored in memory');
  });

  it('is off with memoryIndex: false, and a bad setting is refused', async () => {
    const off = new LanceVectorStore({ dataDir: dir, memoryIndex: false });
    try {
      assert.equal(await off.memoryIndexState(C), undefined);
    } finally {
      await off.close();
    }
    assert.throws(() => new LanceVectorStore({ dataDir: dir, memoryIndex: 'yes' as never }), /memoryIndex must be true or false/);
  });
});
