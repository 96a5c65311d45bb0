/**
 * Every store at twice its ANN index threshold (so searches go through the index, not a flat scan), with top_k 10,
 * 100 and 1,000, plain and prefiltered, against the exact store as the oracle (issue 14 item 5: at 10,000 rows the
 * embedded store's index appeared and every search with top_k above 32 failed with "ef must be greater than or equal
 * to k"). The thresholds are set small so this stays fast; the index settings are the ones the environment sets
 * (create.ts). Qdrant runs when QDRANT_URL is set (with a small indexing threshold) and says so when it is not.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Point, VectorStore } from '#core/ports/vector-store.ts';
import { createVectorStore, vectorStoreConfigFromEnv } from '#engine/vector/create.ts';
import type { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { clusteredUnitVectors, recallAtK } from './vector-store.clustered.ts';

const THRESHOLD = 1000;
const N = 2 * THRESHOLD;
const D = 32;
const QUERIES = 5;
const C = 'ann';
const { data } = clusteredUnitVectors(N, D, 7);
const { data: queries } = clusteredUnitVectors(QUERIES, D, 8);
const points: Point[] = Array.from({ length: N }, (_, i) => ({ id: `p${i}`, vectors: { emb: data.subarray(i * D, (i + 1) * D) }, payload: { shard: i % 4, collection_id: 'col_a' } }));

async function load(store: VectorStore): Promise<void> {
  await store.ensureCollection({ name: C, vectors: [{ name: 'emb', size: D, distance: 'cosine' }], payloadIndexes: [{ field: 'shard', type: 'integer' }] });
  for (let i = 0; i < N; i += 500) await store.upsert(C, points.slice(i, i + 500));
  await store.optimize?.(C);
}

const exact = new ExactVectorStore();
const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-ann-threshold-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The minimum recall each top_k must reach against the exact store (an ANN index, so not always 1). */
const MIN_RECALL: Record<number, number> = { 10: 0.95, 100: 0.95, 1000: 0.95 };

function annCases(name: string, open: () => Promise<VectorStore>, annIndexed?: (s: VectorStore) => Promise<string[]>): void {
  describe(`${name} at 2x its index threshold (${N} rows)`, () => {
    let store: VectorStore;
    it('loads and builds its ANN index', async () => {
      if (!(await exact.describeCollection(C))) await load(exact);
      store = await open();
      await load(store);
      if (annIndexed) assert.deepEqual(await annIndexed(store), ['emb'], 'the search below goes through the ANN index');
    });
    for (const k of [10, 100, 1000]) {
      for (const filter of [undefined, { AND: [{ field: 'collection_id', operator: 'eq' as const, value: 'col_a' }, { field: 'shard', operator: 'lt' as const, value: 2 }] }]) {
        it(`top_k ${k}${filter ? ', prefiltered (50%)' : ''}: answers, and recall against the exact store >= ${MIN_RECALL[k]}`, async () => {
          let sum = 0;
          for (let q = 0; q < QUERIES; q++) {
            const req = { using: 'emb', vector: queries.subarray(q * D, (q + 1) * D), limit: k, withPayload: false, ...(filter ? { filter } : {}) };
            const truth = (await exact.search(C, req)).map((h) => h.id);
            const got = (await store.search(C, req)).map((h) => h.id);
            assert.equal(truth.length, Math.min(k, filter ? N / 2 : N));
            assert.equal(got.length, truth.length, `top_k ${k} returned ${got.length} hits, the exact store ${truth.length}`);
            sum += recallAtK(truth, got);
          }
          const recall = sum / QUERIES;
          assert.ok(recall >= MIN_RECALL[k]!, `recall@${k} ${recall.toFixed(4)} < ${MIN_RECALL[k]}`);
        });
      }
    }
    it('closes', async () => store.close());
  });
}

annCases('exact', async () => new ExactVectorStore());

// The embedded store as the environment configures it (QUARRY_EMBEDDED_INDEX_THRESHOLD), which is what local mode does:
// dense searches answered by its in-memory HNSW graph, and with that turned off by LanceDB's index.
annCases(
  'embedded (in-memory HNSW)',
  async () => createVectorStore(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_EMBEDDED_INDEX_THRESHOLD: String(THRESHOLD) }, path.join(dir, 'memory'))),
  async (s) => (await (s as LanceVectorStore).memoryIndexState(C))?.graphed ?? [],
);
annCases(
  'embedded (LanceDB, IVF-HNSW-SQ)',
  async () => createVectorStore(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_EMBEDDED_INDEX_THRESHOLD: String(THRESHOLD), QUARRY_EMBEDDED_MEMORY_INDEX: 'false' }, path.join(dir, 'lance'))),
  (s) => (s as LanceVectorStore).annIndexedVectors(C),
);

if (process.env.QDRANT_URL) {
  // A point here is 32 floats (128 B): an indexing threshold of N/2 x 128 B makes Qdrant build HNSW segments.
  const env = { QUARRY_VECTOR_STORE: 'qdrant', QDRANT_URL: process.env.QDRANT_URL, QDRANT_INDEXING_THRESHOLD_KB: String(Math.ceil((THRESHOLD * D * 4) / 1024)), QDRANT_COLLECTION_PREFIX: `quarry_ann_${randomBytes(3).toString('hex')}_`, ...(process.env.QDRANT_API_KEY ? { QDRANT_API_KEY: process.env.QDRANT_API_KEY } : {}) };
  let qdrant: VectorStore | undefined;
  annCases(`qdrant (${process.env.QDRANT_URL})`, async () => (qdrant = createVectorStore(vectorStoreConfigFromEnv(env))));
  after(async () => {
    await qdrant?.dropCollection(C).catch(() => undefined);
  });
} else {
  it('qdrant at 2x its indexing threshold: QDRANT_URL is not set, so it did not run', () => {
    assert.equal(process.env.QDRANT_URL, undefined);
    console.log('set QDRANT_URL (and QDRANT_API_KEY if needed) to run these cases against a real Qdrant server');
  });
}
