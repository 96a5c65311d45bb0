/**
 * Custom models on the standalone extraction worker (engine/src/worker.ts, the chart's split mode): the worker
 * process watches the Model resources on the test apiserver (KUBECONFIG, WATCH_NAMESPACES), delivers them from an
 * https source on loopback, and reports them; the operator makes the Model and the Collection that names it Ready
 * because the worker serves it (no engine here serves custom models). The engine side submits solid-colour images;
 * the worker embeds them with the custom CLIP, and every stored vector is the one the bare model computes. A worker
 * restarted on the same cache serves the model again without downloading a file; a worker told not to serve Model
 * resources serves none.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { applyCrds, createTestNamespace, kubeConfig, testEnv } from '../harness/env.ts';
import { privateNatsPrefix, closeTestEnvPorts, testEnvPorts } from '../harness/env-ports.ts';
import { ROOT } from '../harness/test-env.ts';
import { BareTinyClip, cosine, solidPng, TINY_CLIP_DIR, type Rgb } from '../harness/tiny-clip.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import { QUARRY_KINDS, SECRET_KIND } from '#operator/runtime/kinds.ts';
import { servedModelsReader } from '#operator/controllers/collection/served-models.ts';
import { EngineRuntime } from '#engine/app/engine-runtime.ts';
import { createVectorStore } from '#engine/vector/create.ts';
import { vectorCollectionName } from '#core/naming.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';
import { engineSideModels } from '../harness/engine-side-models.ts';

const API = 'quarry.dev/v1alpha1';
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-worker-models-'));
const vectorsDir = path.join(scratch, 'vectors');
const natsPrefix = privateNatsPrefix();
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const CLIP_FILES = (['vision_model.onnx', 'text_model.onnx', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json'] as const).map((p) => ({
  path: p,
  role: p.replace(/\.(onnx|json)$/, ''),
  sha256: sha(path.join(TINY_CLIP_DIR, p)),
}));
const COLOURS: Rgb[] = [
  [230, 20, 20],
  [20, 200, 40],
  [30, 40, 220],
  [240, 220, 30],
  [120, 30, 160],
];


let ns: { name: string; cleanup(): Promise<void> };
let ports: { vs: VectorStore; objects: ObjectStore; queue: JobQueue };
let op: Operator;
let engine: EngineRuntime;
const workers = new Set<ChildProcess>();
const store = new KubeResourceStore(kubeConfig(), { kinds: [...QUARRY_KINDS, SECRET_KIND], fieldManager: 'quarry-test' });
const hits = new Map<string, number>();
const server = http.createServer((req, res) => {
  const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  hits.set(p, (hits.get(p) ?? 0) + 1);
  const f = path.join(TINY_CLIP_DIR, p.replace(/^\/clip\//, ''));
  if (!f.startsWith(TINY_CLIP_DIR) || !existsSync(f)) return void res.writeHead(404).end();
  const body = readFileSync(f);
  res.writeHead(200, { 'content-length': body.length }).end(body);
});

function startWorker(id: string, extraEnv: Record<string, string> = {}): ChildProcess & { log: string } {
  const t = testEnv();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'engine', 'src', 'worker.ts')], {
    env: {
      ...process.env,
      KUBECONFIG: t.kubeconfig,
      WATCH_NAMESPACES: ns.name,
      POD_NAME: id,
      NATS_URL: t.natsUrl,
      NATS_STREAM_PREFIX: natsPrefix,
      S3_ENDPOINT: t.s3.endpoint,
      S3_ACCESS_KEY: t.s3.accessKey,
      S3_SECRET_KEY: t.s3.secretKey,
      S3_FORCE_PATH_STYLE: 'true',
      QUARRY_VECTOR_STORE: 'embedded',
      QUARRY_DATA_DIR: scratch,
      QUARRY_MODEL_CACHE_DIR: path.join(scratch, 'worker-model-cache'),
      QUARRY_FETCH_ALLOW_CIDRS: '127.0.0.0/8',
      QUARRY_METRICS_PORT: '0',
      QUARRY_MODEL_THREADS: '1',
      WORKER_CONCURRENCY: '1',
      WORKER_DISCOVERY_SECONDS: '1',
      LOG_LEVEL: 'info',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { log: string };
  child.log = '';
  const keep = (d: Buffer) => void (child.log = (child.log + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  workers.add(child);
  child.on('exit', () => workers.delete(child));
  return child;
}

async function stopWorker(w: ChildProcess): Promise<void> {
  if (w.exitCode !== null) return;
  const exited = new Promise((r) => w.once('exit', r));
  w.kill('SIGTERM');
  await exited;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000, detail = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

type Cond = { type: string; status: string; reason?: string; message?: string };
async function ready(kind: string, name: string): Promise<Cond | undefined> {
  const o = await store.get(kind, { namespace: ns.name, name });
  return ((o?.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready');
}

/** The custom models (this test's namespace) the workers' served-models reports list. */
async function servedByWorkers(): Promise<string[]> {
  const all = (await servedModelsReader(ports.queue, { cacheMs: 0 }).servedBy('worker')) ?? [];
  return all.filter((m) => m.name.startsWith(`${ns.name}/`)).map((m) => m.name);
}

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('worker-models');
  ports = await testEnvPorts(vectorsDir, { natsPrefix });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  op = new Operator({
    kubeConfig: kubeConfig(),
    reconcilers: reconcilers({ vectorStore: ports.vs, objectStore: ports.objects, jobQueue: ports.queue, servedModels: servedModelsReader(ports.queue) }),
    namespaces: [ns.name],
  });
  await op.start();
  engine = new EngineRuntime({ resources: store, ports: { objects: ports.objects, vectors: ports.vs, queue: ports.queue, models: engineSideModels }, namespaces: [ns.name] });
  await engine.start();
});

after(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await engine?.stop();
  await op?.stop();
  await closeTestEnvPorts(ports);
  await ns?.cleanup();
  await new Promise((r) => server.close(r));
  rmSync(scratch, { recursive: true, force: true });
});

test('a standalone worker delivers a Model, embeds a Collection with it as the bare model does, and re-uses its cache on restart', async () => {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fx = { name: 'image_extractor', version: 'v1', params: { model: 'clip', dimensions: 3 } };
  await store.apply({ apiVersion: API, kind: 'Model', metadata: { name: 'clip', namespace: ns.name }, spec: { type: 'image-text', source: { https: { url: `${base}/clip/` } }, files: CLIP_FILES, runtime: { dimensions: 3 } } });
  await store.apply({ apiVersion: API, kind: 'QuarryNamespace', metadata: { name: 'gallery', namespace: ns.name }, spec: { featureExtractors: [fx] } });
  await store.apply({ apiVersion: API, kind: 'Bucket', metadata: { name: 'photos', namespace: ns.name }, spec: { namespaceRef: 'gallery', schema: { properties: { photo: { type: 'image' } } } } });
  await store.apply({
    apiVersion: API,
    kind: 'Collection',
    metadata: { name: 'pics', namespace: ns.name },
    spec: { namespaceRef: 'gallery', source: { bucketRefs: ['photos'] }, featureExtractor: { ...fx, parameters: { enable_thumbnails: false } } },
  });

  // A worker told not to serve Model resources serves none: the Collection waits, naming the model.
  const plain = startWorker('plain-worker', { QUARRY_WORKER_MODEL_RESOURCES: 'false' });
  const waiting = await until('the Collection to wait for a worker serving the model', async () => {
    const c = await ready('Collection', 'pics');
    return c?.reason === 'ModelNotServed' ? c : undefined;
  });
  assert.equal(waiting.status, 'False');
  assert.match(waiting.message!, /clip/);
  assert.equal(hits.size, 0, 'nothing fetched by a worker that does not serve Model resources');
  await stopWorker(plain);
  assert.match(plain.log, /serving built-in models only, not Model resources/);

  // The serving worker: the Model and the Collection turn Ready because it serves the model.
  const first = startWorker('models-worker-1');
  const modelReady = await until('the Model to be Ready', async () => {
    const c = await ready('Model', 'clip');
    return c?.status === 'True' ? c : undefined;
  }, 90_000, () => first.log.slice(-3000));
  assert.equal(modelReady.reason, 'ModelServed');
  assert.deepEqual(await servedByWorkers(), [`${ns.name}/clip`]);
  await until('the Collection to be Ready', async () => ((await ready('Collection', 'pics'))?.status === 'True' ? true : undefined), 60_000, () => first.log.slice(-3000));
  const downloads = hits.get('/clip/vision_model.onnx');
  assert.equal(downloads, 1);

  // Images in, embedded by the worker with the custom model.
  const gallery = await engine.namespace('gallery');
  const ids: string[] = [];
  for (const [i, rgb] of COLOURS.entries()) {
    const blob = await gallery.storeBlob('photos', `img${i}`, 'photo', 'image', await solidPng(rgb), 'image/png');
    ids.push((await gallery.putObject({ object_id: `img${i}`, bucket: 'photos', metadata: {}, blobs: [blob] })).object_id);
  }
  const batch = await gallery.createBatch('photos', ids);
  await gallery.submit(batch.batch_id);
  const done = await until('the batch to finish', async () => {
    const b = await gallery.getBatch(batch.batch_id);
    return ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED'].includes(b.status) ? b : undefined;
  }, 120_000, () => first.log.slice(-3000));
  assert.equal(done.status, 'COMPLETED', JSON.stringify(done).slice(0, 1500));

  const vectorName = ((await store.get('Collection', { namespace: ns.name, name: 'pics' }))?.status as { vectorIndexes?: { name: string }[] }).vectorIndexes?.[0]?.name;
  assert.ok(vectorName, 'the Collection reports its vector index');
  // A fresh connection sees the worker's writes: this process's store (one per data directory, vector/create.ts)
  // cached the table before they wrote, so the operator and the engine, its users, stop first.
  await engine.stop();
  await op.stop();
  await ports.vs.close();
  const reader = createVectorStore({ kind: 'embedded', dataDir: vectorsDir });
  try {
    const page = await reader.scroll(vectorCollectionName({ k8sNamespace: ns.name, name: 'gallery' }), { limit: 50, withVectors: true, withPayload: true });
    const clip = await new BareTinyClip().open();
    const byIndex = new Map(page.points.map((p) => [Number(String((p.payload as { root_object_id?: string }).root_object_id).slice(3)), p]));
    assert.equal(byIndex.size, COLOURS.length, JSON.stringify(page.points.map((p) => p.payload)).slice(0, 1000));
    for (const [i, rgb] of COLOURS.entries()) {
      const v: Float32Array | undefined = byIndex.get(i)?.vectors?.[vectorName!];
      assert.ok(v, `image ${i} has no ${vectorName} vector`);
      assert.equal(v.length, 3);
      assert.ok(cosine(v, await clip.solid(rgb)) > 0.999, `image ${i}: stored ${[...v]} is not the bare model's embedding`);
    }
  } finally {
    await reader.close();
  }

  // A restart on the same cache: the model is served again, nothing fetched.
  await stopWorker(first);
  const second = startWorker('models-worker-2');
  await until('the restarted worker to serve the model', async () => (second.log.includes('custom model served') ? true : undefined), 60_000, () => second.log.slice(-3000));
  assert.equal(hits.get('/clip/vision_model.onnx'), downloads, 'the restart downloaded the model again');
  await stopWorker(second);
});
