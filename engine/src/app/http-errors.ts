/**
 * Every error leaves the engine in the documented shape `{success:false, status, error:{type, message, details?}}`:
 * QuarryErrors as thrown, malformed bodies and unknown routes as 4xx, and anything unexpected as a 500 whose
 * message hides internals (the log has them). 422 also carries FastAPI-style `detail` for client compatibility.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { QuarryError } from '../lib/errors.ts';

/** A field path (`stages[0].config.limit`) as FastAPI's `loc` segments, array indices as numbers. */
function locOf(path: unknown): (string | number)[] {
  const parts = Array.isArray(path) ? path.map(String) : String(path ?? '').split(/[.[\]]+/);
  return parts.filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/**
 * FastAPI's `detail: [{loc, msg, type}]`, one entry per error (clients written against it read this), from the
 * envelope's `details.validation_errors` when there are several, else from the error's `field`.
 */
function fastApiDetail(qe: QuarryError): { loc: (string | number)[]; msg: string; type: string }[] {
  const where = qe.details?.in === 'query' ? 'query' : 'body';
  const loc = (path: unknown) => {
    const l = locOf(path);
    return l[0] === 'body' || l[0] === 'query' ? l : [where, ...l];
  };
  const listed = qe.details?.validation_errors;
  if (Array.isArray(listed) && listed.length > 0) {
    return listed.map((e: { location?: unknown; field?: unknown; message?: unknown; type?: unknown }) => ({
      loc: loc(e.location ?? e.field),
      msg: String(e.message ?? qe.message),
      type: String(e.type ?? 'value_error'),
    }));
  }
  return [{ loc: loc(qe.details?.field), msg: qe.message, type: 'value_error' }];
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | QuarryError | Error, req, reply) => {
    let qe: QuarryError;
    if (err instanceof QuarryError) qe = err;
    else {
      const fe = err as FastifyError;
      const status = fe.statusCode ?? 500;
      if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') qe = new QuarryError('BadRequestError', `unsupported Content-Type '${req.headers['content-type'] ?? ''}': send application/json`);
      else if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') qe = new QuarryError('BadRequestError', 'the JSON body is empty');
      else if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) qe = new QuarryError('BadRequestError', `request body too large: ${fe.message}`);
      else if (fe.validation) qe = new QuarryError('ValidationError', fe.message);
      else if (status >= 400 && status < 500) qe = new QuarryError(status === 404 ? 'NotFoundError' : 'BadRequestError', fe.message);
      else {
        req.log.error({ err }, 'unhandled error');
        qe = new QuarryError('InternalServerError', 'internal error; see the engine log for request ' + req.id);
      }
    }
    const body: Record<string, unknown> = { ...qe.toBody() };
    if (qe.status === 422) body.detail = fastApiDetail(qe);
    // A 503 that names when to come back says it in the standard header too (clients retry on it).
    const retryAfter = qe.details?.retry_after_seconds;
    if (qe.status === 503 && typeof retryAfter === 'number' && !reply.hasHeader('retry-after')) void reply.header('retry-after', String(Math.ceil(retryAfter)));
    void reply.code(qe.status).header('request-id', req.id).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const qe = new QuarryError('NotFoundError', `no route ${req.method} ${req.url.split('?')[0]}`, { method: req.method });
    void reply.code(404).send(qe.toBody());
  });
}
