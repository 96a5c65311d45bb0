/**
 * `serveVectorStore`: the embedded (LanceDB) store of a data directory served over HTTP (server.ts) with its probes
 * and metrics on a second port (/healthz, /readyz, /metrics: the kubelet and Prometheus reach them without the token,
 * and a NetworkPolicy can let them in apart from the API). Used by engine/src/vector-store-main.ts (the chart's
 * vector-store StatefulSet) and `quarry vector-store`. `stop()` is graceful: readiness goes false, the requests in
 * flight finish, then the store closes.
 */
import path from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { logger } from '../../lib/log.ts';
import { startProbeServer, type ProbeServer } from '../../lib/probe-server.ts';
import { createVectorStore, embeddedOptionsFromEnv } from '../create.ts';
import { registerEmbeddedReadMetrics } from '../metrics.ts';
import { buildVectorStoreServer } from './server.ts';

const log = logger('vector-store');

export interface ServeOptions {
  /** The store lives in <dataDir>/vectors, as in every other process (QUARRY_DATA_DIR). */
  dataDir: string;
  host: string;
  port: number;
  /** Port of /healthz, /readyz and /metrics (0: any free one); undefined: none. */
  metricsPort?: number;
  token: string;
  bodyLimit?: number;
  /** Where the embedded store's index settings are read from (EMBEDDED_ENV in create.ts). */
  env?: NodeJS.ProcessEnv;
}

export interface ServedStore {
  /** The API's base URL (the address it listens on). */
  url: string;
  port: number;
  metricsPort?: number;
  stop(): Promise<void>;
}

export async function serveVectorStore(opts: ServeOptions): Promise<ServedStore> {
  const dir = path.resolve(opts.dataDir, 'vectors');
  const store = createVectorStore({ kind: 'embedded', ...embeddedOptionsFromEnv(opts.env ?? process.env, dir) });
  await store.listCollections(); // opens the directory now: an unwritable volume fails the start, not the first request
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerEmbeddedReadMetrics(registry);
  const app = await buildVectorStoreServer(store, { token: opts.token, registry, ...(opts.bodyLimit ? { bodyLimit: opts.bodyLimit } : {}) });
  await app.listen({ host: opts.host, port: opts.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  let stopping = false;
  let probes: ProbeServer | undefined;
  if (opts.metricsPort !== undefined) probes = await startProbeServer({ port: opts.metricsPort, host: opts.host, registry, ready: () => !stopping });
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  log.info({ dir, port, metricsPort: probes?.port }, 'serving the embedded vector store');
  return {
    url: `http://${host}:${port}`,
    port,
    ...(probes ? { metricsPort: probes.port } : {}),
    async stop() {
      if (stopping) return;
      stopping = true;
      await app.close(); // stops accepting, lets the requests in flight finish
      await probes?.close();
      await store.close();
      log.info({ dir }, 'vector store stopped');
    },
  };
}

/** Runs until SIGTERM or SIGINT, then stops gracefully and exits 0 (1 when stopping failed). */
export function stopOnSignal(served: ServedStore): void {
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping: finishing the requests in flight');
    served.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
