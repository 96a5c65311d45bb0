/**
 * Issue 14 item 2: /v1/manifest/* checks a key's scope against the STORED identity of every namespace and resource a
 * manifest touches, never against the display-name annotation the manifest claims. A key scoped to `alpha` cannot
 * rename `victim` to `alpha` (apply), read `victim`'s spec through diff or validate, overwrite `victim`'s resources
 * by naming their object names, prune them, or export them; nor can a namespace take a display name another has.
 * Local mode over HTTP (startLocal), keys from the data directory's key store.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { namespacesYaml, startLocalEngine, type LocalEngine } from '../manifest/local-engine.ts';

let e: LocalEngine;
let WK: string;
let RK: string;

const victimBucket = `apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata:
  name: victim-secrets
  labels: { quarry.dev/manifest: victim-manifest }
spec:
  namespaceRef: victim
  description: top secret description
  schema:
    properties:
      body: { type: text }
`;

/** The attack: victim's object name, alpha's display name in the annotation. */
const takeover = `apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata:
  name: victim
  annotations:
    quarry.dev/source-name: alpha
spec:
  description: taken over
  featureExtractors:
    - name: text_extractor
      version: v1
`;

before(async () => {
  e = await startLocalEngine();
  const seeded = await e.call('POST', '/v1/manifest/apply', { body: `${namespacesYaml('alpha', 'victim')}---\n${victimBucket}` });
  assert.equal(seeded.status, 200, seeded.text);
  WK = await e.keyFor(['alpha'], ['read', 'write', 'delete']);
  RK = await e.keyFor(['alpha'], ['read']);
});

after(async () => {
  await e?.stop();
});

const victimNs = () => e.rt.store.get('QuarryNamespace', { namespace: 'local', name: 'victim' });

test('a QuarryNamespace naming victim with the annotation alpha is a 403 for alpha keys on every manifest route; victim is unchanged', async () => {
  const before = await victimNs();
  for (const [route, key] of [
    ['/v1/manifest/apply', WK],
    ['/v1/manifest/apply?dry_run=true', WK],
    ['/v1/manifest/diff', RK],
    ['/v1/manifest/validate', RK],
  ] as const) {
    const r = await e.call('POST', route, { key, body: takeover });
    assert.equal(r.status, 403, `${route}: ${r.text}`);
    assert.equal(r.body.error?.type, 'ForbiddenError', r.text);
    assert.ok(!r.text.includes('tenant victim'), `${route} disclosed victim's spec: ${r.text}`);
  }
  const afterNs = await victimNs();
  // (The operator writes status meanwhile: compare what a manifest would write.)
  assert.equal(afterNs?.metadata.generation, before?.metadata.generation, 'victim was not written');
  assert.deepEqual(afterNs?.spec, before?.spec);
  assert.equal(afterNs?.metadata.annotations?.['quarry.dev/source-name'], undefined);
  // alpha still resolves to one namespace: the real one.
  const list = await e.call('GET', '/v1/namespaces/alpha', { key: WK });
  assert.equal(list.status, 200, list.text);
});

test("a resource stored in victim, re-declared under alpha by its object name, is checked as victim's: 403, nothing disclosed or written", async () => {
  const moved = victimBucket.replace('namespaceRef: victim', 'namespaceRef: alpha').replace('top secret description', 'mine now');
  const before = await e.rt.store.get('Bucket', { namespace: 'local', name: 'victim-secrets' });
  for (const [route, key] of [
    ['/v1/manifest/apply', WK],
    ['/v1/manifest/diff', RK],
    ['/v1/manifest/validate', RK],
  ] as const) {
    const r = await e.call('POST', route, { key, body: moved });
    assert.equal(r.status, 403, `${route}: ${r.text}`);
    assert.ok(!r.text.includes('top secret'), `${route} disclosed victim's bucket: ${r.text}`);
  }
  const afterB = await e.rt.store.get('Bucket', { namespace: 'local', name: 'victim-secrets' });
  assert.equal(afterB?.metadata.generation, before?.metadata.generation);
  assert.deepEqual(afterB?.spec, before?.spec);
});

test("prune by victim's manifest name from an alpha key is a 403 and deletes nothing; export of victim is a 403", async () => {
  const r = await e.call('POST', '/v1/manifest/apply?prune=true&manifest_name=victim-manifest', { key: WK, body: namespacesYaml('alpha') });
  assert.equal(r.status, 403, r.text);
  assert.ok(await e.rt.store.get('Bucket', { namespace: 'local', name: 'victim-secrets' }), 'the bucket is still there');
  const diff = await e.call('POST', '/v1/manifest/diff?prune=true&manifest_name=victim-manifest', { key: RK, body: namespacesYaml('alpha') });
  assert.equal(diff.status, 403, diff.text);
  const ex = await e.call('GET', '/v1/manifest/export?namespace=victim', { key: RK });
  assert.equal(ex.status, 403, ex.text);
  const all = await e.call('GET', '/v1/manifest/export', { key: RK });
  assert.equal(all.status, 200, all.text);
  assert.ok(!all.text.includes('victim'), `export listed victim's resources: ${all.text}`);
});

test("a new namespace cannot take an existing namespace's display name (422 naming the annotation), even from an admin key", async () => {
  const clash = takeover.replace('name: victim', 'name: alpha-two').replace('source-name: alpha', 'source-name: victim');
  const r = await e.call('POST', '/v1/manifest/apply', { body: clash });
  assert.equal(r.status, 422, r.text);
  assert.ok(r.text.includes('already taken'), r.text);
  assert.equal(await e.rt.store.get('QuarryNamespace', { namespace: 'local', name: 'alpha-two' }), undefined);
  const v = await e.call('POST', '/v1/manifest/validate', { body: clash });
  assert.equal(v.status, 200);
  assert.equal(v.body.valid, false, 'validate agrees with apply');
});

test('within its scope the key still works: alpha keys apply and diff alpha', async () => {
  const mine = namespacesYaml('alpha').replace('tenant alpha', 'alpha, updated');
  const d = await e.call('POST', '/v1/manifest/diff', { key: RK, body: mine });
  assert.equal(d.status, 200, d.text);
  assert.equal(d.body.differences.length, 1, d.text);
  const a = await e.call('POST', '/v1/manifest/apply', { key: WK, body: mine });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.body.updated_count, 1, a.text);
});
