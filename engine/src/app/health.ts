/**
 * Health endpoints every engine app serves (reference §0: `/v1/health`, `/v1/health/liveness`, `/v1/health/beat`).
 * - `GET /v1/health` (readiness): checks each dependency the app was given — vector store, object store (S3), job
 *   queue (NATS), models — in parallel, each bounded by a timeout, and answers 200 `{status: "ok", checks}` when all
 *   pass, 503 `{status: "unavailable", checks}` naming the failing ones and why otherwise. The chart's readiness
 *   probe uses it, so a pod whose Qdrant, MinIO or NATS is down stops receiving traffic.
 * - `GET /v1/health/liveness` and `/v1/health/beat`: the process serves HTTP (the liveness probe: a dependency
 *   outage must not restart the engine).
 */
import type { FastifyInstance } from 'fastify';
import type { JobQueue } from '../ports/job-queue.ts';
import type { Models } from '../ports/models.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import type { VectorStore } from '../ports/vector-store.ts';

/** The dependencies `/v1/health` checks; the ones left out are not reported. */
export interface HealthDeps {
  vectors?: VectorStore;
  objects?: ObjectStore;
  queue?: JobQueue;
  models?: Models;
  /** Per-check deadline (default 3000 ms, QUARRY_HEALTH_TIMEOUT_MS): a hung dependency counts as down. */
  timeoutMs?: number;
}

export interface HealthInfo {
  version?: string;
  mode?: string;
  deps?: HealthDeps;
}

export interface CheckResult {
  status: 'ok' | 'down';
  /** The adapter (qdrant, embedded, s3, nats, onnx, …). */
  kind?: string;
  latency_ms: number;
  /** Why it is down. */
  error?: string;
  /** Models: the installed model names. */
  models?: string[];
}

/** A bucket name no Quarry Bucket uses: HeadBucket on it answers 404 from a reachable, authorised S3. */
const PROBE_BUCKET = 'quarry-health-probe';

async function timed(fn: () => Promise<Partial<CheckResult> | void>, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const extra = (await Promise.race([Promise.resolve().then(fn), deadline])) ?? {};
    return { status: 'ok', ...extra, latency_ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { status: 'down', latency_ms: Math.round(performance.now() - started), error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every configured dependency check; `ok` is false when any is down. */
export async function checkDependencies(deps: HealthDeps): Promise<{ ok: boolean; checks: Record<string, CheckResult> }> {
  const timeoutMs = deps.timeoutMs ?? Number(process.env.QUARRY_HEALTH_TIMEOUT_MS ?? 3000);
  const checks: Record<string, Promise<CheckResult>> = {};
  const { vectors, objects, queue, models } = deps;
  if (vectors) {
    checks.vector_store = timed(async () => {
      await vectors.listCollections();
      return { kind: vectors.kind };
    }, timeoutMs);
  }
  if (objects) {
    checks.object_store = timed(async () => {
      await objects.bucketExists(PROBE_BUCKET);
      return { kind: objects.kind };
    }, timeoutMs);
  }
  if (queue) {
    checks.job_queue = timed(async () => {
      await queue.listQueues();
      return { kind: queue.kind };
    }, timeoutMs);
  }
  if (models) {
    checks.models = timed(async () => {
      // Built-in models only: custom ones (`<k8s-namespace>/<name>`, Model resources) belong to tenants, and health answers anyone.
      const names = (await Promise.resolve(models.list())).map((m) => m.name).filter((n) => !n.includes('/'));
      if (names.length === 0) throw new Error('no models installed: bake them into the image (make image) or mount a models volume (models.volume)');
      return { models: names };
    }, timeoutMs);
  }
  const entries = await Promise.all(Object.entries(checks).map(async ([k, p]) => [k, await p] as const));
  const result = Object.fromEntries(entries);
  return { ok: entries.every(([, r]) => r.status === 'ok'), checks: result };
}

export function registerHealth(app: FastifyInstance, info: HealthInfo = {}): void {
  const base = { version: info.version ?? '0.1.0', ...(info.mode ? { mode: info.mode } : {}) };
  app.get('/v1/health', async (_req, reply) => {
    if (!info.deps) return { status: 'ok', ...base };
    const { ok, checks } = await checkDependencies(info.deps);
    if (!ok) reply.code(503);
    return { status: ok ? 'ok' : 'unavailable', ...base, checks };
  });
  const alive = async () => ({ status: 'ok', ...base });
  app.get('/v1/health/liveness', alive);
  app.get('/v1/health/beat', alive);
}
