/**
 * Request-body guards every fastify app of the engine installs: the JSON parser refuses prototype-poisoning keys
 * (secure-json-parse's `__proto__` and `constructor.prototype` checks, set explicitly to 'error' rather than left to
 * the default), and a preValidation hook refuses any parsed body — whatever content-type parser produced it — with a
 * `__proto__`, `constructor` or `prototype` key or nested deeper than QUARRY_MAX_BODY_DEPTH (default 64): such a
 * body overflowed the stack of the code that copies and stores it (a 500) or polluted Object.prototype.
 * Both answer 400 in the documented error shape, naming the field. A response sent before the body was read to its
 * end waits until the rest is read and discarded (see the onSend hook).
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { QuarryError, badRequest } from '../lib/errors.ts';
import { maxBodyDepth, unsafeValue } from '../lib/safe-object.ts';

/** Fastify server options for the JSON body parser. */
export const BODY_PARSER_OPTIONS = { onProtoPoisoning: 'error', onConstructorPoisoning: 'error' } as const;

export function installBodyGuard(app: FastifyInstance, opts: { maxDepth?: number } = {}): void {
  const maxDepth = opts.maxDepth ?? maxBodyDepth();
  app.addHook('onSend', async (req, reply, payload) => {
    // Answered before the body was read to its end (a missing key refused by the auth hook, a multipart body busboy
    // refused part-way, a limit). Closing the connection at once does not work: the client is still sending, the
    // close with unread bytes becomes a TCP reset, and the client's next write fails (fetch: "fetch failed", EPIPE)
    // before it reads the answer. Leaving the rest in the socket does not either: Node drains an unread body only
    // when nothing began reading it, and the next request on the connection would never be parsed. So the rest is
    // read and discarded first (a lingering close, as nginx does), within bounds; past them the connection closes.
    if (!req.raw.complete && !reply.raw.headersSent && !(await discardRest(req.raw))) reply.header('connection', 'close');
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

/** How much of an unread request body is read and discarded before an early answer, and for how long at most. */
const DISCARD_MAX_BYTES = 64 * 1024 * 1024;
const DISCARD_MAX_MS = 5_000;

/**
 * Reads the rest of a request body and throws it away. True when the body ended within DISCARD_MAX_BYTES and
 * DISCARD_MAX_MS (the connection can carry the next request), false otherwise (it must close).
 */
function discardRest(req: IncomingMessage): Promise<boolean> {
  if (req.destroyed || req.readableEnded) return Promise.resolve(req.complete);
  return new Promise((resolve) => {
    let bytes = 0;
    const finish = (ended: boolean) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('close', onClose);
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > DISCARD_MAX_BYTES) finish(false);
    };
    const onEnd = () => finish(true);
    const onClose = () => finish(req.complete);
    const timer = setTimeout(() => finish(false), DISCARD_MAX_MS);
    // Whatever was reading it (busboy, a parser) stopped; from here on the bytes only flow to onData.
    req.unpipe();
    req.on('data', onData).once('end', onEnd).once('close', onClose);
    req.resume();
  });
}
