/**
 * Serves ANY VectorStore over HTTP (the wire format is in wire.ts), so processes in other pods can share one store:
 * the chart runs the embedded (LanceDB) store this way when the operator, engine and workers are separate pods.
 * - one route per port method, `POST /v1/vector-store/<method>`, JSON bodies whose shapes are checked (422 naming the
 *   field) before the store sees them; an unknown method is a 400 listing the known ones;
 * - every route needs `Authorization: Bearer <token>`, compared in constant time (401 otherwise);
 * - a body-size limit (a 400 naming it), the engine's body guard (prototype keys, depth) and error shape: the store's
 *   QuarryErrors leave with their type, status and details, so the client rebuilds the same error;
 * - `http_requests_total` / `http_request_duration_seconds` when given a Prometheus registry.
 * Optional port methods the store lacks are served anyway: `optimize` as a no-op and `version` as a count of the writes
 * made through this server (all writes go through it), prefixed by an id of this server's life.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { installErrorHandling } from '../../app/http-errors.ts';
import { BODY_PARSER_OPTIONS, installBodyGuard } from '../../http/body-guard.ts';
import { installHttpMetrics } from '../../http/metrics.ts';
import { badRequest, QuarryError } from '../../lib/errors.ts';
import { requestLogController } from '../../lib/http-logging.ts';
import { logger } from '../../lib/log.ts';
import { maxBodyDepth } from '../../lib/safe-object.ts';
import type { VectorStore } from '../../ports/vector-store.ts';
import { API_PREFIX, METHODS, argNames, bodySchema, toJson, type MethodName } from './wire.ts';

export interface VectorStoreServerOptions {
  /** The bearer token every request must carry. */
  token: string;
  /** Largest request body in bytes. Default 64 MiB (an upsert of a few thousand 1024-d points). */
  bodyLimit?: number;
  /** Prometheus registry for the HTTP metrics; none: not recorded. */
  registry?: Registry;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export async function buildVectorStoreServer(store: VectorStore, opts: VectorStoreServerOptions): Promise<FastifyInstance> {
  if (!opts.token) throw badRequest('the vector store server needs a token (QUARRY_VECTOR_STORE_TOKEN or QUARRY_VECTOR_STORE_TOKEN_FILE)', { field: 'token' });
  const app = Fastify({
    loggerInstance: logger('vector-store-http') as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit ?? 64 * 1024 * 1024,
    logController: requestLogController(),
    ...BODY_PARSER_OPTIONS,
    // Shapes as sent: no coercion of a number into a collection name, no silent removal of unknown arguments.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  });
  installErrorHandling(app);
  // Points nest the engine's payloads a few levels below the engine's own body limit on depth.
  installBodyGuard(app, { maxDepth: maxBodyDepth() + 8 });
  if (opts.registry) installHttpMetrics(app, opts.registry);

  // Hashing both sides first gives equal lengths, so the comparison leaks neither the token nor its length.
  const want = digest(`Bearer ${opts.token}`);
  app.addHook('onRequest', async (req) => {
    const got = req.headers.authorization;
    if (typeof got !== 'string' || !timingSafeEqual(digest(got), want)) {
      throw new QuarryError('UnauthorizedError', 'the vector store needs Authorization: Bearer <token> with the token it was started with (QUARRY_VECTOR_STORE_TOKEN)');
    }
  });

  const bootId = randomUUID().slice(0, 8);
  const writes = new Map<string, number>();
  const call = async (method: MethodName, args: unknown[]): Promise<unknown> => {
    if (method === 'optimize' && !store.optimize) return undefined;
    if (method === 'version' && !store.version) return `${bootId}.${writes.get(args[0] as string) ?? 0}`;
    const fn = store[method] as (...a: unknown[]) => Promise<unknown>;
    const result = await fn.apply(store, args);
    if (METHODS[method].write) {
      const c = method === 'ensureCollection' ? (args[0] as { name?: string }).name : (args[0] as string);
      if (typeof c === 'string') writes.set(c, (writes.get(c) ?? 0) + 1);
    }
    return result;
  };

  for (const method of Object.keys(METHODS) as MethodName[]) {
    const names = argNames(method);
    app.post(`${API_PREFIX}/${method}`, { schema: { body: bodySchema(method) } }, async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const result = await call(method, names.map((a) => body[a]));
      return reply.type('application/json').send(toJson({ result }));
    });
  }
  app.post(`${API_PREFIX}/:method`, async (req) => {
    const { method } = req.params as { method: string };
    throw badRequest(`'${method}' is not a vector store method: use one of ${Object.keys(METHODS).join(', ')}`, { field: 'method' });
  });
  return app;
}
