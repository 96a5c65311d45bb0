/**
 * Retriever HTTP routes (reference §3): execute (named and anonymous, JSON or SSE), batch execute (bounded
 * concurrency, optional SSE), explain, and the stage registry. Every failure is a QuarryError rendered in the
 * documented error shape by the app's error handler.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authorizeResolvedNamespace } from '../auth/http.ts';
import { requestK8sNamespace } from '../auth/tenancy.ts';
import { QuarryError, badRequest } from '../lib/errors.ts';
import type { RetrieverEngine, ExecuteRequest, ExecuteResult } from '../retriever/executor.ts';
import { discoverStage } from '../retriever/discovery.ts';
import { explain } from '../retriever/explain.ts';
import { normalizeDefinition } from '../retriever/normalize.ts';
import { allStages, describeStage } from '../retriever/registry.ts';
import type { RetrieverDefinition } from '../retriever/types.ts';
import { STAGE_CATEGORIES, STAGES } from '../resources/stage-ids.ts';
import { booleanFlag, namespaceHeader } from './request-params.ts';
import { openSse } from './sse.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const MAX_BATCH = 50;
const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$/;


function bodyObject(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (!isObj(b)) throw badRequest('the request body must be a JSON object', { field: 'body' });
  return b;
}

function idParam(req: FastifyRequest): string {
  const id = (req.params as { id?: string }).id ?? '';
  if (!ID.test(id)) throw badRequest(`'${id}' is not a valid retriever id or name`, { field: 'id' });
  return id;
}

const QUERY_FLAGS = ['return_presigned_urls', 'return_vectors'] as const;

/** The documented query flags (`?return_presigned_urls=true&return_vectors=true`), merged under the body's own. */
function withQueryFlags(req: FastifyRequest, body: Record<string, unknown>): Record<string, unknown> {
  const out = { ...body };
  for (const f of QUERY_FLAGS) {
    if (f in body) continue;
    const v = booleanFlag(req, f);
    if (v !== undefined) out[f] = v;
  }
  return out;
}

const ANON_KEYS = new Set(['collection_identifiers', 'collection_ids', 'input_schema', 'stages', 'retriever_name', 'description', 'cache_config', 'budget_limits']);

function stagesIn(query: Record<string, unknown>) {
  const cat = query.category;
  if (cat !== undefined && (typeof cat !== 'string' || !(STAGE_CATEGORIES as readonly string[]).includes(cat))) {
    throw badRequest(`category must be one of ${STAGE_CATEGORIES.join(', ')}`, { field: 'category' });
  }
  return allStages().filter((m) => !cat || m.category === cat);
}

/** The stage registry (`GET /v1/retrievers/stages`): static, the same for every tenant (served without a key too). */
export function publicStageList(query: Record<string, unknown>) {
  return stagesIn(query).map((m) => {
    const d = describeStage(m);
    // The SDK's StageCategory has no `group` (its enum: filter, sort, reduce, apply, enrich): grouping stages are
    // `reduce` there, which Quarry also accepts for them; every accepted category is listed beside it.
    return { ...d, category: SDK_CATEGORY[d.category as string] ?? d.category, categories: STAGES[m.id] ?? [d.category] };
  });
}

const SDK_CATEGORY: Readonly<Record<string, string>> = { group: 'reduce' };

export interface RetrieverRoutesDeps {
  engine: RetrieverEngine;
}

/**
 * The namespace a request's executions run and are remembered under: X-Namespace, else `<k8s-namespace>/` for a
 * request confined to a Kubernetes namespace (auth/tenancy.ts), so a tenant's runs without X-Namespace are never
 * listed to another tenant; undefined only for cluster-wide keys (and apps without auth).
 */
function executionNamespace(req: FastifyRequest): string | undefined {
  const k8s = requestK8sNamespace(req);
  return namespaceHeader(req) ?? (k8s !== undefined ? `${k8s}/` : undefined);
}

export function registerRetrieverRoutes(app: FastifyInstance, deps: RetrieverRoutesDeps): void {
  const { engine } = deps;

  const load = async (req: FastifyRequest): Promise<RetrieverDefinition> => {
    const ns = namespaceHeader(req);
    // Without X-Namespace, a request confined to a Kubernetes namespace (its key's) looks only there (auth/tenancy.ts).
    const k8s = requestK8sNamespace(req);
    const def = await engine.load(idParam(req), ns ?? (k8s !== undefined ? `${k8s}/` : undefined));
    // Without X-Namespace the retriever is found by its name alone: the key must be scoped to where it was found.
    authorizeResolvedNamespace(req, def.namespace ?? ns, `retriever '${idParam(req)}'`);
    if (ns) def.namespace = ns;
    return def;
  };

  const send = async (req: FastifyRequest, reply: FastifyReply, def: RetrieverDefinition, body: Record<string, unknown>, adhoc: boolean) => {
    if (body.stream !== undefined && typeof body.stream !== 'boolean') throw badRequest('stream must be true or false', { field: 'stream' });
    if (adhoc) void reply.header('x-execution-mode', 'adhoc');
    if (body.stream === true) {
      const sse = openSse(reply);
      try {
        await engine.execute(def, body as ExecuteRequest, { adhoc, onEvent: (e) => sse.event(e) });
      } catch (e) {
        const qe = e instanceof QuarryError ? e : new QuarryError('InternalServerError', 'internal error; see the engine log');
        sse.event({ event_type: 'execution_error', error: qe.toBody().error, status: qe.status });
      }
      sse.end();
      return reply;
    }
    const r: ExecuteResult = await engine.execute(def, body as ExecuteRequest, { adhoc });
    void reply.header('etag', r.etag).header('x-cache', r.cacheHit ? 'HIT' : 'MISS').header('cache-control', r.ttlSeconds > 0 ? `private, max-age=${r.ttlSeconds}` : 'no-store');
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').map((s) => s.trim()).includes(r.etag)) return reply.code(304).send();
    return reply.send(r.body);
  };

  const stagesOf = (req: FastifyRequest) => stagesIn(req.query as Record<string, unknown>);
  app.get('/v1/retrievers/stages', async (req) => publicStageList(req.query as Record<string, unknown>));
  // Reference §3.1/§3.7: the registry entries plus example_config, common_use_cases, cost_tier, requires_collections.
  app.get('/v1/discovery/stages', async (req) => stagesOf(req).map(discoverStage));

  app.post('/v1/retrievers/execute', async (req, reply) => {
    const body = bodyObject(req);
    const def = normalizeDefinition(Object.fromEntries(Object.entries(body).filter(([k]) => ANON_KEYS.has(k))), 'body');
    const ns = executionNamespace(req);
    if (ns) def.namespace = ns;
    return send(req, reply, def, withQueryFlags(req, body), true);
  });

  app.post('/v1/retrievers/:id/execute', async (req, reply) => send(req, reply, await load(req), withQueryFlags(req, bodyObject(req)), false));

  const explainRoute = async (req: FastifyRequest) => {
    const body = bodyObject(req);
    return explain(await load(req), body.inputs);
  };
  app.post('/v1/retrievers/:id/explain', explainRoute);
  app.post('/v1/retrievers/:id/execute/explain', explainRoute);

  // Execution history (reference §3.1): summaries newest first, filtered by `status`; one execution in full.
  const listExecutions = (req: FastifyRequest, namespace: string | undefined, pick: (d: Record<string, unknown>) => boolean) => {
    const body = bodyObject(req);
    const status = body.status;
    if (status !== undefined && status !== null && !['completed', 'failed', 'running'].includes(status as string)) {
      throw badRequest('status must be completed, failed or running', { field: 'status' });
    }
    const q = req.query as { limit?: string; offset?: string };
    const num = (v: string | undefined, field: string, dflt: number, min: number, max: number) => {
      if (v === undefined) return dflt;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) throw badRequest(`${field} must be an integer between ${min} and ${max}`, { field, in: 'query' });
      return n;
    };
    const limit = num(q.limit, 'limit', 10, 1, 1000);
    const offset = num(q.offset, 'offset', 0, 0, 1_000_000);
    const all = engine.history.list(engine.historyKey(namespace), (d) => pick(d) && (status === undefined || status === null || d.status === status));
    const results = all.slice(offset, offset + limit).map(({ stage_statistics: _s, budget: _b, inputs: _i, ...summary }) => summary);
    return { results, total: all.length, pagination: { total: all.length, limit, offset, has_next: offset + limit < all.length, has_previous: offset > 0 } };
  };
  const notFoundExecution = (id: string) => new QuarryError('NotFoundError', `execution '${id}' not found (the engine keeps its last 1000 executions)`, { resource: 'execution', id });
  const ofRetriever = (def: RetrieverDefinition) => (d: Record<string, unknown>) =>
    d.execution_mode === 'named' && ((def.retriever_id !== undefined && d.retriever_id === def.retriever_id) || (def.retriever_id === undefined && d.retriever_name === def.retriever_name));
  // Anonymous runs belong to the namespace they ran in: reading them needs X-Namespace (the auth hook checks the
  // key's scope on it); there is no history outside a namespace.
  const adhocNamespace = (req: FastifyRequest): string => {
    const ns = namespaceHeader(req);
    if (!ns) throw badRequest('missing X-Namespace header: executions are listed per namespace; name the namespace they ran in', { field: 'X-Namespace', in: 'header' });
    return ns;
  };
  app.post('/v1/retrievers/executions/list', async (req) => listExecutions(req, adhocNamespace(req), (d) => d.execution_mode === 'adhoc'));
  app.get('/v1/retrievers/executions/:execution_id', async (req) => {
    const id = (req.params as { execution_id: string }).execution_id;
    const d = engine.history.get(engine.historyKey(adhocNamespace(req)), id);
    if (!d || d.execution_mode !== 'adhoc') throw notFoundExecution(id);
    return d;
  });
  app.post('/v1/retrievers/:id/executions/list', async (req) => {
    const def = await load(req);
    return listExecutions(req, def.namespace, ofRetriever(def));
  });
  app.get('/v1/retrievers/:id/executions/:execution_id', async (req) => {
    const def = await load(req);
    const id = (req.params as { execution_id: string }).execution_id;
    const d = engine.history.get(engine.historyKey(def.namespace), id);
    if (!d || !ofRetriever(def)(d)) throw notFoundExecution(id);
    return d;
  });

  app.post('/v1/retrievers/:id/execute/batch', async (req, reply) => {
    const body = bodyObject(req);
    const def = await load(req);
    const queries = body.queries;
    if (!Array.isArray(queries) || queries.length < 1 || queries.length > MAX_BATCH) {
      throw badRequest(`queries must be an array of 1 to ${MAX_BATCH} query objects ({inputs, filters}); split larger batches`, { field: 'queries' });
    }
    queries.forEach((q, i) => {
      if (!isObj(q)) throw badRequest(`queries[${i}] must be an object such as {"inputs": {...}}`, { field: `queries[${i}]` });
    });
    const concurrency = body.concurrency ?? 5;
    if (!Number.isInteger(concurrency) || (concurrency as number) < 1 || (concurrency as number) > 20) throw badRequest('concurrency must be an integer between 1 and 20', { field: 'concurrency' });
    if (body.settings !== undefined && body.settings !== null && !isObj(body.settings)) throw badRequest('settings must be an object such as {"limit": 10}', { field: 'settings' });
    if (body.stream !== undefined && typeof body.stream !== 'boolean') throw badRequest('stream must be true or false', { field: 'stream' });
    const settings = withQueryFlags(req, (body.settings ?? {}) as Record<string, unknown>);
    const started = performance.now();
    const retrieverId = def.retriever_id ?? def.retriever_name ?? idParam(req);
    const sse = body.stream === true ? openSse(reply) : undefined;
    sse?.comment('stream-start');
    const results: Record<string, unknown>[] = new Array(queries.length);
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < queries.length) {
        const i = next++;
        const q = queries[i] as Record<string, unknown>;
        let result: Record<string, unknown>;
        try {
          const r = await engine.execute(def, { ...settings, ...q, stream: false } as ExecuteRequest);
          result = { query_index: i, status: 'completed', documents: r.body.documents, execution_id: r.body.execution_id, pagination: r.body.pagination, stage_statistics: r.body.stage_statistics, budget: r.body.budget };
        } catch (e) {
          failed++;
          const qe = e instanceof QuarryError ? e : new QuarryError('InternalServerError', 'internal error; see the engine log');
          if (!(e instanceof QuarryError)) req.log.error({ err: e }, 'batch query failed');
          result = { query_index: i, status: 'failed', documents: [], error: qe.toBody().error };
        }
        results[i] = result;
        sse?.event({ event_type: 'query_complete', total_queries: queries.length, ...result });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency as number, queries.length) }, worker));
    const summary = { retriever_id: retrieverId, total_queries: queries.length, completed: queries.length - failed, failed, total_duration_ms: Math.round(performance.now() - started) };
    if (sse) {
      sse.event({ event_type: 'batch_complete', ...summary });
      sse.end();
      return reply;
    }
    return { ...summary, results };
  });
}
