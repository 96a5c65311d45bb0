/**
 * `make bench-ingest`: documents per second end to end (objects stored → batch → workers → documents searchable)
 * next to the bare model's throughput on the same texts, in one run, on the local-mode adapters (in-process
 * queue, local-disk objects, embedded LanceDB) with the real text model. Writes bench/results/ingest.json with
 * `ingest_vs_bare_model` = end-to-end docs/s ÷ bare-model docs/s.
 *
 * Shared machines drift (other jobs start and stop), so the two sides are measured side by side in short rounds:
 * each round embeds the first half of the texts with the bare model, runs the pipeline on all of them, then embeds
 * the second half bare (the bare measurement brackets the pipeline one, cancelling drift within the round), and the
 * metric is the median of the per-round ratios, so a round disturbed by another job does not move it.
 * The compaction after each batch runs off the measured path (documents are searchable before it) and is
 * awaited between rounds so it never overlaps a measurement; its time is reported separately.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { MemoryJobQueue } from '#engine/queue/memory.ts';
import { createVectorStore } from '#engine/vector/create.ts';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { NamespaceIngestion } from '#engine/ingestion/pipeline.ts';
import { SHARED_DATASETS, writeResults } from './lib/results.ts';

const N = Number(process.env.BENCH_INGEST_DOCS ?? 128);
const ROUNDS = Number(process.env.BENCH_INGEST_ROUNDS ?? 7);
const CONCURRENCY = Number(process.env.BENCH_INGEST_CONCURRENCY ?? 16);
const MODEL = 'all_minilm_l6_v2';
const corpusFile = path.join(SHARED_DATASETS, 'scifact', 'corpus.jsonl');
if (!existsSync(corpusFile)) {
  if (process.env.CI === 'true') throw new Error(`${corpusFile} missing`);
  console.log(`[bench] ${corpusFile} is absent; skipping the ingest bench`);
  process.exit(0);
}
// One chunk per document (split_by none, truncated by the model) so both sides embed exactly the same texts.
const texts = readFileSync(corpusFile, 'utf8').split('\n').filter(Boolean).slice(0, N).map((l) => (JSON.parse(l) as { text: string }).text);
if (texts.length < N) throw new Error(`${corpusFile} has only ${texts.length} documents; set BENCH_INGEST_DOCS ≤ ${texts.length}`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round3 = (x: number) => Math.round(x * 1000) / 1000;

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-bench-ingest-'));
const models = new OnnxModels();
const queue = new MemoryJobQueue();
const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
const vectors = createVectorStore({ kind: 'embedded', dataDir: path.join(dir, 'vectors') });
try {
  await objects.ensureBucket('docs');
  await models.embedText(MODEL, texts.slice(0, 8)); // warm-up: session creation is not throughput

  /** Bare model: texts in batches of 32 straight through the port's onnxruntime session; returns seconds. */
  const bareRun = async (part: string[]): Promise<number> => {
    const start = performance.now();
    for (let i = 0; i < part.length; i += 32) await models.embedText(MODEL, part.slice(i, i + 32));
    return (performance.now() - start) / 1000;
  };
  const half = Math.floor(N / 2);

  /** End to end in a fresh namespace: store the objects, submit the batch, until every document is searchable. */
  const e2eRun = async (round: number): Promise<{ docsPerS: number; compactMs: number }> => {
    const ns = new NamespaceIngestion({ queue, objects, vectors, models }, {
      key: { k8sNamespace: 'bench', name: `ingest-r${round}` },
      collections: async () => [{ name: 'abstracts', enabled: true, source: { type: 'bucket', buckets: ['docs'] }, extractor: { id: 'text_extractor@v1', params: {}, inputMappings: { text: 'body' } } }],
      storageBucket: async () => 'docs',
    });
    await vectors.ensureCollection({ name: ns.vectorCollection, vectors: [{ name: 'text_extractor_v1_embedding', size: 384, distance: 'cosine' }], lexicalFields: ['text'] });
    await ns.init();
    const worker = await ns.startWorker(CONCURRENCY);
    const start = performance.now();
    const ids: string[] = [];
    for (const [i, text] of texts.entries()) {
      const blob = await ns.storeBlob('docs', `r${round}-o${i}`, 'body', 'text', Buffer.from(text), 'text/plain');
      ids.push((await ns.putObject({ object_id: `r${round}-o${i}`, bucket: 'docs', metadata: {}, blobs: [blob] })).object_id);
    }
    const batch = await ns.createBatch('docs', ids);
    await ns.submit(batch.batch_id);
    for (;;) {
      const b = await ns.getBatch(batch.batch_id);
      if (b.status !== 'PENDING' && b.status !== 'IN_PROGRESS') {
        if (b.status !== 'COMPLETED') throw new Error(`batch ended ${b.status}: ${JSON.stringify(b.error_summary)}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const searchable = await vectors.count(ns.vectorCollection);
    const seconds = (performance.now() - start) / 1000;
    if (searchable !== N) throw new Error(`expected ${N} documents, found ${searchable}`);
    await worker.stop();
    const c = performance.now();
    await ns.idle(); // the post-batch compaction, outside the measurement
    return { docsPerS: N / seconds, compactMs: performance.now() - c };
  };

  const rounds: { bare: number; e2e: number; ratio: number; compact_ms: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = await bareRun(texts.slice(0, half));
    const e2e = await e2eRun(r);
    const bare = N / (before + (await bareRun(texts.slice(half))));
    const row = { bare: Math.round(bare * 100) / 100, e2e: Math.round(e2e.docsPerS * 100) / 100, ratio: round3(e2e.docsPerS / bare), compact_ms: Math.round(e2e.compactMs) };
    rounds.push(row);
    console.log(`[bench] round ${r + 1}/${ROUNDS}: ${JSON.stringify(row)}`);
  }

  writeResults('ingest', { ingest_vs_bare_model: round3(median(rounds.map((r) => r.ratio))) }, {
    details: {
      documents_per_round: N,
      rounds,
      e2e_docs_per_s: Math.round(median(rounds.map((r) => r.e2e)) * 10) / 10,
      bare_model_docs_per_s: Math.round(median(rounds.map((r) => r.bare)) * 10) / 10,
      ratio_spread: round3(Math.max(...rounds.map((r) => r.ratio)) - Math.min(...rounds.map((r) => r.ratio))),
      model: MODEL,
      worker_concurrency: CONCURRENCY,
      adapters: 'memory queue, local objects, embedded LanceDB',
      method: 'per round: bare model on the first half of the texts, end to end on all, bare on the second half; metric = median of per-round ratios',
    },
  });
} finally {
  await queue.close();
  await vectors.close();
  await models.close();
  rmSync(dir, { recursive: true, force: true });
}
