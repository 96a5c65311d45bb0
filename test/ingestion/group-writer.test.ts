/**
 * Group commit of document writes: concurrent jobs' points share upserts, each caller resolves only after its
 * own points are stored, and one caller's bad points fail that caller alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { groupUpsert } from '#engine/ingestion/group-writer.ts';
import type { Point } from '#core/ports/vector-store.ts';

const point = (id: string, size = 3): Point => ({ id, vectors: { v: Float32Array.from({ length: size }, (_, i) => i + 1) }, payload: { id } });

test('concurrent writes are grouped; every caller resolves after its points are stored; a bad caller fails alone', async () => {
  const store = new ExactVectorStore();
  await store.ensureCollection({ name: 'c', vectors: [{ name: 'v', size: 3, distance: 'cosine' }] });
  const calls: number[] = [];
  const upsert = store.upsert.bind(store);
  store.upsert = async (collection, points) => {
    calls.push(points.length);
    await new Promise((r) => setTimeout(r, 20)); // a slow commit, so later writes pile up behind it
    return upsert(collection, points);
  };

  const results = await Promise.allSettled([
    groupUpsert(store, 'c', [point('a1'), point('a2')]),
    groupUpsert(store, 'c', [point('b1')]),
    groupUpsert(store, 'c', [point('bad', 5)]), // wrong dimension: the store refuses it
    groupUpsert(store, 'c', [point('c1'), point('b1')]), // b1 again (a duplicate delivery): written once
    groupUpsert(store, 'c', []),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  assert.deepEqual((await store.retrieve('c', ['a1', 'a2', 'b1', 'c1', 'bad'])).map((p) => p.id).sort(), ['a1', 'a2', 'b1', 'c1']);
  // The first write went alone; the next three piled up into one group (the empty one needs no commit), which failed on the bad point and was
  // retried caller by caller (b1, bad, then c1 with b1).
  assert.deepEqual(calls, [2, 3, 1, 1, 2]);
});
