/**
 * The Kubernetes Secret key store on the test apiserver: one labelled Secret per key holding the hash (never the
 * plaintext), verification and revocation through it, records edited by hand ignored, and auth in the engine app
 * backed by it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { adoptApiKey, createApiKey, ensureBootstrapKey, hashApiKey, revokeApiKey, verifyApiKey } from '#engine/auth/index.ts';
import { API_KEY_LABEL, KubeSecretApiKeyStore, clusterAuthFromEnv, secretNameOf } from '#engine/auth/kube-secret-store.ts';
import { notFound } from '#core/lib/errors.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { QUARRY_CHART, kubeConfigAs, renderChart, serviceAccountToken } from '../charts/chart-helpers.ts';

let ns: { name: string; cleanup(): Promise<void> };
let core: k8s.CoreV1Api;

before(async () => {
  ns = await createTestNamespace('api-keys');
  core = kubeConfig().makeApiClient(k8s.CoreV1Api);
});
after(async () => {
  await ns?.cleanup();
});

test('one labelled Secret per key, holding the hash and scope but never the plaintext', async () => {
  const store = new KubeSecretApiKeyStore(kubeConfig(), { namespace: ns.name, cacheTtlMs: 0 });
  const bootstrap = await ensureBootstrapKey(store);
  assert.ok(bootstrap);
  assert.equal(await ensureBootstrapKey(store), undefined, 'only when no active key exists');
  const { key, record } = await createApiKey(store, { name: 'ci', namespaces: ['alpha', 'beta'] });

  const secrets = await core.listNamespacedSecret({ namespace: ns.name, labelSelector: `${API_KEY_LABEL}=true` });
  assert.deepEqual(secrets.items.map((s) => s.metadata!.name).sort(), [secretNameOf(bootstrap.slice(3, 15)), secretNameOf(record.id)].sort());
  const secret = await core.readNamespacedSecret({ name: secretNameOf(record.id), namespace: ns.name });
  const decoded = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  assert.equal(decoded.secret_hash, hashApiKey(key));
  assert.deepEqual(JSON.parse(decoded.namespaces!), ['alpha', 'beta']);
  const everything = JSON.stringify(secret);
  for (const k of [key, bootstrap]) assert.ok(!everything.includes(k) && !everything.includes(Buffer.from(k).toString('base64')), 'plaintext in the Secret');

  const v = await verifyApiKey(store, key);
  assert.ok(v.ok && v.record.name === 'ci');
  await revokeApiKey(store, record.id);
  assert.deepEqual(await verifyApiKey(store, key), { ok: false, reason: 'revoked' });
  // A second store (another engine replica) sees the revocation too.
  const replica = new KubeSecretApiKeyStore(kubeConfig(), { namespace: ns.name, cacheTtlMs: 0 });
  assert.deepEqual(await verifyApiKey(replica, key), { ok: false, reason: 'revoked' });
  assert.equal((await replica.list()).length, 2);
});

test('a hand-edited Secret that is not a key record is ignored, not an error', async () => {
  const store = new KubeSecretApiKeyStore(kubeConfig(), { namespace: ns.name, cacheTtlMs: 0 });
  await core.createNamespacedSecret({
    namespace: ns.name,
    body: { metadata: { name: secretNameOf('zzzzzzzzzzzz'), labels: { [API_KEY_LABEL]: 'true' } }, stringData: { id: 'zzzzzzzzzzzz', name: 'broken' } },
  });
  assert.ok(!(await store.list()).some((r) => r.id === 'zzzzzzzzzzzz'));
  assert.deepEqual(await verifyApiKey(store, 'sk_zzzzzzzzzzzz' + 'A'.repeat(32)), { ok: false, reason: 'unknown' });
});

test('the engine app authenticates against the Secret store: 200/401/403', async () => {
  const store = new KubeSecretApiKeyStore(kubeConfig(), { namespace: ns.name });
  const { key } = await createApiKey(store, { name: 'app', namespaces: ['shop'] });
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-kauth-'));
  const app = await buildEngineApp({ objects: new LocalObjectStore({ root: dir }), namespace: async (n) => Promise.reject(notFound('namespace', n)), auth: { keys: store } });
  try {
    const call = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/v1/buckets/b/objects/list', headers, payload: {} });
    assert.equal((await call({ 'x-namespace': 'shop' })).statusCode, 401);
    assert.equal((await call({ authorization: `Bearer ${key}`, 'x-namespace': 'elsewhere' })).statusCode, 403);
    const ok = await call({ authorization: `Bearer ${key}`, 'x-namespace': 'shop' });
    assert.equal(ok.statusCode, 404, ok.body); // authenticated; the namespace resolver answers
    assert.equal(ok.json().error.type, 'NotFoundError');
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("with exactly the chart's RBAC for the engine (its api-keys Role): adopt the bootstrap key, create, verify, revoke", async () => {
  const { objects } = await renderChart(QUARRY_CHART, { namespace: ns.name });
  const role = objects.find((o) => o.kind === 'Role' && o.metadata.name.endsWith('-api-keys'));
  assert.ok(role, 'the chart renders an api-keys Role');
  const sa = 'engine-keys';
  const manifest = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns.name } },
    { ...role, metadata: { name: 'api-keys', namespace: ns.name } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'api-keys', namespace: ns.name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'api-keys' },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns.name }],
    },
  ];
  const applied = await kubectl(['apply', '-f', '-'], { input: manifest.map((m) => JSON.stringify(m)).join('\n') });
  assert.equal(applied.code, 0, applied.stderr);
  const store = new KubeSecretApiKeyStore(kubeConfigAs(await serviceAccountToken(ns.name, sa)), { namespace: ns.name, cacheTtlMs: 0 });

  // The chart's bootstrap key: sk_ + 40 random letters and digits (randAlphaNum), mixed case.
  const chartKey = 'sk_' + 'Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0f';
  assert.equal(await adoptApiKey(store, chartKey, { name: 'bootstrap', namespaces: '*' }), true);
  assert.equal(await adoptApiKey(store, chartKey, { name: 'bootstrap', namespaces: '*' }), true, 'idempotent on restart');
  const v = await verifyApiKey(store, chartKey);
  assert.ok(v.ok && v.record.namespaces === '*');
  const { key, record } = await createApiKey(store, { name: 'rbac', namespaces: ['x'] });
  assert.ok((await verifyApiKey(store, key)).ok);
  await revokeApiKey(store, record.id);
  assert.deepEqual(await verifyApiKey(store, key), { ok: false, reason: 'revoked' });
  // A revoked bootstrap key stays revoked across restarts.
  await revokeApiKey(store, v.ok ? v.record.id : '');
  assert.equal(await adoptApiKey(store, chartKey, { name: 'bootstrap', namespaces: '*' }), true);
  assert.deepEqual(await verifyApiKey(store, chartKey), { ok: false, reason: 'revoked' });
});

test('cluster-mode auth from the chart env: never none (no namespace for keys is an error), else Secrets with the bootstrap key adopted', async () => {
  await assert.rejects(clusterAuthFromEnv(kubeConfig(), {}, '/nonexistent/serviceaccount/namespace'), /QUARRY_API_KEYS_NAMESPACE/);
  const fromPod = await clusterAuthFromEnv(kubeConfig(), { POD_NAMESPACE: ns.name });
  assert.ok(fromPod, 'POD_NAMESPACE is where keys live when QUARRY_API_KEYS_NAMESPACE is not set');
  const bootstrap = 'sk_' + 'Zy9xW8vU7tS6rQ5pO4nM3lK2jI1hG0fEdCbA9z8Y';
  const auth = await clusterAuthFromEnv(kubeConfig(), { QUARRY_API_KEYS_NAMESPACE: ns.name, QUARRY_BOOTSTRAP_API_KEY: bootstrap });
  assert.ok(auth);
  const v = await verifyApiKey(auth.keys, bootstrap);
  assert.ok(v.ok && v.record.name === 'bootstrap' && v.record.namespaces === '*' && v.record.kubernetes_namespace === '*', 'the bootstrap key is cluster-wide');
  const again = await clusterAuthFromEnv(kubeConfig(), { QUARRY_API_KEYS_NAMESPACE: ns.name, QUARRY_BOOTSTRAP_API_KEY: bootstrap });
  assert.equal((await again!.keys.list()).filter((k) => k.name === 'bootstrap' && k.id === bootstrap.slice(3, 15).toLowerCase()).length, 1, 'a restart adopts nothing twice');
});
