/** `GET /v1/health`: the one health endpoint every engine app serves. */
import type { FastifyInstance } from 'fastify';

export function registerHealth(app: FastifyInstance, info: { version?: string; mode?: string } = {}): void {
  app.get('/v1/health', async () => ({ status: 'ok', version: info.version ?? '0.1.0', ...(info.mode ? { mode: info.mode } : {}) }));
}
