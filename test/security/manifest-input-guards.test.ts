/**
 * Issue 14 items 4 and 14: hostile input at the parse boundaries is a 4xx in the documented error shape, never a
 * 5xx, a crash or prototype pollution. Local mode over HTTP (startLocal), in this process, so a polluted
 * Object.prototype or a dead server would show here.
 *   4: `__proto__` / `constructor` / `prototype` keys in YAML manifests, JSON manifests and JSON bodies.
 *  14: path ids that are no valid key (tasks, batches, uploads), a truncated multipart upload, multipart without a
 *      boundary on /v1/manifest/*, a malformed percent escape in a data: URL, metadata nested 10,000 levels, a
 *      YAML alias bomb.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, namespacesYaml, startLocalEngine, type LocalEngine, type Reply } from '../manifest/local-engine.ts';

let e: LocalEngine;

const bucketYaml = `apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata:
  name: notes
spec:
  namespaceRef: alpha
  schema:
    properties:
      body: { type: text }
`;

/** A 4xx in the documented shape `{success: false, status, error: {type, message}}`. */
function assertClientError(r: Reply, what: string, status?: number): void {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: expected a 4xx, got ${r.status} ${r.text.slice(0, 300)}`);
  if (status) assert.equal(r.status, status, `${what}: ${r.text.slice(0, 300)}`);
  assert.equal(r.body.success, false, `${what}: ${r.text.slice(0, 300)}`);
  assert.equal(r.body.status, r.status);
  assert.equal(typeof r.body.error?.type, 'string');
  assert.equal(typeof r.body.error?.message, 'string');
}

function assertNotPolluted(): void {
  const probe = {} as Record<string, unknown>;
  for (const k of ['polluted', 'isAdmin', 'x']) assert.equal(probe[k], undefined, `Object.prototype.${k} was set`);
}

async function assertHealthy(): Promise<void> {
  const h = await e.call('GET', '/v1/health', { key: null });
  assert.equal(h.status, 200, h.text);
}

before(async () => {
  e = await startLocalEngine();
  const r = await e.call('POST', '/v1/manifest/apply', { body: `${namespacesYaml('alpha')}---\n${bucketYaml}` });
  assert.equal(r.status, 200, r.text);
  await eventually('namespace alpha served', () => e.rt.namespace('alpha'));
});

after(async () => {
  await e?.stop();
});

test('item 4: a YAML manifest with __proto__ / constructor / prototype keys is a 400 naming the field; nothing is polluted or stored', async () => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    const yaml = `apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata:
  name: poison-${key.replace(/_/g, '')}
spec:
  namespaceRef: alpha
  metadata:
    ${key}:
      polluted: yes
  schema:
    properties:
      body: { type: text }
`;
    for (const route of ['/v1/manifest/apply', '/v1/manifest/validate', '/v1/manifest/diff']) {
      const r = await e.call('POST', route, { body: yaml });
      assertClientError(r, `${route} ${key}`, 400);
      assert.ok(r.body.error.details?.field?.endsWith(`spec.metadata.${key}`), r.text);
    }
    assert.equal(await e.rt.store.get('Bucket', { namespace: 'local', name: `poison-${key.replace(/_/g, '')}` }), undefined);
  }
  // A Mixpeek-format manifest and a JSON manifest body, too.
  const mixpeek = `version: "1.0"\nmetadata: { name: m }\nnamespaces:\n  - name: alpha\n    __proto__: { polluted: yes }\n`;
  assertClientError(await e.call('POST', '/v1/manifest/apply', { body: mixpeek }), 'mixpeek __proto__', 400);
  const json = `{"apiVersion":"quarry.dev/v1alpha1","kind":"Bucket","metadata":{"name":"pj"},"spec":{"namespaceRef":"alpha","x":{"__proto__":{"polluted":1}}}}`;
  assertClientError(await e.call('POST', '/v1/manifest/apply', { body: json, contentType: 'application/json' }), 'JSON manifest __proto__', 400);
  const wrapped = await e.call('POST', '/v1/manifest/apply', { body: { manifest: 'apiVersion: quarry.dev/v1alpha1\nkind: Bucket\nmetadata: {name: pw}\nspec: {prototype: {x: 1}}\n' } });
  assertClientError(wrapped, 'JSON-wrapped YAML prototype', 400);
  assertNotPolluted();
  await assertHealthy();
});

test('item 4: JSON bodies with prototype keys are a 400 on every kind of route (fastify poisoning checks + the body guard)', async () => {
  const bodies = [
    '{"__proto__": {"polluted": true}}',
    '{"namespace_name": "x", "constructor": {"prototype": {"polluted": true}}}',
    '{"metadata": {"prototype": {"isAdmin": true}}}',
    '{"metadata": {"a": [{"constructor": 1}]}}',
  ];
  for (const raw of bodies) {
    for (const [method, url] of [
      ['POST', '/v1/namespaces'],
      ['POST', '/v1/buckets/notes/objects'],
      ['POST', '/v1/retrievers/execute'],
    ] as const) {
      const r = await e.call(method, url, { body: raw, contentType: 'application/json', headers: { 'x-namespace': 'alpha' } });
      assertClientError(r, `${url} ${raw}`, 400);
    }
  }
  assertNotPolluted();
  await assertHealthy();
});

test('item 14: metadata nested 10,000 levels is a 400 naming the limit, and the server stays up', async () => {
  const deep = `{"blobs":[{"property":"body","type":"text","data":"hi"}],"metadata":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`;
  const r = await e.call('POST', '/v1/buckets/notes/objects', { body: deep, contentType: 'application/json', headers: { 'x-namespace': 'alpha' } });
  assertClientError(r, 'deep metadata', 400);
  assert.match(r.body.error.message, /nested more than \d+ levels/);
  const arrays = await e.call('POST', '/v1/retrievers/execute', { body: `{"inputs":${'['.repeat(10_000)}${']'.repeat(10_000)}}`, contentType: 'application/json', headers: { 'x-namespace': 'alpha' } });
  assertClientError(arrays, 'deep arrays', 400);
  await assertHealthy();
});

test('item 14: path ids that cannot be keys are 4xx (tasks, batches, uploads)', async () => {
  for (const url of [
    '/v1/tasks/a%20b',
    '/v1/tasks/__proto__',
    '/v1/tasks/constructor',
    '/v1/buckets/notes/batches/a%20b',
    '/v1/buckets/notes/batches/..',
    '/v1/buckets/notes/uploads/a%20b',
    '/v1/buckets/notes/uploads/__proto__',
  ]) {
    const r = await e.call('GET', url, { headers: { 'x-namespace': 'alpha' } });
    assertClientError(r, url);
  }
  assertClientError(await e.call('DELETE', '/v1/tasks/a%20b', { headers: { 'x-namespace': 'alpha' } }), 'DELETE task');
  await assertHealthy();
});

test('item 14: a data: URL with a malformed percent escape is a 422 naming the blob; a valid non-UTF-8 escape is kept byte for byte', async () => {
  const r = await e.call('POST', '/v1/buckets/notes/objects', { body: { blobs: [{ property: 'body', type: 'text', data: 'data:,%E0%A4%A' }] }, headers: { 'x-namespace': 'alpha' } });
  assertClientError(r, 'data URL', 422);
  assert.ok(String(r.body.error.details?.field).endsWith('.data'), r.text);
  const ok = await e.call('POST', '/v1/buckets/notes/objects', { body: { blobs: [{ property: 'body', type: 'text', data: 'data:,hello%20world' }] }, headers: { 'x-namespace': 'alpha' } });
  assert.equal(ok.status, 200, ok.text);
});

test('item 14: a truncated multipart upload and multipart without a boundary are 400s', async () => {
  const boundary = 'xyzzy';
  const truncated = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello, this body ends before its closing delim`;
  const up = await e.call('POST', '/v1/buckets/notes/uploads/direct', { body: truncated, contentType: `multipart/form-data; boundary=${boundary}`, headers: { 'x-namespace': 'alpha' } });
  assertClientError(up, 'truncated uploads/direct', 400);
  for (const route of ['/v1/manifest/apply', '/v1/manifest/validate', '/v1/manifest/diff']) {
    const r = await e.call('POST', route, { body: `--b\r\nContent-Disposition: form-data; name="manifest_file"; filename="m.yaml"\r\n\r\nx: 1\r\n--b--\r\n`, contentType: 'multipart/form-data' });
    assertClientError(r, `${route} without boundary`, 400);
    const cut = await e.call('POST', route, { body: `--b\r\nContent-Disposition: form-data; name="manifest_file"; filename="m.yaml"\r\n\r\nx: 1`, contentType: 'multipart/form-data; boundary=b' });
    assertClientError(cut, `${route} truncated`, 400);
  }
  await assertHealthy();
});

test('item 14: a YAML alias bomb is a 400 within a second', async () => {
  const bomb = [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
    'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
    'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
    'apiVersion: quarry.dev/v1alpha1',
    'kind: Bucket',
    'metadata: { name: bomb }',
    'spec: { namespaceRef: alpha, x: *g }',
  ].join('\n');
  const t0 = Date.now();
  const r = await e.call('POST', '/v1/manifest/validate', { body: bomb });
  assertClientError(r, 'alias bomb', 400);
  assert.match(r.body.error.message, /alias/i);
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  await assertHealthy();
});
