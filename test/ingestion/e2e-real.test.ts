/**
 * Ingestion end to end on the real parts: NATS JetStream (jobs and batch state), MinIO (blobs), the embedded
 * LanceDB vector store and the real models (MiniLM text embeddings, PaddleOCR). Text files and PDFs — one of them
 * a scanned page with no text layer — go through a batch with two collections; broken objects fail alone; a text
 * query finds a fact that exists only in the scanned page.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createJobQueue } from '#engine/queue/config.ts';
import { privateNatsPrefix } from '../harness/env-ports.ts';
import { S3ObjectStore } from '#engine/objects/s3.ts';
import { createVectorStore } from '#engine/vector/create.ts';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { NamespaceIngestion, type NamespaceView } from '#engine/ingestion/pipeline.ts';
import type { CollectionPlan } from '#engine/ingestion/collections.ts';
import type { Batch } from '#engine/ingestion/batch-model.ts';
import type { Subscription } from '#core/ports/job-queue.ts';
import { planNamespace, type QuarryNamespace } from '#operator/controllers/quarry-namespace/plan.ts';
import { testEnv } from '../harness/env.ts';
import { datasetPath } from '../harness/datasets.ts';

const FACTS = [
  'The Eiffel Tower was completed in 1889 for the World Fair in Paris.',
  'Honey never spoils because its low moisture and acidity stop bacteria from growing.',
  'The Pacific Ocean is the largest and deepest of the ocean basins on Earth.',
  'Photosynthesis in plants converts light energy, water and carbon dioxide into glucose and oxygen.',
  'A leap year has 366 days, adding February 29 to keep the calendar aligned with the seasons.',
  'Octopuses have three hearts and blue blood that carries oxygen with copper-based hemocyanin.',
  'The speed of light in vacuum is about 299,792 kilometres per second.',
  'Mount Everest rises 8,849 metres above sea level on the border of Nepal and China.',
];

const collections: CollectionPlan[] = [
  { name: 'notes', enabled: true, source: { type: 'bucket', buckets: ['library'] }, extractor: { id: 'text_extractor@v1', params: { split_by: 'sentences', chunk_size: 1 }, inputMappings: { text: 'body' }, fieldPassthrough: [{ source_path: 'metadata.title' }] } },
  { name: 'pages', enabled: true, source: { type: 'bucket', buckets: ['library'] }, extractor: { id: 'document_extractor@v1', params: {}, inputMappings: { pdf: 'paper' } } },
];

describe('ingestion on NATS + MinIO + LanceDB with real models', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-e2e-'));
  const env = testEnv();
  const suffix = randomBytes(3).toString('hex');
  const storage = `e2e-library-${suffix}`;
  const models = new OnnxModels({ threads: 1 });
  const objects = new S3ObjectStore({ endpoint: env.s3.endpoint, region: env.s3.region, accessKeyId: env.s3.accessKey, secretAccessKey: env.s3.secretKey, forcePathStyle: true });
  const vectors = createVectorStore({ kind: 'embedded', dataDir: path.join(dir, 'vectors') });
  let ingestion: NamespaceIngestion;
  let queue: Awaited<ReturnType<typeof createJobQueue>>;
  const workers: Subscription[] = [];

  before(async () => {
    queue = await createJobQueue({ kind: 'nats', servers: [env.natsUrl], prefix: privateNatsPrefix() });
    const view: NamespaceView = {
      key: { k8sNamespace: `e2e-${suffix}`, name: 'library' },
      collections: async () => collections,
      storageBucket: async () => storage,
    };
    ingestion = new NamespaceIngestion({ queue, objects, vectors, models }, view);
    const plan = planNamespace({ apiVersion: 'quarry.dev/v1alpha1', kind: 'QuarryNamespace', metadata: { name: 'library', namespace: `e2e-${suffix}` }, spec: { featureExtractors: [{ name: 'text_extractor' }, { name: 'document_extractor' }], payloadIndexes: [{ field: 'collection_id', type: 'keyword' }] } } as unknown as QuarryNamespace);
    assert.equal(plan.collection.name, ingestion.vectorCollection);
    await vectors.ensureCollection(plan.collection);
    await objects.ensureBucket(storage);
    await ingestion.init();
    // Two workers sharing one durable consumer, as two worker pods would.
    workers.push(await ingestion.startWorker(1), await ingestion.startWorker(1));
  });

  after(async () => {
    for (const w of workers) await w.stop();
    await queue.deleteQueue(ingestion.queueName).catch(() => {});
    await queue.close();
    await objects.deleteBucket(storage, { force: true }).catch(() => {});
    await vectors.close();
    await models.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function waitTerminal(batchId: string, timeoutMs = 240_000): Promise<Batch> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const b = await ingestion.getBatch(batchId);
      if (['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELED'].includes(b.status)) return b;
      if (Date.now() > deadline) throw new Error(`batch still ${b.status}: ${JSON.stringify(b.tier_tasks.map((t) => Object.keys(t.outcomes).length))}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  test('a mixed batch completes; bad objects fail alone; the scanned page is searchable through OCR', async (t) => {
    const pdfs = datasetPath(t, 'pdf_papers', 'pdfs');
    if (!pdfs) return;
    const work = path.join(dir, 'pdfs');
    execFileSync('mkdir', ['-p', work]);
    execFileSync('qpdf', [path.join(pdfs, '1985-Flajolet-Probabilistic-counting.pdf'), '--pages', '.', '1', '--', path.join(work, 'scanned.pdf')]);
    execFileSync('qpdf', [path.join(pdfs, 'graph_of_word_and_tw_idf.pdf'), '--pages', '.', '4', '--', path.join(work, 'text.pdf')]);
    execFileSync('qpdf', ['--encrypt', 'u', 'o', '256', '--', path.join(work, 'text.pdf'), path.join(work, 'encrypted.pdf')]);

    const ids: string[] = [];
    const put = async (id: string, blobs: [string, 'text' | 'pdf', Buffer, string][], title: string) => {
      const stored = [];
      for (const [prop, type, bytes, ct] of blobs) stored.push(await ingestion.storeBlob('library', id, prop, type, bytes, ct));
      ids.push((await ingestion.putObject({ object_id: id, bucket: 'library', metadata: { title }, blobs: stored })).object_id);
    };
    for (const [i, fact] of FACTS.entries()) await put(`note-${i}`, [['body', 'text', Buffer.from(fact), 'text/plain']], `Fact ${i}`);
    await put('scan', [['paper', 'pdf', readFileSync(path.join(work, 'scanned.pdf')), 'application/pdf']], 'Probabilistic counting');
    await put('paper', [['paper', 'pdf', readFileSync(path.join(work, 'text.pdf')), 'application/pdf']], 'TW-IDF');
    await put('empty', [['body', 'text', Buffer.alloc(0), 'text/plain']], 'Empty');
    await put('locked', [['paper', 'pdf', readFileSync(path.join(work, 'encrypted.pdf')), 'application/pdf']], 'Locked');

    const batch = await ingestion.createBatch('library', ids);
    await ingestion.submit(batch.batch_id);
    const done = await waitTerminal(batch.batch_id);

    assert.equal(done.status, 'COMPLETED_WITH_ERRORS');
    const failures = Object.entries(done.tier_tasks[0]!.outcomes).filter(([, o]) => !o.ok).map(([k, o]) => `${k}:${o.reason}`).sort();
    // Text objects have no paper blob and PDF objects no body blob: those are missing_input, by design of
    // two collections over one bucket. The real failures are the empty text and the encrypted PDF.
    assert.ok(failures.includes('notes/empty:empty_input'), failures.join(', '));
    assert.ok(failures.includes('pages/locked:pdf_encrypted'), failures.join(', '));
    assert.equal((await ingestion.getObject('locked')).status, 'FAILED');

    const count = (c: string) => vectors.count(ingestion.vectorCollection, { field: 'collection_id', value: c });
    assert.equal(await count('notes'), FACTS.length);
    assert.equal(await count('pages'), 2);

    const [q] = await models.embedText('all_minilm_l6_v2', ['algorithm to estimate the number of distinct elements in a large file in a single pass']);
    const hits = await vectors.search(ingestion.vectorCollection, { using: 'document_extractor_v1_text_embedding', vector: q!, limit: 3, withPayload: true, filter: { field: 'collection_id', value: 'pages' } });
    assert.equal(hits[0]?.payload?.root_object_id, 'scan');
    assert.equal(hits[0]?.payload?.text_source, 'ocr');
    assert.match(String(hits[0]?.payload?.text), /probabilistic counting/i);

    const [q2] = await models.embedText('all_minilm_l6_v2', ['how many hearts does an octopus have']);
    const notes = await vectors.search(ingestion.vectorCollection, { using: 'text_extractor_v1_embedding', vector: q2!, limit: 1, withPayload: true, filter: { field: 'collection_id', value: 'notes' } });
    assert.equal(notes[0]?.payload?.root_object_id, 'note-5');
    assert.equal(notes[0]?.payload?.title, 'Fact 5');
  });
});
