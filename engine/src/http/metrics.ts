/**
 * HTTP, retriever and ingestion metrics of the engine app, recorded by fastify hooks (no route needs to know):
 * - `http_requests_total` / `http_request_duration_seconds` {method, route, status_code}: `route` is the route
 *   template (`/v1/retrievers/:id/execute`), never the raw URL, so ids do not explode the series; unmatched
 *   requests are `route="unmatched"`.
 * - `quarry_retriever_executions_total{retriever, status}` and `quarry_retriever_stage_duration_seconds{retriever, stage}`
 *   from the execute responses' `stage_statistics` (retriever: the path's id or name, `adhoc` for POST
 *   /v1/retrievers/execute; stage: the stage name — both bounded by the configured retrievers); `quarry_retriever_cache_requests_total{cache, result}` (cache execution|stage,
 *   result hit|miss).
 * - `quarry_ingestion_requests_total{operation, status_code}` for the ingestion writes (objects, uploads, batches,
 *   collection triggers).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

const EXECUTE_ROUTES = new Set(['/v1/retrievers/execute', '/v1/retrievers/:id/execute']);
const INGESTION_OPERATIONS: Record<string, string> = {
  'POST /v1/buckets/:bucket/objects': 'object_create',
  'POST /v1/buckets/:bucket/objects/batch': 'object_create_batch',
  'DELETE /v1/buckets/:bucket/objects/:objectId': 'object_delete',
  'POST /v1/buckets/:bucket/uploads': 'upload_create',
  'POST /v1/buckets/:bucket/uploads/direct': 'upload_direct',
  'POST /v1/buckets/:bucket/uploads/:uploadId/confirm': 'upload_confirm',
  'POST /v1/buckets/:bucket/batches': 'batch_create',
  'POST /v1/buckets/:bucket/batches/:batchId/submit': 'batch_submit',
  'POST /v1/collections/:collection/trigger': 'collection_trigger',
};

interface StageStats {
  duration_ms?: number;
  cache_hit?: boolean;
}

const started = new WeakMap<FastifyRequest, number>();

export function installHttpMetrics(app: FastifyInstance, registry: Registry): void {
  const registers = [registry];
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests served, by method, route template and status code.', labelNames: ['method', 'route', 'status_code'], registers });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration, by method, route template and status code.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const executions = new Counter({ name: 'quarry_retriever_executions_total', help: 'Retriever executions, by retriever and status (completed, failed).', labelNames: ['retriever', 'status'], registers });
  const stageDuration = new Histogram({
    name: 'quarry_retriever_stage_duration_seconds',
    help: 'Duration of each executed (not cached) retriever stage, by retriever and stage name.',
    labelNames: ['retriever', 'stage'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const cache = new Counter({ name: 'quarry_retriever_cache_requests_total', help: 'Retriever cache lookups, by cache (execution, stage) and result (hit, miss).', labelNames: ['cache', 'result'], registers });
  const ingestion = new Counter({ name: 'quarry_ingestion_requests_total', help: 'Ingestion writes, by operation and status code.', labelNames: ['operation', 'status_code'], registers });

  app.addHook('onRequest', async (req) => {
    started.set(req, performance.now());
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const route = req.routeOptions.url;
    if (req.method !== 'POST' || !route || !EXECUTE_ROUTES.has(route)) return payload;
    // A 404's id names no retriever: keep it out of the labels (any string could be sent).
    const retriever = reply.statusCode === 404 ? 'unknown' : ((req.params as { id?: string } | undefined)?.id ?? 'adhoc');
    if (reply.statusCode >= 400) {
      executions.inc({ retriever, status: 'failed' });
      return payload;
    }
    if (typeof payload !== 'string') return payload; // streamed (SSE) executions are not read back
    try {
      const body = JSON.parse(payload) as { cache_hit?: boolean; stage_statistics?: { stages?: Record<string, StageStats> } };
      executions.inc({ retriever, status: 'completed' });
      cache.inc({ cache: 'execution', result: body.cache_hit ? 'hit' : 'miss' });
      if (body.cache_hit) return payload; // its stages did not run again
      for (const [name, s] of Object.entries(body.stage_statistics?.stages ?? {})) {
        cache.inc({ cache: 'stage', result: s.cache_hit ? 'hit' : 'miss' });
        if (!s.cache_hit && typeof s.duration_ms === 'number') stageDuration.observe({ retriever, stage: name }, s.duration_ms / 1000);
      }
    } catch {
      /* not JSON: nothing to read */
    }
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const labels = { method: req.method, route, status_code: String(reply.statusCode) };
    requests.inc(labels);
    const t0 = started.get(req);
    if (t0 !== undefined) duration.observe(labels, (performance.now() - t0) / 1000);
    const op = INGESTION_OPERATIONS[`${req.method} ${route}`];
    if (op) ingestion.inc({ operation: op, status_code: String(reply.statusCode) });
  });
}
