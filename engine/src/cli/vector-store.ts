/**
 * `quarry vector-store`: serves the embedded vector store of a data directory over HTTP (vector/remote/serve.ts) until
 * interrupted, so Quarry processes on other machines or pods share it with QUARRY_VECTOR_STORE=remote,
 * QUARRY_VECTOR_STORE_URL and the same token. The process the chart's vector-store StatefulSet runs
 * (engine/src/vector-store-main.ts) is the same server configured from the environment.
 */
import { Option, type Command } from 'commander';
import { UsageError } from './context.ts';

interface VectorStoreOptions {
  port: number;
  host: string;
  metricsPort: number;
  dataDir: string;
  token?: string;
  tokenFile?: string;
}

const port = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${name} must be a port number (0-65535)`);
  return n;
};

export function registerVectorStore(program: Command): void {
  program
    .command('vector-store')
    .description('serve the embedded vector store of a data directory over HTTP (one server per directory) until interrupted')
    .addOption(new Option('--port <port>', 'API port').env('QUARRY_PORT').default(8090).argParser(port('--port')))
    .addOption(new Option('--host <host>', 'address to bind').env('QUARRY_HOST').default('127.0.0.1'))
    .addOption(new Option('--metrics-port <port>', 'port of /healthz, /readyz and /metrics').env('QUARRY_METRICS_PORT').default(9090).argParser(port('--metrics-port')))
    .addOption(new Option('--data-dir <dir>', 'the store lives in <dir>/vectors').env('QUARRY_DATA_DIR').default('.quarry'))
    .addOption(new Option('--token <token>', 'bearer token clients must send').env('QUARRY_VECTOR_STORE_TOKEN'))
    .addOption(new Option('--token-file <file>', 'file holding the token').env('QUARRY_VECTOR_STORE_TOKEN_FILE'))
    .action(async (o: VectorStoreOptions) => {
      // Loaded here, not at the top: LanceDB is needed by no other command.
      const { vectorStoreTokenFromEnv } = await import('../vector/create.ts');
      const { serveVectorStore, stopOnSignal } = await import('../vector/remote/serve.ts');
      let token: string;
      try {
        token = vectorStoreTokenFromEnv({ ...(o.token ? { QUARRY_VECTOR_STORE_TOKEN: o.token } : {}), ...(o.tokenFile ? { QUARRY_VECTOR_STORE_TOKEN_FILE: o.tokenFile } : {}) });
      } catch (err) {
        throw new UsageError(`${(err as Error).message} (or pass --token / --token-file)`);
      }
      const served = await serveVectorStore({ dataDir: o.dataDir, host: o.host, port: o.port, metricsPort: o.metricsPort, token });
      process.stderr.write(`vector store on ${served.url} (probes and metrics on port ${served.metricsPort}); clients: QUARRY_VECTOR_STORE=remote QUARRY_VECTOR_STORE_URL=${served.url}\nPress Ctrl-C to stop.\n`);
      stopOnSignal(served);
      await new Promise<never>(() => {}); // until a signal: stopOnSignal exits the process
    });
}
