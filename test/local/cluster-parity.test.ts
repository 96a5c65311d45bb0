/**
 * The same examples/ in local mode and on the test cluster give the same documents and the same top results.
 * Cluster side: the example manifests applied with kubectl to the real kube-apiserver, the operator in-process on
 * the KubeResourceStore with MinIO, NATS JetStream and the embedded vector store, and the engine runtime reading
 * the resources through the Kubernetes API (field manager quarry-engine), seeded with the same sample. Local side:
 * startLocal on a copy of examples/. Documents are compared by id (deterministic: collection, object, extractor,
 * position) and content; results by the ranked document ids of each query.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { applyCrds, createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { testEnvPorts } from '../harness/env-ports.ts';
import { ROOT, freePort } from '../harness/test-env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import { QUARRY_KINDS } from '#operator/runtime/kinds.ts';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { vectorCollectionName } from '#core/naming.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { EngineRuntime } from '#engine/app/engine-runtime.ts';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { DEFAULT_SAMPLE_DIR, LOCAL_K8S_NAMESPACE, startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';
import { readSample, seedSample, waitForReady } from '#engine/app/seed.ts';

const EXAMPLES = path.join(ROOT, 'examples');
const QUERIES = ['how do I repair a punctured bike tire', 'the pump motor hums but the impeller does not turn', 'bread dough rising overnight', 'moon and stars at night', 'watering plants'];
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-parity-'));
const models = new OnnxModels();

let ns: { name: string; cleanup(): Promise<void> };
let op: Operator | undefined;
let engine: EngineRuntime | undefined;
let app: FastifyInstance | undefined;
let vs: VectorStore;
let objects: ObjectStore;
let queue: JobQueue;
let clusterUrl: string;
let local: LocalRuntime | undefined;

type Doc = { id: string; collection_id: unknown; root_object_id: unknown; text: unknown; title: unknown; page_number: unknown };

async function documents(store: VectorStore, collection: string): Promise<Doc[]> {
  const out: Doc[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.scroll(collection, { limit: 100, withPayload: true, ...(cursor ? { cursor } : {}) });
    for (const p of page.points) {
      const pl = p.payload ?? {};
      out.push({ id: p.id, collection_id: pl.collection_id, root_object_id: pl.root_object_id, text: pl.text, title: pl.title, page_number: pl.page_number });
    }
    cursor = page.nextCursor;
  } while (cursor);
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

async function ranked(url: string, query: string): Promise<string[]> {
  const res = await fetch(`${url}/v1/retrievers/quickstart-search/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'quickstart', ...(local?.apiKey && url === local.url ? { authorization: `Bearer ${local.apiKey}` } : {}) },
    body: JSON.stringify({ inputs: { query }, limit: 5 }),
  });
  const body = (await res.json()) as { documents?: { document_id: string }[] };
  assert.equal(res.status, 200, JSON.stringify(body));
  return (body.documents ?? []).map((d) => d.document_id);
}

/** Every YAML file of the examples (kubectl would also try the sample's objects.json). */
function exampleYamls(dir: string): string[] {
  return readdirSync(dir)
    .filter((d) => d !== 'gitops' && statSync(path.join(dir, d)).isDirectory())
    .flatMap((d) => readdirSync(path.join(dir, d)).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, d, f)));
}

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('parity');
  ({ vs, objects, queue } = await testEnvPorts(path.join(scratch, 'cluster-vectors')));
  op = new Operator({ kubeConfig: kubeConfig(), reconcilers: reconcilers({ vectorStore: vs, objectStore: objects, jobQueue: queue }), namespaces: [ns.name] });
  await op.start();
  await op.synced();
});

after(async () => {
  await app?.close();
  await engine?.stop();
  // Delete through the finalizers while the operator still runs; then whatever is left is released by hand.
  await kubectl(['delete', 'quarrynamespaces,buckets,collections,retrievers,taxonomies', '--all', '--wait=true', '--timeout=120s'], { namespace: ns.name });
  await op?.stop();
  for (const kind of ['quarrynamespaces', 'buckets', 'collections', 'retrievers', 'taxonomies']) {
    const names = await kubectl(['get', `${kind}.quarry.dev`, '-o', 'name'], { namespace: ns.name });
    for (const n of names.stdout.split('\n').filter(Boolean)) await kubectl(['patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { namespace: ns.name });
  }
  await queue?.close();
  await objects?.close();
  await vs?.close();
  await ns?.cleanup();
  await local?.stop(); // closes the shared models last
  rmSync(scratch, { recursive: true, force: true });
});

test('the same examples/ give the same documents and the same top results in local mode and on the test cluster', async () => {
  // Cluster: kubectl apply the examples, let the operator provision, run the engine runtime on the Kubernetes API.
  const applied = await kubectl(['apply', '--server-side', ...exampleYamls(EXAMPLES).flatMap((f) => ['-f', f])], { namespace: ns.name });
  assert.equal(applied.code, 0, applied.stderr);
  const kube = new KubeResourceStore(kubeConfig(), { kinds: QUARRY_KINDS, fieldManager: 'quarry-engine' });
  await waitForReady(kube, ns.name, 'quickstart', 180_000);
  engine = new EngineRuntime({ resources: kube, ports: { objects, vectors: vs, queue, models }, namespaces: [ns.name], workerConcurrency: 2 });
  await engine.start();
  app = await buildEngineApp({ objects, namespace: (n) => engine!.namespace(n), retrievers: engine.retrievers, resources: kube });
  await app.listen({ host: '127.0.0.1', port: 0 });
  clusterUrl = `http://127.0.0.1:${(app.server!.address() as AddressInfo).port}`;
  const sample = readSample(DEFAULT_SAMPLE_DIR)!;
  let ingestion: Awaited<ReturnType<EngineRuntime['namespace']>>;
  for (let i = 0; ; i++) {
    try {
      ingestion = await engine.namespace('quickstart');
      break;
    } catch (err) {
      if (i > 300) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const batches = await seedSample(ingestion, sample, DEFAULT_SAMPLE_DIR, 300_000);
  assert.deepEqual(batches.map((b) => b.status), ['COMPLETED', 'COMPLETED', 'COMPLETED'], JSON.stringify(batches));

  // Local: the same folder through startLocal (its first-start seed is the same sample).
  const manifestsDir = path.join(scratch, 'examples');
  cpSync(EXAMPLES, manifestsDir, { recursive: true });
  local = await startLocal({ dataDir: path.join(scratch, 'local'), manifestsDir, host: '127.0.0.1', port: await freePort(), models });
  assert.deepEqual(local.seed?.batches.map((b) => b.status), ['COMPLETED', 'COMPLETED', 'COMPLETED']);

  const clusterDocs = await documents(vs, vectorCollectionName({ k8sNamespace: ns.name, name: 'quickstart' }));
  const localDocs = await documents(local.vectors, vectorCollectionName({ k8sNamespace: LOCAL_K8S_NAMESPACE, name: 'quickstart' }));
  assert.equal(clusterDocs.length, 9);
  assert.deepEqual(localDocs, clusterDocs);

  for (const q of QUERIES) {
    const c = await ranked(clusterUrl, q);
    const l = await ranked(local.url, q);
    assert.ok(c.length > 0, `no results for '${q}'`);
    assert.deepEqual(l.slice(0, 3), c.slice(0, 3), `top results for '${q}'`);
  }
});
