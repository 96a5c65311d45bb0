/**
 * Prometheus metrics of the engine and worker processes (prom-client): one registry per process with the standard
 * `process_*` / `nodejs_*` default metrics, unprefixed so stock Node.js dashboards work; the job queue's own series
 * (`quarry_jobs_total`, `quarry_job_handler_duration_seconds`, JobMetrics); `quarry_jobs_pending{queue}`, the
 * messages waiting in each namespace's extraction stream, read from the queue at scrape time (what KEDA scales
 * workers on); and the /metrics server on its own port (QUARRY_METRICS_PORT), apart from the API and its keys.
 */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobQueue } from '../ports/job-queue.ts';
import { JobMetrics } from '../queue/metrics.ts';
import { startProbeServer, type ProbeServer } from './probe-server.ts';
import { logger } from './log.ts';

const log = logger('metrics');

export interface ProcessMetrics {
  registry: Registry;
  /** Recorded by the job queue adapter (pass as its `metrics` option). */
  jobs: JobMetrics;
}

export function processMetrics(): ProcessMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return { registry, jobs: new JobMetrics(registry) };
}

/** Extraction queues are the ones whose name starts with this (one per QuarryNamespace). */
export const EXTRACTION_QUEUE_PREFIX = 'QUARRY_EXTRACT_';

/**
 * `quarry_jobs_pending{queue}`: jobs waiting in each extraction queue, read at scrape time (bounded by `timeoutMs`,
 * so a NATS outage does not hang the scrape: the series are then left out and `quarry_jobs_pending_scrape_error` is 1).
 */
export function registerPendingJobs(registry: Registry, queue: JobQueue, timeoutMs = 2000): void {
  const errors = new Gauge({ name: 'quarry_jobs_pending_scrape_error', help: '1 when the last read of pending jobs from the queue failed.', registers: [registry] });
  new Gauge({
    name: 'quarry_jobs_pending',
    help: 'Jobs waiting in each extraction queue (one per QuarryNamespace), read from the job queue at scrape time.',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      let timer: NodeJS.Timeout | undefined;
      try {
        const read = (async () => {
          const names = (await queue.listQueues()).filter((n) => n.startsWith(EXTRACTION_QUEUE_PREFIX));
          return Promise.all(names.map(async (n) => [n, await queue.pending(n).catch(() => undefined)] as const));
        })();
        const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
        for (const [name, n] of await Promise.race([read, deadline])) if (n !== undefined) this.set({ queue: name }, n);
        errors.set(0);
      } catch (err) {
        errors.set(1);
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'reading pending jobs failed');
      } finally {
        clearTimeout(timer);
      }
    },
  });
}

/** Serves /metrics (and /healthz, /readyz) on `port`; QUARRY_METRICS_PORT=0 picks a free one. */
export function startMetricsServer(registry: Registry, opts: { port: number; host: string; ready?: () => boolean }): Promise<ProbeServer> {
  return startProbeServer({ port: opts.port, host: opts.host, registry, ready: opts.ready ?? (() => true) });
}

/** The metrics port from the environment: QUARRY_METRICS_PORT, else `fallback` (undefined: no metrics server). */
export function metricsPortFromEnv(env: NodeJS.ProcessEnv, fallback: number | undefined): number | undefined {
  const raw = env.QUARRY_METRICS_PORT;
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`QUARRY_METRICS_PORT must be a port number (0-65535), got ${JSON.stringify(raw)}`);
  return port;
}
