/**
 * API-key permissions (read, write, delete, admin) and expiry, enforced per request in the real engine app with the
 * management and manifest routes, against both key stores: what each permission allows and refuses (403 naming the
 * missing permission, nothing changed), the defaults of keys created without permissions and of records stored
 * before permissions existed, 422 for invalid values, and expired keys (401 naming the instant, status expired).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { createApiKey, keyId, keyStatus, requiredPermission, verifyApiKey } from '#engine/auth/index.ts';
import { notFound } from '#core/lib/errors.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import type { RetrieverEngine } from '#engine/retriever/executor.ts';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { KEY_STORES, type KeyStoreUnderTest } from './key-stores.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const TEXT_FX = { feature_extractor_name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };
const MANIFEST = `apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata:
  name: from-manifest
spec:
  featureExtractors:
    - name: text_extractor
      version: v1
      params:
        embedding_model: all_minilm_l6_v2
`;

test('the route table: reads, read-only POSTs, writes, deletes and key management', () => {
  const cases: [string, string, string][] = [
    ['GET', '/v1/namespaces/:namespace_identifier', 'read'],
    ['HEAD', '/v1/buckets/:bucket', 'read'],
    ['POST', '/v1/namespaces/list', 'read'],
    ['POST', '/v1/buckets/:bucket/objects/list', 'read'],
    ['POST', '/v1/collections/:collection/documents/list', 'read'],
    ['POST', '/v1/retrievers/execute', 'read'],
    ['POST', '/v1/retrievers/:id/execute', 'read'],
    ['POST', '/v1/retrievers/:id/execute/explain', 'read'],
    ['POST', '/v1/retrievers/:id/explain', 'read'],
    ['POST', '/v1/retrievers/:id/execute/batch', 'read'],
    ['POST', '/v1/manifest/validate', 'read'],
    ['POST', '/v1/manifest/diff', 'read'],
    ['POST', '/v1/manifest/export', 'read'],
    ['POST', '/v1/manifest/apply', 'write'],
    ['POST', '/v1/namespaces', 'write'],
    ['POST', '/v1/buckets/:bucket/objects', 'write'],
    ['POST', '/v1/collections/:collection/trigger', 'write'],
    ['POST', '/v1/buckets/:bucket/batches/:batchId/cancel', 'write'],
    ['PUT', '/v1/buckets/:bucket', 'write'],
    ['PATCH', '/v1/retrievers/:id', 'write'],
    ['DELETE', '/v1/namespaces/:namespace_identifier', 'delete'],
    ['DELETE', '/v1/buckets/:bucket/objects/:objectId', 'delete'],
    ['GET', '/v1/organizations/api-keys', 'admin'],
    ['POST', '/v1/organizations/api-keys', 'admin'],
    ['DELETE', '/v1/organizations/api-keys/:key_id', 'admin'],
    ['POST', '/v1/organizations/users/:user_email/api-keys', 'admin'],
    ['TRACE', '/v1/namespaces', 'admin'],
  ];
  for (const [method, route, want] of cases) assert.equal(requiredPermission(method, route), want, `${method} ${route}`);
});

test('expiry is judged at the given instant: active before expires_at, expired from it on; revoked wins', () => {
  const at = '2030-01-01T00:00:00.000Z';
  const t = Date.parse(at);
  assert.equal(keyStatus({ revoked: false, expires_at: at }, t - 1), 'active');
  assert.equal(keyStatus({ revoked: false, expires_at: at }, t), 'expired');
  assert.equal(keyStatus({ revoked: true, expires_at: at }, t + 1), 'revoked');
  assert.equal(keyStatus({ revoked: false }, t), 'active');
});

for (const ks of KEY_STORES) {
  describe(`API-key permissions and expiry (${ks.name} key store)`, () => {
    let k: KeyStoreUnderTest;
    let app: FastifyInstance;
    let dir: string;
    let resources: LocalResourceStore;
    let admin: string;

    before(async () => {
      k = await ks.open();
      dir = mkdtempSync(path.join(tmpdir(), 'quarry-perms-'));
      resources = new LocalResourceStore({ fieldManager: 'quarry-engine' });
      admin = (await createApiKey(k.store, { name: 'admin', namespaces: '*' })).key;
      app = await buildEngineApp({
        objects: new LocalObjectStore({ root: path.join(dir, 'objects') }),
        namespace: async (n) => Promise.reject(notFound('namespace', n)),
        retrievers: { deps: {}, load: async (id: string) => Promise.reject(notFound('retriever', id)) } as unknown as RetrieverEngine,
        resources,
        k8sNamespace: 'local',
        auth: { keys: k.store },
      });
      await app.ready();
      const ns = await call('POST', '/v1/namespaces', admin, { namespace_name: 'demo', feature_extractors: [TEXT_FX] });
      assert.equal(ns.status, 200, JSON.stringify(ns.body));
    });
    after(async () => {
      await app?.close();
      await k?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    async function call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, key: string, body?: unknown, headers: Record<string, string> = {}) {
      const res = await app.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...headers }, ...(body !== undefined ? { payload: body as object } : {}) });
      return { status: res.statusCode, body: (res.body ? res.json() : {}) as Json };
    }
    const newKey = async (body: Json) => {
      const res = await call('POST', '/v1/organizations/api-keys', admin, body);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    const assertForbidden = (res: { status: number; body: Json }, permission: string) => {
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.body.success, false);
      assert.equal(res.body.status, 403);
      assert.equal(res.body.error.type, 'ForbiddenError');
      assert.equal(res.body.error.details.permission, permission);
      assert.match(res.body.error.message, new RegExp(`lacks the '${permission}' permission`));
    };
    const assertInvalid = (res: { status: number; body: Json }, field: string) => {
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.error.type, 'ValidationError');
      assert.equal(res.body.error.details.field, field);
    };
    const allowed = (res: { status: number; body: Json }) => assert.ok(res.status !== 401 && res.status !== 403, JSON.stringify(res.body));
    const demoExists = async () => (await call('GET', '/v1/namespaces/demo', admin)).status === 200;

    test('a read key reads (GET, …/list, retriever execute and explain, manifest validate) and may not write or delete', async () => {
      const created = await newKey({ name: 'reader', namespaces: ['demo'], permissions: ['read'] });
      assert.deepEqual(created.permissions, ['read']);
      assert.equal(created.status, 'active');
      assert.equal(created.expires_at, null);
      const read = created.key as string;

      assert.equal((await call('GET', '/v1/namespaces/demo', read)).status, 200);
      assert.equal((await call('POST', '/v1/namespaces/list', read, {})).status, 200);
      allowed(await call('POST', '/v1/buckets/list', read, {}, { 'x-namespace': 'demo' }));
      allowed(await call('POST', '/v1/retrievers/r/execute/explain', read, {}, { 'x-namespace': 'demo' }));
      allowed(await call('POST', '/v1/retrievers/r/execute', read, { inputs: {} }, { 'x-namespace': 'demo' }));
      allowed(await call('POST', '/v1/retrievers/r/explain', read, {}, { 'x-namespace': 'demo' }));
      allowed(await call('POST', '/v1/retrievers/r/execute/batch', read, { queries: [{ inputs: {} }] }, { 'x-namespace': 'demo' }));
      allowed(await call('POST', '/v1/retrievers/execute', read, { stages: [] }, { 'x-namespace': 'demo' }));
      allowed(await call('POST', '/v1/buckets/b/objects/list', read, {}, { 'x-namespace': 'demo' }));
      allowed(await call('POST', '/v1/collections/c/documents/list', read, {}, { 'x-namespace': 'demo' }));
      const validate = await app.inject({ method: 'POST', url: '/v1/manifest/validate', headers: { authorization: `Bearer ${read}`, 'content-type': 'application/yaml' }, payload: MANIFEST.replace('from-manifest', 'demo') });
      assert.equal(validate.statusCode, 200, validate.body);

      const del = await call('DELETE', '/v1/namespaces/demo', read);
      assertForbidden(del, 'delete');
      assert.match(del.body.error.message, /DELETE \/v1\/namespaces\/demo/);
      assert.deepEqual(del.body.error.details.permissions, ['read']);
      assert.ok(await demoExists(), 'the namespace survived the refused DELETE');
      assertForbidden(await call('POST', '/v1/buckets', read, { bucket_name: 'b', bucket_schema: { properties: { body: { type: 'text' } } } }, { 'x-namespace': 'demo' }), 'write');
      assertForbidden(await call('PATCH', '/v1/namespaces/demo', read, { description: 'changed' }), 'write');
      assertForbidden(await call('PUT', '/v1/namespaces/demo', read, { namespace_name: 'demo', feature_extractors: [TEXT_FX] }), 'write');
      assertForbidden(await call('POST', '/v1/buckets/b/objects', read, { blobs: [] }, { 'x-namespace': 'demo' }), 'write');
      const apply = await app.inject({ method: 'POST', url: '/v1/manifest/apply', headers: { authorization: `Bearer ${read}`, 'content-type': 'application/yaml' }, payload: MANIFEST.replace('from-manifest', 'demo') });
      assert.equal(apply.statusCode, 403, apply.body);
      assert.equal(apply.json().error.details.permission, 'write');
      assert.equal((await call('GET', '/v1/namespaces/demo', admin)).body.description ?? '', '', 'nothing was patched');
      assertForbidden(await call('GET', '/v1/organizations/api-keys', read), 'admin');
    });

    test('write creates and updates but does not delete, not even through manifest prune; delete alone deletes', async () => {
      const write = (await newKey({ name: 'writer', namespaces: '*', permissions: ['write', 'read', 'write'] })) as Json;
      assert.deepEqual(write.permissions, ['read', 'write'], 'de-duplicated, canonical order');
      const bucket = await call('POST', '/v1/buckets', write.key, { bucket_name: 'notes', bucket_schema: { properties: { body: { type: 'text' } } } }, { 'x-namespace': 'demo' });
      assert.equal(bucket.status, 200, JSON.stringify(bucket.body));
      assert.equal((await call('PATCH', '/v1/buckets/notes', write.key, { description: 'd' }, { 'x-namespace': 'demo' })).status, 200);
      assertForbidden(await call('DELETE', '/v1/buckets/notes', write.key, undefined, { 'x-namespace': 'demo' }), 'delete');
      assert.equal((await call('GET', '/v1/buckets/notes', admin, undefined, { 'x-namespace': 'demo' })).status, 200, 'the bucket survived');

      const yaml = { 'content-type': 'application/yaml' };
      const applied = await app.inject({ method: 'POST', url: '/v1/manifest/apply?manifest_name=m1', headers: { authorization: `Bearer ${write.key}`, ...yaml }, payload: MANIFEST });
      assert.equal(applied.statusCode, 200, applied.body);
      const pruned = await app.inject({ method: 'POST', url: '/v1/manifest/apply?manifest_name=m1&prune=true', headers: { authorization: `Bearer ${write.key}`, ...yaml }, payload: MANIFEST.replace('from-manifest', 'other-one') });
      assert.equal(pruned.statusCode, 403, pruned.body);
      assert.equal(pruned.json().error.details.permission, 'delete');
      assert.equal((await call('GET', '/v1/namespaces/from-manifest', admin)).status, 200, 'prune deleted nothing');
      assert.equal((await call('GET', '/v1/namespaces/other-one', admin)).status, 404, 'nothing was applied');

      const del = (await newKey({ name: 'deleter', namespaces: ['demo'], permissions: ['delete'] })) as Json;
      assertForbidden(await call('GET', '/v1/buckets/notes', del.key, undefined, { 'x-namespace': 'demo' }), 'read');
      assertForbidden(await call('POST', '/v1/buckets/list', del.key, {}, { 'x-namespace': 'demo' }), 'read');
      assert.equal((await call('DELETE', '/v1/buckets/notes', del.key, undefined, { 'x-namespace': 'demo' })).status, 200);
    });

    test('key management needs admin on every namespace; keys without permissions get full access', async () => {
      const full = (await newKey({ name: 'full', namespaces: '*' })) as Json;
      assert.deepEqual(full.permissions, ['admin'], 'a * key without permissions is admin');
      const scoped = (await newKey({ name: 'scoped', namespaces: ['demo'] })) as Json;
      assert.deepEqual(scoped.permissions, ['read', 'write', 'delete']);
      assert.equal((await call('GET', '/v1/organizations/api-keys', full.key)).status, 200);

      const rwd = (await newKey({ name: 'rwd', namespaces: '*', permissions: ['read', 'write', 'delete'] })) as Json;
      assertForbidden(await call('GET', '/v1/organizations/api-keys', rwd.key), 'admin');
      assertForbidden(await call('POST', '/v1/organizations/api-keys', rwd.key, { name: 'x', namespaces: '*' }), 'admin');
      assertForbidden(await call('DELETE', `/v1/organizations/api-keys/${keyId(admin)}`, rwd.key), 'admin');
      assert.equal((await verifyApiKey(k.store, admin)).ok, true, 'the admin key was not revoked');
      // Admin on one namespace may do everything there but not mint keys (it could mint a * key).
      const nsAdmin = (await newKey({ name: 'ns-admin', namespaces: ['demo'], permissions: ['admin'] })) as Json;
      allowed(await call('DELETE', '/v1/buckets/nothing-here', nsAdmin.key, undefined, { 'x-namespace': 'demo' }));
      const mint = await call('POST', '/v1/organizations/api-keys', nsAdmin.key, { name: 'x', namespaces: '*' });
      assert.equal(mint.status, 403, JSON.stringify(mint.body));
      assert.match(mint.body.error.message, /every namespace \(\*\)/);
    });

    test("the reference's per-user key paths manage the same keys, by id or name, admin only", async () => {
      const users = '/v1/organizations/users/ops%40example.com/api-keys';
      const made = await call('POST', `${users}?key_name=per-user`, admin, { namespaces: ['demo'], permissions: ['read'] });
      assert.equal(made.status, 200, JSON.stringify(made.body));
      assert.equal(made.body.name, 'per-user');
      assert.deepEqual(made.body.permissions, ['read']);
      assert.ok((await call('GET', '/v1/organizations/api-keys', admin)).body.results.some((r: Json) => r.key_id === made.body.key_id));
      assert.ok((await call('GET', users, admin)).body.results.some((r: Json) => r.key_id === made.body.key_id));
      assert.equal((await call('GET', `${users}/per-user`, admin)).body.key_id, made.body.key_id, 'by name');
      assertForbidden(await call('GET', users, made.body.key), 'admin');
      assertForbidden(await call('DELETE', `${users}/per-user`, made.body.key), 'admin');
      const revoked = await call('DELETE', `${users}/per-user`, admin);
      assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
      assert.equal(revoked.body.status, 'revoked');
      assert.equal((await call('GET', '/v1/namespaces/demo', made.body.key)).status, 401);
      assert.equal((await call('GET', `${users}/no-such-key`, admin)).status, 404);
    });

    test('records stored before permissions existed keep what they could do: * keys admin, scoped keys read/write/delete', async () => {
      const oldAll = await k.legacy('old-all', '*');
      const oldScoped = await k.legacy('old-scoped', ['demo']);
      const list = await call('GET', '/v1/organizations/api-keys', oldAll);
      assert.equal(list.status, 200, JSON.stringify(list.body));
      const view = list.body.results.find((r: Json) => r.key_id === keyId(oldScoped));
      assert.deepEqual(view.permissions, ['read', 'write', 'delete']);
      assert.equal(view.status, 'active');
      assert.equal(view.expires_at, null);
      assert.equal((await call('GET', '/v1/namespaces/demo', oldScoped)).status, 200);
      assertForbidden(await call('GET', '/v1/organizations/api-keys', oldScoped), 'admin');
    });

    test('invalid permissions and expires_at are 422 naming the field; nothing is stored', async () => {
      const before = (await k.store.list()).length;
      for (const permissions of [['read', 'superuser'], 'read', [], [1], {}]) {
        const res = await call('POST', '/v1/organizations/api-keys', admin, { name: 'bad', namespaces: '*', permissions });
        assertInvalid(res, 'permissions');
        assert.match(res.body.error.message, /read, write, delete, admin/);
      }
      for (const expires_at of ['tomorrow', '2030-13-45T00:00:00Z', '2030-01-01T00:00:00', 1893456000, '2000-01-01T00:00:00Z']) {
        assertInvalid(await call('POST', '/v1/organizations/api-keys', admin, { name: 'bad', namespaces: '*', expires_at }), 'expires_at');
      }
      const past = await call('POST', '/v1/organizations/api-keys', admin, { name: 'bad', namespaces: '*', expires_at: '2000-01-01T00:00:00Z' });
      assert.match(past.body.error.message, /in the past/);
      assert.equal((await k.store.list()).length, before);
    });

    test('expires_at is stored and shown; an expired key is a 401 naming the instant and is listed as expired', async () => {
      const future = (await newKey({ name: 'later', namespaces: ['demo'], permissions: ['read'], expires_at: '2999-06-01T12:00:00+02:00' })) as Json;
      assert.equal(future.expires_at, '2999-06-01T10:00:00.000Z', 'normalised to UTC');
      assert.equal(future.status, 'active');
      assert.equal((await call('GET', '/v1/namespaces/demo', future.key)).status, 200);
      // Both fields survive a restart (a fresh store instance reads them back).
      const reread = await k.reopen().get(future.key_id);
      assert.deepEqual(reread?.permissions, ['read']);
      assert.equal(reread?.expires_at, '2999-06-01T10:00:00.000Z');
      // The stored instant decides: at it, the key no longer verifies.
      assert.deepEqual(await verifyApiKey(k.reopen(), future.key, Date.parse('2999-06-01T10:00:00.000Z')), { ok: false, reason: 'expired', expires_at: '2999-06-01T10:00:00.000Z' });

      // A key whose instant has passed (created through the library: the API refuses a past expires_at).
      const { key: expired, record } = await createApiKey(k.store, { name: 'gone', namespaces: '*', expires_at: '2001-02-03T04:05:06.000Z' });
      const res = await call('GET', '/v1/namespaces/demo', expired);
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.equal(res.body.error.type, 'UnauthorizedError');
      assert.match(res.body.error.message, /expired at 2001-02-03T04:05:06.000Z/);
      assert.equal(res.body.error.details.reason, 'expired');
      const got = await call('GET', `/v1/organizations/api-keys/${record.id}`, admin);
      assert.equal(got.body.status, 'expired');
      assert.equal(got.body.expires_at, '2001-02-03T04:05:06.000Z');
      const listed = await call('GET', '/v1/organizations/api-keys', admin);
      assert.equal(listed.body.results.find((r: Json) => r.key_id === record.id).status, 'expired');
      assert.equal(listed.body.results.find((r: Json) => r.key_id === future.key_id).status, 'active');
    });
  });
}
