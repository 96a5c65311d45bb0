/**
 * Every controller together on the real kube-apiserver, real NATS JetStream, real MinIO and the embedded vector
 * store: examples/ scenarios applied in any order reach Ready=True (kubectl wait), with the vector collection, the
 * S3 buckets and the JetStream work queue in place; a Collection applied before its QuarryNamespace is
 * Ready=False naming it and turns Ready by itself; a Retriever's revision follows its spec; deleting with Delete
 * removes the external resources and Retain keeps them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyCrds, createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { testEnvPorts } from '../harness/env-ports.ts';
import { ROOT } from '../harness/test-env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';
import { extractionQueueName, objectBucketName, vectorCollectionName } from '#core/naming.ts';
import { eventually } from './widgets.ts';

type Obj = Resource<Record<string, unknown>, Record<string, unknown> & { conditions?: Condition[]; observedGeneration?: number }>;

const EXAMPLES = path.join(ROOT, 'examples');
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-op-examples-'));
let ns: { name: string; cleanup(): Promise<void> };
let op: Operator;
let vs: VectorStore;
let objects: ObjectStore;
let queue: JobQueue;

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('op-examples');
  ({ vs, objects, queue } = await testEnvPorts(path.join(scratch, 'vectors')));
  op = new Operator({ kubeConfig: kubeConfig(), reconcilers: reconcilers({ vectorStore: vs, objectStore: objects, jobQueue: queue }), namespaces: [ns.name] });
  await op.start();
  await op.synced();
});

after(async () => {
  await op?.stop();
  // Whatever a failed test left behind: finalizers would outlive the operator, external state the test.
  for (const kind of ['quarrynamespaces', 'buckets', 'collections', 'retrievers', 'taxonomies']) {
    const names = await kubectl(['get', `${kind}.quarry.dev`, '-o', 'name'], { namespace: ns.name });
    for (const n of names.stdout.split('\n').filter(Boolean)) {
      await kubectl(['patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { namespace: ns.name });
    }
  }
  for (const b of ['abstracts', 'products', 'style-labels']) await objects?.deleteBucket(objectBucketName(ns.name, b), { force: true }).catch(() => undefined);
  for (const q of ['research', 'catalog']) await queue?.deleteQueue(extractionQueueName({ k8sNamespace: ns.name, name: q })).catch(() => undefined);
  await queue?.close();
  await objects?.close();
  await vs?.close();
  await ns?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

const get = (kind: string, name: string) => op.store.get<Obj>(kind, { namespace: ns.name, name });
const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');
/** The scenario's files, last first: dependents reach the apiserver before what they depend on. */
const reversed = (scenario: string) =>
  readdirSync(path.join(EXAMPLES, scenario))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .reverse()
    .flatMap((f) => ['-f', path.join(EXAMPLES, scenario, f)]);

test('a Collection applied before its QuarryNamespace is Ready=False naming it, then Ready by itself; examples reach Ready in any order', async () => {
  const first = await kubectl(['apply', '--server-side', '-f', path.join(EXAMPLES, 'hybrid-text-search/20-collection.yaml')], { namespace: ns.name });
  assert.equal(first.code, 0, first.stderr);
  const waiting = await eventually(async () => {
    const o = await get('Collection', 'abstract-passages');
    return ready(o)?.status === 'False' ? o : undefined;
  }, 30_000, 'the Collection to report its missing namespace');
  assert.equal(ready(waiting)!.reason, 'DependencyNotFound');
  assert.match(ready(waiting)!.message, new RegExp(`QuarryNamespace ${ns.name}/research does not exist`));
  assert.ok(waiting.status?.conditions?.some((c) => c.type === 'Reconciling' && c.status === 'True'), 'kstatus: in progress, not Current');

  for (const scenario of ['hybrid-text-search', 'product-catalog']) {
    const r = await kubectl(['apply', '--server-side', ...reversed(scenario)], { namespace: ns.name });
    assert.equal(r.code, 0, r.stderr);
  }
  const w = await kubectl(['wait', '--for=condition=Ready', '--timeout=120s', '--all', 'quarrynamespaces.quarry.dev,buckets.quarry.dev,collections.quarry.dev,retrievers.quarry.dev,taxonomies.quarry.dev'], { namespace: ns.name });
  assert.equal(w.code, 0, `${w.stderr}\n${(await kubectl(['get', 'quarry', '-o', 'wide'], { namespace: ns.name })).stdout}`);
  const listed = await kubectl(['get', 'quarry', '-o', 'name'], { namespace: ns.name });
  assert.equal(listed.stdout.split('\n').filter(Boolean).length, 13, listed.stdout);

  // The external state exists.
  for (const q of ['research', 'catalog']) {
    const coll = await vs.describeCollection(vectorCollectionName({ k8sNamespace: ns.name, name: q }));
    assert.ok(coll, `vector collection of ${q}`);
    assert.ok(coll.vectors.some((v) => v.name === 'text_extractor_v1_embedding'));
    assert.equal(await queue.queueExists(extractionQueueName({ k8sNamespace: ns.name, name: q })), true, `JetStream queue of ${q}`);
  }
  for (const b of ['abstracts', 'products', 'style-labels']) assert.equal(await objects.bucketExists(objectBucketName(ns.name, b)), true, `S3 bucket of ${b}`);

  // What the statuses publish.
  const passages = (await get('Collection', 'abstract-passages'))!;
  const schema = passages.status!.outputSchema as Record<string, { type?: string }>;
  assert.equal(schema.doc_id?.type, 'string', 'passthrough typed from the Bucket schema');
  assert.equal(schema.text?.type, 'text', 'extractor output field');
  assert.ok('chunk_index' in schema && 'journal' in schema && 'year' in schema);
  assert.deepEqual((passages.status!.vectorIndexes as Array<{ featureUri: string }>).map((v) => v.featureUri), ['quarry://text_extractor@v1/all_minilm_l6_v2']);
  assert.equal(passages.status!.documentCount, 0);
  const products = (await get('Bucket', 'products'))!;
  assert.deepEqual(products.status!.storage, { bucket: objectBucketName(ns.name, 'products'), prefix: 'catalog/products/' });
  assert.equal(products.status!.objectCount, 0);
  const search = (await get('Retriever', 'product-search'))!;
  assert.equal(search.status!.revision, 1);
  assert.deepEqual(search.status!.featureDependencies, ['quarry://image_extractor@v1/clip_vit_b32', 'quarry://text_extractor@v1/all_minilm_l6_v2']);
  assert.equal((await get('Taxonomy', 'product-styles'))!.status!.nodeCount, 1);
});

test('steady state: re-observing every object writes nothing (every status field we write survives the CRD schema)', async () => {
  const kinds = ['QuarryNamespace', 'Bucket', 'Collection', 'Retriever', 'Taxonomy'];
  for (const k of kinds) await op.controller(k)!.queue.whenIdle();
  const writes = await op.metrics.writeCount();
  for (let i = 0; i < 2; i++) {
    for (const k of kinds) for (const o of await op.store.list(k, { namespace: ns.name })) op.controller(k)!.queue.add(`${ns.name}/${o.metadata.name}`);
    await new Promise((r) => setTimeout(r, 300));
    for (const k of kinds) await op.controller(k)!.queue.whenIdle();
  }
  assert.equal(await op.metrics.writeCount(), writes);
});

test('a Retriever spec change bumps observedGeneration and revision', async () => {
  const p = await kubectl(['patch', 'retrievers.quarry.dev', 'abstract-hybrid-search', '--type=merge', '-p', '{"spec":{"description":"changed"}}'], { namespace: ns.name });
  assert.equal(p.code, 0, p.stderr);
  const r = await eventually(async () => {
    const o = await get('Retriever', 'abstract-hybrid-search');
    return o?.status?.observedGeneration === 2 ? o : undefined;
  }, 20_000, 'observedGeneration 2');
  assert.equal(r.status!.revision, 2);
  assert.equal(ready(r)!.status, 'True');
});

test('drift: an S3 bucket and a JetStream queue deleted behind the operator’s back are recreated on re-observation', async () => {
  const bucket = objectBucketName(ns.name, 'style-labels');
  const q = extractionQueueName({ k8sNamespace: ns.name, name: 'catalog' });
  await objects.deleteBucket(bucket, { force: true });
  await queue.deleteQueue(q);
  // What the jittered ~60 s requeueAfter does, without waiting for it.
  op.controller('Bucket')!.queue.add(`${ns.name}/style-labels`);
  op.controller('Collection')!.queue.add(`${ns.name}/style-labels`);
  await eventually(async () => (await objects.bucketExists(bucket)) && (await queue.queueExists(q)), 20_000, 'bucket and queue recreated');
  assert.equal(ready(await get('Bucket', 'style-labels'))!.status, 'True');
});

test('deletion: Delete removes the bucket, documents, vector collection and queue; Retain keeps the bucket', async () => {
  const keep = await kubectl(['patch', 'buckets.quarry.dev', 'abstracts', '--type=merge', '-p', '{"spec":{"deletionPolicy":"Retain"}}'], { namespace: ns.name });
  assert.equal(keep.code, 0, keep.stderr);
  await eventually(async () => (await get('Bucket', 'abstracts'))?.status?.observedGeneration === 2, 20_000, 'the Retain policy observed');
  for (const scenario of ['product-catalog', 'hybrid-text-search']) {
    const d = await kubectl(['delete', '--timeout=90s', '-f', path.join(EXAMPLES, scenario)], { namespace: ns.name });
    assert.equal(d.code, 0, d.stderr);
  }
  const left = await kubectl(['get', 'quarry', '-o', 'name'], { namespace: ns.name });
  assert.equal(left.stdout.trim(), '', 'every object is gone (finalizers ran)');
  assert.equal(await objects.bucketExists(objectBucketName(ns.name, 'products')), false);
  assert.equal(await objects.bucketExists(objectBucketName(ns.name, 'style-labels')), false);
  assert.equal(await objects.bucketExists(objectBucketName(ns.name, 'abstracts')), true, 'Retain kept the bucket');
  for (const q of ['research', 'catalog']) {
    assert.equal(await vs.describeCollection(vectorCollectionName({ k8sNamespace: ns.name, name: q })), undefined, `vector collection of ${q} dropped`);
    assert.equal(await queue.queueExists(extractionQueueName({ k8sNamespace: ns.name, name: q })), false, `queue of ${q} deleted`);
  }
});
