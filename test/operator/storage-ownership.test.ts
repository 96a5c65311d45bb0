/**
 * Storage ownership across Kubernetes namespaces, on the real kube-apiserver and MinIO (issue 15 "Storage
 * ownership", issue 14 item 3): a Bucket in `team-b` naming the bucket Quarry created for `team-a` (same prefix, or
 * one nested in it) is refused — Ready=False StorageNotOwned, Stalled, team-a never named, nothing counted — and
 * its `kubectl delete` leaves team-a's objects in place. A default bucket squatted by another namespace's
 * bucketName goes to the Bucket whose name it derives from. A Bucket deleted with Retain keeps its claim (nobody
 * else takes the data) and the same Bucket re-created adopts it. Storage the admin shares (QUARRY_SHARED_STORAGE)
 * is used by both namespaces and emptied by neither.
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
import { objectBucketName } from '#core/naming.ts';
import { MemoryCollections } from './memory-vector-store.ts';
import { eventually } from './widgets.ts';

type Obj = Resource<Record<string, unknown>, { conditions?: Condition[]; objectCount?: number }>;

let teamA: { name: string; cleanup(): Promise<void> };
let teamB: { name: string; cleanup(): Promise<void> };
let op: Operator;
let objects: ObjectStore;
const mem = new MemoryCollections();
const made: string[] = [];
const SHARED = `quarry-shared-${randomBytes(3).toString('hex')}`;

before(async () => {
  await applyCrds();
  teamA = await createTestNamespace('own-team-a');
  teamB = await createTestNamespace('own-team-b');
  const t = testEnv();
  objects = createObjectStore({ kind: 's3', endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true });
  made.push(SHARED);
  await objects.ensureBucket(SHARED);
  op = new Operator({
    kubeConfig: kubeConfig(),
    reconcilers: reconcilers({ vectorStore: mem.asVectorStore(), objectStore: objects, resyncMs: 1000, storagePolicy: { endpoints: [], allowCidrs: [], shared: [SHARED] } }),
    namespaces: [teamA.name, teamB.name],
  });
  await op.start();
  await op.synced();
  for (const ns of [teamA.name, teamB.name]) await applyQuarry(ns, { kind: 'QuarryNamespace', metadata: { name: 'kb' }, spec: { featureExtractors: [{ name: 'text_extractor', version: 'v1' }] } });
});

after(async () => {
  for (const ns of [teamA, teamB]) if (ns) await kubectl(['delete', 'buckets.quarry.dev,quarrynamespaces.quarry.dev', '--all', '--timeout=60s'], { namespace: ns.name });
  await op?.stop();
  for (const b of made) await objects.deleteBucket(b, { force: true }).catch(() => undefined);
  await objects?.close();
  await teamA?.cleanup();
  await teamB?.cleanup();
});

const bucket = (name: string, storage?: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  kind: 'Bucket',
  metadata: { name },
  spec: { namespaceRef: 'kb', schema: { properties: { body: { type: 'text' } } }, ...(storage ? { storage } : {}), ...extra },
});
const get = (ns: string, name: string) => op.store.get<Obj>('Bucket', { namespace: ns, name });
const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');
const stalled = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Stalled');
const withReason = (ns: string, name: string, reason: string) =>
  eventually(async () => {
    const o = await get(ns, name);
    return ready(o)?.reason === reason ? o : undefined;
  }, 30_000, `${ns}/${name} ${reason}`);
async function remove(ns: string, name: string) {
  const d = await kubectl(['delete', 'buckets.quarry.dev', name, '--timeout=30s'], { namespace: ns });
  assert.equal(d.code, 0, d.stderr);
}
async function keys(b: string, prefix = ''): Promise<string[]> {
  return (await objects.list(b, { prefix, maxKeys: 1000 })).objects.map((o) => o.key).filter((k) => !k.startsWith('.quarry-owners/')).sort();
}
function refusedWithoutNaming(o: Obj, owner: string) {
  assert.equal(ready(o)!.status, 'False');
  assert.equal(stalled(o)?.status, 'True', 'Stalled: a human has to change spec.storage');
  assert.match(ready(o)!.message, /owned by another Bucket/);
  // The S3 bucket name is the user's own input (and may contain anything); beyond it, the owner is never named.
  const beyondInput = ready(o)!.message.replace(/S3 bucket \S+/, 'S3 bucket …');
  assert.ok(!beyondInput.includes(owner), `the owner's namespace is never named: ${ready(o)!.message}`);
  assert.equal(o.status?.objectCount, undefined, 'nothing of the owner is counted');
}

test('team-b naming the bucket Quarry created for team-a (same prefix, or nested) is refused, counts nothing, and its deletion empties nothing', async () => {
  const theirs = objectBucketName(teamA.name, 'docs');
  made.push(theirs);
  await applyQuarry(teamA.name, bucket('docs'));
  await withReason(teamA.name, 'docs', 'BucketReady');
  for (const k of ['obj-1/body', 'obj-2/body']) await objects.put(theirs, k, Buffer.from(k));
  await eventually(async () => ((await get(teamA.name, 'docs'))?.status?.objectCount === 2 ? true : undefined), 30_000, 'team-a counts its 2 objects');

  await applyQuarry(teamB.name, bucket('grab', { existingBucketName: theirs }), bucket('grab-created', { bucketName: theirs }), bucket('nested', { existingBucketName: theirs, prefix: 'obj-1/' }));
  for (const n of ['grab', 'grab-created', 'nested']) refusedWithoutNaming(await withReason(teamB.name, n, 'StorageNotOwned'), teamA.name);

  for (const n of ['grab', 'grab-created', 'nested']) await remove(teamB.name, n);
  assert.deepEqual(await keys(theirs), ['obj-1/body', 'obj-2/body'], 'team-a’s objects are all still there');
  const a = await get(teamA.name, 'docs');
  assert.equal(ready(a)?.status, 'True');
  assert.equal(a?.status?.objectCount, 2);
});

test('a default bucket squatted by another namespace’s bucketName goes to the Bucket its name derives from', async () => {
  const future = objectBucketName(teamA.name, 'later');
  made.push(future);
  await applyQuarry(teamB.name, bucket('squat', { bucketName: future }));
  await withReason(teamB.name, 'squat', 'BucketReady'); // Quarry created it for team-b: nobody owned it yet
  await objects.put(future, 'squatter.txt', Buffer.from('b'));
  await applyQuarry(teamA.name, bucket('later'));
  await withReason(teamA.name, 'later', 'BucketReady');
  refusedWithoutNaming(await withReason(teamB.name, 'squat', 'StorageNotOwned'), teamA.name);
  await remove(teamB.name, 'squat');
  assert.equal(await objects.bucketExists(future), true, 'the squatter’s deletion does not delete team-a’s bucket');
  await remove(teamA.name, 'later');
  assert.equal(await objects.bucketExists(future), false, 'its owner deletes it');
});

test('Retain keeps the claim: another namespace cannot take the retained data, the same Bucket re-created adopts it', async () => {
  const s3 = `quarry-retain-${randomBytes(3).toString('hex')}`;
  made.push(s3);
  await applyQuarry(teamA.name, bucket('keep', { bucketName: s3, prefix: 'p/' }, { deletionPolicy: 'Retain' }));
  await withReason(teamA.name, 'keep', 'BucketReady');
  await objects.put(s3, 'p/kept.txt', Buffer.from('kept'));
  await remove(teamA.name, 'keep');
  assert.deepEqual(await keys(s3), ['p/kept.txt']);

  await applyQuarry(teamB.name, bucket('take', { existingBucketName: s3, prefix: 'p/' }));
  refusedWithoutNaming(await withReason(teamB.name, 'take', 'StorageNotOwned'), teamA.name);
  await remove(teamB.name, 'take');

  await applyQuarry(teamA.name, bucket('keep', { existingBucketName: s3, prefix: 'p/' }));
  const back = await withReason(teamA.name, 'keep', 'BucketReady');
  await eventually(async () => ((await get(teamA.name, 'keep'))?.status?.objectCount === 1 ? true : undefined), 30_000, 'the re-created Bucket counts the retained object');
  assert.equal(ready(back)?.status, 'True');
  await remove(teamA.name, 'keep');
  assert.deepEqual(await keys(s3), [], 'the adopting Bucket (deletionPolicy Delete) empties its prefix');
  assert.equal(await objects.bucketExists(s3), true, 'and keeps the bucket it names as existingBucketName');
});

test('storage the admin shares is used by both namespaces and emptied by neither', async () => {
  await objects.put(SHARED, 'common/data.txt', Buffer.from('shared'));
  await applyQuarry(teamA.name, bucket('common', { existingBucketName: SHARED }));
  await applyQuarry(teamB.name, bucket('common', { existingBucketName: SHARED }));
  for (const ns of [teamA.name, teamB.name]) {
    const o = await withReason(ns, 'common', 'BucketReady');
    assert.match(ready(o)!.message, /shared by the cluster admin/);
  }
  await remove(teamA.name, 'common');
  await remove(teamB.name, 'common');
  assert.deepEqual(await keys(SHARED), ['common/data.txt']);
});
