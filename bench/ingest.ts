/**
 * `make bench-ingest`: documents per second end to end (objects stored → batch → workers → documents searchable)
 * next to the bare model's throughput on the same texts, in one run, on the local-mode adapters (in-process
 * queue, local-disk objects, embedded LanceDB) with the real text model. Writes bench/results/ingest.json with
 * `ingest_vs_bare_model` = end-to-end docs/s ÷ bare-model docs/s.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalObjectStore } from '../engine/src/objects/local.ts';
import { MemoryJobQueue } from '../engine/src/queue/memory.ts';
import { createVectorStore } from '../engine/src/vector/create.ts';
import { OnnxModels } from '../engine/src/models/onnx-models.ts';
import { NamespaceIngestion } from '../engine/src/ingestion/pipeline.ts';
import { SHARED_DATASETS, writeResults } from './lib/results.ts';

const N = Number(process.env.BENCH_INGEST_DOCS ?? 400);
const MODEL = 'all_minilm_l6_v2';
const corpusFile = path.join(SHARED_DATASETS, 'scifact', 'corpus.jsonl');
if (!existsSync(corpusFile)) {
  if (process.env.CI === 'true') throw new Error(`${corpusFile} missing`);
  console.log(`[bench] ${corpusFile} is absent; skipping the ingest bench`);
  process.exit(0);
}
// One chunk per document (split_by none, truncated by the model) so both sides embed exactly the same texts.
const texts = readFileSync(corpusFile, 'utf8').split('\n').filter(Boolean).slice(0, N).map((l) => (JSON.parse(l) as { text: string }).text);

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-bench-ingest-'));
const models = new OnnxModels();
try {
  // Bare model: the same texts in batches of 32 straight through onnxruntime (via the port's session).
  await models.embedText(MODEL, texts.slice(0, 8)); // warm-up: session creation is not throughput
  const bareRun = async () => {
    const start = performance.now();
    for (let i = 0; i < texts.length; i += 32) await models.embedText(MODEL, texts.slice(i, i + 32));
    return (performance.now() - start) / 1000;
  };
  // The bare model runs before and after the pipeline; their mean is the baseline (shared machines drift).
  const bareBefore = await bareRun();

  const queue = new MemoryJobQueue();
  const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
  const vectors = createVectorStore({ kind: 'embedded', dataDir: path.join(dir, 'vectors') });
  const ns = new NamespaceIngestion({ queue, objects, vectors, models }, {
    key: { k8sNamespace: 'bench', name: 'ingest' },
    collections: async () => [{ name: 'abstracts', enabled: true, source: { type: 'bucket', buckets: ['docs'] }, extractor: { id: 'text_extractor@v1', params: {}, inputMappings: { text: 'body' } } }],
    storageBucket: async () => 'docs',
  });
  await objects.ensureBucket('docs');
  await vectors.ensureCollection({ name: ns.vectorCollection, vectors: [{ name: 'text_extractor_v1_embedding', size: 384, distance: 'cosine' }], lexicalFields: ['text'] });
  await ns.init();
  const workers = [await ns.startWorker(Number(process.env.BENCH_INGEST_CONCURRENCY ?? 16))];

  const t = performance.now();
  const ids: string[] = [];
  for (const [i, text] of texts.entries()) {
    const blob = await ns.storeBlob('docs', `o${i}`, 'body', 'text', Buffer.from(text), 'text/plain');
    ids.push((await ns.putObject({ object_id: `o${i}`, bucket: 'docs', metadata: {}, blobs: [blob] })).object_id);
  }
  const batch = await ns.createBatch('docs', ids);
  await ns.submit(batch.batch_id);
  for (;;) {
    const b = await ns.getBatch(batch.batch_id);
    if (b.status !== 'PENDING' && b.status !== 'IN_PROGRESS') {
      if (b.status !== 'COMPLETED') throw new Error(`batch ended ${b.status}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const searchable = await vectors.count(ns.vectorCollection);
  const e2eSeconds = (performance.now() - t) / 1000;
  if (searchable !== N) throw new Error(`expected ${N} documents, found ${searchable}`);
  for (const w of workers) await w.stop();
  await queue.close();
  await vectors.close();

  const bareSeconds = (bareBefore + (await bareRun())) / 2;
  const bare = N / bareSeconds;
  const e2e = N / e2eSeconds;
  writeResults('ingest', { ingest_vs_bare_model: Math.round((e2e / bare) * 1000) / 1000 }, {
    details: { documents: N, e2e_docs_per_s: Math.round(e2e * 10) / 10, bare_model_docs_per_s: Math.round(bare * 10) / 10, model: MODEL, adapters: 'memory queue, local objects, embedded LanceDB' },
  });
} finally {
  await models.close();
  rmSync(dir, { recursive: true, force: true });
}
