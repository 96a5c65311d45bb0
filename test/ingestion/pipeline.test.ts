/**
 * The ingestion pipeline on the local-mode adapters (in-process queue, local-disk objects, exact vector store):
 * batch → tiered extraction jobs → workers → documents. Models are a deterministic stand-in here; the real-model
 * end-to-end run is in test/ingestion/e2e-real.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { Models } from '#core/ports/models.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { MemoryJobQueue } from '#engine/queue/memory.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { NamespaceIngestion, type NamespaceView } from '#engine/ingestion/pipeline.ts';
import type { CollectionPlan } from '#engine/ingestion/collections.ts';
import { getExtractor } from '#engine/extractors/registry.ts';
import type { Batch } from '#engine/ingestion/batch-model.ts';
import { QuarryError } from '#core/lib/errors.ts';

const dims = (name: string) => (name.includes('image') ? 512 : 384);
const unit = (seed: number, d: number) => {
  const v = new Float32Array(d);
  for (let i = 0; i < d; i++) v[i] = Math.sin(seed * (i + 1));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const models: Models = {
  list: () => [],
  info: (name) => ({ name, kind: 'text-embedding', dimensions: dims(name) }),
  embedText: async (m, texts) => texts.map((t) => unit(t.length + 1, dims(m))),
  embedImage: async (m, imgs) => imgs.map((b) => unit(b.length + 1, dims(m))),
  rerank: async (_m, _q, p) => p.map(() => 0),
  ocr: async () => [],
  close: async () => {},
};

const collections: CollectionPlan[] = [
  { name: 'chunks', enabled: true, source: { type: 'bucket', buckets: ['docs'] }, extractor: { id: 'text_extractor@v1', params: { split_by: 'sentences', chunk_size: 1 }, inputMappings: { text: 'body' }, fieldPassthrough: [{ source_path: 'metadata.title' }] } },
  { name: 'pictures', enabled: true, source: { type: 'bucket', buckets: ['docs'] }, extractor: { id: 'image_extractor@v1', params: {}, inputMappings: { image: 'photo' } } },
  { name: 'chunk-copies', enabled: true, source: { type: 'collection', collections: ['chunks'] }, extractor: { id: 'text_extractor@v1', params: {}, inputMappings: { text: 'text' }, fieldPassthrough: [{ source_path: 'title' }] } },
];

describe('namespace ingestion pipeline (local adapters)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-ingest-'));
  const queue = new MemoryJobQueue();
  const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
  const vectors = new ExactVectorStore();
  const view: NamespaceView = {
    key: { k8sNamespace: 'test', name: 'ns1' },
    collections: async () => collections,
    storageBucket: async (b) => {
      if (b !== 'docs') throw new Error(`no bucket ${b}`);
      return 'docs-storage';
    },
  };
  const ingestion = new NamespaceIngestion({ queue, objects, vectors, models }, view);
  const workers: { stop(): Promise<void> }[] = [];

  before(async () => {
    await objects.ensureBucket('docs-storage');
    const vecs = collections.flatMap((c) => getExtractor(c.extractor.id)!.vectors({}));
    const unique = [...new Map(vecs.map((v) => [v.name, v])).values()];
    await vectors.ensureCollection({ name: ingestion.vectorCollection, vectors: unique.map((v) => ({ name: v.name, size: dims(v.model), distance: 'cosine' })), lexicalFields: ['text'] });
    await ingestion.init();
    workers.push(await ingestion.startWorker(2), await ingestion.startWorker(2));
  });
  after(async () => {
    for (const w of workers) await w.stop();
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function waitTerminal(batchId: string): Promise<Batch> {
    for (let i = 0; i < 400; i++) {
      const b = await ingestion.getBatch(batchId);
      if (['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELED'].includes(b.status)) return b;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('batch did not finish');
  }

  test('a batch runs every tier; a bad object fails alone; documents are deterministic', async () => {
    const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#884422' } }).png().toBuffer();
    const good = await ingestion.putObject({ bucket: 'docs', metadata: { title: 'Doc A' }, blobs: [await ingestion.storeBlob('docs', 'o-a', 'body', 'text', Buffer.from('First sentence here. Second one follows.'), 'text/plain')] });
    const withPhoto = await ingestion.putObject({
      bucket: 'docs',
      metadata: { title: 'Doc B' },
      blobs: [
        await ingestion.storeBlob('docs', 'o-b', 'body', 'text', Buffer.from('Only sentence.'), 'text/plain'),
        await ingestion.storeBlob('docs', 'o-b', 'photo', 'image', png, 'image/png'),
      ],
    });
    const corrupt = await ingestion.putObject({
      bucket: 'docs',
      metadata: { title: 'Doc C' },
      blobs: [
        await ingestion.storeBlob('docs', 'o-c', 'body', 'text', Buffer.from('Fine text.'), 'text/plain'),
        await ingestion.storeBlob('docs', 'o-c', 'photo', 'image', png.subarray(0, 40), 'image/png'),
      ],
    });
    const batch = await ingestion.createBatch('docs', [good.object_id, withPhoto.object_id, corrupt.object_id]);
    assert.equal(batch.status, 'DRAFT');
    const submitted = await ingestion.submit(batch.batch_id);
    assert.deepEqual(submitted.dag_tiers, [['chunks', 'pictures'], ['chunk-copies']]);
    const done = await waitTerminal(batch.batch_id);

    assert.equal(done.status, 'COMPLETED_WITH_ERRORS');
    // Good has no photo (missing_input) and corrupt's photo is corrupt: two image failures, no text failure.
    assert.deepEqual(done.error_summary, { missing_input: 1, corrupt_image: 1 });
    assert.equal(done.tier_tasks[0]!.status, 'COMPLETED_WITH_ERRORS');
    assert.equal(done.tier_tasks[1]!.status, 'COMPLETED');

    const count = (collection: string) => vectors.count(ingestion.vectorCollection, { field: 'collection_id', value: collection });
    assert.equal(await count('chunks'), 4); // 2 + 1 + 1 sentences
    assert.equal(await count('pictures'), 1);
    assert.equal(await count('chunk-copies'), 4);
    const copies = await vectors.scroll(ingestion.vectorCollection, { filter: { field: 'collection_id', value: 'chunk-copies' }, limit: 10, withPayload: true });
    assert.ok(copies.points.every((p) => typeof p.payload?.title === 'string'), 'passthrough crosses tiers');
    const failed = await ingestion.getObject(corrupt.object_id);
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.error?.reason, 'corrupt_image');

    // Redelivery of a finished job changes nothing: same ids, same counts.
    await ingestion.process({ batch_id: batch.batch_id, tier: 0, collection: 'chunks', object_id: good.object_id }, { attempt: 2, heartbeat: async () => {} });
    assert.equal(await count('chunks'), 4);
  });

  test('a permanent model error (model not installed) fails the object at once instead of retrying forever', async () => {
    const broken = new NamespaceIngestion({ queue, objects, vectors, models: { ...models, embedText: async (m) => Promise.reject(new QuarryError('NotFoundError', `model '${m}' is not installed`)) } }, { ...view, key: { k8sNamespace: 'test', name: 'broken' } });
    await broken.init(); // its own queue, with no worker: the job is run by hand below
    const o = await broken.putObject({ bucket: 'docs', metadata: {}, blobs: [await broken.storeBlob('docs', 'o-e', 'body', 'text', Buffer.from('Hi.'), 'text/plain')] });
    const b = await broken.createBatch('docs', [o.object_id]);
    await broken.submit(b.batch_id);
    await broken.process({ batch_id: b.batch_id, tier: 0, collection: 'chunks', object_id: o.object_id }, { attempt: 1, heartbeat: async () => {} });
    const after1 = await broken.getBatch(b.batch_id);
    assert.equal(after1.tier_tasks[0]!.outcomes[`chunks/${o.object_id}`]?.reason, 'NotFoundError');
    assert.match(String(after1.tier_tasks[0]!.outcomes[`chunks/${o.object_id}`]?.error), /not installed/);
    assert.equal((await broken.getObject(o.object_id)).status, 'FAILED');
  });

  test('submitting twice, an empty batch and an unknown batch are clear errors', async () => {
    const empty = await ingestion.createBatch('docs', []);
    await assert.rejects(ingestion.submit(empty.batch_id), /has no objects/);
    await assert.rejects(ingestion.getBatch('btch_missing'), /batch 'btch_missing' not found/);
    const o = await ingestion.putObject({ bucket: 'docs', metadata: {}, blobs: [await ingestion.storeBlob('docs', 'o-d', 'body', 'text', Buffer.from('Hello.'), 'text/plain')] });
    const b = await ingestion.createBatch('docs', [o.object_id]);
    await ingestion.submit(b.batch_id);
    await assert.rejects(ingestion.submit(b.batch_id), /already submitted/);
    await waitTerminal(b.batch_id);
  });
});

describe('source filters and compaction', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-ingest-sf-'));
  const queue = new MemoryJobQueue();
  const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
  // The exact store with an optimize that counts its runs and the most that ever ran at once.
  const optimizeRuns = { total: 0, running: 0, maxRunning: 0 };
  const vectors = Object.assign(new ExactVectorStore(), {
    optimize: async () => {
      optimizeRuns.total++;
      optimizeRuns.maxRunning = Math.max(optimizeRuns.maxRunning, ++optimizeRuns.running);
      await new Promise((r) => setTimeout(r, 30));
      optimizeRuns.running--;
    },
  });
  const filtered: CollectionPlan[] = [
    // Top-level field first, then metadata (in_stock is sent in metadata below): the same lookup as input mappings.
    { name: 'in-stock', enabled: true, source: { type: 'bucket', buckets: ['shop'] }, sourceFilters: { AND: [{ field: 'in_stock', operator: 'eq', value: true }] }, extractor: { id: 'text_extractor@v1', params: {}, inputMappings: { text: 'body' } } },
    { name: 'german', enabled: true, source: { type: 'bucket', buckets: ['shop'] }, sourceFilters: { field: 'metadata.lang', value: 'de' }, extractor: { id: 'text_extractor@v1', params: {}, inputMappings: { text: 'body' } } },
    { name: 'everything', enabled: true, source: { type: 'bucket', buckets: ['shop'] }, extractor: { id: 'text_extractor@v1', params: {}, inputMappings: { text: 'body' } } },
    // Tier 1 filters the upstream documents: only in-stock ones with a price field passed through.
    { name: 'cheap', enabled: true, source: { type: 'collection', collections: ['in-stock'] }, sourceFilters: { field: 'price', operator: 'lt', value: 10 }, extractor: { id: 'text_extractor@v1', params: {}, inputMappings: { text: 'text' } } },
  ];
  filtered[0]!.extractor.fieldPassthrough = [{ source_path: 'metadata.price' }];
  const ingestion = new NamespaceIngestion({ queue, objects, vectors, models }, { key: { k8sNamespace: 'test', name: 'sf' }, collections: async () => filtered, storageBucket: async () => 'shop-storage' });
  let worker: { stop(): Promise<void> } | undefined;

  before(async () => {
    await objects.ensureBucket('shop-storage');
    await vectors.ensureCollection({ name: ingestion.vectorCollection, vectors: [{ name: 'text_extractor_v1_embedding', size: 384, distance: 'cosine' }], lexicalFields: ['text'] });
    await ingestion.init();
    worker = await ingestion.startWorker(4);
  });
  after(async () => {
    await worker?.stop();
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function waitTerminal(batchId: string): Promise<Batch> {
    for (let i = 0; i < 400; i++) {
      const b = await ingestion.getBatch(batchId);
      if (['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELED'].includes(b.status)) return b;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('batch did not finish');
  }

  const put = async (id: string, metadata: Record<string, unknown>) =>
    (await ingestion.putObject({ object_id: id, bucket: 'shop', metadata, blobs: [await ingestion.storeBlob('shop', id, 'body', 'text', Buffer.from(`Item ${id}.`), 'text/plain')] })).object_id;

  test('only matching objects produce jobs for a filtered collection; tier-N filters apply to upstream documents', async () => {
    const ids = [
      await put('p1', { in_stock: true, lang: 'de', price: 5 }),
      await put('p2', { in_stock: false, lang: 'de', price: 5 }),
      await put('p3', { in_stock: true, lang: 'en', price: 50 }),
      await put('p4', { lang: 'en', price: 1 }),
    ];
    const b = await ingestion.createBatch('shop', ids);
    const submitted = await ingestion.submit(b.batch_id);
    assert.equal(submitted.tier_tasks[0]!.total_jobs, 2 + 2 + 4);
    assert.equal(submitted.tier_tasks[0]!.source_documents_fetched, 12);
    assert.equal(submitted.tier_tasks[0]!.documents_after_source_filter, 8);
    const done = await waitTerminal(b.batch_id);
    assert.equal(done.status, 'COMPLETED');
    assert.deepEqual(Object.keys(done.tier_tasks[0]!.outcomes).sort(), ['everything/p1', 'everything/p2', 'everything/p3', 'everything/p4', 'german/p1', 'german/p2', 'in-stock/p1', 'in-stock/p3']);
    const roots = async (collection: string) => {
      const page = await vectors.scroll(ingestion.vectorCollection, { filter: { field: 'collection_id', value: collection }, limit: 100, withPayload: true });
      return page.points.map((p) => String(p.payload?.root_object_id)).sort();
    };
    assert.deepEqual(await roots('in-stock'), ['p1', 'p3']);
    assert.deepEqual(await roots('german'), ['p1', 'p2']);
    assert.deepEqual(await roots('everything'), ['p1', 'p2', 'p3', 'p4']);
    assert.deepEqual(await roots('cheap'), ['p1']);
  });

  test('a filter that matches nothing completes its tier at once; a batch completion compacts once, never two at once', async () => {
    await ingestion.idle();
    const before = optimizeRuns.total;
    const none = filtered.map((c) => (c.source.type === 'bucket' ? { ...c, sourceFilters: { field: 'metadata.lang', value: 'fr' } } : c));
    const strict = new NamespaceIngestion({ queue, objects, vectors, models }, { key: ingestion.ns.key, collections: async () => none, storageBucket: async () => 'shop-storage' });
    const empty = await strict.createBatch('shop', [await put('p5', { lang: 'en' })]);
    const s = await strict.submit(empty.batch_id);
    assert.equal(s.tier_tasks[0]!.status, 'COMPLETED');
    assert.equal(s.tier_tasks[0]!.total_jobs, 0);
    const emptyDone = await waitTerminal(empty.batch_id); // tier 1 still runs (it finds no upstream documents)
    assert.equal(emptyDone.status, 'COMPLETED');
    assert.equal(emptyDone.tier_tasks[1]!.outcomes['cheap/p5']?.documents, 0);

    // Three batches finishing close together: compactions are serialised (and folded), one per completion at most.
    const batches = [];
    for (let i = 0; i < 3; i++) batches.push(await ingestion.createBatch('shop', [await put(`q${i}`, { in_stock: true, price: 1 })]));
    await Promise.all(batches.map((b) => ingestion.submit(b.batch_id)));
    for (const b of batches) assert.equal((await waitTerminal(b.batch_id)).status, 'COMPLETED');
    await ingestion.idle();
    const runs = optimizeRuns.total - before;
    assert.ok(runs >= 1 && runs <= 4, `compaction ran ${runs} times for 4 finished batches`);
    assert.equal(optimizeRuns.maxRunning, 1);
  });
});

test('invalid source filters fail the submit with the collection named', async () => {
  const queue = new MemoryJobQueue();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-ingest-bad-'));
  try {
    const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
    await objects.ensureBucket('bad-store');
    const bad: CollectionPlan = { name: 'bad-filter', enabled: true, source: { type: 'bucket', buckets: ['b'] }, sourceFilters: { field: 'price', operator: 'lt', value: 'cheap' }, extractor: { id: 'text_extractor@v1', params: {} } };
    const ns = new NamespaceIngestion({ queue, objects, vectors: new ExactVectorStore(), models }, { key: { k8sNamespace: 'test', name: 'bad' }, collections: async () => [bad], storageBucket: async () => 'bad-store' });
    await ns.init();
    const o = await ns.putObject({ bucket: 'b', metadata: {}, blobs: [await ns.storeBlob('b', 'x', 'body', 'text', Buffer.from('x'), 'text/plain')] });
    const b = await ns.createBatch('b', [o.object_id]);
    await assert.rejects(ns.submit(b.batch_id), (e: QuarryError) => e.status === 400 && /collection bad-filter: source filters are invalid/.test(e.message));
    assert.equal((await ns.getBatch(b.batch_id)).status, 'DRAFT');
  } finally {
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('a Bucket with spec.storage.prefix keeps every key of its objects under the prefix', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-prefix-'));
  const queue = new MemoryJobQueue();
  const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
  const vectors = new ExactVectorStore();
  const prefix = 'tenants/acme/';
  const pictures: CollectionPlan = { name: 'pictures', enabled: true, source: { type: 'bucket', buckets: ['shared'] }, extractor: { id: 'image_extractor@v1', params: {}, inputMappings: { image: 'photo' } } };
  const ingestion = new NamespaceIngestion({ queue, objects, vectors, models }, {
    key: { k8sNamespace: 'test', name: 'ns-prefix' },
    collections: async () => [pictures],
    storageBucket: async () => 'shared-storage',
    storagePrefix: async () => prefix,
  });
  const keys = async () => (await objects.list('shared-storage', { maxKeys: 1000 })).objects.map((o) => o.key).sort();

  before(async () => {
    await objects.ensureBucket('shared-storage');
    await objects.put('shared-storage', 'someone-else/keep.txt', Buffer.from('not ours'), { contentType: 'text/plain' });
    const vecs = getExtractor('image_extractor@v1')!.vectors({});
    await vectors.ensureCollection({ name: ingestion.vectorCollection, vectors: vecs.map((v) => ({ name: v.name, size: dims(v.model), distance: 'cosine' })) });
    await ingestion.init();
  });
  after(async () => {
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('blobs and thumbnails are written under the prefix, and deleting the object removes its blobs there', async () => {
    const worker = await ingestion.startWorker(1);
    try {
      const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#226688' } }).png().toBuffer();
      const o = await ingestion.putObject({ object_id: 'o-p', bucket: 'shared', metadata: {}, blobs: [await ingestion.storeBlob('shared', 'o-p', 'photo', 'image', png, 'image/png')] });
      assert.ok(o.blobs[0]!.key.startsWith(`${prefix}o-p/`), `blob key ${o.blobs[0]!.key}`);
      const batch = await ingestion.createBatch('shared', [o.object_id]);
      const submitted = await ingestion.submit(batch.batch_id);
      assert.equal(submitted.storage_prefix, prefix, 'the batch (and so every job) carries the prefix');
      for (let i = 0; i < 400 && (await ingestion.getBatch(batch.batch_id)).status !== 'COMPLETED'; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal((await ingestion.getBatch(batch.batch_id)).status, 'COMPLETED');
      const written = await keys();
      assert.ok(written.some((k) => k.startsWith(`${prefix}_artifacts/pictures/`)), `thumbnail under the prefix: ${written.join(', ')}`);
      assert.deepEqual(written.filter((k) => !k.startsWith(prefix)), ['someone-else/keep.txt'], 'nothing of ours outside the prefix');
      await ingestion.deleteObject(o.object_id);
      assert.ok(!(await keys()).some((k) => k.startsWith(`${prefix}o-p/`)), 'the object blobs are gone');
    } finally {
      await worker.stop();
    }
  });
});
