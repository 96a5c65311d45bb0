/**
 * `make bench-relevance`: nDCG@10 on the labelled text sets in ../shared/datasets (SciFact test, Cranfield, MED),
 * indexed through the real ingestion path (local adapters: in-process queue, local-disk objects, embedded LanceDB,
 * text_extractor@v1 with the real all_minilm_l6_v2 model) and retrieved through the real RetrieverEngine with
 * anonymous retriever definitions: `bm25`, `dense` and `hybrid` (both searches fused with RRF in one
 * feature_search, the reference's k = 60) and `hybrid_rerank` (hybrid top 50, then the rerank stage with a
 * cross-encoder; only when models/manifest.json installs a reranker: otherwise the JSON says why under
 * `unavailable`). Every other installed text-embedding model gets its own Collection and is measured dense and
 * hybrid (`ndcg10_<set>_<method>_<model>`). `hybrid_dbsf` (the same two searches fused with DBSF) is recorded as a diagnostic beside RRF;
 * neither fusion has any knob tuned on these queries. `ndcg10_scifact_dense_direct` is the same model ranking
 * computed without Quarry (OnnxModels embeddings, dot product in plain TS). Writes bench/results/relevance.json.
 *
 * On SciFact, `query_expand` (3 LLM variations of each query, each searched with the hybrid feature_search, fused
 * with RRF) runs on the first BENCH_RELEVANCE_QE_QUERIES queries (default 50; the local LLM is slow on a CPU) with
 * the engine's LLM (engine/src/llm/from-env.ts: the local GGUF model from `make models`); dense and hybrid are
 * reported on the same queries beside it. Without an LLM the JSON says why under `unavailable`.
 *
 * `scifact_20k` is SciFact's judged queries over its corpus padded to 20,000 documents with unjudged distractors
 * (bench/lib/distractors.ts), above the embedded store's index threshold: dense and hybrid go through the ANN index
 * (the bench fails if the index is missing), and `scifact_20k_dense_ann_over_exact` compares the index's dense
 * ranking with the exact ranking of the same embeddings.
 *
 * After each set is ingested the bench calls the store's optimize() (compaction + index refresh), as the
 * ingestion pipeline does after a batch, so the per-query times are those of a compacted table.
 *
 * BENCH_RELEVANCE_MAX_DOCS caps each corpus (default: the full corpus); a capped corpus keeps every judged-relevant
 * document of the evaluated queries and fills up with the other documents in file order. What was used is recorded.
 * BENCH_RELEVANCE_SETS (comma-separated) runs only some sets and keeps the other sets' figures already in
 * bench/results/relevance.json, so a slow box can measure the sets in separate runs.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { MemoryJobQueue } from '#engine/queue/memory.ts';
import { createVectorStore } from '#engine/vector/create.ts';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import type { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { NamespaceIngestion } from '#engine/ingestion/pipeline.ts';
import { RetrieverEngine } from '#engine/retriever/executor.ts';
import { namespaceFeatureResolver } from '#engine/retriever/namespace-features.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import type { CollectionPlan } from '#engine/ingestion/collections.ts';
import type { Doc } from '#engine/retriever/types.ts';
import { RESULTS_DIR, SHARED_DATASETS, readJsonl, writeResults } from './lib/results.ts';
import { ndcg10 } from './lib/ndcg.ts';
import { llmFromEnv } from '#engine/llm/from-env.ts';
import { getExtractor } from '#engine/extractors/registry.ts';
import { distractors } from './lib/distractors.ts';

const MODEL = 'all_minilm_l6_v2';
// Cheapest first: results are written after every set, so a slow box still records the finished sets.
const ALL_SETS = ['med', 'cranfield', 'scifact', 'scifact_20k'] as const;
/** scifact_20k: SciFact's corpus and judged queries padded with unjudged documents (bench/lib/distractors.ts). */
const PADDED_DOCS = Number(process.env.BENCH_RELEVANCE_PADDED_DOCS ?? 20_000);
const sourceSet = (name: string) => (name === 'scifact_20k' ? 'scifact' : name);
/** The set a metric belongs to (the longest set name its key starts with: scifact_20k before scifact). */
const setOfMetric = (key: string) => [...ALL_SETS].sort((a, b) => b.length - a.length).find((x) => key.startsWith(`ndcg10_${x}_`) || key.startsWith(`${x}_`));
const SETS = process.env.BENCH_RELEVANCE_SETS ? ALL_SETS.filter((x) => process.env.BENCH_RELEVANCE_SETS!.split(',').includes(x)) : [...ALL_SETS];
const METHODS = ['bm25', 'dense', 'hybrid', 'hybrid_dbsf', 'hybrid_rerank'] as const;
type Method = (typeof METHODS)[number];
const MAX_DOCS = process.env.BENCH_RELEVANCE_MAX_DOCS ? Number(process.env.BENCH_RELEVANCE_MAX_DOCS) : Infinity;
const MAX_QUERIES = process.env.BENCH_RELEVANCE_MAX_QUERIES ? Number(process.env.BENCH_RELEVANCE_MAX_QUERIES) : Infinity;
const CONCURRENCY = Number(process.env.BENCH_RELEVANCE_CONCURRENCY ?? 8);
const QE_QUERIES = Number(process.env.BENCH_RELEVANCE_QE_QUERIES ?? 50);
const BM25_URI = 'quarry://text_extractor@v1/bm25';
const DENSE_URI = `quarry://text_extractor@v1/${MODEL}`;

interface DataSet {
  name: string;
  docs: { id: string; text: string }[];
  corpusSize: number;
  queries: { id: string; text: string }[];
  qrels: Map<string, Map<string, number>>;
}

function load(name: string): DataSet {
  if (name === 'scifact_20k') {
    const ds = load('scifact');
    const pad = distractors(SHARED_DATASETS, PADDED_DOCS - ds.docs.length);
    details.scifact_20k_distractors = pad.sources;
    return { ...ds, name, docs: [...ds.docs, ...pad.docs], corpusSize: ds.corpusSize + pad.docs.length };
  }
  const dir = path.join(SHARED_DATASETS, name);
  const qrels = new Map<string, Map<string, number>>();
  for (const line of readFileSync(path.join(dir, 'qrels.tsv'), 'utf8').split('\n').slice(1)) {
    const [qid, did, score] = line.trim().split('\t');
    if (!qid || !did || score === undefined) continue;
    const s = Number(score);
    if (!(s > 0)) continue;
    if (!qrels.has(qid)) qrels.set(qid, new Map());
    qrels.get(qid)!.set(did, s);
  }
  // Only queries with at least one relevant document are evaluated (SciFact: the test queries in qrels.tsv).
  const queries = readJsonl<{ _id: string; text: string }>(path.join(dir, 'queries.jsonl'))
    .filter((q) => qrels.has(String(q._id)))
    .map((q) => ({ id: String(q._id), text: q.text }))
    .slice(0, Number.isFinite(MAX_QUERIES) ? MAX_QUERIES : undefined);
  const corpus = readJsonl<{ _id: string; title?: string; text?: string }>(path.join(dir, 'corpus.jsonl')).map((d) => ({
    id: String(d._id),
    text: `${d.title ?? ''}\n${d.text ?? ''}`,
  }));
  let docs = corpus;
  if (corpus.length > MAX_DOCS) {
    const relevant = new Set<string>();
    for (const q of queries) for (const d of qrels.get(q.id)!.keys()) relevant.add(d);
    const keep = new Set(corpus.filter((d) => relevant.has(d.id)).map((d) => d.id));
    for (const d of corpus) {
      if (keep.size >= MAX_DOCS) break;
      keep.add(d.id);
    }
    docs = corpus.filter((d) => keep.has(d.id));
  }
  return { name, docs, corpusSize: corpus.length, queries, qrels };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const round4 = (x: number) => Math.round(x * 10000) / 10000;

function definition(method: Method, reranker?: string, model = MODEL) {
  const search = (uri: string) => ({ feature_uri: uri, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 100 });
  const dense = model === MODEL ? DENSE_URI : `quarry://text_extractor@v1/${model}`;
  const searches = method === 'bm25' ? [search(BM25_URI)] : method === 'dense' ? [search(dense)] : [search(BM25_URI), search(dense)];
  const fusion = method === 'hybrid_dbsf' ? 'dbsf' : 'rrf';
  const stages: unknown[] = [{ stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches, fusion, final_top_k: method === 'hybrid_rerank' ? 50 : 10 } } }];
  if (method === 'hybrid_rerank') {
    stages.push({ stage_name: 'rerank', config: { stage_id: 'rerank', parameters: { inference_name: reranker, query: '{{INPUT.query}}', document_field: 'text', top_k: 10 } } });
  }
  return normalizeDefinition({
    collection_identifiers: [model === MODEL ? 'docs' : `docs_${model}`],
    input_schema: { query: { type: 'text', required: true } },
    cache_config: { enabled: false },
    stages,
  });
}

/** query_expand over the hybrid feature_search (the reference's defaults: 3 expansions, original kept, rrf k 60). */
function queryExpandDefinition() {
  const search = (uri: string) => ({ feature_uri: uri, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 100 });
  return normalizeDefinition({
    collection_identifiers: ['docs'],
    input_schema: { query: { type: 'text', required: true } },
    cache_config: { enabled: false },
    stages: [{ stage_name: 'expand', config: { stage_id: 'query_expand', parameters: { num_expansions: 3, feature_search_config: { searches: [search(BM25_URI), search(DENSE_URI)], fusion: 'rrf', final_top_k: 10 } } } }],
  });
}

const docId = (d: Doc): string | undefined => {
  const r = d as Record<string, unknown>;
  const v = r.doc_id ?? (r.metadata as Record<string, unknown> | undefined)?.doc_id;
  return v === undefined ? undefined : String(v);
};

function report(): void {
  const checks: Record<string, unknown> = {};
  if (metrics.ndcg10_scifact_dense !== undefined && metrics.ndcg10_scifact_dense_direct !== undefined) {
    checks.scifact_dense_vs_direct_abs_diff = round4(Math.abs(metrics.ndcg10_scifact_dense - metrics.ndcg10_scifact_dense_direct));
    checks.scifact_dense_within_0_005_of_direct = Math.abs(metrics.ndcg10_scifact_dense - metrics.ndcg10_scifact_dense_direct) <= 0.005;
  }
  for (const s of ALL_SETS) {
    checks[`${s}_hybrid_ge_best_single`] = metrics[`ndcg10_${s}_hybrid`] === undefined ? 'not measured' : metrics[`ndcg10_${s}_hybrid`]! >= Math.max(metrics[`ndcg10_${s}_bm25`]!, metrics[`ndcg10_${s}_dense`]!);
  }
  writeResults('relevance', metrics, {
    ...(reranker
      ? {}
      : {
          unavailable: {
            hybrid_rerank: {
              reason: 'no reranker (cross-encoder) model in models/manifest.json: no cross-encoder weights are published on any registry reachable from this machine (issue #3)',
              metrics: ALL_SETS.map((s) => `ndcg10_${s}_hybrid_rerank`),
              how_to_measure: 'install a model of kind "reranker" with make models, then rerun make bench-relevance',
            },
          },
        }),
    checks,
    details: {
      model: MODEL,
      // Every installed text model, and whether this bench measured it (only MODEL is indexed for now).
      text_models: textModels.map((m) => ({
        name: m,
        measured: m === MODEL ? methods.filter((x) => x !== 'bm25') : ['dense', 'hybrid'],
        metrics: m === MODEL ? `ndcg10_<set>_<method>` : `ndcg10_<set>_<method>_${m} (every set but scifact_20k)`,
      })),
      ...(reranker ? { reranker } : {}),
      adapters: 'memory queue, local objects, embedded LanceDB; RetrieverEngine + namespaceFeatureResolver',
      retriever:
        'feature_search top_k 100 per search (bm25, dense, or both fused: hybrid = rrf k=60, hybrid_dbsf = dbsf), final 10; hybrid_rerank = hybrid final 50 then rerank (document_field text) top 10',
      metric: 'nDCG@10, linear gain on graded qrels, log2 discount, mean over queries with >= 1 relevant document',
      total_seconds: Math.round((performance.now() - started) / 1000),
      ...details,
    },
  });
}

const datasetsDir = SHARED_DATASETS;
if (!existsSync(datasetsDir) || SETS.some((s) => !existsSync(path.join(datasetsDir, sourceSet(s), 'corpus.jsonl')))) {
  if (process.env.CI === 'true') throw new Error(`${datasetsDir} (scifact, cranfield, med) missing`);
  console.log(`[bench] ${datasetsDir} or one of ${SETS.join(', ')} is absent; skipping the relevance bench`);
  process.exit(0);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-bench-relevance-'));
const models = new OnnxModels();
const llm = llmFromEnv();
const reranker = models.list().find((m) => m.kind === 'reranker')?.name;
const methods = METHODS.filter((m) => m !== 'hybrid_rerank' || reranker);
/** Every installed text-embedding model (issue 17: each one runs in this bench); MODEL first. */
const textModels = [MODEL, ...models.list().filter((m) => m.kind === 'text-embedding' && m.name !== MODEL).map((m) => m.name)];
const metrics: Record<string, number> = {};
const details: Record<string, unknown> = {};
const previous = path.join(RESULTS_DIR, 'relevance.json');
if (SETS.length < ALL_SETS.length && existsSync(previous)) {
  // Keep the figures of the sets this run does not measure.
  const prev = JSON.parse(readFileSync(previous, 'utf8')) as { metrics?: Record<string, number>; details?: Record<string, unknown> };
  for (const other of ALL_SETS.filter((x) => !SETS.includes(x))) {
    for (const [k, v] of Object.entries(prev.metrics ?? {})) if (setOfMetric(k) === other) metrics[k] = v;
    if (prev.details?.[other] !== undefined) details[other] = prev.details[other];
  }
}
const started = performance.now();
try {
  const queue = new MemoryJobQueue();
  const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
  const vectors = createVectorStore({ kind: 'embedded', dataDir: path.join(dir, 'vectors') });
  try {
    for (const name of SETS) {
      const ds = load(name);
      console.log(`[bench] ${name}: ${ds.docs.length}/${ds.corpusSize} documents, ${ds.queries.length} queries`);
      // One Collection per installed text model over the same bucket (each its own feature); the extra models are
      // measured dense and hybrid on every set but the padded one (their ingestion would double its time).
      const setModels = name === 'scifact_20k' ? [MODEL] : textModels;
      // Bucket names allow no underscore (scifact_20k).
      const bucket = name.replaceAll('_', '-');
      const plans: CollectionPlan[] = setModels.map((model) => ({
        name: model === MODEL ? 'docs' : `docs_${model}`,
        enabled: true,
        source: { type: 'bucket', buckets: [bucket] },
        extractor: { id: 'text_extractor@v1', params: { split_by: 'none', embedding_model: model }, inputMappings: { text: 'body' }, fieldPassthrough: [{ source_path: 'metadata.doc_id' }] },
      }));
      const ns = new NamespaceIngestion({ queue, objects, vectors, models }, {
        key: { k8sNamespace: 'bench', name: `relevance-${name}` },
        collections: async () => plans,
        storageBucket: async () => bucket,
      });
      await objects.ensureBucket(bucket);
      const textExtractor = getExtractor('text_extractor', 'v1')!;
      const storeVectors = plans.flatMap((pl) => textExtractor.vectors(pl.extractor.params)).map((v) => ({ name: v.name, size: v.dimensions, distance: v.distance }));
      await vectors.ensureCollection({ name: ns.vectorCollection, vectors: storeVectors, lexicalFields: ['text'] });
      await ns.init();
      const worker = await ns.startWorker(CONCURRENCY);

      const t0 = performance.now();
      const ids: string[] = [];
      for (const [i, d] of ds.docs.entries()) {
        const blob = await ns.storeBlob(bucket, `o${i}`, 'body', 'text', Buffer.from(d.text), 'text/plain');
        ids.push((await ns.putObject({ object_id: `o${i}`, bucket, metadata: { doc_id: d.id }, blobs: [blob] })).object_id);
      }
      const batch = await ns.createBatch(bucket, ids);
      await ns.submit(batch.batch_id);
      let lastLog = performance.now();
      for (;;) {
        const b = await ns.getBatch(batch.batch_id);
        if (b.status !== 'PENDING' && b.status !== 'IN_PROGRESS') {
          if (b.status !== 'COMPLETED') throw new Error(`${name}: batch ended ${b.status}`);
          break;
        }
        if (performance.now() - lastLog > 30_000) {
          lastLog = performance.now();
          console.log(`[bench] ${name}: indexing… ${await vectors.count(ns.vectorCollection)}/${ds.docs.length * plans.length}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const indexed = await vectors.count(ns.vectorCollection);
      const ingestSeconds = (performance.now() - t0) / 1000;
      // Documents without any text (Cranfield 471 and 995) yield no chunk: nothing to index, nothing any method finds.
      const nonEmpty = ds.docs.filter((d) => d.text.trim() !== '');
      if (indexed !== nonEmpty.length * plans.length) throw new Error(`${name}: expected ${nonEmpty.length} documents per model (${ds.docs.length - nonEmpty.length} empty) × ${plans.length}, found ${indexed}`);
      console.log(`[bench] ${name}: indexed ${indexed} documents in ${ingestSeconds.toFixed(1)} s`);
      await worker.stop();
      const tOpt = performance.now();
      await vectors.optimize?.(ns.vectorCollection);
      const optimizeSeconds = (performance.now() - tOpt) / 1000;
      // The ANN index that answers: the embedded store's in-memory HNSW graph (by default), or LanceDB's.
      const embedded = 'annIndexedVectors' in vectors ? (vectors as LanceVectorStore) : undefined;
      const annIndexed = (await embedded?.memoryIndexState(ns.vectorCollection))?.graphed ?? (await embedded?.annIndexedVectors(ns.vectorCollection)) ?? [];
      if (name === 'scifact_20k' && annIndexed.length === 0) throw new Error(`${name}: ${indexed} documents but no ANN index: the set exists to measure the index`);

      const engine = new RetrieverEngine({
        store: vectors,
        models,
        ...(llm ? { llm } : {}),
        features: namespaceFeatureResolver(vectors, { storeCollection: async () => ns.vectorCollection, collections: async () => plans }),
      });
      const perMethod: Record<string, unknown> = {};
      const perQuery: Partial<Record<Method, number[]>> = {};
      for (const method of methods) {
        const def = definition(method, reranker);
        const t1 = performance.now();
        const scores: number[] = [];
        for (const q of ds.queries) {
          const r = await engine.execute(def, { inputs: { query: q.text } });
          const docs = (r.body.documents as Doc[]).slice(0, 10);
          const ranked = docs.map((d) => {
            const id = docId(d);
            if (id === undefined) throw new Error(`${name}/${method}: result ${d.document_id} has no doc_id passthrough field`);
            return id;
          });
          scores.push(ndcg10(ranked, ds.qrels.get(q.id)!));
        }
        metrics[`ndcg10_${name}_${method}`] = round4(mean(scores));
        perMethod[method] = { ms_per_query: Math.round((performance.now() - t1) / ds.queries.length) };
        perQuery[method] = scores;
        console.log(`[bench] ${name} ${method}: nDCG@10 ${metrics[`ndcg10_${name}_${method}`]}`);
      }

      for (const model of setModels.filter((m) => m !== MODEL)) {
        for (const method of ['dense', 'hybrid'] as const) {
          const def = definition(method, reranker, model);
          const scores: number[] = [];
          for (const q of ds.queries) {
            const r = await engine.execute(def, { inputs: { query: q.text } });
            scores.push(ndcg10((r.body.documents as Doc[]).slice(0, 10).map((d) => docId(d)!), ds.qrels.get(q.id)!));
          }
          metrics[`ndcg10_${name}_${method}_${model}`] = round4(mean(scores));
          console.log(`[bench] ${name} ${method} (${model}): nDCG@10 ${metrics[`ndcg10_${name}_${method}_${model}`]}`);
        }
      }

      if (name === 'scifact' && !llm) details.unavailable = { ...(details.unavailable as object), query_expand: 'no LLM: run make models (local GGUF model) or set QUARRY_LLM_BASE_URL' };
      if (name === 'scifact' && llm) {
        const subset = ds.queries.slice(0, QE_QUERIES);
        const def = queryExpandDefinition();
        const t3 = performance.now();
        const scores: number[] = [];
        let tokens = 0;
        const failures: { query: string; error: string }[] = [];
        for (const q of subset) {
          // A failed run (the model's answer unusable) is what a user would get: no documents, scored 0, and listed.
          const r = await engine.execute(def, { inputs: { query: q.text } }).catch((err: unknown) => {
            failures.push({ query: q.id, error: err instanceof Error ? err.message : String(err) });
            return undefined;
          });
          if (!r) {
            scores.push(0);
            continue;
          }
          tokens += (r.body.budget as { tokens_used: number }).tokens_used;
          scores.push(ndcg10((r.body.documents as Doc[]).slice(0, 10).map((d) => docId(d)!), ds.qrels.get(q.id)!));
        }
        metrics.scifact_query_expand_failed_queries = failures.length;
        metrics.ndcg10_scifact_query_expand = round4(mean(scores));
        for (const m of ['dense', 'hybrid'] as const) if (perQuery[m]) metrics[`ndcg10_scifact_${m}_qe_subset`] = round4(mean(perQuery[m]!.slice(0, subset.length)));
        perMethod.query_expand = { queries: subset.length, failures, llm_model: llm.model, ms_per_query: Math.round((performance.now() - t3) / subset.length), tokens_per_query: Math.round(tokens / subset.length) };
        console.log(`[bench] scifact query_expand (${subset.length} queries, ${llm.model}): nDCG@10 ${metrics.ndcg10_scifact_query_expand} vs dense ${metrics.ndcg10_scifact_dense_qe_subset}, hybrid ${metrics.ndcg10_scifact_hybrid_qe_subset} on the same queries`);
      }

      if (name === 'scifact' || name === 'scifact_20k') {
        // The same model ranking without Quarry: embed corpus and queries directly, rank by dot product.
        const t2 = performance.now();
        const corpusVecs: Float32Array[] = [];
        for (let i = 0; i < nonEmpty.length; i += 32) corpusVecs.push(...(await models.embedText(MODEL, nonEmpty.slice(i, i + 32).map((d) => d.text))));
        const scores: number[] = [];
        for (let i = 0; i < ds.queries.length; i += 32) {
          const qs = ds.queries.slice(i, i + 32);
          const qv = await models.embedText(MODEL, qs.map((q) => q.text));
          qs.forEach((q, j) => {
            const v = qv[j]!;
            const scored = corpusVecs.map((c, k) => {
              let s = 0;
              for (let x = 0; x < v.length; x++) s += v[x]! * c[x]!;
              return { id: nonEmpty[k]!.id, s };
            });
            scored.sort((a, b) => b.s - a.s);
            scores.push(ndcg10(scored.slice(0, 10).map((d) => d.id), ds.qrels.get(q.id)!));
          });
        }
        metrics[`ndcg10_${name}_dense_direct`] = round4(mean(scores));
        perMethod.dense_direct = { seconds: Math.round((performance.now() - t2) / 100) / 10 };
        console.log(`[bench] ${name} dense_direct: nDCG@10 ${metrics[`ndcg10_${name}_dense_direct`]}`);
        // Through the store's ANN index vs the exact ranking of the same embeddings: what the index costs in relevance.
        if (name === 'scifact_20k') metrics.scifact_20k_dense_ann_over_exact = round4(metrics.ndcg10_scifact_20k_dense! / metrics.ndcg10_scifact_20k_dense_direct!);
      }
      // Where fusion gains or loses, query by query, against the better single method of this set (diagnostic).
      const best: Method = metrics[`ndcg10_${name}_bm25`]! >= metrics[`ndcg10_${name}_dense`]! ? 'bm25' : 'dense';
      const versusBest = Object.fromEntries(
        (['hybrid', 'hybrid_dbsf'] as const).filter((m) => perQuery[m]).map((m) => {
          const d = perQuery[m]!.map((x, i) => x - perQuery[best]![i]!);
          return [m, { against: best, better: d.filter((x) => x > 1e-9).length, worse: d.filter((x) => x < -1e-9).length, same: d.filter((x) => Math.abs(x) <= 1e-9).length, mean_diff: round4(mean(d)) }];
        }),
      );
      details[name] = {
        fusion_vs_best_single_per_query: versusBest,
        max_queries_cap: Number.isFinite(MAX_QUERIES) ? MAX_QUERIES : 'none (all judged queries)',
        max_docs_cap: Number.isFinite(MAX_DOCS) ? MAX_DOCS : 'none (full corpus)',
        documents_indexed: indexed,
        ann_indexed_vectors: annIndexed,
        empty_documents: ds.docs.length - nonEmpty.length,
        corpus_documents: ds.corpusSize,
        full_corpus: ds.docs.length === ds.corpusSize,
        queries_evaluated: ds.queries.length,
        ingest_seconds: Math.round(ingestSeconds * 10) / 10,
        optimize_seconds: Math.round(optimizeSeconds * 10) / 10,
        ...perMethod,
      };
      report();
    }
  } finally {
    await queue.close();
    await vectors.close();
  }
} finally {
  await models.close();
  await llm?.close();
  rmSync(dir, { recursive: true, force: true });
}
