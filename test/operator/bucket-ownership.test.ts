/**
 * Which S3 buckets the Bucket controller may delete, on the real kube-apiserver and MinIO: only the ones Quarry
 * created. A spec.storage.bucketName that already existed (the user's bucket, or one another Bucket uses) is used but
 * never deleted (only this Bucket's prefix is emptied), and the Ready message says so; one Quarry creates is marked
 * on the Bucket (annotation quarry.dev/bucket-created, metadata only) before it is created, so a crash between the
 * marker and the create still converges; a second Bucket naming the same storage is refused and never wipes the
 * owner's objects; the default per-Bucket bucket is created and deleted as before.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { applyQuarry, applyCrds, createTestNamespace, kubeConfig, kubectl, testEnv } from '../harness/env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import { BUCKET_CREATED_ANNOTATION } from '#engine/objects/bucket-plan.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { createObjectStore } from '#engine/objects/config.ts';
import { objectBucketName } from '#core/naming.ts';
import { releaseClaim } from '#engine/objects/storage-ownership.ts';
import { MemoryCollections } from './memory-vector-store.ts';
import { eventually } from './widgets.ts';

type Obj = Resource<Record<string, unknown>, { conditions?: Condition[]; observedGeneration?: number }>;

let ns: { name: string; cleanup(): Promise<void> };
let op: Operator;
let objects: ObjectStore;
const mem = new MemoryCollections();
const made: string[] = [];

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('op-bucket-own');
  const t = testEnv();
  objects = createObjectStore({ kind: 's3', endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true });
  op = new Operator({ kubeConfig: kubeConfig(), reconcilers: reconcilers({ vectorStore: mem.asVectorStore(), objectStore: objects }), namespaces: [ns.name] });
  await op.start();
  await op.synced();
  await apply({ kind: 'QuarryNamespace', metadata: { name: 'kb' }, spec: { featureExtractors: [{ name: 'text_extractor', version: 'v1' }] } });
});

after(async () => {
  await kubectl(['delete', 'buckets.quarry.dev,quarrynamespaces.quarry.dev', '--all', '--timeout=60s'], { namespace: ns.name });
  await op?.stop();
  for (const b of made) await objects.deleteBucket(b, { force: true }).catch(() => undefined);
  await objects?.close();
  await ns?.cleanup();
});

const apply = (...objs: Record<string, unknown>[]) => applyQuarry(ns.name, ...objs);
const get = (name: string) => op.store.get<Obj>('Bucket', { namespace: ns.name, name });
const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');
const bucket = (name: string, storage?: Record<string, unknown>, annotations?: Record<string, string>) => ({
  kind: 'Bucket',
  metadata: { name, ...(annotations ? { annotations } : {}) },
  spec: { namespaceRef: 'kb', schema: { properties: { body: { type: 'text' } } }, ...(storage ? { storage } : {}) },
});
const s3Name = (what: string) => {
  const n = `quarry-own-${what}-${randomBytes(3).toString('hex')}`;
  made.push(n);
  return n;
};
async function readyBucket(name: string): Promise<Obj> {
  return eventually(async () => {
    const o = await get(name);
    return ready(o)?.status === 'True' ? o : undefined;
  }, 30_000, `Bucket ${name} Ready`);
}
/**
 * Waits until the Bucket controller has not run for a while: the runs that follow the first Ready (the finalizer
 * patch seen late, a stale-cache retry 250 ms on) re-claim storage a test released behind the operator's back.
 */
async function settled(quietMs = 1500): Promise<void> {
  const runs = async () => (await op.metrics.reconcileTotal.get()).values.filter((v) => v.labels.kind === 'Bucket').reduce((n, v) => n + v.value, 0);
  let last = await runs();
  let since = Date.now();
  const deadline = Date.now() + 15_000;
  while (Date.now() - since < quietMs && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await runs();
    if (now !== last) [last, since] = [now, Date.now()];
  }
}
async function remove(name: string) {
  const d = await kubectl(['delete', 'buckets.quarry.dev', name, '--timeout=30s'], { namespace: ns.name });
  assert.equal(d.code, 0, d.stderr);
}
async function eventsOf(name: string): Promise<{ reason: string; note: string; type: string }[]> {
  await op.events.flush();
  const ev = await kubectl(['get', 'events.events.k8s.io', '-o', 'json'], { namespace: ns.name });
  return (JSON.parse(ev.stdout) as { items: { reason: string; note: string; type: string; regarding: { name: string } }[] }).items.filter((e) => e.regarding.name === name);
}

test('a spec.storage.bucketName that already existed is used but never deleted, and status says so', async () => {
  const theirs = s3Name('theirs');
  await objects.ensureBucket(theirs);
  await objects.put(theirs, 'their-data.csv', Buffer.from('precious'));
  await apply(bucket('adopted', { bucketName: theirs }));
  const o = await readyBucket('adopted');
  assert.match(ready(o)!.message, /existed before and Quarry did not create it, so it is not deleted with this Bucket \(nothing in it is\)/);
  assert.equal(o.metadata.annotations?.[BUCKET_CREATED_ANNOTATION], undefined, 'no creation marker on a bucket Quarry did not create');

  await remove('adopted'); // deletionPolicy defaults to Delete
  assert.equal(await objects.bucketExists(theirs), true, 'the pre-existing bucket is kept');
  assert.ok(await objects.head(theirs, 'their-data.csv'), 'with the data Quarry never wrote');
  const kept = (await eventsOf('adopted')).find((e) => e.reason === 'ExternalResourceKept');
  assert.match(kept?.note ?? '', new RegExp(`S3 bucket ${theirs} was not created by Quarry`));
});

test('a pre-existing bucketName with a prefix: deletion empties only that prefix and keeps the bucket', async () => {
  const theirs = s3Name('prefixed');
  await objects.ensureBucket(theirs);
  await objects.put(theirs, 'other/keep.txt', Buffer.from('keep'));
  await apply(bucket('prefixed', { bucketName: theirs, prefix: 'quarry/' }));
  const o = await readyBucket('prefixed');
  assert.match(ready(o)!.message, /not deleted with this Bucket \(only the objects under quarry\/ are\)/);
  await objects.put(theirs, 'quarry/ours.txt', Buffer.from('ours'));
  await remove('prefixed');
  assert.equal(await objects.head(theirs, 'quarry/ours.txt'), undefined, 'its own prefix emptied');
  assert.ok(await objects.head(theirs, 'other/keep.txt'), 'the rest kept');
  assert.equal(await objects.bucketExists(theirs), true);
});

test('a bucketName Quarry creates is marked on the Bucket first, and deleted with it', async () => {
  const ours = s3Name('created');
  await apply(bucket('created', { bucketName: ours }));
  const o = await readyBucket('created');
  assert.equal(o.metadata.annotations?.[BUCKET_CREATED_ANNOTATION], ours);
  assert.doesNotMatch(ready(o)!.message, /existed before/);
  assert.equal(o.metadata.generation, 1, 'metadata only: the spec was not written');
  assert.equal((o.spec as { storage?: { bucketName?: string } }).storage?.bucketName, ours);
  const managers = (o.metadata.managedFields as { manager: string; operation: string; fieldsV1?: unknown }[]).filter((f) => f.manager === 'quarry-operator' && f.operation === 'Apply');
  assert.ok(managers.some((f) => JSON.stringify(f.fieldsV1).includes(BUCKET_CREATED_ANNOTATION)), 'applied as field manager quarry-operator');
  assert.ok(!managers.some((f) => JSON.stringify(f.fieldsV1).includes('f:spec')), 'the operator owns no spec field');
  await objects.put(ours, 'a.txt', Buffer.from('a'));
  await remove('created');
  assert.equal(await objects.bucketExists(ours), false, 'Quarry created it: deleted with the Bucket (deletionPolicy Delete)');
});

test('a crash between the marker and the create converges: marker + bucket = ours; marker without bucket = create it', async () => {
  const crashedAfterCreate = s3Name('crash-a');
  const crashedBeforeCreate = s3Name('crash-b');
  await objects.ensureBucket(crashedAfterCreate);
  await apply(
    bucket('crash-a', { bucketName: crashedAfterCreate }, { [BUCKET_CREATED_ANNOTATION]: crashedAfterCreate }),
    bucket('crash-b', { bucketName: crashedBeforeCreate }, { [BUCKET_CREATED_ANNOTATION]: crashedBeforeCreate }),
  );
  for (const n of ['crash-a', 'crash-b']) assert.doesNotMatch(ready(await readyBucket(n))!.message, /existed before/);
  assert.equal(await objects.bucketExists(crashedBeforeCreate), true);
  await remove('crash-a');
  await remove('crash-b');
  assert.equal(await objects.bucketExists(crashedAfterCreate), false);
  assert.equal(await objects.bucketExists(crashedBeforeCreate), false);
});

test('a second Bucket naming a Quarry-created bucketName (no prefixes: the same storage) is refused; its deletion keeps the first one’s objects', async () => {
  const shared = s3Name('shared');
  await apply(bucket('first', { bucketName: shared }));
  await readyBucket('first');
  await objects.put(shared, 'first.txt', Buffer.from('1'));
  await apply(bucket('second', { bucketName: shared }));
  const second = await eventually(async () => {
    const o = await get('second');
    return ready(o)?.reason === 'StorageNotOwned' ? o : undefined;
  }, 30_000, 'the second Bucket is refused');
  assert.equal(ready(second)!.status, 'False');
  assert.equal((second.status as { objectCount?: number }).objectCount, undefined, 'the first one’s objects are not counted');
  await remove('second');
  assert.ok(await objects.head(shared, 'first.txt'), 'the first Bucket’s object is kept');
  await remove('first');
  assert.equal(await objects.bucketExists(shared), false, 'the owner deletes the bucket it created');
});

test('the default per-Bucket bucket is created and deleted as before, with no marker', async () => {
  const name = objectBucketName(ns.name, 'plain');
  made.push(name);
  await apply(bucket('plain'));
  const o = await readyBucket('plain');
  assert.equal(o.metadata.annotations?.[BUCKET_CREATED_ANNOTATION], undefined);
  assert.equal(await objects.bucketExists(name), true);
  await objects.put(name, 'x.txt', Buffer.from('x'));
  await remove('plain');
  assert.equal(await objects.bucketExists(name), false);
});

test('a finalizer re-run after an earlier run deleted the data and released the claim says so, never "not owned" (fault-kill flake)', async () => {
  const theirs = s3Name('rerun');
  await objects.ensureBucket(theirs);
  await apply(bucket('rerun', { bucketName: theirs, prefix: 'docs/' }));
  const o = await readyBucket('rerun');
  await settled();
  // What a run killed after deletePrefix + releaseClaim, but before dropping the finalizer, leaves behind.
  await releaseClaim(objects, theirs, o.metadata.uid ?? '');
  await remove('rerun');
  const events = await eventsOf('rerun');
  assert.equal(events.filter((e) => /not owned by this Bucket/.test(e.note)).length, 0, JSON.stringify(events));
  assert.ok(events.some((e) => e.reason === 'DeletedExternalResource' && /already cleaned up and released by an earlier run/.test(e.note)), JSON.stringify(events));
});
