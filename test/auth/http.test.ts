/**
 * API-key authentication in the real engine app: public health and presigned-object routes, 401 for a missing,
 * malformed, unknown or revoked key, 403 for an X-Namespace outside the key's scope, the key-management routes
 * (plaintext shown once, admin-only), and no auth at all when the app is built without it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { API_KEYS_FILE, FileApiKeyStore, createApiKey, installAuth, requestKey, revokeApiKey } from '#engine/auth/index.ts';
import { installErrorHandling } from '#engine/app/http-errors.ts';
import { notFound } from '#core/lib/errors.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PREFIX = '/v1/_objects';

describe('API-key auth in the engine app', () => {
  let dir: string;
  let app: FastifyInstance;
  let keys: FileApiKeyStore;
  let admin: string;
  let scoped: string;
  let revoked: string;
  let namespacesAsked: string[];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'quarry-auth-'));
    keys = new FileApiKeyStore(dir);
    admin = (await createApiKey(keys, { name: 'admin', namespaces: '*' })).key;
    scoped = (await createApiKey(keys, { name: 'shop-only', namespaces: ['shop'] })).key;
    const r = await createApiKey(keys, { name: 'old', namespaces: '*' });
    revoked = r.key;
    await revokeApiKey(keys, r.record.id);
    namespacesAsked = [];
    const objects = new LocalObjectStore({ root: path.join(dir, 'objects'), baseUrl: `http://localhost${PREFIX}`, presignSecret: 'test-secret' });
    app = await buildEngineApp({
      objects,
      namespace: async (n) => {
        namespacesAsked.push(n);
        throw notFound('namespace', n);
      },
      localPresignPrefix: PREFIX,
      auth: { keys },
    });
    await app.ready();
  });
  after(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string> = {}, payload?: object) => {
    const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    return { status: res.statusCode, body: (res.body ? res.json() : {}) as Json };
  };
  const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
  const assertError = (res: { status: number; body: Json }, status: number, type: string) => {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.success, false);
    assert.equal(res.body.status, status);
    assert.equal(res.body.error.type, type);
    assert.equal(typeof res.body.error.message, 'string');
  };

  test('health is public', async () => {
    const res = await call('GET', '/v1/health');
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ok');
  });

  test('the presigned-object prefix is public (its own signature guards it)', async () => {
    const res = await app.inject({ method: 'GET', url: `${PREFIX}/some-bucket/some-key?expires=1&sig=bad` });
    assert.notEqual(res.statusCode, 401, res.body);
  });

  test('401 without Authorization, with a malformed header, an unknown key, a forged secret and a revoked key', async () => {
    const url = '/v1/buckets/files/objects/list';
    const missing = await call('POST', url, { 'x-namespace': 'shop' });
    assertError(missing, 401, 'UnauthorizedError');
    assert.match(missing.body.error.message, /Authorization: Bearer/);
    assertError(await call('POST', url, { authorization: `Basic ${admin}` }), 401, 'UnauthorizedError');
    assertError(await call('POST', url, bearer('sk_not_a_key')), 401, 'UnauthorizedError');
    assertError(await call('POST', url, bearer('sk_' + 'a'.repeat(12) + 'B'.repeat(32))), 401, 'UnauthorizedError');
    const forged = admin.slice(0, 15) + (admin[15] === 'A' ? 'B' : 'A') + admin.slice(16);
    assertError(await call('POST', url, bearer(forged)), 401, 'UnauthorizedError');
    const rev = await call('POST', url, bearer(revoked));
    assertError(rev, 401, 'UnauthorizedError');
    assert.match(rev.body.error.message, /revoked/);
    assert.equal(namespacesAsked.length, 0, 'no handler ran for an unauthenticated request');
  });

  test('403 when X-Namespace is outside the key scope; inside it the request reaches the handler', async () => {
    const res = await call('POST', '/v1/buckets/files/objects/list', { ...bearer(scoped), 'x-namespace': 'other' });
    assertError(res, 403, 'ForbiddenError');
    assert.equal(res.body.error.details.namespace, 'other');
    assert.equal(namespacesAsked.length, 0);
    const ok = await call('POST', '/v1/buckets/files/objects/list', { ...bearer(scoped), 'x-namespace': 'shop' }, {});
    assert.notEqual(ok.status, 401);
    assert.notEqual(ok.status, 403);
    const all = await call('POST', '/v1/buckets/files/objects/list', { ...bearer(admin), 'x-namespace': 'anything' }, {});
    assert.notEqual(all.status, 403);
    assert.ok(namespacesAsked.includes('shop') && namespacesAsked.includes('anything'), JSON.stringify(namespacesAsked));
  });

  test('key management: create shows the plaintext once, list/get never do, delete revokes; scoped keys may not manage keys', async () => {
    const created = await call('POST', '/v1/organizations/api-keys', bearer(admin), { name: 'ci', namespaces: ['shop', 'lab'] });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const key = created.body.key as string;
    assert.match(key, /^sk_[a-z0-9]{12}[A-Za-z0-9]{32}$/);
    assert.equal(created.body.status, 'active');
    assert.deepEqual(created.body.namespaces, ['shop', 'lab']);
    assert.ok(!readFileSync(path.join(dir, API_KEYS_FILE), 'utf8').includes(key), 'plaintext on disk');

    const list = await call('GET', '/v1/organizations/api-keys', bearer(admin));
    assert.equal(list.status, 200);
    assert.ok(list.body.results.some((k: Json) => k.key_id === created.body.key_id));
    assert.ok(!JSON.stringify(list.body).includes(key) && !JSON.stringify(list.body).includes('sha256:'), 'list leaks the key or its hash');
    const got = await call('GET', `/v1/organizations/api-keys/${created.body.key_id}`, bearer(admin));
    assert.equal(got.body.name, 'ci');
    assert.equal(got.body.key, undefined);

    // The new key works for its namespaces and nothing else.
    assert.notEqual((await call('POST', '/v1/buckets/b/objects/list', { ...bearer(key), 'x-namespace': 'lab' }, {})).status, 403);
    assertError(await call('POST', '/v1/buckets/b/objects/list', { ...bearer(key), 'x-namespace': 'prod' }, {}), 403, 'ForbiddenError');
    assertError(await call('GET', '/v1/organizations/api-keys', bearer(key)), 403, 'ForbiddenError');
    assertError(await call('POST', '/v1/organizations/api-keys', bearer(scoped), { name: 'x', namespaces: '*' }), 403, 'ForbiddenError');

    const del = await call('DELETE', `/v1/organizations/api-keys/${created.body.key_id}`, bearer(admin));
    assert.equal(del.body.status, 'revoked');
    assertError(await call('POST', '/v1/buckets/b/objects/list', { ...bearer(key), 'x-namespace': 'lab' }, {}), 401, 'UnauthorizedError');
    assertError(await call('DELETE', '/v1/organizations/api-keys/nosuchkey000', bearer(admin)), 404, 'NotFoundError');
  });

  test('creating a key without a scope is a 422 naming the field', async () => {
    const res = await call('POST', '/v1/organizations/api-keys', bearer(admin), { name: 'x' });
    assertError(res, 422, 'ValidationError');
    assert.equal(res.body.error.details.field, 'namespaces');
    assertError(await call('POST', '/v1/organizations/api-keys', bearer(admin), { name: 'x', namespaces: 'shop' }), 422, 'ValidationError');
  });
});

test('without auth configured, the app serves requests without a key', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-noauth-'));
  const app = await buildEngineApp({ objects: new LocalObjectStore({ root: dir }), namespace: async (n) => Promise.reject(notFound('namespace', n)) });
  try {
    const res = await app.inject({ method: 'POST', url: '/v1/buckets/b/objects/list', headers: { 'x-namespace': 'shop' }, payload: {} });
    assert.equal(res.statusCode, 404, res.body);
    assert.equal(res.json().error.type, 'NotFoundError');
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('X-Namespace as <k8s-namespace>/<name> is checked by the name; an id is resolved when a resolver is given, else left to the route', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-nsid-'));
  const keys = new FileApiKeyStore(dir);
  const key = (await createApiKey(keys, { name: 'shop', namespaces: ['shop'] })).key;
  const names: Record<string, string> = { ns_shop1: 'shop', ns_other1: 'other', shop: 'shop', other: 'other' };
  const finder = async (id: string) => (names[id] ? [{ k8sNamespace: 'default', name: names[id], displayName: names[id] }] : []);
  for (const resolver of [undefined, finder]) {
    const app = Fastify();
    installErrorHandling(app);
    installAuth(app, { keys, ...(resolver ? { findNamespaces: resolver } : {}) });
    app.get('/v1/echo', async (req) => ({ key: requestKey(req)?.name }));
    const call = async (ns: string) => (await app.inject({ method: 'GET', url: '/v1/echo', headers: { authorization: `Bearer ${key}`, 'x-namespace': ns } })).statusCode;
    assert.equal(await call('default/shop'), 200);
    assert.equal(await call('default/other'), 403);
    assert.equal(await call('ns_shop1'), 200);
    assert.equal(await call('ns_other1'), resolver ? 403 : 200, 'without a resolver the route checks the resolved name');
    const res = await app.inject({ method: 'GET', url: '/v1/echo', headers: { authorization: `Bearer ${key}` } });
    assert.deepEqual(res.json(), { key: 'shop' });
    await app.close();
  }
  rmSync(dir, { recursive: true, force: true });
});
