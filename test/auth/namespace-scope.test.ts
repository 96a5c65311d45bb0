/**
 * A namespace-scoped key stays in its namespaces when the engine finds the namespace itself: a retriever named
 * without X-Namespace (found by its name alone, when unique) is served only to keys scoped to the namespace it lives
 * in (P0: a key scoped to `demo` got another namespace's pipeline from …/execute/explain). The real engine runtime's
 * retriever lookup over Retriever resources, behind the engine app with auth, for both key stores.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { EngineRuntime, type EnginePorts } from '#engine/app/engine-runtime.ts';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { FileApiKeyStore, authorizeResolvedNamespace, createApiKey, installAuth } from '#engine/auth/index.ts';
import { installErrorHandling } from '#engine/app/http-errors.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { KEY_STORES, type KeyStoreUnderTest } from './key-stores.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const K8S = 'local';
const API = 'quarry.dev/v1alpha1';
const URI = 'quarry://text_extractor@v1/all_minilm_l6_v2';
const FX = { name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };

const retriever = (name: string, namespaceRef: string, stageName: string) => ({
  apiVersion: API,
  kind: 'Retriever',
  metadata: { name, namespace: K8S },
  spec: {
    namespaceRef,
    collectionRefs: ['notes'],
    inputSchema: { query: { type: 'text', required: true } },
    stages: [{ stageName, config: { stageId: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 5 }] } } }],
  },
});

for (const ks of KEY_STORES) {
  describe(`retrievers found without X-Namespace are checked against the key's scope (${ks.name} key store)`, () => {
    let k: KeyStoreUnderTest;
    let dir: string;
    let runtime: EngineRuntime;
    let app: FastifyInstance;
    const keys: Record<'all' | 'demo' | 'other', string> = { all: '', demo: '', other: '' };

    before(async () => {
      k = await ks.open();
      dir = mkdtempSync(path.join(tmpdir(), 'quarry-scope-'));
      const resources = new LocalResourceStore({ fieldManager: 'quarry-test' });
      for (const ns of ['demo', 'other']) await resources.apply({ apiVersion: API, kind: 'QuarryNamespace', metadata: { name: ns, namespace: K8S }, spec: { featureExtractors: [FX] } });
      await resources.apply(retriever('other-search', 'other', 'other_secret_stage'));
      await resources.apply(retriever('demo-search', 'demo', 'demo_stage'));
      const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
      // No namespace turns Ready, so nothing but the watch caches and the retriever lookup runs.
      runtime = new EngineRuntime({ resources, ports: { objects } as unknown as EnginePorts });
      await runtime.start();
      keys.all = (await createApiKey(k.store, { name: 'all', namespaces: '*' })).key;
      keys.demo = (await createApiKey(k.store, { name: 'demo', namespaces: ['demo'] })).key;
      keys.other = (await createApiKey(k.store, { name: 'other', namespaces: ['other'] })).key;
      app = await buildEngineApp({ objects, namespace: (n) => runtime.namespace(n), retrievers: runtime.retrievers, auth: { keys: k.store }, k8sNamespace: K8S });
      await app.ready();
    });
    after(async () => {
      await app?.close();
      await runtime?.stop();
      await k?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const call = async (url: string, key: string, ns?: string, body: object = {}) => {
      const res = await app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}`, ...(ns ? { 'x-namespace': ns } : {}) }, payload: body });
      return { status: res.statusCode, text: res.body, body: (res.body ? res.json() : {}) as Json };
    };

    test("a key scoped to demo gets 403 for other's retriever by name alone, on every retriever route, and nothing of its pipeline", async () => {
      const routes: [string, object][] = [
        ['/v1/retrievers/other-search/execute/explain', {}],
        ['/v1/retrievers/other-search/explain', {}],
        ['/v1/retrievers/other-search/execute', { inputs: { query: 'x' } }],
        ['/v1/retrievers/other-search/execute/batch', { queries: [{ inputs: { query: 'x' } }] }],
      ];
      for (const [url, body] of routes) {
        const res = await call(url, keys.demo, undefined, body);
        assert.equal(res.status, 403, `${url}: ${res.text}`);
        assert.equal(res.body.success, false);
        assert.equal(res.body.error.type, 'ForbiddenError');
        assert.equal(res.body.error.details.namespace, 'other');
        assert.ok(!res.text.includes('other_secret_stage'), `${url} leaked the pipeline`);
      }
      // Naming the namespace does not help: the header is outside the scope; demo does not hold the retriever.
      assert.equal((await call('/v1/retrievers/other-search/execute/explain', keys.demo, 'other')).status, 403);
      assert.equal((await call('/v1/retrievers/other-search/execute/explain', keys.demo, 'demo')).status, 404);
    });

    test('keys scoped to where the retriever lives, and * keys, still use the name alone', async () => {
      for (const key of [keys.other, keys.all]) {
        const res = await call('/v1/retrievers/other-search/execute/explain', key);
        assert.equal(res.status, 200, res.text);
        assert.ok(res.text.includes('other_secret_stage'), res.text);
      }
      const own = await call('/v1/retrievers/demo-search/execute/explain', keys.demo);
      assert.equal(own.status, 200, own.text);
      assert.ok(own.text.includes('demo_stage'));
      assert.equal((await call('/v1/retrievers/demo-search/execute/explain', keys.other)).status, 403);
    });

  });
}

test('a resource whose namespace the route cannot tell is served to * keys only; a known one by its name, also as <k8s>/<name>', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-scope-unit-'));
  const keys = new FileApiKeyStore(dir);
  const all = (await createApiKey(keys, { name: 'all', namespaces: '*' })).key;
  const demo = (await createApiKey(keys, { name: 'demo', namespaces: ['demo'] })).key;
  const app = Fastify();
  installErrorHandling(app);
  installAuth(app, { keys, defaultK8sNamespace: 'local' });
  app.post<{ Body: { ns?: string } }>('/v1/thing/list', async (req) => {
    authorizeResolvedNamespace(req, req.body.ns, "thing 'x'");
    return { ok: true };
  });
  const call = async (key: string, ns?: string) => {
    const res = await app.inject({ method: 'POST', url: '/v1/thing/list', headers: { authorization: `Bearer ${key}` }, payload: ns ? { ns } : {} });
    return { status: res.statusCode, body: res.json() as Json };
  };
  try {
    assert.equal((await call(all)).status, 200);
    const unknown = await call(demo);
    assert.equal(unknown.status, 403);
    assert.equal(unknown.body.error.type, 'ForbiddenError');
    assert.match(unknown.body.error.message, /send X-Namespace/);
    assert.equal((await call(demo, 'local/demo')).status, 200);
    assert.equal((await call(demo, 'demo')).status, 200);
    assert.equal((await call(demo, 'local/other')).status, 403);
    // Another tenant's (Kubernetes namespace's) resource does not exist for a key bound to 'local', whatever its name.
    assert.equal((await call(demo, 'team-b/demo')).status, 404);
    assert.equal((await call(all, 'team-b/demo')).status, 200, 'a legacy * key is cluster-wide');
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
