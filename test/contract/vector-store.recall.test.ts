/**
 * Recall of the embedded store's two ANN paths (its in-memory HNSW graph, and LanceDB's index) against the exact oracle on clustered 384-d vectors
 * (reference: vector-stores-and-models.md, appendix B). Not a speed test: latency lives in bench/vector-store.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Point, VectorStore } from '#core/ports/vector-store.ts';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { clusteredUnitVectors, recallAtK } from './vector-store.clustered.ts';

const N = Number(process.env.QUARRY_RECALL_N ?? 50_000);
const D = 384;
const Q = 100;
const K = 10;

async function load(store: VectorStore, data: Float32Array): Promise<void> {
  await store.ensureCollection({
    name: 'recall',
    vectors: [{ name: 'emb', size: D, distance: 'cosine' }],
    payloadIndexes: [{ field: 'shard', type: 'integer' }],
  });
  for (let start = 0; start < N; start += 5000) {
    const points: Point[] = [];
    for (let i = start; i < Math.min(N, start + 5000); i++) {
      points.push({ id: `p${i}`, vectors: { emb: data.subarray(i * D, (i + 1) * D) }, payload: { shard: i % 10 } });
    }
    await store.upsert('recall', points);
  }
}

async function measure(label: string, exact: VectorStore, embedded: VectorStore, queries: Float32Array): Promise<void> {
  for (const filter of [undefined, { field: 'shard', operator: 'lt' as const, value: 3 }]) {
    let sum = 0;
    for (let q = 0; q < Q; q++) {
      const vector = queries.subarray(q * D, (q + 1) * D);
      const req = { using: 'emb', vector, limit: K, withPayload: false, ...(filter ? { filter } : {}) };
      const truth = (await exact.search('recall', req)).map((h) => h.id);
      const got = (await embedded.search('recall', req)).map((h) => h.id);
      assert.equal(truth.length, K);
      sum += recallAtK(truth, got);
    }
    const recall = sum / Q;
    console.log(`${label} recall@${K} ${filter ? 'prefiltered (30%)' : 'plain'}: ${recall.toFixed(4)}`);
    assert.ok(recall >= 0.98, `${label} recall@${K} ${recall} < 0.98`);
  }
}

test(`embedded recall@${K} >= 0.98 against exact on ${N} clustered ${D}-d vectors (plain and prefiltered), in memory and in LanceDB`, async () => {
  const { data } = clusteredUnitVectors(N, D, 42);
  const { data: queries } = clusteredUnitVectors(Q, D, 43);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-recall-'));
  const exact = new ExactVectorStore();
  let embedded = new LanceVectorStore({ dataDir: dir });
  try {
    await load(exact, data);
    await load(embedded, data);
    await embedded.optimize('recall'); // the graph caught up, so recall is measured on it rather than on a flat scan
    assert.deepEqual((await embedded.memoryIndexState('recall'))?.graphed, ['emb'], 'the in-memory HNSW graph answers');
    assert.deepEqual(await embedded.annIndexedVectors('recall'), [], 'no LanceDB ANN index: no search needed one');
    await measure('in-memory HNSW', exact, embedded, queries);
    await embedded.close();
    embedded = new LanceVectorStore({ dataDir: dir, memoryIndex: false });
    await embedded.optimize('recall'); // LanceDB's ANN index
    assert.deepEqual(await embedded.annIndexedVectors('recall'), ['emb'], 'the ANN index exists');
    await measure('LanceDB IVF-HNSW-SQ', exact, embedded, queries);
  } finally {
    await embedded.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
