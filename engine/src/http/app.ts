/**
 * `buildApp(deps)`: a fastify app serving the retriever API and health, with the documented error shape for every
 * 4xx (body parse errors, unknown routes) via the engine's shared error handler. The engine's main app can mount
 * the same routes with `registerRetrieverRoutes`.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { installErrorHandling } from '../app/http-errors.ts';
import { registerHealth } from '../app/health.ts';
import { logger } from '../lib/log.ts';
import { requestLogController } from '../lib/http-logging.ts';
import { RetrieverEngine } from '../retriever/executor.ts';
import type { EngineDeps } from '../retriever/types.ts';
import { registerRetrieverRoutes } from './retriever-routes.ts';
import { BODY_PARSER_OPTIONS, installBodyGuard } from './body-guard.ts';

export interface AppDeps extends EngineDeps {
  /** Reuse an engine (and its caches); built from the deps otherwise. */
  engine?: RetrieverEngine;
  version?: string;
  bodyLimit?: number;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger('http') as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit ?? 8 * 1024 * 1024,
    logController: requestLogController(),
    ...BODY_PARSER_OPTIONS,
  });
  installErrorHandling(app);
  installBodyGuard(app);
  registerHealth(app, deps.version ? { version: deps.version } : {});
  registerRetrieverRoutes(app, { engine: deps.engine ?? new RetrieverEngine(deps) });
  return app;
}
