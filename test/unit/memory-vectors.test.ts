/**
 * The embedded store's in-memory index on real usearch. One vector (memory-vectors.ts): exact scans and the HNSW
 * graph against a brute-force oracle, through overwrites, clears, rows not yet in the graph, and filters whose matches
 * the nearest neighbours do not hold. The collection mirror (memory-mirror.ts): filter bitmaps and payload projections.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileFilter } from '#engine/vector/filter-compile.ts';
import { CollectionMirror, project } from '#engine/vector/embedded/memory-mirror.ts';
import { VectorSlots, type SlotFilter } from '#engine/vector/embedded/memory-vectors.ts';

/** Points on a closed curve in 4-d (many near neighbours: a hard case for a graph). */
const curve = (i: number) => Float32Array.from({ length: 4 }, (_, d) => Math.sin(i * 0.37 + d));
const OPTS = { graphThreshold: 1000, m: 16, efConstruction: 100, ef: 128 };

function oracle(live: Map<number, Float32Array>, q: Float32Array, k: number, accept: (slot: number) => boolean = () => true): number[] {
  return [...live]
    .filter(([slot]) => accept(slot))
    .map(([slot, v]) => [slot, Math.hypot(...v.map((x, d) => x - q[d]!))] as const)
    .sort((a, b) => a[1] - b[1])
    .slice(0, k)
    .map(([slot]) => slot);
}

function recall(slots: VectorSlots, live: Map<number, Float32Array>, k: number, filter?: SlotFilter): number {
  let sum = 0;
  for (let q = 0; q < 40; q++) {
    const query = curve(q * 101 + 0.5);
    const truth = oracle(live, query, k, filter ? (s) => filter.accepts(s) : undefined);
    const got = slots.search(query, k, filter).slice(0, k).map((h) => h.slot);
    assert.equal(got.length, truth.length);
    sum += got.filter((s) => truth.includes(s)).length / Math.max(1, truth.length);
  }
  return sum / 40;
}

function load(n: number): { slots: VectorSlots; live: Map<number, Float32Array> } {
  const slots = new VectorSlots(4, 'euclid', OPTS);
  const live = new Map<number, Float32Array>();
  for (let i = 0; i < n; i++) {
    slots.set(i, curve(i));
    live.set(i, curve(i));
  }
  return { slots, live };
}

test('below the threshold every search is an exact scan; above it the graph answers, also after overwrites and clears', async () => {
  const { slots, live } = load(900);
  assert.equal(slots.graphed, false);
  assert.equal(recall(slots, live, 10), 1);
  for (let i = 900; i < 3000; i++) {
    slots.set(i, curve(i));
    live.set(i, curve(i));
  }
  await slots.settled();
  assert.equal(slots.graphed, true);
  // usearch adds on several threads, so the graph (and its recall) differs run to run: 0.985-1.0 over 30 builds here,
  // once below 0.98 under load. The defect this guards (neighbours left unreachable) gave 0.70-0.80.
  const RECALL_MIN = 0.95;
  assert.ok(recall(slots, live, 10) >= RECALL_MIN);
  // Rewritten rows get new graph nodes; removing and re-adding nodes in usearch left neighbours unreachable (0.70).
  for (let j = 0; j < 200; j++) {
    slots.set(j * 7, curve(j * 7 + 1));
    live.set(j * 7, curve(j * 7 + 1));
  }
  for (let j = 0; j < 300; j++) {
    slots.clear(j * 9 + 1);
    live.delete(j * 9 + 1);
  }
  await slots.settled();
  assert.ok(recall(slots, live, 10) >= RECALL_MIN, `recall after overwrites ${recall(slots, live, 10)}`);
  assert.equal(slots.size, live.size);
});

test('rows written since the graph last caught up are searched too (read your writes)', async () => {
  const { slots, live } = load(3000);
  await slots.settled();
  const far = Float32Array.from([9, 9, 9, 9]);
  slots.set(5000, far);
  live.set(5000, far);
  const hits = slots.search(Float32Array.from([9, 9, 9, 8.9]), 1);
  assert.equal(hits[0]?.slot, 5000, 'the row written a moment ago is the nearest');
  assert.equal(slots.get(5000)?.[0], 9);
  slots.clear(5000);
  assert.notEqual(slots.search(Float32Array.from([9, 9, 9, 8.9]), 1)[0]?.slot, 5000, 'and a cleared row is gone at once');
});

test('a filter whose matches lie away from the query still gets its exact top k (over-fetch, then a full scan)', async () => {
  const { slots, live } = load(12_000);
  await slots.settled();
  // 6,000 matches (more than a plain loop takes): the odd slots only.
  const odd: SlotFilter = { accepts: (s) => s % 2 === 1, count: 6000 };
  assert.ok(recall(slots, live, 10, odd) >= 0.98);
  // Matches only in one stretch of the curve, none near the queries' neighbourhoods for most queries.
  const stretch: SlotFilter = { accepts: (s) => s >= 6000 && s < 11_000, count: 5000 };
  assert.ok(recall(slots, live, 50, stretch) >= 0.98);
  const none: SlotFilter = { accepts: () => false, count: 0 };
  assert.deepEqual(slots.search(curve(1), 10, none), []);
});

test('a query given as a view into a larger array is read from its own offset', () => {
  const { slots } = load(50);
  const buffer = new Float32Array(12);
  buffer.set(curve(17), 8);
  assert.equal(slots.search(buffer.subarray(8, 12), 1)[0]?.slot, 17);
});

test('the mirror builds a filter bitmap on its second use in a large collection, and later writes keep it current', async () => {
  const spec = { name: 'm', vectors: [{ name: 'v', size: 4, distance: 'euclid' as const }] };
  // Rows × dims beyond which an exact scan counts as dear: 20,000 × 4 here stands for a large collection.
  const mirror = new CollectionMirror(spec, new Set(['shard']), { ...OPTS, cheapScanFloats: 1000 });
  const off = Float32Array.from([5, 5, 5, 5]); // away from the curve: the nearest row whenever it passes the filter
  const row = (i: number, shard: number) => ({ id: `p${i}`, payload: JSON.stringify({ shard, other: i }), vectors: { v: i === 20_000 ? off : curve(i) } });
  mirror.upsert(Array.from({ length: 20_000 }, (_, i) => row(i, i % 10)));
  // While the graph catches up, LanceDB answers only with its own ANN index: without one it would scan every row too.
  assert.equal(mirror.search('v', curve(1), 5, compileFilter(undefined), false, true), undefined, 'LanceDB (indexed) answers while the graph catches up');
  const meanwhile = mirror.search('v', curve(1), 5, compileFilter(undefined), false, false);
  assert.equal(meanwhile?.[0]?.id, 'p1', 'without a LanceDB index, the exact scan answers meanwhile');
  const small = new CollectionMirror(spec, new Set(['shard']), OPTS);
  small.upsert(Array.from({ length: 2_000 }, (_, i) => row(i, i % 10)));
  assert.equal(small.search('v', curve(7), 1, compileFilter(undefined), false, true)?.[0]?.id, 'p7', 'few rows: the exact scan answers, index or not');
  await small.settled();
  await mirror.settled();
  const near = Float32Array.from([5, 5, 5, 4.9]);
  const shard3 = compileFilter({ field: 'shard', operator: 'eq', value: 3 });
  assert.equal(mirror.search('v', near, 5, shard3, false, false), undefined, 'first use: LanceDB answers (no pass over 20,000 rows for a one-off filter)');
  const second = mirror.search('v', near, 5, shard3, false, false)!;
  assert.equal(second.length, 5);
  assert.ok(second.every((h) => JSON.parse(h.payload).shard === 3));
  assert.equal(mirror.search('v', near, 5, compileFilter({ field: 'other', operator: 'eq', value: 1 }), false, false), undefined, 'a field without an index: LanceDB');
  // A write that moves a row into the filter, one that moves a row out, and a delete, all seen by the cached bitmap.
  mirror.upsert([row(20_000, 3)]);
  assert.equal(mirror.search('v', near, 1, shard3, false, false)![0]!.id, 'p20000');
  mirror.upsert([row(20_000, 4)]);
  assert.notEqual(mirror.search('v', near, 1, shard3, false, false)![0]!.id, 'p20000');
  const top = mirror.search('v', near, 1, shard3, false, false)![0]!.id;
  mirror.delete([top]);
  assert.notEqual(mirror.search('v', near, 1, shard3, false, false)![0]!.id, top);
  assert.equal(mirror.size, 20_000);
});

test('projections keep exactly the indexed paths, through arrays and nesting', () => {
  const payload = { a: { b: [{ c: 1, d: 2 }, { c: 3 }], e: 5 }, f: null, g: 'x' };
  assert.deepEqual(project(payload, [['a', 'b', 'c'], ['f']]), { a: { b: [{ c: 1 }, { c: 3 }] }, f: null });
  assert.deepEqual(project(payload, [['a'], ['missing']]), { a: payload.a });
});
