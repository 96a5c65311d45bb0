/**
 * The served vector store process (the chart's vector-store StatefulSet; `quarry vector-store` is the same from the
 * CLI): the embedded LanceDB store of QUARRY_DATA_DIR/vectors (default .quarry) over HTTP for the operator, engine and
 * worker pods, which reach it with QUARRY_VECTOR_STORE=remote (vector/remote/client.ts).
 * Environment: QUARRY_HOST (default 127.0.0.1), QUARRY_PORT (default 8090), QUARRY_METRICS_PORT (/healthz, /readyz,
 * /metrics; default 9090), QUARRY_VECTOR_STORE_TOKEN or QUARRY_VECTOR_STORE_TOKEN_FILE (required), the embedded
 * store's index settings (QUARRY_EMBEDDED_*, vector/create.ts) and QUARRY_VECTOR_STORE_BODY_LIMIT_MB (default 64).
 * SIGTERM: readiness goes false, requests in flight finish, the store closes, exit 0.
 */
import { logger } from './lib/log.ts';
import { metricsPortFromEnv } from './lib/metrics.ts';

const log = logger('vector-store-main');
const env = process.env;
try {
  const { vectorStoreTokenFromEnv } = await import('./vector/create.ts');
  const { serveVectorStore, stopOnSignal } = await import('./vector/remote/serve.ts');
  const port = Number(env.QUARRY_PORT ?? 8090);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`QUARRY_PORT must be a port number (0-65535), got ${JSON.stringify(env.QUARRY_PORT)}`);
  const limitMb = Number(env.QUARRY_VECTOR_STORE_BODY_LIMIT_MB ?? 64);
  if (!(limitMb > 0)) throw new Error(`QUARRY_VECTOR_STORE_BODY_LIMIT_MB must be a positive number, got ${JSON.stringify(env.QUARRY_VECTOR_STORE_BODY_LIMIT_MB)}`);
  const metricsPort = metricsPortFromEnv(env, 9090);
  const served = await serveVectorStore({
    dataDir: env.QUARRY_DATA_DIR ?? '.quarry',
    host: env.QUARRY_HOST ?? '127.0.0.1',
    port,
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    token: vectorStoreTokenFromEnv(env),
    bodyLimit: Math.round(limitMb * 1024 * 1024),
    env,
  });
  log.info({ url: served.url, metricsPort: served.metricsPort }, 'vector store up');
  stopOnSignal(served);
} catch (err) {
  log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'the vector store cannot start');
  process.exit(2);
}
