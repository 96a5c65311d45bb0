/**
 * Tenancy in cluster mode (issue 15): a Kubernetes namespace is the tenant boundary. On the test apiserver, two
 * tenants (Kubernetes namespaces A and B) each have a QuarryNamespace named `research` with a Bucket `docs`,
 * provisioned by the operator (in-process, MinIO and NATS); the engine serves both with exactly the chart's engine
 * RBAC (rbac.scope=namespaces: Roles in A and B, its ServiceAccount's token), keys in Secrets of a third namespace.
 * Keys bound to A never read, write, count or delete anything of B, on any route, however B's resources are named;
 * `X-Namespace: research` keeps working for both tenants; the management API lists and creates across the served
 * Kubernetes namespaces, scoped by the key.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { runCli } from '../cli/helpers.ts';
import { applyCrds, createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { closeTestEnvPorts, testEnvPorts } from '../harness/env-ports.ts';
import { QUARRY_CHART, kubeConfigAs, renderChart, serviceAccountToken } from '../charts/chart-helpers.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import { QUARRY_KINDS } from '#operator/runtime/kinds.ts';
import { EngineRuntime } from '#engine/app/engine-runtime.ts';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { waitForReady } from '#engine/app/seed.ts';
import { KubeSecretApiKeyStore } from '#engine/auth/kube-secret-store.ts';
import { ensureBootstrapKey } from '#engine/auth/keys.ts';
import type { Models } from '#core/ports/models.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const API = 'quarry.dev/v1alpha1';
const FX = { name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-tenancy-'));
let A: { name: string; cleanup(): Promise<void> };
let B: { name: string; cleanup(): Promise<void> };
let K: { name: string; cleanup(): Promise<void> };
let ports: { vs: VectorStore; objects: ObjectStore; queue: JobQueue };
let op: Operator;
let runtime: EngineRuntime;
let app: FastifyInstance;
const admin = new KubeResourceStore(kubeConfig(), { kinds: QUARRY_KINDS, fieldManager: 'quarry-test' });
const keys: Record<'admin' | 'a' | 'aAll' | 'b', string> = { admin: '', a: '', aAll: '', b: '' };

/** The chart's engine RBAC for namespaces A and B (and its api-keys Role in K), bound to a ServiceAccount in K. */
async function engineKubeConfig() {
  const { objects } = await renderChart(QUARRY_CHART, { namespace: K.name, set: ['rbac.scope=namespaces', `rbac.namespaces={${A.name},${B.name}}`] });
  const engineSa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name.endsWith('-engine'));
  assert.ok(engineSa, 'the chart renders the engine ServiceAccount');
  const rbac = objects.filter((o) => (o.kind === 'Role' || o.kind === 'RoleBinding') && /-engine(-api-keys)?$/.test(o.metadata.name));
  assert.ok(rbac.some((o) => o.kind === 'Role' && o.metadata.namespace === A.name) && rbac.some((o) => o.kind === 'Role' && o.metadata.namespace === B.name));
  const applied = await kubectl(['apply', '-f', '-'], { input: [{ ...engineSa, metadata: { ...engineSa.metadata, namespace: K.name } }, ...rbac].map((m) => JSON.stringify(m)).join('\n') });
  assert.equal(applied.code, 0, applied.stderr);
  return kubeConfigAs(await serviceAccountToken(K.name, engineSa.metadata.name));
}

const tenantResources = (k8s: string, tag: string) => [
  { apiVersion: API, kind: 'QuarryNamespace', metadata: { name: 'research', namespace: k8s }, spec: { featureExtractors: [FX] } },
  { apiVersion: API, kind: 'Bucket', metadata: { name: 'docs', namespace: k8s }, spec: { namespaceRef: 'research', schema: { properties: { content: { type: 'text' } } } } },
  {
    apiVersion: API,
    kind: 'Retriever',
    metadata: { name: `finder-${tag}`, namespace: k8s },
    spec: {
      namespaceRef: 'research',
      collectionRefs: ['passages'],
      inputSchema: { query: { type: 'text', required: true } },
      stages: [{ stageName: `stage_of_${tag}`, config: { stageId: 'feature_search', parameters: { searches: [{ feature_uri: 'quarry://text_extractor@v1/all_minilm_l6_v2', query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 5 }] } } }],
    },
  },
];

before(async () => {
  await applyCrds();
  [A, B, K] = await Promise.all([createTestNamespace('tenant-a'), createTestNamespace('tenant-b'), createTestNamespace('quarry-sys')]);
  ports = await testEnvPorts(path.join(scratch, 'vectors'));
  op = new Operator({ kubeConfig: kubeConfig(), reconcilers: reconcilers({ vectorStore: ports.vs, objectStore: ports.objects, jobQueue: ports.queue }), namespaces: [A.name, B.name] });
  await op.start();
  const tenants = [[A.name, 'a'], [B.name, 'b']] as const;
  for (const [ns, tag] of tenants) for (const r of tenantResources(ns, tag).filter((x) => x.kind !== 'Retriever')) await admin.apply(r);
  for (const ns of [A.name, B.name]) await waitForReady(admin, ns, 'research', 120_000);
  // Retrievers only matter as definitions here (their collection does not exist, so they are never Ready).
  for (const [ns, tag] of tenants) for (const r of tenantResources(ns, tag).filter((x) => x.kind === 'Retriever')) await admin.apply(r);

  const kc = await engineKubeConfig();
  const resources = new KubeResourceStore(kc, { kinds: QUARRY_KINDS, fieldManager: 'quarry-engine' });
  runtime = new EngineRuntime({ resources, ports: { objects: ports.objects, vectors: ports.vs, queue: ports.queue, models: {} as Models }, namespaces: [A.name, B.name] });
  await runtime.start();
  const keyStore = new KubeSecretApiKeyStore(kc, { namespace: K.name, cacheTtlMs: 0 });
  keys.admin = (await ensureBootstrapKey(keyStore))!;
  app = await buildEngineApp({
    auth: { keys: keyStore },
    objects: ports.objects,
    namespace: (n) => runtime.namespace(n),
    findNamespaces: (ident, k8s) => runtime.findNamespaces(ident, k8s),
    objectName: (ns, kind, ident) => runtime.objectName(ns, kind, ident),
    retrievers: runtime.retrievers,
    resources,
    k8sNamespaces: [A.name, B.name],
    k8sNamespace: A.name,
  });
  await app.ready();
  const mint = async (body: Json) => {
    const res = await call('POST', '/v1/organizations/api-keys', keys.admin, { body });
    assert.equal(res.status, 200, res.text);
    return res.body.key as string;
  };
  keys.a = await mint({ name: 'a-research', kubernetes_namespace: A.name, namespaces: ['research'] });
  keys.aAll = await mint({ name: 'a-all', kubernetes_namespace: A.name, namespaces: '*' });
  keys.b = await mint({ name: 'b-research', kubernetes_namespace: B.name, namespaces: ['research'] });
  // Both tenants are served (Ready) before the attacks start.
  for (const ns of [`${A.name}/research`, `${B.name}/research`]) {
    for (let i = 0; ; i++) {
      try {
        await runtime.namespace(ns);
        break;
      } catch (err) {
        if (i > 200) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
});

after(async () => {
  await app?.close();
  await runtime?.stop();
  for (const ns of [A, B]) if (ns) await kubectl(['delete', 'quarrynamespaces,buckets,collections,retrievers,taxonomies', '--all', '--wait=true', '--timeout=60s'], { namespace: ns.name });
  await op?.stop();
  await closeTestEnvPorts(ports);
  await Promise.all([A, B, K].filter(Boolean).map((n) => n.cleanup()));
  rmSync(scratch, { recursive: true, force: true });
});

async function call(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, key: string | undefined, opts: { ns?: string; k8s?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (opts.ns) headers['x-namespace'] = opts.ns;
  if (opts.k8s) headers['x-kubernetes-namespace'] = opts.k8s;
  const res = await app.inject({ method, url, headers, ...(opts.body !== undefined ? { payload: opts.body as object } : {}) });
  return { status: res.statusCode, text: res.body, body: (res.body ? res.json() : {}) as Json };
}

/** Object ids in a tenant's research, read from its ingestion state directly (not through the API under test). */
const objectsIn = async (k8s: string): Promise<string[]> => (await (await runtime.namespace(`${k8s}/research`)).listObjects()).map((o) => o.object_id);

describe('tenant isolation across Kubernetes namespaces', () => {
  test("X-Namespace: research resolves inside the key's Kubernetes namespace: both tenants keep working, each sees only its own", async () => {
    const a = await call('POST', '/v1/buckets/docs/objects', keys.a, { ns: 'research', body: { blobs: [{ property: 'content', type: 'text', data: 'tenant a secret' }] } });
    assert.equal(a.status, 200, a.text);
    const b = await call('POST', '/v1/buckets/docs/objects', keys.b, { ns: 'research', body: { blobs: [{ property: 'content', type: 'text', data: 'tenant b secret' }] } });
    assert.equal(b.status, 200, b.text);
    const idA = a.body.object_id as string;
    const idB = b.body.object_id as string;
    for (const [key, mine, theirs] of [[keys.a, idA, idB], [keys.b, idB, idA]] as const) {
      const list = await call('POST', '/v1/buckets/docs/objects/list', key, { ns: 'research', body: {} });
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.body.results.map((o: Json) => o.object_id), [mine], list.text);
      assert.ok(!list.text.includes(theirs), `${list.text} shows the other tenant's object`);
      const ns = await call('GET', '/v1/namespaces/research', key);
      assert.equal(ns.status, 200, ns.text);
      assert.equal(ns.body.kubernetes_namespace, key === keys.a ? A.name : B.name);
    }
    assert.deepEqual(await objectsIn(A.name), [idA]);
    assert.deepEqual(await objectsIn(B.name), [idB]);
  });

  test("a key bound to A reaches nothing of B's research: not as <k8s>/research, not with X-Kubernetes-Namespace, not by id", async () => {
    const bNs = await call('GET', `/v1/namespaces/research`, keys.b);
    const bId = bNs.body.namespace_id as string;
    const bBucket = (await call('GET', '/v1/buckets/docs', keys.b, { ns: 'research' })).body.bucket_id as string;
    const bObject = (await objectsIn(B.name))[0]!;
    const before = await admin.list('Bucket', { namespace: B.name });
    const attempts: [string, string, Record<string, unknown>][] = [
      ['POST', '/v1/buckets', { ns: `${B.name}/research`, body: { bucket_name: 'planted', bucket_schema: { properties: { content: { type: 'text' } } } } }],
      ['POST', '/v1/buckets', { ns: 'research', k8s: B.name, body: { bucket_name: 'planted', bucket_schema: { properties: { content: { type: 'text' } } } } }],
      ['POST', '/v1/buckets', { ns: bId, body: { bucket_name: 'planted', bucket_schema: { properties: { content: { type: 'text' } } } } }],
      ['POST', '/v1/buckets/docs/objects', { ns: `${B.name}/research`, body: { blobs: [{ property: 'content', type: 'text', data: 'planted' }] } }],
      ['POST', '/v1/buckets/docs/objects', { ns: bId, body: { blobs: [{ property: 'content', type: 'text', data: 'planted' }] } }],
      ['POST', '/v1/buckets/docs/objects/list', { ns: `${B.name}/research`, body: {} }],
      ['GET', `/v1/buckets/docs/objects/${bObject}`, { ns: `${B.name}/research` }],
      ['DELETE', `/v1/buckets/docs/objects/${bObject}`, { ns: `${B.name}/research` }],
      ['GET', `/v1/buckets/${bBucket}`, { ns: 'research' }],
      ['DELETE', `/v1/buckets/${bBucket}`, { ns: 'research' }],
      ['DELETE', '/v1/buckets/docs', { ns: `${B.name}/research` }],
      ['GET', `/v1/namespaces/${bId}`, {}],
      ['DELETE', `/v1/namespaces/${bId}`, {}],
      ['POST', '/v1/namespaces/list', { k8s: B.name, body: {} }],
      ['POST', '/v1/retrievers/finder-b/execute/explain', { body: {} }],
      ['POST', '/v1/retrievers/finder-b/execute', { body: { inputs: { query: 'x' } } }],
      ['POST', '/v1/manifest/export', { ns: `${B.name}/research`, body: {} }],
    ];
    for (const key of [keys.a, keys.aAll]) {
      for (const [method, url, opts] of attempts) {
        const res = await call(method as 'GET', url, key, opts);
        assert.ok([403, 404].includes(res.status), `${method} ${url} ${JSON.stringify(opts)} → ${res.status} ${res.text}`);
        assert.equal(res.body.success, false);
        for (const leak of ['stage_of_b', bObject]) assert.ok(!res.text.includes(leak) || url.includes(leak), `${method} ${url} leaked ${leak}: ${res.text}`);
      }
    }
    // A manifest naming B's Kubernetes namespace is refused; one naming none lands in the key's own.
    const manifest = (ns: string) =>
      `apiVersion: quarry.dev/v1alpha1\nkind: Bucket\nmetadata:\n  name: planted\n${ns ? `  namespace: ${ns}\n` : ''}spec:\n  namespaceRef: research\n  schema:\n    properties:\n      content:\n        type: text\n`;
    const intoB = await call('POST', '/v1/manifest/apply', keys.a, { body: { manifest: manifest(B.name) } });
    assert.ok(intoB.status >= 400 && intoB.status < 500, intoB.text);
    const own = await call('POST', '/v1/manifest/apply', keys.a, { body: { manifest: manifest('') } });
    assert.equal(own.status, 200, own.text);
    assert.ok(await admin.get('Bucket', { namespace: A.name, name: 'planted' }), "applied into the key's Kubernetes namespace");
    await admin.delete('Bucket', { namespace: A.name, name: 'planted' });
    // Nothing written, nothing deleted in B.
    assert.deepEqual((await admin.list('Bucket', { namespace: B.name })).map((b) => b.metadata.name).sort(), before.map((b) => b.metadata.name).sort());
    assert.ok(await admin.get('QuarryNamespace', { namespace: B.name, name: 'research' }));
    assert.deepEqual(await objectsIn(B.name), [bObject]);
  });

  test('a key bound to A creates only in A: X-Namespace research is A/research, whatever B has', async () => {
    const made = await call('POST', '/v1/buckets', keys.a, { ns: 'research', body: { bucket_name: 'made-by-a', bucket_schema: { properties: { content: { type: 'text' } } } } });
    assert.equal(made.status, 200, made.text);
    assert.ok(await admin.get('Bucket', { namespace: A.name, name: 'made-by-a' }));
    assert.equal(await admin.get('Bucket', { namespace: B.name, name: 'made-by-a' }), undefined);
    // A namespace created by the tenant-wide key lands in its Kubernetes namespace.
    const ns = await call('POST', '/v1/namespaces', keys.aAll, { body: { namespace_name: 'created-by-a', feature_extractors: [{ feature_extractor_name: 'text_extractor', version: 'v1', params: FX.params }] } });
    assert.equal(ns.status, 200, ns.text);
    assert.equal(ns.body.kubernetes_namespace, A.name);
    assert.ok(await admin.get('QuarryNamespace', { namespace: A.name, name: 'created-by-a' }));
    assert.equal(await admin.get('QuarryNamespace', { namespace: B.name, name: 'created-by-a' }), undefined);
  });

  test('a run without X-Namespace is remembered nowhere: no tenant lists it, and listing needs X-Namespace', async () => {
    const run = await call('POST', '/v1/retrievers/execute', keys.a, { body: { collection_identifiers: ['passages'], stages: [{ stage_name: 's', stage_id: 'limit', parameters: { limit: 1 } }], inputs: { secret_input: 'tenant-a-only' } } });
    assert.ok(run.status >= 400 && run.status < 500, run.text);
    for (const key of [keys.a, keys.b, keys.admin]) {
      const noHeader = await call('POST', '/v1/retrievers/executions/list', key, { body: {} });
      assert.equal(noHeader.status, 400, noHeader.text);
      assert.match(noHeader.body.error.message, /X-Namespace/);
    }
    for (const [key, ns] of [[keys.a, 'research'], [keys.b, 'research'], [keys.admin, `${A.name}/research`], [keys.admin, `${B.name}/research`]] as const) {
      const listed = await call('POST', '/v1/retrievers/executions/list', key, { ns, body: {} });
      assert.equal(listed.status, 200, listed.text);
      assert.ok(!listed.text.includes('tenant-a-only'), listed.text);
    }
  });

  test('no key, no access; a cluster-wide key must say which research it means', async () => {
    for (const [method, url] of [['POST', '/v1/namespaces/list'], ['POST', '/v1/buckets/docs/objects/list'], ['GET', '/v1/namespaces/research'], ['POST', '/v1/retrievers/finder-a/execute/explain']] as const) {
      const res = await call(method, url, undefined, { ns: 'research', body: {} });
      assert.equal(res.status, 401, `${url}: ${res.text}`);
    }
    const ambiguous = await call('POST', '/v1/buckets/docs/objects/list', keys.admin, { ns: 'research', body: {} });
    assert.equal(ambiguous.status, 400, ambiguous.text);
    assert.match(ambiguous.body.error.message, /several|exists in Kubernetes namespaces/);
    const qualified = await call('POST', '/v1/buckets/docs/objects/list', keys.admin, { ns: `${B.name}/research`, body: {} });
    assert.equal(qualified.status, 200, qualified.text);
    assert.deepEqual(qualified.body.results.map((o: Json) => o.object_id), await objectsIn(B.name));
    const viaHeader = await call('POST', '/v1/buckets/docs/objects/list', keys.admin, { ns: 'research', k8s: A.name, body: {} });
    assert.equal(viaHeader.status, 200, viaHeader.text);
  });
});

describe('the management API across the Kubernetes namespaces the engine serves', () => {
  test('a cluster-wide key lists every served Kubernetes namespace; a bound key only its own; creating in B needs a key that allows it', async () => {
    const all = await call('POST', '/v1/namespaces/list', keys.admin, { body: {} });
    assert.equal(all.status, 200, all.text);
    const where = all.body.results.filter((r: Json) => r.namespace_name === 'research').map((r: Json) => r.kubernetes_namespace).sort();
    assert.deepEqual(where, [A.name, B.name].sort(), all.text);
    const mine = await call('POST', '/v1/namespaces/list', keys.b, { body: {} });
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.body.results.map((r: Json) => `${r.kubernetes_namespace}/${r.namespace_name}`), [`${B.name}/research`]);

    const inB = await call('POST', '/v1/namespaces', keys.admin, { k8s: B.name, body: { namespace_name: 'admin-made', feature_extractors: [{ feature_extractor_name: 'text_extractor', version: 'v1', params: FX.params }] } });
    assert.equal(inB.status, 200, inB.text);
    assert.ok(await admin.get('QuarryNamespace', { namespace: B.name, name: 'admin-made' }));
    const refused = await call('POST', '/v1/namespaces', keys.aAll, { k8s: B.name, body: { namespace_name: 'sneaky', feature_extractors: [{ feature_extractor_name: 'text_extractor', version: 'v1', params: FX.params }] } });
    assert.equal(refused.status, 403, refused.text);
    assert.equal(await admin.get('QuarryNamespace', { namespace: B.name, name: 'sneaky' }), undefined);
    const unserved = await call('POST', '/v1/namespaces/list', keys.admin, { k8s: K.name, body: {} });
    assert.equal(unserved.status, 404, unserved.text);
  });

  test('quarry get namespaces shows the namespaces of every Kubernetes namespace the key sees, with where each lives', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const all = await runCli(['get', 'namespaces'], { QUARRY_URL: url, QUARRY_API_KEY: keys.admin });
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /KUBERNETES NAMESPACE/);
    for (const ns of [A.name, B.name]) assert.match(all.stdout, new RegExp(`^research\\b.*\\b${ns}\\s*$`, 'm'), all.stdout);
    const mine = await runCli(['get', 'namespaces', '-o', 'json'], { QUARRY_URL: url, QUARRY_API_KEY: keys.b });
    assert.equal(mine.code, 0, mine.stderr);
    assert.ok(mine.stdout.includes(B.name) && !mine.stdout.includes(A.name), mine.stdout);
  });

  test('key creation takes the Kubernetes namespace binding; cluster-wide only with namespaces "*"; only cluster admins manage keys', async () => {
    const bad = [
      [{ name: 'x', kubernetes_namespace: '*', namespaces: ['research'] }, 'kubernetes_namespace'],
      [{ name: 'x', kubernetes_namespace: K.name, namespaces: '*' }, 'kubernetes_namespace'],
      [{ name: 'x', kubernetes_namespace: 'Not A Namespace', namespaces: '*' }, 'kubernetes_namespace'],
    ] as const;
    for (const [body, field] of bad) {
      const res = await call('POST', '/v1/organizations/api-keys', keys.admin, { body });
      assert.equal(res.status, 422, res.text);
      assert.equal(res.body.error.details.field, field);
    }
    const listed = await call('GET', '/v1/organizations/api-keys', keys.admin);
    assert.equal(listed.body.results.find((k: Json) => k.name === 'a-research').kubernetes_namespace, A.name);
    assert.equal(listed.body.results.find((k: Json) => k.name === 'bootstrap').kubernetes_namespace, '*');
    assert.equal((await call('GET', '/v1/organizations/api-keys', keys.aAll)).status, 403, 'a tenant admin does not manage keys');
  });
});
