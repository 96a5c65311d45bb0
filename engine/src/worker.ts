/**
 * Extraction worker process (cluster mode; the chart's worker Deployment). It discovers every namespace's
 * extraction queue on the job queue (NATS JetStream), consumes them with one shared durable consumer per queue,
 * and runs the jobs with the real models. Jobs carry the collection plan, the blob storage and the namespace; the
 * worker reads Kubernetes only to serve the Model resources (custom models) of the namespaces it watches, read-only
 * (app/worker-models.ts). Scale by adding replicas: they share the consumers.
 */
import os from 'node:os';
import path from 'node:path';
import { logger } from './lib/log.ts';
import { positiveIntSetting } from './lib/env-settings.ts';
import { createJobQueue, jobQueueConfigFromEnv } from './queue/config.ts';
import { createObjectStore, objectStoreConfigFromEnv } from './objects/config.ts';
import { createVectorStore, vectorStoreConfigFromEnv } from './vector/create.ts';
import { OnnxModels } from './models/onnx-models.ts';
import { tenantModels } from './models/custom/tenant-models.ts';
import { startWorkerModels } from './app/worker-models.ts';
import { reportRuntimeModels } from './app/served-models-report.ts';
import { NamespaceIngestion, type ExtractionJob } from './ingestion/pipeline.ts';
import { QuarryError } from './lib/errors.ts';
import type { Subscription } from './ports/job-queue.ts';
import { metricsPortFromEnv, processMetrics, registerPendingJobs, startMetricsServer } from './lib/metrics.ts';

const log = logger('worker');
const QUEUE_PREFIX = 'QUARRY_EXTRACT_';
const dataDir = path.resolve(process.env.QUARRY_DATA_DIR ?? '.quarry');
let concurrency: number;
let discoverEveryMs: number;
try {
  concurrency = positiveIntSetting(process.env, 'WORKER_CONCURRENCY', 2, 'extraction jobs at once per replica');
  discoverEveryMs = positiveIntSetting(process.env, 'WORKER_DISCOVERY_SECONDS', 15, 'seconds between looks for new namespace queues') * 1000;
} catch (err) {
  log.fatal((err as Error).message);
  process.exit(2);
}

// Metrics (QUARRY_METRICS_PORT, default 9090): jobs by queue and outcome, handler durations, pending per queue.
const metrics = processMetrics();
const queue = await createJobQueue({ ...jobQueueConfigFromEnv(process.env, path.join(dataDir, 'queue')), metrics: metrics.jobs });
registerPendingJobs(metrics.registry, queue);
const metricsPort = metricsPortFromEnv(process.env, 9090);
const metricsServer = metricsPort === undefined ? undefined : await startMetricsServer(metrics.registry, { port: metricsPort, host: process.env.QUARRY_METRICS_HOST ?? '0.0.0.0' });
if (metricsServer) log.info({ port: metricsServer.port }, 'metrics on /metrics');
const ports = {
  queue,
  objects: createObjectStore(objectStoreConfigFromEnv(process.env, dataDir)),
  vectors: createVectorStore(vectorStoreConfigFromEnv(process.env)),
  models: new OnnxModels(),
};
// Model resources (custom models): delivered into QUARRY_MODEL_CACHE_DIR when this worker can read Kubernetes.
const customModels = await startWorkerModels({ env: process.env, models: ports.models, objects: ports.objects, dataDir });
const pipelines = new Map<string, NamespaceIngestion>();
const subs = new Map<string, Subscription>();

function pipelineFor(job: ExtractionJob): NamespaceIngestion {
  if (!job.ns || !job.plan || !job.storage) throw new Error(`job of batch ${job.batch_id} lacks its namespace, plan or storage (submitted by an older engine?)`);
  const id = `${job.ns.k8sNamespace}/${job.ns.name}`;
  let p = pipelines.get(id);
  if (!p) {
    const storage = job.storage;
    // The tenant's view of the models: its Model resources by plain name; one this worker does not serve is a retryable 503.
    p = new NamespaceIngestion({ ...ports, models: tenantModels(ports.models, job.ns.k8sNamespace, customModels?.custom) }, {
      key: job.ns,
      collections: async () => {
        throw new QuarryError('BadRequestError', 'workers run jobs with the plans they carry; collections are resolved by the engine');
      },
      storageBucket: async () => storage,
    });
    pipelines.set(id, p);
  }
  return p;
}

async function discover(): Promise<void> {
  for (const name of await queue.listQueues()) {
    if (!name.startsWith(QUEUE_PREFIX) || subs.has(name)) continue;
    subs.set(name, await queue.consume<ExtractionJob>(name, { consumer: 'extraction-workers', concurrency }, (job, ctx) => pipelineFor(job.data).process(job.data, ctx)));
    log.info({ queue: name, concurrency }, 'consuming');
  }
}

await discover();
const timer = setInterval(() => void discover().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'queue discovery failed')), discoverEveryMs);
log.info({ queues: [...subs.keys()] }, 'worker up');
// Which models this worker serves (built-in and delivered Model resources), for the operator's readiness.
const report = reportRuntimeModels(queue, {
  id: `worker-${process.env.POD_NAME ?? `${os.hostname()}-${process.pid}`}`,
  roles: ['worker'],
  models: ports.models,
  custom: customModels?.custom,
});
customModels?.onSynced(() => report.beat());

const shutdown = async (signal: string) => {
  log.info({ signal }, 'shutting down: finishing jobs in flight');
  clearInterval(timer);
  await report.stop();
  await customModels?.stop();
  for (const s of subs.values()) await s.stop();
  for (const p of pipelines.values()) await p.idle(); // a compaction after a finished batch
  await queue.close();
  await metricsServer?.close();
  await ports.vectors.close();
  await ports.models.close();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
