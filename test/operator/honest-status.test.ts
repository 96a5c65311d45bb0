/**
 * Honest status of the Bucket, Collection and Retriever controllers on the real kube-apiserver (and real MinIO):
 * an extractor the namespace does not enable stalls the Collection with the namespace named, and enabling it there
 * makes the Collection Ready without touching it; a Bucket naming an existing S3 bucket that is not there is not
 * Ready and nothing is created; a Retriever searching a feature no referenced Collection publishes is Stalled with
 * the field named; a Bucket with its own endpoint and credentials Secret says when the Secret is missing, then
 * provisions (and on deletion removes) its bucket with those credentials.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { applyQuarry, applyCrds, createTestNamespace, kubeConfig, kubectl, testEnv } from '../harness/env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { createObjectStore } from '#engine/objects/config.ts';
import { MemoryJobQueue } from '#engine/queue/memory.ts';
import { objectBucketName } from '#core/naming.ts';
import { MemoryCollections } from './memory-vector-store.ts';
import { eventually, LOCAL_S3_POLICY } from './widgets.ts';

type Obj = Resource<Record<string, unknown>, { conditions?: Condition[]; observedGeneration?: number }>;

let ns: { name: string; cleanup(): Promise<void> };
let op: Operator;
let objects: ObjectStore;
const queue = new MemoryJobQueue();
const mem = new MemoryCollections();

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('op-honest');
  const t = testEnv();
  objects = createObjectStore({ kind: 's3', endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true });
  op = new Operator({ kubeConfig: kubeConfig(), reconcilers: reconcilers({ vectorStore: mem.asVectorStore(), objectStore: objects, objectStoreFor: (target) => createObjectStore({ kind: 's3', ...target }), storagePolicy: LOCAL_S3_POLICY, jobQueue: queue }), namespaces: [ns.name] });
  await op.start();
  await op.synced();
});

after(async () => {
  // Delete while the operator runs, so finalizers remove what was provisioned.
  await kubectl(['delete', 'quarry', '--all', '--timeout=60s'], { namespace: ns.name });
  await op?.stop();
  await objects.deleteBucket(objectBucketName(ns.name, 'docs'), { force: true }).catch(() => undefined);
  await objects?.close();
  await queue.close();
  await ns?.cleanup();
});

const apply = (...objs: Record<string, unknown>[]) => applyQuarry(ns.name, ...objs);
const get = (kind: string, name: string) => op.store.get<Obj>(kind, { namespace: ns.name, name });
const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
const namespace = (extractors: string[]) => ({ kind: 'QuarryNamespace', metadata: { name: 'kb' }, spec: { featureExtractors: extractors.map((name) => ({ name, version: 'v1' })) } });
const bucket = (name: string, storage?: Record<string, unknown>) => ({
  kind: 'Bucket',
  metadata: { name },
  spec: { namespaceRef: 'kb', schema: { properties: { body: { type: 'text' }, photo: { type: 'image' } } }, ...(storage ? { storage } : {}) },
});

test('an extractor the namespace does not enable stalls the Collection, naming the namespace; enabling it there makes it Ready', async () => {
  await apply(namespace(['text_extractor']), bucket('docs'), {
    kind: 'Collection',
    metadata: { name: 'photos' },
    spec: { namespaceRef: 'kb', source: { bucketRefs: ['docs'] }, featureExtractor: { name: 'image_extractor', version: 'v1', inputMappings: { image: 'photo' } } },
  });
  const stalled = await eventually(async () => {
    const o = await get('Collection', 'photos');
    return cond(o, 'Stalled')?.status === 'True' ? o : undefined;
  }, 30_000, 'Stalled');
  assert.equal(cond(stalled, 'Stalled')!.reason, 'ExtractorNotEnabled');
  assert.match(cond(stalled, 'Stalled')!.message, /spec\.featureExtractor\.name: image_extractor@v1 is not enabled in QuarryNamespace kb/);
  assert.equal(cond(stalled, 'Ready')!.status, 'False');

  await apply(namespace(['text_extractor', 'image_extractor']));
  const ok = await eventually(async () => {
    const o = await get('Collection', 'photos');
    return cond(o, 'Ready')?.status === 'True' ? o : undefined;
  }, 30_000, 'the Collection Ready once its namespace enables the extractor');
  assert.equal(cond(ok, 'Stalled'), undefined);
  assert.equal(ok.metadata.generation, 1, 'the Collection itself was not touched');
});

test('a Bucket naming an existing S3 bucket that is not there is not Ready, and nothing is created', async () => {
  const missing = `quarry-missing-${randomBytes(4).toString('hex')}`;
  await apply(bucket('external', { existingBucketName: missing, prefix: 'x/' }));
  const o = await eventually(async () => {
    const b = await get('Bucket', 'external');
    return cond(b, 'Ready')?.reason === 'ExistingBucketNotFound' ? b : undefined;
  }, 30_000, 'ExistingBucketNotFound');
  assert.equal(cond(o, 'Ready')!.status, 'False');
  assert.match(cond(o, 'Ready')!.message, new RegExp(missing));
  assert.equal(await objects.bucketExists(missing), false);
});

test('a Retriever searching a feature no referenced Collection publishes is Stalled with the field named', async () => {
  await apply({
    kind: 'Retriever',
    metadata: { name: 'text-search' },
    spec: {
      namespaceRef: 'kb',
      collectionRefs: ['photos'],
      inputSchema: { q: { type: 'text', required: true } },
      stages: [{ stageName: 'search', config: { stageId: 'feature_search', parameters: { searches: [{ feature_uri: 'quarry://text_extractor@v1/all_minilm_l6_v2', query: { input_mode: 'text', value: '{{INPUT.q}}' }, top_k: 10 }] } } }],
    },
  });
  const o = await eventually(async () => {
    const r = await get('Retriever', 'text-search');
    return cond(r, 'Stalled')?.status === 'True' ? r : undefined;
  }, 30_000, 'Stalled');
  assert.equal(cond(o, 'Stalled')!.reason, 'FeatureNotAvailable');
  assert.match(cond(o, 'Stalled')!.message, /spec\.stages\[0\]\.config\.parameters\.searches\[0\]\.feature_uri: no referenced collection exposes quarry:\/\/text_extractor@v1\/all_minilm_l6_v2/);
});

test('a Bucket with its own endpoint and credentials Secret: missing Secret named in status; with it, the bucket is provisioned and deleted', async () => {
  const t = testEnv();
  const own = `quarry-own-${randomBytes(4).toString('hex')}`;
  await apply(bucket('own', { endpoint: t.s3.endpoint, region: t.s3.region, forcePathStyle: true, bucketName: own, credentialsSecretRef: { name: 's3-creds', accessKeyIdKey: 'id' } }));
  const blocked = await eventually(async () => {
    const b = await get('Bucket', 'own');
    return cond(b, 'Ready')?.reason === 'CredentialsSecretNotFound' ? b : undefined;
  }, 30_000, 'CredentialsSecretNotFound');
  assert.match(cond(blocked, 'Ready')!.message, new RegExp(`Secret ${ns.name}/s3-creds`));
  assert.equal(await objects.bucketExists(own), false);

  const secret = await kubectl(['create', 'secret', 'generic', 's3-creds', `--from-literal=id=${t.s3.accessKey}`, `--from-literal=secretAccessKey=${t.s3.secretKey}`], { namespace: ns.name });
  assert.equal(secret.code, 0, secret.stderr);
  // Handed to the Bucket's QuarryNamespace (engine/src/lib/secret-refs.ts).
  assert.equal((await kubectl(['label', 'secret', 's3-creds', 'quarry.dev/namespace=kb'], { namespace: ns.name })).code, 0);
  op.controller('Bucket')!.queue.add(`${ns.name}/own`); // Secrets are not watched: what the 30 s requeue does
  await eventually(async () => cond(await get('Bucket', 'own'), 'Ready')?.status === 'True', 30_000, 'Ready with the Secret');
  assert.equal(await objects.bucketExists(own), true);

  const d = await kubectl(['delete', 'buckets.quarry.dev', 'own', '--timeout=30s'], { namespace: ns.name });
  assert.equal(d.code, 0, d.stderr);
  assert.equal(await objects.bucketExists(own), false, 'deleted with the Bucket (deletionPolicy Delete)');
});

test('an unreachable S3 endpoint: status says so, deletion is blocked with the reason, and Retain lets it finish', async () => {
  await apply(bucket('down', { endpoint: 'http://127.0.0.1:9', forcePathStyle: true, credentialsSecretRef: { name: 's3-creds', accessKeyIdKey: 'id' } }));
  const failing = await eventually(async () => {
    const b = await get('Bucket', 'down');
    return cond(b, 'Ready')?.reason === 'ReconcileError' ? b : undefined;
  }, 60_000, 'ReconcileError');
  assert.equal(cond(failing, 'Ready')!.status, 'False');
  assert.match(cond(failing, 'Ready')!.message, /ECONNREFUSED 127.0.0.1:9/, 'the cause, not a generic failure');
  const d = await kubectl(['delete', 'buckets.quarry.dev', 'down', '--wait=false'], { namespace: ns.name });
  assert.equal(d.code, 0, d.stderr);
  const blocked = await eventually(async () => {
    const b = await get('Bucket', 'down');
    return cond(b, 'Ready')?.reason === 'DeletionBlocked' ? b : undefined;
  }, 60_000, 'DeletionBlocked');
  assert.match(cond(blocked, 'Ready')!.message, /^deletion is blocked: /);
  assert.ok(blocked.metadata.finalizers?.includes('quarry.dev/finalizer'), 'the finalizer holds the object');
  // The user's way out: keep the (unreachable) data.
  const p = await kubectl(['patch', 'buckets.quarry.dev', 'down', '--type=merge', '-p', '{"spec":{"deletionPolicy":"Retain"}}'], { namespace: ns.name });
  assert.equal(p.code, 0, p.stderr);
  await eventually(async () => (await get('Bucket', 'down')) === undefined, 60_000, 'the Bucket gone');
});

test('two Buckets sharing one spec.storage.bucketName under different prefixes: deleting one keeps the other’s data', async () => {
  const shared = `quarry-shared-${randomBytes(4).toString('hex')}`;
  // left first, so left is the one that made Quarry create the bucket, and it leaves first: the remaining Bucket
  // must inherit "created", or the bucket outlives every Bucket (this test once passed only when right won the race).
  await apply(bucket('left', { bucketName: shared, prefix: 'left/' }));
  await eventually(async () => cond(await get('Bucket', 'left'), 'Ready')?.status === 'True', 30_000, 'left Ready');
  await apply(bucket('right', { bucketName: shared, prefix: 'right/' }));
  await eventually(async () => cond(await get('Bucket', 'right'), 'Ready')?.status === 'True', 30_000, 'right Ready');
  await objects.put(shared, 'left/a.txt', Buffer.from('a'));
  await objects.put(shared, 'right/b.txt', Buffer.from('b'));
  const d1 = await kubectl(['delete', 'buckets.quarry.dev', 'left', '--timeout=30s'], { namespace: ns.name });
  assert.equal(d1.code, 0, d1.stderr);
  assert.equal(await objects.head(shared, 'left/a.txt'), undefined, 'its own prefix emptied');
  assert.ok(await objects.head(shared, 'right/b.txt'), 'the other Bucket’s object kept');
  const d2 = await kubectl(['delete', 'buckets.quarry.dev', 'right', '--timeout=30s'], { namespace: ns.name });
  assert.equal(d2.code, 0, d2.stderr);
  assert.equal(await objects.bucketExists(shared), false, 'the last one out deletes the bucket');
});
