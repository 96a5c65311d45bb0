/**
 * Storage ownership in local mode over HTTP (issue 14 item 3): a Bucket of namespace `a` naming the storage of
 * namespace `v`'s Bucket (its S3 bucket, or a prefix nested in it) is refused by the management API with a 403
 * naming the field (create, PUT and PATCH), and when it arrives another way (the manifests folder) the operator
 * refuses it (Ready=False StorageNotOwned, the owner never named): it never shows `v`'s object count, and deleting
 * it leaves `v`'s objects in place. A Bucket in its own storage, and one in a disjoint prefix of a bucket it owns,
 * still work (positive controls).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../harness/test-env.ts';
import { startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';
import { constantModels } from '../ingestion/constant-models.ts';
import { eventually as poll } from '../harness/eventually.ts';
const eventually = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000) => poll(what, fn, timeoutMs);

type Json = Record<string, unknown> & { [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-storage-own-'));
const manifestsDir = path.join(scratch, 'manifests');
let rt: LocalRuntime;

async function call(method: string, url: string, body?: unknown, ns?: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${rt.url}${url}`, {
    method,
    headers: { authorization: `Bearer ${rt.apiKey}`, ...(ns ? { 'x-namespace': ns } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
}


const SCHEMA = { properties: { body: { type: 'text' } } };
let vBucket = '';
let vKeys: string[] = [];

async function keysOf(bucket: string, prefix = ''): Promise<string[]> {
  const page = await rt.objects.list(bucket, { prefix, maxKeys: 1000 });
  return page.objects.map((o) => o.key).filter((k) => !k.startsWith('.quarry-owners/'));
}

before(async () => {
  mkdirSync(manifestsDir, { recursive: true });
  writeFileSync(
    path.join(manifestsDir, 'tenants.yaml'),
    ['v', 'a'].map((n) => `apiVersion: quarry.dev/v1alpha1\nkind: QuarryNamespace\nmetadata: {name: ${n}}\nspec:\n  featureExtractors: [{name: text_extractor, version: v1}]\n`).join('---\n'),
  );
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir, host: '127.0.0.1', port: await freePort(), seed: false, resyncMs: 500, manifestDebounceMs: 100, models: constantModels });
  const created = await call('POST', '/v1/buckets', { bucket_name: 'vault', bucket_schema: SCHEMA }, 'v');
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const ready = await eventually('v/vault ACTIVE', async () => {
    const r = await call('GET', '/v1/buckets/vault', undefined, 'v');
    return r.body.ready === true && r.body;
  });
  vBucket = ready.storage_location.bucket;
  for (const text of ['one', 'two']) {
    const o = await call('POST', '/v1/buckets/vault/objects', { blobs: [{ property: 'body', type: 'text', data: `data:text/plain;base64,${Buffer.from(text).toString('base64')}` }] }, 'v');
    assert.ok(o.status < 300, JSON.stringify(o.body));
  }
  vKeys = await eventually('v has blobs in its storage', async () => {
    const k = await keysOf(vBucket);
    return k.length >= 2 && k;
  });
  await eventually('v/vault counts its objects', async () => (await call('GET', '/v1/buckets/vault', undefined, 'v')).body.object_count === vKeys.length);
});

after(async () => {
  await rt?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test('the management API refuses another namespace’s storage with a 403 naming the field, on create, PUT and PATCH', async () => {
  const cases: Record<string, unknown>[] = [
    { existing_bucket_name: vBucket },
    { bucket_name: vBucket },
    { existing_bucket_name: vBucket, prefix: vKeys[0]!.slice(0, 4) }, // nested in v's whole-bucket storage
  ];
  for (const storage of cases) {
    const r = await call('POST', '/v1/buckets', { bucket_name: 'grab', bucket_schema: SCHEMA, storage }, 'a');
    assert.equal(r.status, 403, `${JSON.stringify(storage)}: ${JSON.stringify(r.body)}`);
    const text = JSON.stringify(r.body);
    assert.match(text, /storage\.(existing_)?bucket_name/);
    assert.doesNotMatch(text.replace(vBucket, ''), /\bv\b|vault/, 'the owner is never named');
  }
  assert.equal((await call('GET', '/v1/buckets/grab', undefined, 'a')).status, 404, 'nothing was created');

  const mine = await call('POST', '/v1/buckets', { bucket_name: 'mine', bucket_schema: SCHEMA }, 'a');
  assert.equal(mine.status, 200, JSON.stringify(mine.body));
  const patched = await call('PATCH', '/v1/buckets/mine', { storage: { existing_bucket_name: vBucket } }, 'a');
  assert.equal(patched.status, 403, JSON.stringify(patched.body));
  const put = await call('PUT', '/v1/buckets/mine', { bucket_name: 'mine', bucket_schema: SCHEMA, storage: { existing_bucket_name: vBucket } }, 'a');
  assert.equal(put.status, 403, JSON.stringify(put.body));
  const still = await call('GET', '/v1/buckets/mine', undefined, 'a');
  assert.equal(still.body.storage, null, 'the storage was not changed');
  // Positive control: the same tenant may add a prefix to its own bucket's storage.
  const ownPrefix = await call('PATCH', '/v1/buckets/mine', { storage: { prefix: 'p/' } }, 'a');
  assert.equal(ownPrefix.status, 200, JSON.stringify(ownPrefix.body));
});

test('a Bucket applied from the manifests folder onto v’s storage is refused by the operator, never counts v’s objects, and its deletion empties nothing', async () => {
  const prefix = vKeys[0]!.slice(0, vKeys[0]!.indexOf('/') + 1); // one of v's objects, exactly
  const file = path.join(manifestsDir, 'zz-grab.yaml');
  writeFileSync(
    file,
    `apiVersion: quarry.dev/v1alpha1\nkind: Bucket\nmetadata: {name: grab-by-manifest}\nspec:\n  namespaceRef: a\n  schema: {properties: {body: {type: text}}}\n  storage: {existingBucketName: ${vBucket}, prefix: '${prefix}'}\n`,
  );
  const refused = await eventually('the grab Bucket is refused', async () => {
    const r = await call('GET', '/v1/buckets/grab-by-manifest', undefined, 'a');
    return r.status === 200 && r.body.conditions?.some((c: Json) => c.type === 'Ready' && c.reason === 'StorageNotOwned') && r.body;
  });
  assert.equal(refused.ready, false);
  assert.equal(refused.object_count, 0, 'v’s objects are not counted');
  assert.match(refused.status_message, /owned by another Bucket/);
  assert.doesNotMatch(refused.status_message.replace(vBucket, ''), /\bv\b|vault/, 'the owner is never named');

  const write = await call('POST', '/v1/buckets/grab-by-manifest/objects', { blobs: [{ property: 'body', type: 'text', data: `data:text/plain;base64,${Buffer.from('overwrite').toString('base64')}` }] }, 'a');
  assert.equal(write.status, 403, `the engine does not write into storage the Bucket does not own: ${JSON.stringify(write.body)}`);
  assert.deepEqual((await keysOf(vBucket)).sort(), [...vKeys].sort(), 'nothing was written into v’s storage');

  unlinkSync(file);
  await eventually('the grab Bucket is gone', async () => (await call('GET', '/v1/buckets/grab-by-manifest', undefined, 'a')).status === 404);
  assert.deepEqual((await keysOf(vBucket)).sort(), [...vKeys].sort(), 'v’s objects are all still there');
  const v = await call('GET', '/v1/buckets/vault', undefined, 'v');
  assert.equal(v.body.ready, true);
  assert.equal(v.body.object_count, vKeys.length);
});

test('disjoint prefixes of one bucket are each owned; a nested one is refused', async () => {
  const files = path.join(manifestsDir, 'zz-prefixes.yaml');
  const bucket = (name: string, ns: string, prefix: string, create = false) =>
    `apiVersion: quarry.dev/v1alpha1\nkind: Bucket\nmetadata: {name: ${name}}\nspec:\n  namespaceRef: ${ns}\n  schema: {properties: {body: {type: text}}}\n  storage: {${create ? 'bucketName' : 'existingBucketName'}: shared-by-prefix, prefix: '${prefix}'}\n`;
  writeFileSync(files, [bucket('pa', 'a', 'team-a/', true)].join('---\n'));
  const ready = (name: string, ns: string) => eventually(`${ns}/${name} ready`, async () => (await call('GET', `/v1/buckets/${name}`, undefined, ns)).body.ready === true);
  await ready('pa', 'a');
  writeFileSync(files, [bucket('pa', 'a', 'team-a/', true), bucket('pv', 'v', 'team-v/'), bucket('nested', 'v', 'team-a/inner/')].join('---\n'));
  await ready('pv', 'v');
  const nested = await eventually('nested refused', async () => {
    const r = await call('GET', '/v1/buckets/nested', undefined, 'v');
    return r.body.conditions?.some((c: Json) => c.type === 'Ready' && c.reason === 'StorageNotOwned') && r.body;
  });
  assert.equal(nested.ready, false);
  await rt.objects.put('shared-by-prefix', 'team-a/x.txt', Buffer.from('a'));
  await rt.objects.put('shared-by-prefix', 'team-v/y.txt', Buffer.from('v'));
  writeFileSync(files, [bucket('pa', 'a', 'team-a/', true)].join('---\n'));
  await eventually('pv and nested gone', async () => (await call('GET', '/v1/buckets/nested', undefined, 'v')).status === 404 && (await call('GET', '/v1/buckets/pv', undefined, 'v')).status === 404);
  assert.deepEqual(await keysOf('shared-by-prefix', 'team-a/'), ['team-a/x.txt'], 'the refused nested Bucket emptied nothing');
  assert.deepEqual(await keysOf('shared-by-prefix', 'team-v/'), [], 'pv owned its prefix and emptied it');
});
