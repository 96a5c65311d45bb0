/**
 * The embedded store's filtered vector search (engine/src/vector/embedded/filter-plan.ts), through the ANN index and by
 * a flat scan below the index threshold: a filter keeping a large share of the rows is answered by over-fetching
 * the nearest rows and filtering them (post-filter), which must give the exact store's answer, and must fall back to
 * LanceDB's pre-filter when the fetched neighbours hold fewer than top_k matches (here: every match lies on the far
 * side of the query, so the nearest candidates hold none).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FilterNode } from '#core/ports/filter.ts';
import type { Point, VectorStore } from '#core/ports/vector-store.ts';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';

const N = 2000;
const D = 16;
const C = 'plan';
const FAR_SHARE = 0.3;

/** A deterministic unit vector near +e0 (near) or -e0 (far), with small noise in the other dimensions. */
function vector(i: number, far: boolean): Float32Array {
  const v = new Float32Array(D);
  v[0] = far ? -1 : 1;
  for (let d = 1; d < D; d++) v[d] = 0.2 * Math.sin(i * 7.13 + d * 1.7);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

const points: Point[] = Array.from({ length: N }, (_, i) => {
  const far = i % 10 < FAR_SHARE * 10;
  return { id: `p${i}`, vectors: { emb: vector(i, far) }, payload: { side: far ? 'far' : 'near', n: i } };
});

async function load(store: VectorStore): Promise<void> {
  await store.ensureCollection({ name: C, vectors: [{ name: 'emb', size: D, distance: 'cosine' }], payloadIndexes: [{ field: 'side', type: 'keyword' }] });
  for (let i = 0; i < N; i += 500) await store.upsert(C, points.slice(i, i + 500));
  await store.optimize?.(C);
}

const query = vector(12345, false);
const cases: [string, FilterNode][] = [
  ['a filter keeping 70% of the rows, all near the query (post-filter)', { field: 'side', operator: 'eq', value: 'near' }],
  ['a filter keeping 30% of the rows, none near the query (post-filter finds none: pre-filter)', { field: 'side', operator: 'eq', value: 'far' }],
  ['a filter keeping 3% of the rows (pre-filter)', { AND: [{ field: 'side', operator: 'eq', value: 'far' }, { field: 'n', operator: 'lt', value: 200 }] }],
];

// Through the ANN index, and by a flat scan below the index threshold (where a post-filter is exact: the k nearest
// matches are among the nearest `fetch` rows whenever `fetch` rows hold k matches).
for (const { label, indexThreshold, ann, minRecall } of [
  { label: 'ANN search', indexThreshold: 1000, ann: ['emb'], minRecall: 0.9 },
  { label: 'flat search below the index threshold', indexThreshold: 10_000, ann: [], minRecall: 1 },
]) {
  describe(`embedded store: filtered ${label} plans`, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-filter-plan-'));
    const exact = new ExactVectorStore();
    const embedded = new LanceVectorStore({ dataDir: dir, indexThreshold, memoryIndex: false }); // LanceDB's plans, not the in-memory index
    before(async () => {
      await load(exact);
      await load(embedded);
      assert.deepEqual(await embedded.annIndexedVectors(C), ann, ann.length ? 'searches go through the ANN index' : 'searches scan every row');
    });
    after(async () => {
      await embedded.close();
      rmSync(dir, { recursive: true, force: true });
    });

    for (const [name, filter] of cases) {
      for (const k of [10, 100]) {
        it(`${name}, top_k ${k}: the exact store's hits`, async () => {
          const req = { using: 'emb', vector: query, limit: k, withPayload: true, filter };
          const truth = await exact.search(C, req);
          const got = await embedded.search(C, req);
          assert.ok(truth.length > 0);
          assert.equal(got.length, truth.length, `${got.length} hits, the exact store ${truth.length}`);
          for (const h of got) assert.equal(typeof h.payload?.side, 'string');
          const want = new Set(truth.map((h) => h.id));
          const overlap = got.filter((h) => want.has(h.id)).length / truth.length;
          assert.ok(overlap >= minRecall, `recall ${overlap}`);
          const side = (filter as { field?: string; value?: string }).value ?? 'far';
          assert.ok(got.every((h) => h.payload?.side === side), 'every hit passes the filter');
          // exact scores: the refinement re-ranks with full-precision vectors on every plan
          for (const h of got) {
            const t = truth.find((x) => x.id === h.id);
            if (t) assert.ok(Math.abs(t.score - h.score) < 1e-4, `score ${h.score} vs exact ${t.score}`);
          }
        });
      }
    }
  });
}

describe('embedded store: the ANN index is retrained as the table grows', () => {
  it('an index trained on 1,000 rows is retrained once the table holds twice that, and searches stay right', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-retrain-'));
    const store = new LanceVectorStore({ dataDir: dir, indexThreshold: 1000, memoryIndex: false }); // LanceDB's own index
    try {
      await store.ensureCollection({ name: C, vectors: [{ name: 'emb', size: D, distance: 'cosine' }] });
      await store.upsert(C, points.slice(0, 1000));
      await store.optimize(C);
      assert.deepEqual(await store.annTrainedRows(C), { v__emb: 1000 });
      await store.upsert(C, points.slice(1000, 1900));
      await store.optimize(C);
      assert.deepEqual(await store.annTrainedRows(C), { v__emb: 1000 }, 'below twice the trained rows: the index is only extended');
      await store.upsert(C, points.slice(1900));
      await store.optimize(C);
      // Retrained either by the doubling (on all 2,000 rows) or, when the machine is slow enough for it to run first,
      // by the segment merge the 900 new rows made due (more than a tenth of the table), on the 1,900 rows then.
      const trained = (await store.annTrainedRows(C)).v__emb;
      assert.ok(trained === N || trained === 1900, `retrained as the table grew (trained on ${trained} rows)`);
      const hits = await store.search(C, { using: 'emb', vector: vector(7, true), limit: 5, withPayload: true });
      assert.equal(hits.length, 5);
      assert.ok(hits.every((h) => h.payload?.side === 'far'));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
