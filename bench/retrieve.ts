/**
 * `make bench-retrieve`: the retriever engine's overhead over the bare vector store. 100k clustered 384-d documents
 * (BENCH_N) in one store; the same query vectors go (a) straight to `store.search` (top 10, payload) and (b) through
 * `RetrieverEngine.execute` with a feature_search (raw vector query, top_k 10) → limit 10 pipeline, query cache off.
 * Runs at 1 and 16 concurrent clients, alternating store and engine rounds so both see the same machine load, and
 * writes bench/results/retrieve.json with p50/p99/QPS per mode and p50_engine_over_store_c1 / _c16.
 * Two more pipelines (issue 21), each against the store doing the same searches: `3stage` = feature_search (top 20)
 * → attribute_filter (shard ≠ 3) → limit 10 vs store.search top 20; `hybrid` = feature_search with a vector and a
 * BM25 search (top 20 each) fused by RRF vs store.fuse of the same two searches (RRF): *_3stage_* and *_hybrid_*.
 * Store: the embedded LanceDB adapter (BENCH_STORE=exact for the brute-force one); the result says which.
 * BENCH_STORE=qdrant (QDRANT_URL) writes bench/results/retrieve-qdrant.json instead, beside the embedded figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Point, VectorStore } from '#core/ports/vector-store.ts';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { QdrantVectorStore } from '#engine/vector/qdrant/qdrant-store.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { RetrieverEngine } from '#engine/retriever/executor.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import type { FeatureResolver } from '#engine/retriever/types.ts';
import { clusteredUnitVectors } from '#test/contract/vector-store.clustered.ts';
import { percentile, writeResults, round } from './lib/results.ts';

const N = Number(process.env.BENCH_N ?? 100_000);
const Q = Number(process.env.BENCH_Q ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const D = 384;
const K = 10;
const COLLECTION = 'bench_retrieve';
const VECTOR = 'text_extractor_v1_embedding';
const URI = 'quarry://text_extractor@v1/bench';
const BM25 = 'quarry://text_extractor@v1/bm25';
const WORDS = 'harbor festival mountain railway winter market ocean lighthouse desert caravan forest library river bridge garden tower island castle valley meadow canyon glacier volcano prairie orchard vineyard lagoon marsh delta plateau'.split(' ');
const words = (i: number, n: number) => Array.from({ length: n }, (_, k) => WORDS[(i * (7 + k * 13) + k * 5) % WORDS.length]!).join(' ');
// BENCH_STORE=exact | embedded (default) | qdrant (QDRANT_URL, QDRANT_API_KEY; a throw-away collection prefix).
const kind = process.env.BENCH_STORE === 'exact' || process.env.BENCH_STORE === 'qdrant' ? process.env.BENCH_STORE : 'embedded';
if (kind === 'qdrant' && !process.env.QDRANT_URL) throw new Error('BENCH_STORE=qdrant needs QDRANT_URL (and QDRANT_API_KEY if the server requires one)');

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-bench-retrieve-'));
const store: VectorStore =
  kind === 'exact'
    ? new ExactVectorStore()
    : kind === 'qdrant'
      ? new QdrantVectorStore({ url: process.env.QDRANT_URL!, collectionPrefix: `quarry_bench_${randomBytes(3).toString('hex')}_`, ...(process.env.QDRANT_API_KEY ? { apiKey: process.env.QDRANT_API_KEY } : {}) })
      : new LanceVectorStore({ dataDir: dir });
try {
  console.log(`[bench] ${kind} store: loading ${N} clustered ${D}-d documents`);
  const { data } = clusteredUnitVectors(N, D, 42);
  const { data: queries } = clusteredUnitVectors(Q, D, 43);
  await store.ensureCollection({ name: COLLECTION, vectors: [{ name: VECTOR, size: D, distance: 'cosine' }], lexicalFields: ['text'] });
  for (let start = 0; start < N; start += 5000) {
    const points: Point[] = [];
    for (let i = start; i < Math.min(N, start + 5000); i++) {
      const title = `document ${i} ${words(i, 4)}`;
      points.push({ id: `d${i}`, vectors: { [VECTOR]: data.subarray(i * D, (i + 1) * D) }, payload: { document_id: `d${i}`, collection_id: 'bench', title, shard: i % 10 }, text: { text: title } });
    }
    await store.upsert(COLLECTION, points);
  }
  if (store.optimize) await store.optimize(COLLECTION);

  const features: FeatureResolver = {
    resolve: async (uri) => (uri === BM25 ? { store: COLLECTION, using: 'text', lexical: true } : { store: COLLECTION, using: VECTOR }),
    collectionScope: async () => ({ store: COLLECTION }),
  };
  const engine = new RetrieverEngine({ store, features });
  const vectors = Array.from({ length: Q }, (_, q) => Array.from(queries.subarray(q * D, (q + 1) * D)));
  const definitions = vectors.map((v) =>
    normalizeDefinition({
      collection_identifiers: ['bench'],
      cache_config: { enabled: false },
      stages: [
        { stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'vector', value: v }, top_k: K }], final_top_k: K } } },
        { stage_name: 'limit', config: { stage_id: 'limit', parameters: { limit: K } } },
      ],
    }),
  );
  const bare = (q: number) => store.search(COLLECTION, { using: VECTOR, vector: vectors[q]!, limit: K, withPayload: true });
  const viaEngine = (q: number) => engine.execute(definitions[q]!, {});
  const texts = vectors.map((_, q) => words(q * 31 + 3, 2));
  const vectorSearch = (q: number, topK: number) => ({ feature_uri: URI, query: { input_mode: 'vector', value: vectors[q]! }, top_k: topK });
  const pipeline = (stages: unknown[]) => normalizeDefinition({ collection_identifiers: ['bench'], cache_config: { enabled: false }, stages });
  const threeStage = vectors.map((_, q) =>
    pipeline([
      { stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [vectorSearch(q, 2 * K)], final_top_k: 2 * K } } },
      { stage_name: 'filter', config: { stage_id: 'attribute_filter', parameters: { field: 'shard', operator: 'ne', value: 3 } } },
      { stage_name: 'limit', config: { stage_id: 'limit', parameters: { limit: K } } },
    ]),
  );
  const hybrid = vectors.map((_, q) =>
    pipeline([
      { stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [vectorSearch(q, 2 * K), { feature_uri: BM25, query: { input_mode: 'text', value: texts[q]! }, top_k: 2 * K }], fusion: 'rrf', final_top_k: K } } },
    ]),
  );
  const cases: { name: string; bare: (q: number) => Promise<unknown>; engine: (q: number) => Promise<unknown> }[] = [
    { name: '', bare, engine: viaEngine },
    { name: '_3stage', bare: (q) => store.search(COLLECTION, { using: VECTOR, vector: vectors[q]!, limit: 2 * K, withPayload: true }), engine: (q) => engine.execute(threeStage[q]!, {}) },
    {
      name: '_hybrid',
      bare: (q) => store.fuse(COLLECTION, { searches: [{ using: VECTOR, vector: vectors[q]!, limit: 2 * K }, { using: 'text', text: texts[q]!, limit: 2 * K }], fusion: { method: 'rrf' }, limit: K, withPayload: true }),
      engine: (q) => engine.execute(hybrid[q]!, {}),
    },
  ];

  // Same answers: the engine returns exactly the store's hits.
  for (let q = 0; q < 5; q++) {
    const a = (await bare(q)).map((h) => h.id);
    const b = ((await viaEngine(q)).body.documents as { document_id: string }[]).map((d) => d.document_id);
    if (a.join() !== b.join()) throw new Error(`engine and store disagree on query ${q}: ${a} vs ${b}`);
  }

  // The other pipelines answer as built: no shard 3 after the filter, ten fused hits.
  for (let q = 0; q < 5; q++) {
    const three = (await engine.execute(threeStage[q]!, {})).body.documents as { shard?: number; metadata?: { shard?: number } }[];
    if (three.length === 0 || three.length > K || three.some((d) => (d.shard ?? d.metadata?.shard) === 3)) throw new Error(`3-stage pipeline answered ${JSON.stringify(three).slice(0, 300)}`);
    const fused = (await engine.execute(hybrid[q]!, {})).body.documents as unknown[];
    if (fused.length !== K) throw new Error(`hybrid pipeline answered ${fused.length} documents`);
  }

  async function measure(fn: (q: number) => Promise<unknown>, clients: number): Promise<{ lat: number[]; seconds: number }> {
    const lat: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < Q) {
          const q = next++;
          const s = performance.now();
          await fn(q);
          lat.push(performance.now() - s);
        }
      }),
    );
    return { lat, seconds: (performance.now() - t0) / 1000 };
  }

  const metrics: Record<string, number> = {};
  for (const { name, bare: viaStore, engine: viaPipeline } of cases) {
    for (const c of [1, 16]) {
      await measure(viaStore, c); // warm-up
      await measure(viaPipeline, c);
      const acc = { store: { lat: [] as number[], s: 0 }, engine: { lat: [] as number[], s: 0 } };
      for (let r = 0; r < ROUNDS; r++) {
        const a = await measure(viaStore, c);
        const b = await measure(viaPipeline, c);
        acc.store.lat.push(...a.lat);
        acc.store.s += a.seconds;
        acc.engine.lat.push(...b.lat);
        acc.engine.s += b.seconds;
      }
      for (const [mode, v] of Object.entries(acc)) {
        metrics[`p50_ms_${mode}${name}_c${c}`] = round(percentile(v.lat, 50));
        metrics[`p99_ms_${mode}${name}_c${c}`] = round(percentile(v.lat, 99));
        metrics[`qps_${mode}${name}_c${c}`] = round(v.lat.length / v.s, 1);
      }
      metrics[`p50_engine_over_store${name}_c${c}`] = round(metrics[`p50_ms_engine${name}_c${c}`]! / metrics[`p50_ms_store${name}_c${c}`]!);
      console.log(`[bench] ${name || '_2stage'} c=${c}: store p50 ${metrics[`p50_ms_store${name}_c${c}`]} ms, engine p50 ${metrics[`p50_ms_engine${name}_c${c}`]} ms`);
    }
  }
  writeResults(kind === 'qdrant' ? 'retrieve-qdrant' : 'retrieve', metrics, { store: kind, n: N, queries: Q, rounds: ROUNDS, dims: D, k: K, pipeline: 'feature_search(vector, top_k 10) -> limit(10), query cache off', pipeline_3stage: 'feature_search(vector, top_k 20) -> attribute_filter(shard != 3) -> limit(10) vs store.search top 20', pipeline_hybrid: 'feature_search(vector + bm25, top_k 20 each, rrf) -> 10 vs store.fuse(rrf) of the same searches' });
} finally {
  if (kind === 'qdrant') await store.dropCollection(COLLECTION).catch(() => undefined);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
