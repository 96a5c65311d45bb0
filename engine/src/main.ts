/**
 * The engine process. `make up` (local mode, the default) runs everything in this one process on the embedded
 * adapters with manifests from a folder: `QUARRY_MANIFESTS` (default examples/), state under `QUARRY_DATA_DIR`
 * (default .quarry/). In cluster mode (`QUARRY_MODE=cluster`) the engine serves its API next to the operator and
 * workers Deployments.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { logger } from './lib/log.ts';
import { startLocal } from './app/local-runtime.ts';
import { registerHealth } from './app/health.ts';
import { installErrorHandling } from './app/http-errors.ts';

const log = logger('main');
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const port = Number(process.env.QUARRY_PORT ?? 8080);
const host = process.env.QUARRY_HOST ?? '127.0.0.1';
const mode = process.env.QUARRY_MODE ?? 'local';

let stop: () => Promise<void>;
if (mode === 'local') {
  const rt = await startLocal({
    dataDir: path.resolve(process.env.QUARRY_DATA_DIR ?? path.join(ROOT, '.quarry')),
    manifestsDir: path.resolve(process.env.QUARRY_MANIFESTS ?? path.join(ROOT, 'examples')),
    host,
    port,
  });
  stop = rt.stop;
  log.info({ url: rt.url, namespaces: [...rt.namespaces.keys()] }, `Quarry is up (local mode): curl ${rt.url}/v1/health`);
} else {
  // Cluster mode: the API surface that needs no cluster wiring yet; namespaces come from the custom resources.
  const app = Fastify();
  installErrorHandling(app);
  registerHealth(app, { mode });
  await app.listen({ port, host });
  stop = () => app.close();
  log.info({ url: `http://${host}:${port}` }, 'engine up (cluster mode)');
}

const shutdown = async (signal: string) => {
  log.info({ signal }, 'shutting down');
  await stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
