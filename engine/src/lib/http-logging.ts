/** Request logging of the engine's Fastify apps: off under tests and with QUARRY_QUIET_HTTP=1 (benches), else on. */
import { LogController } from 'fastify';

export function requestLogController(env: NodeJS.ProcessEnv = process.env): LogController {
  return new LogController({ disableRequestLogging: env.NODE_ENV === 'test' || env.QUARRY_QUIET_HTTP === '1' });
}
