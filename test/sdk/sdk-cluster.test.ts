/**
 * Issue 16 in cluster mode: the official SDK's lifecycles (lifecycle_generated.py and lifecycle_highlevel.py,
 * unchanged) against the engine on the shared test environment — the operator in-process on the test apiserver with
 * MinIO, NATS JetStream and the embedded vector store; the engine runtime (in-process workers, the real text model)
 * reading the resources through the Kubernetes API; API keys in Secrets — over HTTP, with a key bound to the test's
 * Kubernetes namespace T. A second tenant O (another Kubernetes namespace, the engine's default one) holds a namespace
 * with a batch and a task: the SDK's header-less TasksApi and BatchesApi calls with T's key never reach them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { applyCrds, createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { closeTestEnvPorts, testEnvPorts } from '../harness/env-ports.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import { QUARRY_KINDS } from '#operator/runtime/kinds.ts';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { EngineRuntime } from '#engine/app/engine-runtime.ts';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { KubeSecretApiKeyStore } from '#engine/auth/kube-secret-store.ts';
import { ensureBootstrapKey } from '#engine/auth/keys.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';
import { ensureSdk } from './venv.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Report {
  layer: string;
  passed: number;
  total: number;
  calls: { call: string; ok: boolean; error?: string }[];
}

const run = promisify(execFile);
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-sdk-cluster-'));
const models = new OnnxModels({ threads: 1 });
let T: { name: string; cleanup(): Promise<void> };
let O: { name: string; cleanup(): Promise<void> };
let K: { name: string; cleanup(): Promise<void> };
let ports: { vs: VectorStore; objects: ObjectStore; queue: JobQueue };
let op: Operator;
let runtime: EngineRuntime;
let app: FastifyInstance;
let url = '';
let python = '';
const keys = { admin: '', t: '', o: '' };
/** O's batch and task, made through the API with O's key. */
const other = { batchId: '', taskId: '' };

async function call(method: string, route: string, key: string, opts: { ns?: string; body?: unknown } = {}): Promise<{ status: number; text: string; body: Json }> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (opts.ns) headers['x-namespace'] = opts.ns;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${route}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  return { status: res.status, text, body: (text ? JSON.parse(text) : {}) as Json };
}

/** A call that may meet a resource still reconciling (503 with Retry-After): retried until it answers otherwise. */
async function settled(method: string, route: string, key: string, opts: { ns?: string; body?: unknown } = {}) {
  for (let i = 0; ; i++) {
    const r = await call(method, route, key, opts);
    if (r.status !== 503 || i > 240) return r;
    await new Promise((res) => setTimeout(res, 500));
  }
}

before(async () => {
  python = ensureSdk();
  await applyCrds();
  [T, O, K] = await Promise.all([createTestNamespace('sdk-t'), createTestNamespace('sdk-o'), createTestNamespace('sdk-keys')]);
  ports = await testEnvPorts(path.join(scratch, 'vectors'));
  op = new Operator({ kubeConfig: kubeConfig(), reconcilers: reconcilers({ vectorStore: ports.vs, objectStore: ports.objects, jobQueue: ports.queue }), namespaces: [T.name, O.name] });
  await op.start();
  const resources = new KubeResourceStore(kubeConfig(), { kinds: QUARRY_KINDS, fieldManager: 'quarry-engine' });
  runtime = new EngineRuntime({ resources, ports: { objects: ports.objects, vectors: ports.vs, queue: ports.queue, models }, namespaces: [T.name, O.name], workerConcurrency: 2, servedModelsId: 'engine-sdk-cluster' });
  await runtime.start();
  const keyStore = new KubeSecretApiKeyStore(kubeConfig(), { namespace: K.name, cacheTtlMs: 0 });
  keys.admin = (await ensureBootstrapKey(keyStore))!;
  app = await buildEngineApp({
    auth: { keys: keyStore },
    objects: ports.objects,
    namespace: (n) => runtime.namespace(n),
    findNamespaces: (ident, k8s) => runtime.findNamespaces(ident, k8s),
    objectName: (ns, kind, ident) => runtime.objectName(ns, kind, ident),
    retrievers: runtime.retrievers,
    resources,
    k8sNamespaces: [T.name, O.name],
    // O is the engine's default Kubernetes namespace: a header-less request of T's key must still stay in T.
    k8sNamespace: O.name,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server!.address() as AddressInfo).port}`;
  for (const [k, ns] of [['t', T.name], ['o', O.name]] as const) {
    const r = await call('POST', '/v1/organizations/api-keys', keys.admin, { body: { name: `sdk-${k}`, kubernetes_namespace: ns, namespaces: '*' } });
    assert.equal(r.status, 200, r.text); // 200: the SDK's generated client maps only 200 on create
    keys[k] = r.body.key as string;
  }

  // O's tenant: a namespace with a bucket, an object and a submitted batch (its task), made as a user of O would.
  const fx = [{ feature_extractor_name: 'passthrough_extractor', version: 'v1' }];
  assert.equal((await call('POST', '/v1/namespaces', keys.o, { body: { namespace_name: 'held', feature_extractors: fx } })).status, 200);
  const bucket = await settled('POST', '/v1/buckets', keys.o, { ns: 'held', body: { bucket_name: 'notes', bucket_schema: { properties: { title: { type: 'string' }, body: { type: 'text' } } } } });
  assert.equal(bucket.status, 200, bucket.text);
  const obj = await settled('POST', '/v1/buckets/notes/objects', keys.o, { ns: 'held', body: { metadata: { title: 'held note' }, blobs: [{ property: 'body', type: 'text', data: 'a note of tenant O' }] } });
  assert.equal(obj.status, 200, obj.text);
  const batch = await settled('POST', '/v1/buckets/notes/batches', keys.o, { ns: 'held', body: { object_ids: [obj.body.object_id] } });
  assert.equal(batch.status, 200, batch.text);
  other.batchId = batch.body.batch_id as string;
  const submitted = await settled('POST', `/v1/buckets/notes/batches/${other.batchId}/submit`, keys.o, { ns: 'held', body: {} });
  assert.equal(submitted.status, 200, submitted.text);
  other.taskId = submitted.body.task_id as string;
  assert.ok(other.batchId && other.taskId);
});

after(async () => {
  await app?.close();
  await runtime?.stop();
  for (const ns of [T, O]) if (ns) await kubectl(['delete', 'quarrynamespaces,buckets,collections,retrievers,taxonomies', '--all', '--wait=true', '--timeout=120s'], { namespace: ns.name });
  await op?.stop();
  await closeTestEnvPorts(ports);
  await models.close();
  await Promise.all([T, O, K].filter(Boolean).map((n) => n.cleanup()));
  rmSync(scratch, { recursive: true, force: true });
});

/** The high-level client's call that needs a feature Quarry does not have (README; sdk.test.ts KNOWN_GAPS). */
const KNOWN_GAPS = new Set(['search (text shortcut)']);

async function lifecycle(script: string, prefix: string, mustPass: string[]): Promise<void> {
  const { stdout } = await run(python, [path.join(import.meta.dirname, script)], {
    cwd: import.meta.dirname,
    env: { ...process.env, QUARRY_URL: url, QUARRY_API_KEY: keys.t, SDK_PREFIX: prefix },
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as Report;
  const counted = report.calls.filter((c) => !KNOWN_GAPS.has(c.call));
  const failed = counted.filter((c) => !c.ok);
  console.log(`cluster, ${report.layer}: ${report.passed} of ${report.total} calls succeeded`);
  for (const c of report.calls.filter((x) => !x.ok)) console.log(`  FAILED ${c.call}: ${c.error}`);
  for (const name of mustPass) {
    const c = report.calls.find((x) => x.call === name);
    assert.ok(c?.ok, `${name}: ${c?.error ?? 'not run'}`);
  }
  const rate = (counted.length - failed.length) / counted.length;
  assert.ok(rate >= 0.95, `${counted.length - failed.length} of ${counted.length} calls succeeded (< 95%): ${failed.map((c) => c.call).join(', ')}`);
}

test('the generated client runs the whole lifecycle in cluster mode, with a key bound to one Kubernetes namespace', async () => {
  await lifecycle('lifecycle_generated.py', 'cluster', [
    'namespaces.create_namespace', 'objects.create_object_buckets[0]', 'collections.trigger_collection', 'tasks.get_task (poll until COMPLETED)', 'tasks.list_tasks',
    'batches.list_all_batches', 'retrievers.execute_retriever', 'taxonomies.execute_taxonomy_taxonomies_0', 'namespaces.delete_namespace',
  ]);
});

test('the high-level client runs the whole lifecycle in cluster mode', async () => {
  await lifecycle('lifecycle_highlevel.py', 'clusterhl', [
    'namespaces.create', 'buckets.upload[0]', 'collections.trigger', 'tasks.get (poll until COMPLETED)', 'documents.list', 'retrievers.execute', 'retrievers.create_interaction_from_result', 'namespaces.delete',
  ]);
});

test("the SDK's header-less task and batch calls stay inside the key's Kubernetes namespace", async () => {
  // Positive control: O's own key sees O's batch and task without X-Namespace.
  const mine = await call('POST', '/v1/batches/list', keys.o, { body: {} });
  assert.equal(mine.status, 200, mine.text);
  assert.ok(mine.text.includes(other.batchId), mine.text);
  assert.equal((await call('GET', `/v1/tasks/${other.taskId}`, keys.o)).status, 200);
  // T's key (O is the engine's default Kubernetes namespace): nothing of O, by list or by id.
  for (const route of ['/v1/batches/list', '/v1/tasks/list']) {
    const r = await call('POST', route, keys.t, { body: {} });
    assert.equal(r.status, 200, `${route}: ${r.text}`);
    for (const leak of [other.batchId, other.taskId, 'held']) assert.ok(!r.text.includes(leak), `${route} shows O's ${leak}: ${r.text}`);
  }
  for (const route of [`/v1/batches/${other.batchId}`, `/v1/tasks/${other.taskId}`]) {
    const r = await call('GET', route, keys.t);
    assert.equal(r.status, 404, `${route}: ${r.status} ${r.text}`);
    assert.ok(!r.text.includes('held'), r.text);
  }
});
