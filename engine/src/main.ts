/**
 * The engine process.
 * - Local mode (default; `make up`): the reconcilers, the engine and the workers in this one process on the
 *   embedded adapters, resources from a folder of manifests (`QUARRY_MANIFESTS`, default examples/, watched), state
 *   under `QUARRY_DATA_DIR` (default .quarry/). On first start the sample data is ingested and a curl printed.
 *   `WORKER_CONCURRENCY` (as for the worker process) is how many extraction jobs run at once (default 2).
 * - Cluster mode (`QUARRY_MODE=cluster`, the chart's engine Deployment): the API over the custom resources in the
 *   Kubernetes API (read through watches, field manager `quarry-engine`), with the S3 / NATS / Qdrant adapters from
 *   the environment, as the operator's ports are configured. Extraction runs in the worker Deployment
 *   (`QUARRY_ENGINE_WORKERS=<n>` runs workers in the engine too). It serves the Kubernetes namespaces of
 *   `WATCH_NAMESPACES` (comma-separated, empty = all; the operator's setting, the chart sets both alike); each API key
 *   is bound to one of them (auth/tenancy.ts). Every request needs an API key: the key Secrets live in
 *   `QUARRY_API_KEYS_NAMESPACE` (else POD_NAMESPACE, else the pod's own namespace); with none known it does not start.
 * Port: `--port` or `QUARRY_PORT` (default 8080); address: `--host` or `QUARRY_HOST` (default 127.0.0.1); in local mode
 * `--public-url` or `QUARRY_PUBLIC_URL` is the address clients use (printed and presigned URLs; behind a proxy).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { logger } from './lib/log.ts';
import { positiveIntSetting } from './lib/env-settings.ts';

const log = logger('main');
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: args } = parseArgs({
  options: { port: { type: 'string' }, host: { type: 'string' }, 'data-dir': { type: 'string' }, manifests: { type: 'string' }, 'public-url': { type: 'string' } },
  strict: false,
});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const port = Number(str(args.port) ?? process.env.QUARRY_PORT ?? 8080);
const host = str(args.host) ?? process.env.QUARRY_HOST ?? '127.0.0.1';
const mode = process.env.QUARRY_MODE ?? 'local';
const publicUrl = str(args['public-url']) ?? process.env.QUARRY_PUBLIC_URL;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log.fatal({ port }, '--port / QUARRY_PORT must be a port number (0-65535)');
  process.exit(2);
}

let stop: () => Promise<void>;
if (mode === 'local') {
  let workerConcurrency: number;
  try {
    workerConcurrency = positiveIntSetting(process.env, 'WORKER_CONCURRENCY', 2, 'extraction jobs at once');
  } catch (err) {
    log.fatal((err as Error).message);
    process.exit(2);
  }
  const { startLocal, banner } = await import('./app/local-runtime.ts');
  const rt = await startLocal({
    workerConcurrency,
    dataDir: path.resolve(str(args['data-dir']) ?? process.env.QUARRY_DATA_DIR ?? path.join(ROOT, '.quarry')),
    manifestsDir: path.resolve(str(args.manifests) ?? process.env.QUARRY_MANIFESTS ?? path.join(ROOT, 'examples')),
    host,
    port,
    ...(publicUrl ? { publicUrl } : {}),
  });
  stop = rt.stop;
  log.info({ url: rt.url, namespaces: [...rt.namespaces.keys()] }, 'Quarry is up (local mode)');
  process.stdout.write(`${banner(rt)}\n`);
} else {
  stop = await startCluster();
}

async function startCluster(): Promise<() => Promise<void>> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { KubeResourceStore } = await import('#operator/runtime/kube-resource-store.ts');
  const { QUARRY_KINDS, SECRET_KIND } = await import('#operator/runtime/kinds.ts');
  const { createVectorStore, vectorStoreConfigFromEnv } = await import('./vector/create.ts');
  const { createObjectStore, objectStoreConfigFromEnv } = await import('./objects/config.ts');
  const { createJobQueue, jobQueueConfigFromEnv } = await import('./queue/config.ts');
  const { OnnxModels } = await import('./models/onnx-models.ts');
  const { llmFromEnv, namespaceLlmOptionsFromEnv } = await import('./llm/from-env.ts');
  const { LlmMetrics } = await import('./llm/metrics.ts');
  const { EngineRuntime } = await import('./app/engine-runtime.ts');
  const { secretReader } = await import('./models/custom/secrets.ts');
  const { MODEL_UPLOADS_BUCKET } = await import('./models/custom/sources.ts');
  const { buildEngineApp } = await import('./app/engine-app.ts');
  const env = process.env;
  const dataDir = path.resolve(env.QUARRY_DATA_DIR ?? '.quarry');
  const kc = new KubeConfig();
  kc.loadFromDefault(); // in-cluster service account, or $KUBECONFIG
  const resources = new KubeResourceStore(kc, { kinds: [...QUARRY_KINDS, SECRET_KIND], fieldManager: 'quarry-engine' });
  // Like the operator's ports: a service that is down or misconfigured makes the requests that need it fail with
  // the reason (503), it does not stop the engine from starting. The queue connects on first use and retries.
  const { lazyJobQueue } = await import('#operator/ports.ts');
  const { unavailable } = await import('./app/unavailable.ts');
  const open = <T extends object>(port: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      log.error({ port, err: err instanceof Error ? err.message : String(err) }, 'port not available; requests needing it fail until the engine is reconfigured');
      return unavailable<T>(port, err);
    }
  };
  // Metrics on their own port (QUARRY_METRICS_PORT, default 9090), apart from the API and its keys.
  const { processMetrics, registerPendingJobs, startMetricsServer, metricsPortFromEnv } = await import('./lib/metrics.ts');
  const { registerEmbeddedReadMetrics } = await import('./vector/metrics.ts');
  const metrics = processMetrics();
  const queueConfig = { ...jobQueueConfigFromEnv(env, path.join(dataDir, 'queue')), metrics: metrics.jobs };
  const queue = lazyJobQueue(queueConfig.kind, () => createJobQueue(queueConfig));
  registerPendingJobs(metrics.registry, queue);
  registerEmbeddedReadMetrics(metrics.registry); // zero unless QUARRY_VECTOR_STORE=embedded
  const llmMetrics = new LlmMetrics(metrics.registry);
  const ports = {
    queue,
    objects: open('object store', () => createObjectStore(objectStoreConfigFromEnv({ ...env, QUARRY_OBJECT_STORE: env.QUARRY_OBJECT_STORE ?? 's3' }, dataDir))),
    vectors: open('vector store', () => createVectorStore(vectorStoreConfigFromEnv(env))),
    models: open('models', () => new OnnxModels()),
    llm: (() => {
      try {
        return llmFromEnv(env, llmMetrics);
      } catch (err) {
        log.error({ port: 'llm', err: err instanceof Error ? err.message : String(err) }, 'LLM not configured correctly; the LLM stages are refused');
        return undefined;
      }
    })(),
  };
  const { parseNamespaces } = await import('#operator/runtime/config.ts');
  const namespaces = parseNamespaces(env.WATCH_NAMESPACES);
  // API keys in cluster mode: Secrets in QUARRY_API_KEYS_NAMESPACE, the chart's bootstrap key adopted at start. No
  // namespace for them, no engine: it never serves without keys.
  const { clusterAuthFromEnv, apiKeysNamespaceFromEnv } = await import('./auth/kube-secret-store.ts');
  let auth: Awaited<ReturnType<typeof clusterAuthFromEnv>>;
  try {
    auth = await clusterAuthFromEnv(kc, env);
  } catch (err) {
    log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'cannot authenticate requests; not starting');
    process.exit(2);
  }
  const { hostname } = await import('node:os');
  const runtime = new EngineRuntime({
    resources,
    ports,
    namespaces,
    workerConcurrency: Number(env.QUARRY_ENGINE_WORKERS ?? 0),
    // What this engine serves (query embedding, rerank), for the operator's readiness of Retrievers.
    servedModelsId: `engine-${env.POD_NAME ?? `${hostname()}-${process.pid}`}`,
    // Model resources: fetched, verified and cached under QUARRY_MODEL_CACHE_DIR (an emptyDir or volume survives restarts).
    customModels: { cacheDir: path.resolve(env.QUARRY_MODEL_CACHE_DIR ?? path.join(dataDir, 'model-cache')), sources: { readSecret: secretReader(resources), uploads: { store: ports.objects, bucket: MODEL_UPLOADS_BUCKET } } },
    // QuarryNamespace spec.llm: API keys from Secrets in the namespace's own Kubernetes namespace.
    namespaceLlms: { ...namespaceLlmOptionsFromEnv(env, llmMetrics), readSecret: secretReader(resources) },
  });
  await runtime.start();
  const app = await buildEngineApp({
    auth,
    objects: ports.objects,
    namespace: (name) => runtime.namespace(name),
    findNamespaces: (ident, k8s) => runtime.findNamespaces(ident, k8s),
    objectName: (ns, kind, ident) => runtime.objectName(ns, kind, ident),
    retrievers: runtime.retrievers,
    resources,
    // Served Kubernetes namespaces (the tenants); keys are bound to one of them.
    k8sNamespaces: namespaces.length > 0 ? namespaces : 'all',
    // Where a cluster-wide key creates without X-Kubernetes-Namespace, and the binding of keys stored without one:
    // the first watched namespace, else the engine's own.
    k8sNamespace: namespaces[0] ?? apiKeysNamespaceFromEnv(env) ?? 'default',
    health: ports,
    metrics: metrics.registry,
  });
  await app.listen({ port, host });
  const metricsPort = metricsPortFromEnv(env, 9090);
  const metricsServer = metricsPort === undefined ? undefined : await startMetricsServer(metrics.registry, { port: metricsPort, host: env.QUARRY_METRICS_HOST ?? host });
  if (metricsServer) log.info({ port: metricsServer.port }, 'metrics on /metrics');
  log.info({ url: `http://${host}:${port}`, namespaces: namespaces.length ? namespaces : 'all' }, 'engine up (cluster mode)');
  return async () => {
    await app.close();
    await metricsServer?.close();
    await runtime.stop();
    await queue.close();
    await ports.vectors.close();
    await ports.models.close();
    await ports.llm?.close();
  };
}

const shutdown = async (signal: string) => {
  log.info({ signal }, 'shutting down');
  await stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
