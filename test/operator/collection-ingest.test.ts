/**
 * The Collection controller processing its source objects, on the real kube-apiserver, NATS JetStream (jobs and
 * batch records), MinIO (blobs), the embedded vector store and the real MiniLM text model: objects put in the
 * source bucket the way the engine's API does are enqueued in one batch (the pipeline's own batch record and jobs),
 * re-reconciling (and a restarted operator) never enqueues them again, objects a user already batched are not
 * batched again, a DRAFT a crash left behind is submitted instead of a new batch, a disabled Collection enqueues
 * nothing, and once a worker has run the jobs, status reports the finished batch and the document count.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyCrds, createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { testEnvPorts } from '../harness/env-ports.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import { OPERATOR_TRIGGER, type LastBatch } from '#operator/controllers/collection/ingest.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import type { JobQueue, Subscription } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { NamespaceIngestion } from '#engine/ingestion/pipeline.ts';
import { collectionPlan } from '#engine/ingestion/from-resource.ts';
import type { Collection as GeneratedCollection } from '#core/resources/generated/types.ts';
import { extractionQueueName, objectBucketName, stateBucketName } from '#core/naming.ts';
import { eventually } from './widgets.ts';

type Obj = Resource<Record<string, unknown>, Record<string, unknown> & { conditions?: Condition[]; lastBatch?: LastBatch; documentCount?: number }>;

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-op-ingest-'));
let ns: { name: string; cleanup(): Promise<void> };
let vs: VectorStore;
let objects: ObjectStore;
let queue: JobQueue;
let op: Operator;
let engine: NamespaceIngestion;
const models = new OnnxModels({ threads: 1 });
let worker: Subscription | undefined;

const FACTS = [
  'The Eiffel Tower was completed in 1889 for the World Fair in Paris.',
  'Honey never spoils because its low moisture and acidity stop bacteria from growing.',
  'Octopuses have three hearts and blue blood.',
  'Mount Everest rises 8,849 metres above sea level.',
  'The speed of light in vacuum is about 299,792 kilometres per second.',
  'A leap year has 366 days.',
  'The Pacific Ocean is the largest of the ocean basins.',
];

const manifests = (k8sNs: string) =>
  [
    { kind: 'QuarryNamespace', metadata: { name: 'notes' }, spec: { featureExtractors: [{ name: 'text_extractor' }] } },
    { kind: 'Bucket', metadata: { name: 'inbox' }, spec: { namespaceRef: 'notes', storage: { prefix: 'notes/' }, schema: { properties: { body: { type: 'text' } } } } },
    {
      kind: 'Collection',
      metadata: { name: 'sentences' },
      spec: {
        namespaceRef: 'notes',
        source: { bucketRefs: ['inbox'] },
        featureExtractor: { name: 'text_extractor', parameters: { split_by: 'sentences', chunk_size: 1 }, inputMappings: { text: 'body' } },
      },
    },
    {
      kind: 'Collection',
      metadata: { name: 'paused-sentences' },
      spec: { namespaceRef: 'notes', enabled: false, source: { bucketRefs: ['inbox'] }, featureExtractor: { name: 'text_extractor', inputMappings: { text: 'body' } } },
    },
  ]
    .map((m) => JSON.stringify({ apiVersion: 'quarry.dev/v1alpha1', ...m, metadata: { ...m.metadata, namespace: k8sNs } }))
    .join('\n');

function startOperator(): Operator {
  return new Operator({ kubeConfig: kubeConfig(), reconcilers: reconcilers({ vectorStore: vs, objectStore: objects, jobQueue: queue }), namespaces: [ns.name] });
}

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('op-ingest');
  ({ vs, objects, queue } = await testEnvPorts(path.join(scratch, 'vectors'), { natsPrefix: `QINGEST${randomBytes(3).toString('hex').toUpperCase()}` }));
  op = startOperator();
  await op.start();
  await op.synced();
  // The engine's side of the namespace: objects are created as the HTTP API creates them.
  engine = new NamespaceIngestion(
    { queue, objects, vectors: vs, models },
    {
      key: { k8sNamespace: ns.name, name: 'notes' },
      collections: async () =>
        (await op.store.list<Obj>('Collection', { namespace: ns.name })).map((c) => collectionPlan(c as unknown as GeneratedCollection)),
      storageBucket: async (b) => objectBucketName(ns.name, b),
      storagePrefix: async () => 'notes/',
    },
  );
});

after(async () => {
  await worker?.stop();
  // Delete with the operator running: the finalizers drop the vector collection, bucket, queue and state bucket.
  await kubectl(['delete', 'collections.quarry.dev,buckets.quarry.dev,quarrynamespaces.quarry.dev', '--all', '--timeout=60s'], { namespace: ns.name });
  await op?.stop();
  for (const kind of ['quarrynamespaces', 'buckets', 'collections']) {
    const names = await kubectl(['get', `${kind}.quarry.dev`, '-o', 'name'], { namespace: ns.name });
    for (const n of names.stdout.split('\n').filter(Boolean)) await kubectl(['patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { namespace: ns.name });
  }
  const key = { k8sNamespace: ns.name, name: 'notes' };
  await queue?.deleteQueue(extractionQueueName(key)).catch(() => undefined);
  await queue?.deleteKv?.(stateBucketName(key)).catch(() => undefined);
  await objects?.deleteBucket(objectBucketName(ns.name, 'inbox'), { force: true }).catch(() => undefined);
  await queue?.close();
  await objects?.close();
  await vs?.close();
  await models.close();
  await ns?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

const get = (name: string) => op.store.get<Obj>('Collection', { namespace: ns.name, name });
const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');

async function putNote(i: number): Promise<string> {
  const id = `obj_note${i}`;
  const blob = await engine.storeBlob('inbox', id, 'body', 'text', Buffer.from(FACTS[i]!), 'text/plain');
  await engine.putObject({ object_id: id, bucket: 'inbox', blobs: [blob], metadata: {} });
  return id;
}

/** What the ~60 s resync does, without waiting for it: re-run the Collection and wait until its queue is idle. */
async function resync(): Promise<void> {
  const c = op.controller('Collection')!;
  for (const n of ['sentences', 'paused-sentences']) c.queue.add(`${ns.name}/${n}`);
  await new Promise((r) => setTimeout(r, 200));
  await c.queue.whenIdle();
}

const batchesOf = async (collection: string) =>
  (await engine.listBatches()).filter((b) => b.collection_ids.includes(collection) || ((b.metadata.restrict_collections as string[] | undefined) ?? []).includes(collection));

test('source objects are enqueued once, through the pipeline’s batches; status reports the batch', async () => {
  const r = await kubectl(['apply', '--server-side', '-f', '-'], { input: manifests(ns.name), namespace: ns.name });
  assert.equal(r.code, 0, r.stderr);
  await eventually(async () => ready(await get('sentences'))?.status === 'True', 60_000, 'sentences Ready');
  await eventually(async () => ready(await get('paused-sentences'))?.status === 'True', 30_000, 'paused-sentences Ready');
  assert.equal((await get('sentences'))!.status!.lastBatch, undefined, 'no objects yet: no batch');

  const first = [await putNote(0), await putNote(1), await putNote(2)];
  await resync();
  const withBatch = await eventually(async () => {
    const o = await get('sentences');
    return o?.status?.lastBatch ? o : undefined;
  }, 20_000, 'status.lastBatch');
  const lb = withBatch.status!.lastBatch!;
  assert.equal(lb.total, 3);
  assert.equal(lb.status, 'PENDING');
  assert.ok(Date.parse(lb.startedAt) > 0, 'startedAt is a time');
  const batches = await batchesOf('sentences');
  assert.equal(batches.length, 1);
  const b = batches[0]!;
  assert.equal(b.batch_id, lb.batchId);
  assert.deepEqual([...b.object_ids].sort(), first);
  assert.equal(b.metadata.trigger, OPERATOR_TRIGGER);
  assert.deepEqual(b.collection_ids, ['sentences'], 'restricted to this collection (the disabled one is not planned)');
  assert.equal(b.tier_tasks[0]!.total_jobs, 3);
  assert.equal(b.storage_prefix, 'notes/', 'workers store artifacts under the Bucket’s spec.storage.prefix');
  const q = extractionQueueName({ k8sNamespace: ns.name, name: 'notes' });
  assert.equal(await queue.pending(q), 3, 'three extraction jobs on the namespace queue');
  assert.deepEqual(await batchesOf('paused-sentences'), [], 'a disabled Collection enqueues nothing');

  // Idempotent: re-reconciling enqueues nothing more.
  const writes = await op.metrics.writeCount();
  await resync();
  await resync();
  assert.equal((await batchesOf('sentences')).length, 1);
  assert.equal(await queue.pending(q), 3);
  assert.equal(await op.metrics.writeCount(), writes, 'no status change, no write');
});

test('new objects go in a new batch; objects a user already batched, and a restarted operator, enqueue nothing twice', async () => {
  const q = extractionQueueName({ k8sNamespace: ns.name, name: 'notes' });
  const second = [await putNote(3), await putNote(4)];
  await resync();
  const lb = await eventually(async () => {
    const l = (await get('sentences'))?.status?.lastBatch;
    return l && l.total === 2 ? l : undefined;
  }, 20_000, 'a second batch in status');
  const batches = await batchesOf('sentences');
  assert.equal(batches.length, 2);
  assert.deepEqual([...batches.find((x) => x.batch_id === lb.batchId)!.object_ids].sort(), second);
  assert.equal(await queue.pending(q), 5);

  // A user batches a new object through the API path (create + submit, every collection of the bucket).
  const mine = await putNote(5);
  const userBatch = await engine.submit((await engine.createBatch('inbox', [mine])).batch_id);
  assert.deepEqual(userBatch.collection_ids, ['sentences']);
  assert.equal(await queue.pending(q), 6);

  // A restarted operator (nothing remembered in memory) sees the same records.
  await op.stop();
  op = startOperator();
  await op.start();
  await op.synced();
  await op.controller('Collection')!.queue.whenIdle();
  await resync();
  assert.equal((await batchesOf('sentences')).length, 3, 'no operator batch for the object the user batched');
  assert.equal(await queue.pending(q), 6, 'no job enqueued twice');
});

test('a DRAFT batch a crash left between create and submit is submitted instead of creating another', async () => {
  const q = extractionQueueName({ k8sNamespace: ns.name, name: 'notes' });
  const id = await putNote(6);
  const draft = await engine.createBatch('inbox', [id], { trigger: OPERATOR_TRIGGER, restrict_collections: ['sentences'] });
  await resync();
  const after = await engine.getBatch(draft.batch_id);
  assert.equal(after.status, 'PENDING', 'the half-made batch was submitted');
  assert.equal((await batchesOf('sentences')).length, 4, 'and no other batch was created');
  assert.equal(await queue.pending(q), 7);
  await eventually(async () => (await get('sentences'))?.status?.lastBatch?.batchId === draft.batch_id, 20_000, 'the resumed batch in status');
});

test('a worker runs the jobs (real text model): status reports the batch completed and the documents', async () => {
  worker = await engine.startWorker(2);
  const q = extractionQueueName({ k8sNamespace: ns.name, name: 'notes' });
  await eventually(async () => (await queue.pending(q)) === 0, 180_000, 'every job processed');
  // The controller follows a running batch every ~10 s; nudge it instead of waiting.
  const done = await eventually(async () => {
    await resync();
    const o = await get('sentences');
    return o?.status?.lastBatch?.status === 'COMPLETED' && (o.status.documentCount ?? 0) > 0 ? o : undefined;
  }, 60_000, 'lastBatch COMPLETED and documents counted');
  assert.equal(done.status!.lastBatch!.processed, 1);
  assert.equal(done.status!.lastBatch!.failed, 0);
  assert.ok(done.status!.lastBatch!.completedAt, 'completedAt set');
  assert.equal(done.status!.documentCount, 7, 'one sentence per note, each processed once');
});

test('an object replaced in place (unique-key upsert) is enqueued once more, then never again', async () => {
  const q = extractionQueueName({ k8sNamespace: ns.name, name: 'notes' });
  const before = (await batchesOf('sentences')).length;
  const o = await engine.getObject('obj_note0');
  const blob = await engine.storeBlob('inbox', o.object_id, 'body', 'text', Buffer.from('The Eiffel Tower is 330 metres tall.'), 'text/plain');
  await engine.replaceObject({ ...o, blobs: [blob] });
  await resync();
  const batches = await batchesOf('sentences');
  assert.equal(batches.length, before + 1, 'one new batch');
  const newest = batches.reduce((a, b) => (a.created_at > b.created_at ? a : b));
  assert.deepEqual(newest.object_ids, ['obj_note0']);
  await eventually(async () => (await queue.pending(q)) === 0, 120_000, 'the replacement processed');
  await resync();
  await resync();
  assert.equal((await batchesOf('sentences')).length, before + 1, 'no batch after that');
});

test('a collection deleted while a crash left its DRAFT batch cancels that batch (nobody would resume it)', async () => {
  const doomed = {
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Collection',
    metadata: { name: 'doomed', namespace: ns.name },
    // Disabled: the controller must not resume the draft before the deletion (what a crash then a delete looks like).
    spec: { namespaceRef: 'notes', enabled: false, source: { bucketRefs: ['inbox'] }, featureExtractor: { name: 'text_extractor', inputMappings: { text: 'body' } } },
  };
  const r = await kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(doomed), namespace: ns.name });
  assert.equal(r.code, 0, r.stderr);
  await eventually(async () => ((await get('doomed'))?.metadata.finalizers ?? []).length > 0, 30_000, 'doomed has its finalizer');
  const draft = await engine.createBatch('inbox', ['obj_note1'], { trigger: OPERATOR_TRIGGER, restrict_collections: ['doomed'] });
  const userDraft = await engine.createBatch('inbox', ['obj_note2'], { restrict_collections: ['doomed'] });
  const d = await kubectl(['delete', 'collection.quarry.dev/doomed', '--timeout=60s'], { namespace: ns.name });
  assert.equal(d.code, 0, d.stderr);
  assert.equal((await engine.getBatch(draft.batch_id)).status, 'CANCELED', 'the operator’s half-made batch is canceled');
  assert.equal((await engine.getBatch(userDraft.batch_id)).status, 'DRAFT', 'a user’s draft is the user’s to submit');
});
