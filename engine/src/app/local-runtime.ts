/**
 * Local mode: one process runs the operator's reconcilers, the engine and the extraction workers on the embedded
 * adapters (LanceDB vectors, local-disk objects, in-process queue). Resources come from a folder of manifests
 * (watched: an edited file reconciles) into a LocalResourceStore; the same reconciler code as in a cluster
 * provisions and writes status there, and the same engine runtime as in a cluster serves what is Ready.
 * Everything lives under one data directory and survives restarts. On first start the sample in
 * the sample (engine/sample-data/, for examples/sample-data/quickstart.yaml) is ingested, and the URL plus a ready-to-paste curl are printed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { logger } from '../lib/log.ts';
import type { JobQueue } from '../ports/job-queue.ts';
import type { Models } from '../ports/models.ts';
import type { VectorStore } from '../ports/vector-store.ts';
import { LocalObjectStore } from '../objects/local.ts';
import { removeStaleSnapshots, sweepOrphanBlobs } from '../objects/crash-recovery.ts';
import { MemoryJobQueue } from '../queue/memory.ts';
import { createVectorStore, vectorStoreConfigFromEnv } from '../vector/create.ts';
import { OnnxModels } from '../models/onnx-models.ts';
import { FileApiKeyStore } from '../auth/file-store.ts';
import { createApiKey, verifyApiKey } from '../auth/keys.ts';
import type { NamespaceIngestion } from '../ingestion/pipeline.ts';
import { LocalResourceStore } from '../store/local-resource-store.ts';
import { ManifestSource } from '../store/manifest-source.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { logEventSink } from '#operator/runtime/events.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import { buildEngineApp } from './engine-app.ts';
import { EngineRuntime } from './engine-runtime.ts';
import { servedModelsReader } from '#operator/controllers/collection/served-models.ts';
import { MODEL_UPLOADS_BUCKET } from '../models/custom/sources.ts';
import { llmFromEnv, namespaceLlmOptionsFromEnv } from '../llm/from-env.ts';
import { localSecretReader } from '../store/local-secrets.ts';
import type { LLM } from '../ports/llm.ts';
import { previousSeed, readSample, seedSample, waitForReady, writeSeedMarker, type SeedResult } from './seed.ts';

const log = logger('local');
/** The Kubernetes namespace manifests without one land in (vector collections and buckets are named after it). */
export const LOCAL_K8S_NAMESPACE = 'local';
const PRESIGN_PREFIX = '/v1/_objects';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The sample's files and object list: outside examples/, which kubectl, Argo CD and Flux read as manifests. */
export const DEFAULT_SAMPLE_DIR = path.join(ROOT, 'engine', 'sample-data');

export interface LocalOptions {
  dataDir: string;
  manifestsDir: string;
  host: string;
  port: number;
  workerConcurrency?: number;
  models?: Models;
  /** The LLM for the LLM stages (default: from the environment, engine/src/llm/from-env.ts); null: none. */
  llm?: LLM | null;
  /** Seed the sample on first start (default true; needs the sample's manifests in manifestsDir). */
  seed?: boolean;
  sampleDir?: string;
  /** Budget for the sample's resources to become Ready and its batches to finish (default 10 minutes). */
  seedTimeoutMs?: number;
  /** Reconcilers' resync period (default 60 s). */
  resyncMs?: number;
  /** Re-read the manifests folder this long after a change (default 250 ms). */
  manifestDebounceMs?: number;
  /** Require an API key (Bearer) on every request but health (default true). */
  auth?: boolean;
  /**
   * The URL clients reach this server at, for printed URLs and presigned object URLs (default: http://host:port with
   * the port actually bound, and 127.0.0.1 for a wildcard host such as 0.0.0.0).
   */
  publicUrl?: string;
}

/** A request that executes the sample's retriever: what the printed curl sends. */
export interface ExampleRequest {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

export interface LocalRuntime {
  app: FastifyInstance;
  url: string;
  /** The local API key (Authorization: Bearer …); undefined with `auth: false`. */
  apiKey?: string;
  store: LocalResourceStore;
  manifests: ManifestSource;
  operator: Operator;
  runtime: EngineRuntime;
  vectors: VectorStore;
  queue: JobQueue;
  objects: LocalObjectStore;
  /** The ingestion pipeline of a Ready QuarryNamespace. */
  namespace(name: string): Promise<NamespaceIngestion>;
  /** The QuarryNamespaces served now (Ready), name → Kubernetes namespace. */
  readonly namespaces: ReadonlyMap<string, string>;
  /** The sample seeding (this start's, or the one recorded in the data directory). */
  seed?: SeedResult;
  example?: ExampleRequest;
  curl?: string;
  stop(): Promise<void>;
}

const LOCAL_KEY_FILE = 'local-api-key';

/**
 * The local API key: created on first start (all namespaces) in the file-backed key store under the data
 * directory. The store keeps only its hash, so the plaintext is also kept in `<data dir>/local-api-key` (mode 0600,
 * like the rest of the data directory it is the local user's) to print it again after a restart. Revoked or lost:
 * a new one is created.
 */
async function localApiKey(keys: FileApiKeyStore, dataDir: string): Promise<string> {
  const file = path.join(dataDir, LOCAL_KEY_FILE);
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    if ((await verifyApiKey(keys, saved)).ok) return saved;
  }
  const { key } = await createApiKey(keys, { name: 'local', namespaces: '*' });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  log.info({ file }, 'created the local API key');
  return key;
}

function persistentSecret(dataDir: string): string {
  const file = path.join(dataDir, 'presign.secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

export function exampleRequest(url: string, seed: Pick<SeedResult, 'namespace' | 'retriever' | 'query'>, apiKey?: string): ExampleRequest {
  return {
    method: 'POST',
    url: `${url}/v1/retrievers/${seed.retriever}/execute`,
    headers: { 'X-Namespace': seed.namespace, 'Content-Type': 'application/json', ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
    body: { inputs: { query: seed.query }, limit: 5 },
  };
}

export function curlOf(req: ExampleRequest): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const headers = Object.entries(req.headers).map(([k, v]) => `-H ${q(`${k}: ${v}`)}`);
  return ['curl -s -X POST', q(req.url), ...headers, '-d', q(JSON.stringify(req.body))].join(' ');
}

function checkedPublicUrl(url: string): string {
  if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url)) {
    throw new Error(`--public-url / QUARRY_PUBLIC_URL must be an http(s) URL such as http://quarry.example:8080 (got ${JSON.stringify(url)})`);
  }
  return url.replace(/\/+$/, '');
}

/** Where clients reach a server bound to `opts.host` on `port`. */
export function publicUrl(opts: Pick<LocalOptions, 'host' | 'publicUrl'>, port: number): string {
  if (opts.publicUrl) return checkedPublicUrl(opts.publicUrl);
  const wildcard = opts.host === '0.0.0.0' || opts.host === '::' || opts.host === '';
  const host = wildcard ? '127.0.0.1' : opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return `http://${host}:${port}`;
}

export async function startLocal(opts: LocalOptions): Promise<LocalRuntime> {
  if (opts.publicUrl) checkedPublicUrl(opts.publicUrl);
  mkdirSync(opts.dataDir, { recursive: true });
  const models = opts.models ?? new OnnxModels();
  const llm = opts.llm === undefined ? llmFromEnv() : (opts.llm ?? undefined);
  // QUARRY_VECTOR_STORE / QDRANT_URL and the embedded store's index settings come from the environment, as in the
  // engine; the embedded store lives under this data directory.
  const vectors = createVectorStore(vectorStoreConfigFromEnv(process.env, path.join(opts.dataDir, 'vectors')));
  // Presigned URLs are keyed to the served address, known once the server listens (the port may be 0: any free one).
  const objects = new LocalObjectStore({ root: path.join(opts.dataDir, 'objects'), presignSecret: persistentSecret(opts.dataDir) });
  const queue = new MemoryJobQueue({ dataDir: path.join(opts.dataDir, 'queue') });
  const store = new LocalResourceStore({ file: path.join(opts.dataDir, 'resources.json'), fieldManager: 'quarry-operator' });

  const manifests = new ManifestSource({
    dir: opts.manifestsDir,
    store,
    namespace: LOCAL_K8S_NAMESPACE,
    ...(opts.manifestDebounceMs !== undefined ? { debounceMs: opts.manifestDebounceMs } : {}),
  });
  const first = await manifests.start();
  log.info({ dir: opts.manifestsDir, applied: first.applied.length, deleted: first.deleted.length, errors: first.errors.length }, 'manifests applied');
  // After a crash (kill -9): interrupted writes and blobs no record points at go before anything is counted.
  await removeStaleSnapshots(path.join(opts.dataDir, 'queue'));
  await removeStaleSnapshots(opts.dataDir); // resources.json's
  await objects.recover();
  await sweepOrphanBlobs({ store, k8sNamespace: LOCAL_K8S_NAMESPACE, objects, queue, olderThan: new Date() });
  // The operator's reconcilers, unchanged, on the local store (started after the folder is applied, so their first
  // reconciles see every object); events go to the log.
  const operator = new Operator({
    store,
    eventSink: logEventSink('local-events'),
    identity: 'local',
    // modelServing: Models are Ready once this process serves them (its own report in the in-process queue's KV).
    reconcilers: reconcilers({ vectorStore: vectors, objectStore: objects, jobQueue: queue, modelServing: servedModelsReader(queue), ...(opts.resyncMs ? { resyncMs: opts.resyncMs } : {}) }),
  });
  await operator.start();

  const runtime = new EngineRuntime({
    resources: store.as('quarry-engine'),
    ports: { objects, vectors, queue, models, ...(llm ? { llm } : {}) },
    workerConcurrency: opts.workerConcurrency ?? 2,
    servedModelsId: 'local',
    // Model resources of the manifests folder: files cached in the data directory (QUARRY_MODEL_VOLUME_ROOTS for volume sources).
    customModels: { cacheDir: path.join(opts.dataDir, 'model-cache'), sources: { uploads: { store: objects, bucket: MODEL_UPLOADS_BUCKET } } },
    // QuarryNamespace spec.llm: API keys from the local secrets store, <data dir>/secrets/<name>/<key>.
    namespaceLlms: { ...namespaceLlmOptionsFromEnv(), readSecret: localSecretReader(path.join(opts.dataDir, 'secrets'), LOCAL_K8S_NAMESPACE) },
  });
  await runtime.start();

  const keys = new FileApiKeyStore(opts.dataDir);
  const apiKey = opts.auth === false ? undefined : await localApiKey(keys, opts.dataDir);

  const app = await buildEngineApp({
    retrievers: runtime.retrievers,
    objects,
    resources: store.as('quarry-engine'),
    k8sNamespace: LOCAL_K8S_NAMESPACE,
    ...(opts.auth === false ? {} : { auth: { keys } }),
    namespace: (name) => runtime.namespace(name),
    findNamespaces: (ident, k8s) => runtime.findNamespaces(ident, k8s),
    objectName: (ns, kind, ident) => runtime.objectName(ns, kind, ident),
    localPresignPrefix: PRESIGN_PREFIX,
  });
  await app.listen({ host: opts.host, port: opts.port });
  const url = publicUrl(opts, (app.server.address() as AddressInfo).port);
  objects.setBaseUrl(`${url}${PRESIGN_PREFIX}`);

  const rt: LocalRuntime = {
    app,
    url,
    ...(apiKey ? { apiKey } : {}),
    store,
    manifests,
    operator,
    runtime,
    vectors,
    queue,
    objects,
    namespace: (name) => runtime.namespace(name),
    get namespaces() {
      return new Map(runtime.servedNamespaces().map((id) => [id.slice(id.indexOf('/') + 1), id.slice(0, id.indexOf('/'))] as const));
    },
    async stop() {
      await manifests.stop();
      await operator.stop();
      await app.close();
      await runtime.stop();
      await queue.close();
      await vectors.close();
      await models.close();
      await llm?.close();
    },
  };

  // A sample that cannot be ingested (a model missing, a timeout) is reported, not fatal: Quarry still serves.
  const seed = opts.seed === false ? previousSeed(opts.dataDir) : await seedOnce(opts, store, runtime).catch((err: unknown) => {
    log.error({ err: err instanceof Error ? err.message : String(err) }, 'seeding the sample data failed; it is retried on the next start');
    return undefined;
  });
  if (seed) {
    rt.seed = seed;
    rt.example = exampleRequest(url, seed, apiKey);
    rt.curl = curlOf(rt.example);
  }
  return rt;
}

/** Seeds the sample unless the data directory says it was seeded; returns what was (or had been) seeded. */
async function seedOnce(opts: LocalOptions, store: LocalResourceStore, runtime: EngineRuntime): Promise<SeedResult | undefined> {
  const done = previousSeed(opts.dataDir);
  if (done) return done;
  const sampleDir = opts.sampleDir ?? DEFAULT_SAMPLE_DIR;
  const sample = readSample(sampleDir);
  if (!sample) return undefined;
  if (!(await store.get('QuarryNamespace', { namespace: LOCAL_K8S_NAMESPACE, name: sample.namespace }))) {
    log.info({ namespace: sample.namespace, manifests: opts.manifestsDir }, 'the sample namespace is not in the manifests folder: not seeding');
    return undefined;
  }
  const timeoutMs = opts.seedTimeoutMs ?? 10 * 60_000;
  log.info({ namespace: sample.namespace, objects: sample.objects.length }, 'first start: seeding the sample data');
  await waitForReady(store, LOCAL_K8S_NAMESPACE, sample.namespace, timeoutMs);
  const ingestion = await waitFor(() => runtime.namespace(sample.namespace), timeoutMs);
  const batches = await seedSample(ingestion, sample, sampleDir, timeoutMs);
  const result: SeedResult = { namespace: sample.namespace, retriever: sample.retriever, query: sample.query, batches, seededAt: new Date().toISOString() };
  // Only a complete seed is recorded; otherwise the next start seeds again (fixed object ids: it overwrites).
  if (batches.every((b) => b.status === 'COMPLETED')) writeSeedMarker(opts.dataDir, result);
  else log.warn({ batches }, 'the sample was ingested with errors (see the log); it is seeded again on the next start');
  return result;
}

async function waitFor<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** What `make up` / `quarry up` print once local mode is ready. */
export function banner(rt: Pick<LocalRuntime, 'url' | 'apiKey' | 'curl' | 'seed'>): string {
  const lines = [``, `Quarry is running (local mode) at ${rt.url}`, `  health:  curl -s ${rt.url}/v1/health`];
  if (rt.apiKey) lines.push(`  API key: ${rt.apiKey}   (send it as Authorization: Bearer <key>)`);
  if (rt.curl && rt.seed) {
    lines.push(``, `Search the sample data (retriever ${rt.seed.retriever} in namespace ${rt.seed.namespace}):`, ``, `  ${rt.curl}`, ``);
  }
  return lines.join('\n');
}
