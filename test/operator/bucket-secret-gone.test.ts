/**
 * A Bucket on its own S3 endpoint whose credentials Secret is deleted first (as `kubectl delete namespace` does) no
 * longer holds its finalizer forever, on the real kube-apiserver and MinIO: an operator that read the Secret before
 * finishes the cleanup with those credentials; one that never saw it (restarted meanwhile) lets the Bucket go with a
 * Warning event naming what is left in S3.
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
import { MemoryCollections } from './memory-vector-store.ts';
import { eventually, LOCAL_S3_POLICY } from './widgets.ts';

type Obj = Resource<Record<string, unknown>, { conditions?: Condition[] }>;

let ns: { name: string; cleanup(): Promise<void> };
let op: Operator | undefined;
let objects: ObjectStore;
const mem = new MemoryCollections();
const made: string[] = [];

async function startOperator(): Promise<Operator> {
  const o = new Operator({
    kubeConfig: kubeConfig(),
    reconcilers: reconcilers({ vectorStore: mem.asVectorStore(), objectStore: objects, objectStoreFor: (target) => createObjectStore({ kind: 's3', ...target }), storagePolicy: LOCAL_S3_POLICY }),
    namespaces: [ns.name],
  });
  await o.start();
  await o.synced();
  return o;
}

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('op-secret-gone');
  const t = testEnv();
  objects = createObjectStore({ kind: 's3', endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true });
  op = await startOperator();
  await apply({ kind: 'QuarryNamespace', metadata: { name: 'kb' }, spec: { featureExtractors: [{ name: 'text_extractor', version: 'v1' }] } });
});

after(async () => {
  const left = await kubectl(['get', 'quarry', '-o', 'name'], { namespace: ns.name });
  for (const n of left.stdout.split('\n').filter(Boolean)) await kubectl(['patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { namespace: ns.name });
  await op?.stop();
  for (const b of made) await objects.deleteBucket(b, { force: true }).catch(() => undefined);
  await objects?.close();
  await ns?.cleanup();
});

const apply = (...objs: Record<string, unknown>[]) => applyQuarry(ns.name, ...objs);
const get = (name: string) => op!.store.get<Obj>('Bucket', { namespace: ns.name, name });

/** A Ready Bucket on "its own" endpoint (MinIO again, with the keys from a Secret), holding one object. */
async function readyOwnBucket(name: string): Promise<string> {
  const t = testEnv();
  const s3 = `quarry-gone-${randomBytes(3).toString('hex')}`;
  made.push(s3);
  const secret = await kubectl(['create', 'secret', 'generic', `${name}-creds`, `--from-literal=accessKeyId=${t.s3.accessKey}`, `--from-literal=secretAccessKey=${t.s3.secretKey}`], { namespace: ns.name });
  assert.equal(secret.code, 0, secret.stderr);
  // Handed to the Bucket's QuarryNamespace (engine/src/lib/secret-refs.ts).
  assert.equal((await kubectl(['label', 'secret', `${name}-creds`, 'quarry.dev/namespace=kb'], { namespace: ns.name })).code, 0);
  await apply({
    kind: 'Bucket',
    metadata: { name },
    spec: {
      namespaceRef: 'kb',
      schema: { properties: { body: { type: 'text' } } },
      storage: { endpoint: t.s3.endpoint, region: t.s3.region, forcePathStyle: true, bucketName: s3, credentialsSecretRef: { name: `${name}-creds` } },
    },
  });
  await eventually(async () => (await get(name))?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), 30_000, `${name} Ready`);
  await objects.put(s3, 'doc.txt', Buffer.from('x'));
  return s3;
}

async function deleteSecretThenBucket(name: string) {
  const s = await kubectl(['delete', 'secret', `${name}-creds`], { namespace: ns.name });
  assert.equal(s.code, 0, s.stderr);
  const d = await kubectl(['delete', 'buckets.quarry.dev', name, '--wait=false'], { namespace: ns.name });
  assert.equal(d.code, 0, d.stderr);
  await eventually(async () => (await get(name)) === undefined, 30_000, `Bucket ${name} gone although its Secret went first`);
}

test('the Secret deleted first: an operator that read it finishes the cleanup with those credentials', async () => {
  const s3 = await readyOwnBucket('cached');
  await deleteSecretThenBucket('cached');
  assert.equal(await objects.bucketExists(s3), false, 'the S3 bucket Quarry created is deleted');
});

test('the Secret deleted first and the operator restarted meanwhile: the Bucket goes, with a Warning naming what is left in S3', async () => {
  const s3 = await readyOwnBucket('restarted');
  await op!.stop();
  op = undefined;
  const s = await kubectl(['delete', 'secret', 'restarted-creds'], { namespace: ns.name });
  assert.equal(s.code, 0, s.stderr);
  op = await startOperator();
  const d = await kubectl(['delete', 'buckets.quarry.dev', 'restarted', '--wait=false'], { namespace: ns.name });
  assert.equal(d.code, 0, d.stderr);
  await eventually(async () => (await get('restarted')) === undefined, 30_000, 'Bucket gone although its Secret went first');
  assert.equal(await objects.bucketExists(s3), true, 'nothing could be deleted without credentials');
  await op.events.flush();
  const ev = await kubectl(['get', 'events.events.k8s.io', '-o', 'json'], { namespace: ns.name });
  const items = (JSON.parse(ev.stdout) as { items: { reason: string; note: string; type: string; regarding: { name: string } }[] }).items;
  const kept = items.find((e) => e.regarding.name === 'restarted' && e.reason === 'ExternalResourceKept');
  assert.equal(kept?.type, 'Warning');
  assert.match(kept?.note ?? '', new RegExp(`S3 bucket ${s3} at ${testEnv().s3.endpoint.replace(/[.]/g, '\\.')} is left in place: the credentials Secret ${ns.name}/restarted-creds .* is gone`));
});
