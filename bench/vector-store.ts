/**
 * `make bench-vector-store`: 100k clustered 384-d unit vectors (reference: vector-stores-and-models.md, appendix B),
 * top-10 cosine search, one process, queries one after another. Measures p50/p99 latency for the exact store
 * (brute force, the oracle) and the embedded store: as it runs by default (its in-memory index: usearch HNSW plus a
 * full-precision rescore), and with that off (LanceDB's IVF-HNSW-SQ, with and without refinement), plus recall@10 of
 * each (and of Qdrant when QDRANT_URL is set) against exact, unfiltered and with a 30% and a 10% prefilter. Qdrant is measured once
 * it has indexed everything (optimize()); the embedded store takes its index settings from QUARRY_EMBEDDED_*.
 * Writes bench/results/vector-store.json. Sizes: BENCH_N (default 100000), BENCH_Q (default 300).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FilterNode } from '#core/ports/filter.ts';
import type { Point, VectorStore } from '#core/ports/vector-store.ts';
import { createVectorStore, vectorStoreConfigFromEnv } from '#engine/vector/create.ts';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { EMBEDDED_DEFAULTS, type LanceStoreOptions } from '#engine/vector/embedded/lance-collection.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { QdrantVectorStore } from '#engine/vector/qdrant/qdrant-store.ts';
import { clusteredUnitVectors, recallAtK } from '#test/contract/vector-store.clustered.ts';
import { annSegments } from '#test/contract/lance-ann-segments.ts';
import { percentile, writeResults, round } from './lib/results.ts';

const N = Number(process.env.BENCH_N ?? 100_000);
const Q = Number(process.env.BENCH_Q ?? 300);
const D = 384;
const K = 10;
const COLLECTION = 'bench';
const FILTER: FilterNode = { field: 'shard', operator: 'lt', value: 3 };
/** 10% selectivity (issue 21's filtered case). */
const FILTER10: FilterNode = { field: 'shard', operator: 'eq', value: 0 };

const now = () => performance.now();

async function load(store: VectorStore, data: Float32Array): Promise<number> {
  const t0 = now();
  await store.ensureCollection({
    name: COLLECTION,
    vectors: [{ name: 'emb', size: D, distance: 'cosine' }],
    payloadIndexes: [{ field: 'shard', type: 'integer' }],
  });
  for (let start = 0; start < N; start += 5000) {
    const points: Point[] = [];
    for (let i = start; i < Math.min(N, start + 5000); i++) {
      points.push({ id: `p${i}`, vectors: { emb: data.subarray(i * D, (i + 1) * D) }, payload: { shard: i % 10 } });
    }
    await store.upsert(COLLECTION, points);
  }
  return (now() - t0) / 1000;
}

interface Run {
  latencies: number[];
  ids: string[][];
}

async function queryAll(store: VectorStore, queries: Float32Array, filter?: FilterNode): Promise<Run> {
  const latencies: number[] = [];
  const ids: string[][] = [];
  for (let q = 0; q < Q; q++) {
    const vector = queries.subarray(q * D, (q + 1) * D);
    const t0 = now();
    const hits = await store.search(COLLECTION, { using: 'emb', vector, limit: K, withPayload: false, ...(filter ? { filter } : {}) });
    latencies.push(now() - t0);
    ids.push(hits.map((h) => h.id));
  }
  return { latencies, ids };
}

const recall = (truth: Run, got: Run) => truth.ids.reduce((s, t, i) => s + recallAtK(t, got.ids[i]!), 0) / truth.ids.length;

console.log(`[bench] generating ${N} clustered ${D}-d vectors and ${Q} queries`);
const { data } = clusteredUnitVectors(N, D, 42);
const { data: queries } = clusteredUnitVectors(Q, D, 43);

const metrics: Record<string, number> = {};
const extra: Record<string, unknown> = {
  n: N,
  queries: Q,
  dims: D,
  k: K,
  data: 'clustered (200 clusters, 48-d latent)',
  filter: FILTER,
  embedded: 'in-memory index (usearch HNSW over f16 copies, M=hnswM, ef construction/search = efConstruction/ef, candidates rescored at float32; filters as per-filter bitmaps); embedded_lance*: LanceDB IVF_HNSW_SQ on the same table (memoryIndex off); settings: embedded_options',
  findings:
    'Profiled on 100k x 384 (2026-12-06): a bare LanceDB vector query selecting only ids costs about 2.6 ms here (nprobes 1 or 20 alike); ' +
    'the full-precision refinement adds about 0.8-1.3 ms whatever its factor (1 or 4: it is the read of the candidates, not their number), ' +
    'hence embedded_quantised (refineFactor 0). A 10% filter pre-filtered walks the graph under a row mask (13 ms); it is post-filtered ' +
    'now (over-fetch 160 candidates, pre-filter fallback). Scalar btree indexes on the filtered columns changed neither plan. ' +
    '2026-12-07: perf on a loop of bare queries: the graph search itself is ~8% of the CPU; the rest is thread hand-offs inside ' +
    "LanceDB's async runtime (futex waits and wake-ups, context switches: ~40% kernel time) and malloc, ~2.8 ms CPU per 2.5 ms query. " +
    'The load used to leave the index in 3 segments (trained at 60k rows, then one delta per compaction) and a search walks each: ' +
    'the same table merged into one segment answered in 2.8 against 3.8 ms unfiltered and 4.3 against 5.2 ms with the 30% filter, ' +
    'queries interleaved between the two copies. The store now merges segments by itself (maxIndexSegments, bench-ann-segments) and ' +
    'this bench measured after that (index_settle_s_embedded, until round 9). Sequential runs on this shared machine vary by 30-50% ' +
    '(p50_ms_exact 64 then 41 ms, p50_ms_exact_filtered 34 then 61 ms on the same code), so compare within one run. ' +
    '2026-12-07 (round 9): the embedded store answers dense searches from an in-memory index beside the table (memoryIndex, default on): ' +
    'the same search in process costs 0.3-0.5 ms where every LanceDB query pays 2.5-4.5 ms of runtime overhead. Its costs, measured here: ' +
    'the load takes longer (graph insertion on the same 2 cores: load_s_embedded 39.9 and 41.4 s in two runs against 30.6 s before), a reopened ' +
    '100k table needs memory_index_open_s_embedded until its graph has caught up (LanceDB answers meanwhile), and RSS holds the vectors ' +
    'twice more (float32 matrix + f16 graph, about 1.5 x 154 MB here, plus payloads): rss_mb_embedded 993 and 1,079 MB in two runs against 820 MB before. ' +
    'usearch 2.26 gotchas found on the way: a typed array view is read from the start of its buffer (its byteOffset is ignored), and ' +
    'nodes added after remove() left live neighbours unreachable (recall 0.60-0.80), so rewritten rows get new nodes and stale ones stay ' +
    'until the graph is rebuilt (once they outnumber the live rows). ' +
    'Round 10: with the in-memory index on, LanceDB builds its own ANN index only once a dense search needs it (a filter on a field ' +
    'without a payload index), so index_build_s_embedded is measured on the same table opened with memoryIndex off, and the load ' +
    'no longer pays for a LanceDB index build at 10k rows and its retrain at 60k on the same 2 cores.',
  // the machine is shared: latencies scale with the load next to the run
  loadavg_start: os.loadavg().map((x) => round(x, 2)),
};

// exact (oracle)
const exact = new ExactVectorStore();
metrics.load_s_exact = round(await load(exact, data), 2);
const truth = await queryAll(exact, queries);
const truthFiltered = await queryAll(exact, queries, FILTER);
const truthFiltered10 = await queryAll(exact, queries, FILTER10);
metrics.p50_ms_exact = round(percentile(truth.latencies, 50));
metrics.p99_ms_exact = round(percentile(truth.latencies, 99));
metrics.p50_ms_exact_filtered = round(percentile(truthFiltered.latencies, 50));
console.log(`[bench] exact: p50 ${metrics.p50_ms_exact} ms, p99 ${metrics.p99_ms_exact} ms`);
await exact.close();

/** Search latency and recall@10 of one store, unfiltered and with the 30% and 10% filters, as `<metric>_<label>`. */
async function measure(store: VectorStore, label: string): Promise<void> {
  await queryAll(store, queries); // warm-up pass
  const cases: [string, Run, FilterNode | undefined][] = [['', truth, undefined], ['_filtered', truthFiltered, FILTER], ['_filtered10', truthFiltered10, FILTER10]];
  for (const [suffix, oracle, filter] of cases) {
    const run = await queryAll(store, queries, filter);
    metrics[`recall10_${label}${suffix}`] = round(recall(oracle, run), 4);
    metrics[`p50_ms_${label}${suffix}`] = round(percentile(run.latencies, 50));
    metrics[`p99_ms_${label}${suffix}`] = round(percentile(run.latencies, 99));
  }
  console.log(`[bench] ${label}: recall@10 ${metrics[`recall10_${label}`]}, p50 ${metrics[`p50_ms_${label}`]} ms, p99 ${metrics[`p99_ms_${label}`]} ms`);
}

// embedded (LanceDB)
const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-bench-lance-'));
// The embedded store as the environment configures it (QUARRY_EMBEDDED_*), so index settings can be tried here.
const embeddedConfig = vectorStoreConfigFromEnv({ ...process.env, QUARRY_VECTOR_STORE: 'embedded' }, dir) as LanceStoreOptions & { kind: 'embedded' };
const embedded = createVectorStore(embeddedConfig) as LanceVectorStore;
const { dataDir: _dir, kind: _kind, ...configured } = embeddedConfig;
extra.embedded_options = { ...EMBEDDED_DEFAULTS, ...configured };
try {
  metrics.load_s_embedded = round(await load(embedded, data), 2);
  // The in-memory index (memoryIndex, the default) is fed during the load; optimize() waits for its HNSW graph.
  const t2 = now();
  await embedded.optimize(COLLECTION);
  assert.deepEqual((await embedded.memoryIndexState(COLLECTION))?.graphed, ['emb'], 'the in-memory HNSW graph answers');
  metrics.memory_graph_wait_s_embedded = round((now() - t2) / 1000, 2);
  assert.deepEqual(await embedded.annIndexedVectors(COLLECTION), [], 'LanceDB builds no ANN index that no search needs');
  await measure(embedded, 'embedded');
  metrics.rss_mb_embedded = round(process.memoryUsage().rss / 1e6, 1);
  // Rebuilt from the table when a store opens: the time until its searches run in memory (LanceDB answers meanwhile).
  await embedded.close();
  const t3 = now();
  const reopened = new LanceVectorStore({ ...configured, dataDir: dir });
  try {
    assert.deepEqual((await reopened.memoryIndexState(COLLECTION))?.graphed, ['emb']);
    metrics.memory_index_open_s_embedded = round((now() - t3) / 1000, 2);
  } finally {
    await reopened.close();
  }
  // The same table searched by LanceDB (memoryIndex off) through its own IVF-HNSW-SQ index, built here, with and
  // without the full-precision refinement (QUARRY_EMBEDDED_REFINE_FACTOR=0).
  const builder = new LanceVectorStore({ ...configured, dataDir: dir, memoryIndex: false });
  try {
    const t0 = now();
    const rss0 = process.memoryUsage().rss;
    await builder.optimize(COLLECTION);
    metrics.index_build_s_embedded = round((now() - t0) / 1000, 2);
    metrics.rss_mb_index_build_delta_embedded = round((process.memoryUsage().rss - rss0) / 1e6, 1);
    assert.equal(await annSegments(dir, COLLECTION), 1, 'one index segment');
  } finally {
    await builder.close();
  }
  for (const [label, refineFactor] of [['embedded_lance', configured.refineFactor ?? EMBEDDED_DEFAULTS.refineFactor], ['embedded_lance_quantised', 0]] as const) {
    const lance = new LanceVectorStore({ ...configured, dataDir: dir, refineFactor, memoryIndex: false });
    try {
      await measure(lance, label);
    } finally {
      await lance.close();
    }
  }
} finally {
  await embedded.close();
  rmSync(dir, { recursive: true, force: true });
}

// Qdrant, when a server is configured
if (process.env.QDRANT_URL) {
  const qdrant = new QdrantVectorStore({
    url: process.env.QDRANT_URL,
    collectionPrefix: `quarry_bench_${randomBytes(3).toString('hex')}_`,
    ...(process.env.QDRANT_API_KEY ? { apiKey: process.env.QDRANT_API_KEY } : {}),
  });
  try {
    metrics.load_s_qdrant = round(await load(qdrant, data), 2);
    const t0 = now();
    await qdrant.optimize(COLLECTION); // waits until Qdrant has indexed every segment (it answered from 55k of 100k before)
    metrics.index_wait_s_qdrant = round((now() - t0) / 1000, 2);
    await measure(qdrant, 'qdrant');
  } finally {
    await qdrant.dropCollection(COLLECTION).catch(() => undefined);
    await qdrant.close();
  }
} else {
  extra.qdrant = 'not measured: QDRANT_URL not set';
}

extra.loadavg_end = os.loadavg().map((x) => round(x, 2));
writeResults('vector-store', metrics, extra);
