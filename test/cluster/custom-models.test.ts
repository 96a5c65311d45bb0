/**
 * Custom models in cluster mode: the operator on the test apiserver, an engine runtime watching the same Kubernetes
 * namespace (Secrets included, as engine/src/main.ts opens it), real NATS for the served-models reports and real
 * MinIO. Models from an https server on loopback and from s3:// with a Kubernetes Secret become Ready once the engine
 * serves them; a tampered file keeps its Model Ready=False (HashMismatch, naming the file) and is never served; once
 * the server has the right file again the Model turns Ready without a spec change; an engine restart on the same
 * cache serves everything again without downloading a file. (The cache is content-addressed: a file whose declared
 * hash is already cached is never fetched again, so the tampered Model uses files no other Model declares.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { applyCrds, createTestNamespace, kubeConfig, kubectl, testEnv } from '../harness/env.ts';
import { closeTestEnvPorts, testEnvPorts } from '../harness/env-ports.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import { QUARRY_KINDS, SECRET_KIND } from '#operator/runtime/kinds.ts';
import { servedModelsReader } from '#operator/controllers/collection/served-models.ts';
import { EngineRuntime } from '#engine/app/engine-runtime.ts';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { secretReader } from '#engine/models/custom/secrets.ts';
import { S3ObjectStore } from '#engine/objects/s3.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';

const API = 'quarry.dev/v1alpha1';
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/models');
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-custom-models-cluster-'));
const cacheDir = path.join(scratch, 'model-cache');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const clipFiles = () =>
  ([['vision_model.onnx', 'vision_model'], ['text_model.onnx', 'text_model'], ['tokenizer.json', 'tokenizer'], ['tokenizer_config.json', 'tokenizer_config'], ['preprocessor_config.json', 'preprocessor_config']] as const).map(([p, role]) => ({
    path: p,
    role,
    sha256: sha(path.join(FIXTURES, 'tiny_clip', p)),
  }));
const rerankerFiles = (modelSha = sha(path.join(FIXTURES, 'tiny_reranker/model.onnx'))) => [
  { path: 'model.onnx', role: 'model', sha256: modelSha },
  { path: 'tokenizer.json', role: 'tokenizer', sha256: sha(path.join(FIXTURES, 'tiny_reranker/tokenizer.json')) },
  { path: 'tokenizer_config.json', role: 'tokenizer_config', sha256: sha(path.join(FIXTURES, 'tiny_reranker/tokenizer_config.json')) },
];

let ns: { name: string; cleanup(): Promise<void> };
let ports: { vs: VectorStore; objects: ObjectStore; queue: JobQueue };
let op: Operator;
let engine: EngineRuntime | undefined;
let models: OnnxModels | undefined;
const store = new KubeResourceStore(kubeConfig(), { kinds: [...QUARRY_KINDS, SECRET_KIND], fieldManager: 'quarry-test' });
const hits = new Map<string, number>();
const tampered = new Set<string>();
const server = http.createServer((req, res) => {
  const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  hits.set(p, (hits.get(p) ?? 0) + 1);
  const f = path.join(FIXTURES, p.replace(/^\/good\//, '/tiny_reranker/').replace(/^\/clip\//, '/tiny_clip/'));
  if (!f.startsWith(FIXTURES) || !existsSync(f)) return void res.writeHead(404).end();
  const body = Buffer.from(readFileSync(f));
  if (tampered.has(p)) body[body.length - 5] = body[body.length - 5]! ^ 0xff;
  res.writeHead(200, { 'content-length': body.length }).end(body);
});
let base = '';
const s3bucket = `quarry-cluster-models-${Date.now().toString(36)}`;
let s3: S3ObjectStore;

function startEngine() {
  models = new OnnxModels({ dir: FIXTURES });
  engine = new EngineRuntime({
    resources: store,
    ports: { objects: ports.objects, vectors: ports.vs, queue: ports.queue, models },
    namespaces: [ns.name],
    servedModelsId: `engine-${ns.name}`,
    customModels: {
      cacheDir,
      sources: { allowCidrs: ['127.0.0.0/8'], storagePolicy: { endpoints: [new URL(testEnv().s3.endpoint).host], allowCidrs: [], shared: [] }, readSecret: secretReader(store) },
      resyncMs: 500,
      retryMs: 500,
    },
  });
  return engine.start();
}

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('custom-models');
  ports = await testEnvPorts(path.join(scratch, 'vectors'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const t = testEnv();
  s3 = new S3ObjectStore({ endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true });
  await s3.ensureBucket(s3bucket);
  for (const f of rerankerFiles()) await s3.put(s3bucket, `rerankers/tiny/${f.path}`, readFileSync(path.join(FIXTURES, 'tiny_reranker', f.path)));
  await kubectl(['create', 'secret', 'generic', 'model-reader', `--from-literal=accessKeyId=${t.s3.accessKey}`, `--from-literal=secretAccessKey=${t.s3.secretKey}`], { namespace: ns.name });
  op = new Operator({ kubeConfig: kubeConfig(), reconcilers: reconcilers({ jobQueue: ports.queue, servedModels: servedModelsReader(ports.queue) }), namespaces: [ns.name] });
  await op.start();
  await startEngine();
});

after(async () => {
  await kubectl(['delete', 'models', '--all', '--wait=true', '--timeout=60s'], { namespace: ns.name }).catch(() => {});
  await engine?.stop();
  await models?.close();
  await op?.stop();
  await s3?.deleteBucket(s3bucket, { force: true }).catch(() => {});
  await s3?.close();
  await closeTestEnvPorts(ports);
  await ns?.cleanup();
  await new Promise((r) => server.close(r));
  rmSync(scratch, { recursive: true, force: true });
});

type Cond = { type: string; status: string; reason?: string; message?: string };
async function readyOf(name: string): Promise<{ cond?: Cond; status?: Record<string, unknown> }> {
  const o = await store.get('Model', { namespace: ns.name, name });
  const status = o?.status as ({ conditions?: Cond[] } & Record<string, unknown>) | undefined;
  return { cond: (status?.conditions ?? []).find((c) => c.type === 'Ready'), ...(status ? { status } : {}) };
}
async function waitFor(name: string, pred: (c: Cond | undefined) => boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await readyOf(name);
    if (pred(r.cond)) return r;
    if (Date.now() > deadline) throw new Error(`Model ${name}: Ready is ${JSON.stringify(r.cond)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}
const apply = (name: string, spec: Record<string, unknown>) => store.apply({ apiVersion: API, kind: 'Model', metadata: { name, namespace: ns.name }, spec });

test('https and s3 Models become Ready once served; a tampered file is refused naming it; a fixed hash turns Ready; a restart downloads nothing', async () => {
  await apply('web-reranker', { type: 'reranker', source: { https: { url: `${base}/good/` } }, files: rerankerFiles(), runtime: { maxTokens: 24 } });
  await apply('s3-reranker', { type: 'reranker', source: { s3: { url: `s3://${s3bucket}/rerankers/tiny/`, endpoint: testEnv().s3.endpoint, forcePathStyle: true, credentialsSecretRef: { name: 'model-reader' } } }, files: rerankerFiles(), runtime: { maxTokens: 24 } });
  tampered.add('/clip/vision_model.onnx');
  await apply('tampered-clip', { type: 'image-text', source: { https: { url: `${base}/clip/` } }, files: clipFiles(), runtime: { dimensions: 3 } });

  for (const name of ['web-reranker', 's3-reranker']) {
    const r = await waitFor(name, (c) => c?.status === 'True');
    assert.equal(r.cond!.reason, 'ModelServed');
    assert.equal(r.status!.servedBy, 1);
    assert.equal(r.status!.runtimeName, `${ns.name}/${name}`);
  }
  const bad = await waitFor('tampered-clip', (c) => c?.status === 'False' && c.reason !== 'Delivering');
  assert.equal(bad.cond!.reason, 'HashMismatch');
  assert.match(bad.cond!.message!, /file vision_model\.onnx: sha256 of http:\/\/127\.0\.0\.1:\d+\/clip\/vision_model\.onnx is [0-9a-f]{64}, spec\.files lists/);
  assert.throws(() => models!.info(`${ns.name}/tampered-clip`), /not installed/);
  const generation = (await store.get('Model', { namespace: ns.name, name: 'tampered-clip' }))!.metadata.generation;

  // The engine runs the served ones (the scores are the model's: test/models/custom-delivery.test.ts checks them).
  assert.equal((await models!.rerank(`${ns.name}/s3-reranker`, 'capital of france', ['paris', 'dogs'])).length, 2);

  // The server gets the right file back: the retried delivery serves it, Ready without a spec change.
  tampered.clear();
  await waitFor('tampered-clip', (c) => c?.status === 'True');
  assert.equal((await store.get('Model', { namespace: ns.name, name: 'tampered-clip' }))!.metadata.generation, generation);
  assert.equal((await models!.embedText(`${ns.name}/tampered-clip`, ['a photo of a dog']))[0]!.length, 3);

  // An engine restart on the same cache: both Ready models served again, nothing fetched over https.
  const before = hits.get('/good/model.onnx');
  assert.equal(before, 1);
  await engine!.stop();
  await models!.close();
  await startEngine();
  await engine!.customModels!.idle();
  assert.ok(models!.info(`${ns.name}/web-reranker`));
  assert.ok(models!.info(`${ns.name}/s3-reranker`));
  assert.equal(hits.get('/good/model.onnx'), before, 'the restart downloaded the file again');
});
