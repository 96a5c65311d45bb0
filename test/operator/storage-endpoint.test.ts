/**
 * SSRF through Bucket.spec.storage.endpoint (issue 14 item 10), on the real kube-apiserver: the operator opens no
 * S3 client to an endpoint that is not on its allow-list unless the Bucket brings its own credentials and the
 * endpoint resolves only to public addresses. The metadata address, loopback (by name too) and IPv6 spellings of
 * them are refused with Ready=False EndpointNotAllowed, Stalled, naming spec.storage.endpoint; deleting such a
 * Bucket finishes without connecting. An allow-listed endpoint (the test MinIO) works (positive control). A name
 * that passes the check and then resolves to loopback (DNS rebinding) is refused when the S3 client connects.
 * The credentials Secret must be one the Bucket's QuarryNamespace owns (engine/src/lib/secret-refs.ts): the same
 * working keys in a Secret labelled for another QuarryNamespace, in one nobody labelled or in another namespace's
 * quarry-secrets-* are never used (Stalled), and no S3 client is opened with them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { applyQuarry, applyCrds, createTestNamespace, kubeConfig, kubectl, testEnv } from '../harness/env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import type { S3Target } from '#engine/objects/bucket-plan.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { createObjectStore } from '#engine/objects/config.ts';
import { MemoryCollections } from './memory-vector-store.ts';
import { eventually } from './widgets.ts';

type Obj = Resource<Record<string, unknown>, { conditions?: Condition[] }>;

let ns: { name: string; cleanup(): Promise<void> };
let op: Operator;
let objects: ObjectStore;
const opened: S3Target[] = [];
const mem = new MemoryCollections();
const s3 = `quarry-endpoint-${randomBytes(3).toString('hex')}`;
let minioPort = '';
let rebind = false;

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('op-endpoint');
  const t = testEnv();
  minioPort = new URL(t.s3.endpoint).port;
  objects = createObjectStore({ kind: 's3', endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true });
  op = new Operator({
    kubeConfig: kubeConfig(),
    reconcilers: reconcilers({
      vectorStore: mem.asVectorStore(),
      objectStore: objects,
      objectStoreFor: (target) => {
        opened.push(target);
        return createObjectStore({ kind: 's3', ...target });
      },
      // The admin trusts exactly the test MinIO by address; nothing else is exempted. `rebind` makes the check's
      // DNS answer for localhost public, as a rebinding name would before it flips to 127.0.0.1.
      storagePolicy: {
        endpoints: [`127.0.0.1:${minioPort}`],
        allowCidrs: [],
        shared: [],
        lookup: async (host) => (rebind && host === 'localhost' ? [{ address: '93.184.216.34', family: 4 }] : (await import('node:dns')).promises.lookup(host, { all: true, verbatim: true })),
      },
    }),
    namespaces: [ns.name],
  });
  await op.start();
  await op.synced();
  const enc = (v: string) => Buffer.from(v).toString('base64');
  await kubectl(['apply', '-f', '-'], {
    namespace: ns.name,
    input: [
      // kb's (labelled for it), another QuarryNamespace's (labelled for victim, and victim's namespace secrets), and
      // one nobody handed to a QuarryNamespace: all four hold the same working keys.
      { name: 'creds', labels: { 'quarry.dev/namespace': 'kb' } },
      { name: 'victim-creds', labels: { 'quarry.dev/namespace': 'victim' } },
      { name: 'quarry-secrets-victim' },
      { name: 'unlabelled-creds' },
    ].map((metadata) => JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata, data: { accessKeyId: enc(t.s3.accessKey), secretAccessKey: enc(t.s3.secretKey) } })).join('\n'),
  });
  await applyQuarry(ns.name, { kind: 'QuarryNamespace', metadata: { name: 'kb' }, spec: { featureExtractors: [{ name: 'text_extractor', version: 'v1' }] } });
});

after(async () => {
  await kubectl(['delete', 'buckets.quarry.dev,quarrynamespaces.quarry.dev', '--all', '--timeout=60s'], { namespace: ns.name });
  await op?.stop();
  await objects.deleteBucket(s3, { force: true }).catch(() => undefined);
  await objects?.close();
  await ns?.cleanup();
});

const bucket = (name: string, storage: Record<string, unknown>) => ({ kind: 'Bucket', metadata: { name }, spec: { namespaceRef: 'kb', schema: { properties: { body: { type: 'text' } } }, storage } });
const get = (name: string) => op.store.get<Obj>('Bucket', { namespace: ns.name, name });
const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

test('endpoints off the allow-list that reach metadata, loopback or their IPv6 spellings are refused before any client is opened', async () => {
  const withCreds = { credentialsSecretRef: { name: 'creds' }, forcePathStyle: true, bucketName: s3 };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['metadata-default-creds', { endpoint: 'http://169.254.169.254' }, /without spec\.storage\.credentialsSecretRef the operator would send its own credentials/],
    ['metadata', { endpoint: 'http://169.254.169.254', ...withCreds }, /169\.254\.169\.254/],
    ['metadata-v6', { endpoint: 'http://[::ffff:a9fe:a9fe]', ...withCreds }, /loopback, private, link-local or a metadata endpoint/],
    ['loopback-by-name', { endpoint: `http://localhost:${minioPort}`, ...withCreds }, /resolves to/],
    ['six-to-four', { endpoint: `http://[2002:7f00:1::1]:${minioPort}`, ...withCreds }, /loopback, private, link-local or a metadata endpoint/],
  ];
  await applyQuarry(ns.name, ...cases.map(([name, storage]) => bucket(name, storage)));
  for (const [name, , why] of cases) {
    const o = await eventually(async () => {
      const x = await get(name);
      return cond(x, 'Ready')?.reason === 'EndpointNotAllowed' ? x : undefined;
    }, 30_000, `${name} refused`);
    assert.equal(cond(o, 'Ready')!.status, 'False');
    assert.equal(cond(o, 'Stalled')?.status, 'True');
    assert.match(cond(o, 'Ready')!.message, /spec\.storage\.endpoint/);
    assert.match(cond(o, 'Ready')!.message, why, name);
  }
  assert.deepEqual(opened, [], 'no S3 client was opened to any of them');
  for (const [name] of cases) {
    const d = await kubectl(['delete', 'buckets.quarry.dev', name, '--timeout=30s'], { namespace: ns.name });
    assert.equal(d.code, 0, `${name}: deletion finishes without connecting: ${d.stderr}`);
  }
  assert.deepEqual(opened, []);
});

test('an allow-listed endpoint (the test MinIO) is used, with the Bucket’s own credentials', async () => {
  await applyQuarry(ns.name, bucket('trusted', { endpoint: testEnv().s3.endpoint, credentialsSecretRef: { name: 'creds' }, forcePathStyle: true, bucketName: s3 }));
  const o = await eventually(async () => {
    const x = await get('trusted');
    return cond(x, 'Ready')?.status === 'True' ? x : undefined;
  }, 30_000, 'trusted Ready');
  assert.match(cond(o, 'Ready')!.message, /is reachable/);
  assert.ok(opened.some((t) => t.endpoint === testEnv().s3.endpoint), 'the client was opened to the allow-listed endpoint');
  assert.equal(await objects.bucketExists(s3), true);
});

test("a Bucket never uses a Secret its QuarryNamespace does not own: Stalled naming the field and the label, no client opened with it", async () => {
  const before = opened.length;
  const target = `quarry-borrow-${randomBytes(3).toString('hex')}`;
  const borrow = (name: string, secret: string) => bucket(name, { endpoint: testEnv().s3.endpoint, credentialsSecretRef: { name: secret }, forcePathStyle: true, bucketName: target });
  await applyQuarry(ns.name, borrow('borrow-labelled', 'victim-creds'), borrow('borrow-unlabelled', 'unlabelled-creds'), borrow('borrow-ns-secrets', 'quarry-secrets-victim'));
  for (const name of ['borrow-labelled', 'borrow-unlabelled']) {
    const o = await eventually(async () => {
      const x = await get(name);
      return cond(x, 'Ready')?.reason === 'CredentialsSecretNotFound' ? x : undefined;
    }, 30_000, `${name} refused`);
    assert.equal(cond(o, 'Stalled')?.status, 'True', name);
    assert.match(cond(o, 'Ready')!.message, /spec\.storage\.credentialsSecretRef.*quarry\.dev\/namespace=kb/, name);
  }
  const invalid = await eventually(async () => {
    const x = await get('borrow-ns-secrets');
    return cond(x, 'Stalled')?.reason === 'InvalidSpec' ? x : undefined;
  }, 30_000, 'borrow-ns-secrets invalid');
  assert.match(cond(invalid, 'Stalled')!.message, /spec\.storage\.credentialsSecretRef\.name: the Secret 'quarry-secrets-victim' holds the secrets of QuarryNamespace 'victim'/);
  assert.deepEqual(opened.slice(before), [], 'no S3 client was opened with those credentials');
  assert.equal(await objects.bucketExists(target), false);
  for (const name of ['borrow-labelled', 'borrow-unlabelled', 'borrow-ns-secrets']) {
    const d = await kubectl(['delete', 'buckets.quarry.dev', name, '--timeout=30s'], { namespace: ns.name });
    assert.equal(d.code, 0, `${name}: deletion finishes without connecting: ${d.stderr}`);
  }
  assert.deepEqual(opened.slice(before), []);
});

test('a name that passes the check and then resolves to loopback (DNS rebinding) is refused when the client connects', async () => {
  rebind = true;
  const target = `quarry-rebind-${randomBytes(3).toString('hex')}`;
  await applyQuarry(ns.name, bucket('rebind', { endpoint: `http://localhost:${minioPort}`, credentialsSecretRef: { name: 'creds' }, forcePathStyle: true, bucketName: target }));
  const o = await eventually(async () => {
    const x = await get('rebind');
    return /not a public address/.test(JSON.stringify(x?.status ?? {})) ? x : undefined;
  }, 30_000, 'the connection refused by the guarded lookup');
  assert.notEqual(cond(o, 'Ready')?.status, 'True');
  assert.ok(opened.some((t) => t.endpoint === `http://localhost:${minioPort}`), 'a client was opened (the check passed)');
  assert.equal(await objects.bucketExists(target), false, 'but it never reached MinIO on loopback');
  rebind = false;
  await kubectl(['delete', 'buckets.quarry.dev', 'rebind', '--timeout=5s', '--wait=false'], { namespace: ns.name });
});
