/**
 * Request-body guards every fastify app of the engine installs: the JSON parser refuses prototype-poisoning keys
 * (secure-json-parse's `__proto__` and `constructor.prototype` checks, set explicitly to 'error' rather than left to
 * the default), and a preValidation hook refuses any parsed body — whatever content-type parser produced it — with a
 * `__proto__`, `constructor` or `prototype` key or nested deeper than QUARRY_MAX_BODY_DEPTH (default 64): such a
 * body overflowed the stack of the code that copies and stores it (a 500) or polluted Object.prototype.
 * Both answer 400 in the documented error shape, naming the field. A response sent before the body was read to its
 * end closes its connection (see the onSend hook).
 */
import type { FastifyInstance } from 'fastify';
import { QuarryError, badRequest } from '../lib/errors.ts';
import { maxBodyDepth, unsafeValue } from '../lib/safe-object.ts';

/** Fastify server options for the JSON body parser. */
export const BODY_PARSER_OPTIONS = { onProtoPoisoning: 'error', onConstructorPoisoning: 'error' } as const;

export function installBodyGuard(app: FastifyInstance, opts: { maxDepth?: number } = {}): void {
  const maxDepth = opts.maxDepth ?? maxBodyDepth();
  app.addHook('onSend', async (req, reply, payload) => {
    // Answered before the body was read to its end (a multipart body busboy refused part-way, a limit): Node drains
    // an unread body only when nothing began reading it, so the rest would sit in the socket and the next request
    // on this keep-alive connection would never be parsed (pooling clients hang on it). Say the connection closes
    // and discard what is left, so the client opens a fresh one.
    if (!req.raw.complete && !reply.raw.headersSent) {
      reply.header('connection', 'close');
      req.raw.unpipe();
      req.raw.resume();
    }
    return payload;
  });
  app.addHook('preValidation', async (req) => {
    const body = req.body;
    if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return;
    const bad = unsafeValue(body, { maxDepth });
    if (bad) throw badRequest(`body.${bad.path}: ${bad.message}`, { field: bad.path, ...(bad.problem === 'too-deep' ? { max_depth: maxDepth } : {}) });
  });
}

/**
 * What a failure while reading a multipart body becomes: the documented errors as they are, a limit (413 from
 * @fastify/multipart) or any other 4xx as a 400 naming it, and a body busboy cannot read (no boundary, truncated
 * before the closing delimiter, malformed part headers: plain Errors) as a 400 instead of a 500.
 */
export function multipartFailure(err: unknown, field: string): Error {
  if (err instanceof QuarryError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  const reason = (e.message ?? String(err)).split('\n')[0];
  if (typeof e.statusCode === 'number' && e.statusCode >= 500) return err as Error;
  return badRequest(`the multipart/form-data body cannot be read: ${reason}; send a complete body with a boundary in the Content-Type`, { field, ...(e.code ? { code: e.code } : {}) });
}
