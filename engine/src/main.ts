/**
 * `quarry up` / `make up`: runs Quarry locally. For now it starts the engine's HTTP API with its health endpoint;
 * the local-mode issue wires the reconcilers, workers and embedded adapters into this same process.
 */
import Fastify from 'fastify';
import { logger } from './lib/log.ts';

const log = logger('main');
const port = Number(process.env.QUARRY_PORT ?? 8080);
const host = process.env.QUARRY_HOST ?? '127.0.0.1';

const app = Fastify({ loggerInstance: logger('http') });
app.get('/v1/health', async () => ({ status: 'ok', version: process.env.npm_package_version ?? '0.1.0' }));

const shutdown = async (signal: string) => {
  log.info({ signal }, 'shutting down');
  await app.close();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

await app.listen({ port, host });
log.info({ url: `http://${host}:${port}` }, `Quarry is up: curl http://${host}:${port}/v1/health`);
