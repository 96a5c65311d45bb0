/**
 * Every error leaves the engine in the documented shape `{success:false, status, error:{type, message, details?}}`:
 * QuarryErrors as thrown, malformed bodies and unknown routes as 4xx, and anything unexpected as a 500 whose
 * message hides internals (the log has them). 422 also carries FastAPI-style `detail` for client compatibility.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { QuarryError } from '../lib/errors.ts';

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
    if (qe.status === 422) body.detail = [{ loc: [String(qe.details?.field ?? 'body')], msg: qe.message, type: 'value_error' }];
    void reply.code(qe.status).header('request-id', req.id).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const qe = new QuarryError('NotFoundError', `no route ${req.method} ${req.url.split('?')[0]}`, { method: req.method });
    void reply.code(404).send(qe.toBody());
  });
}
