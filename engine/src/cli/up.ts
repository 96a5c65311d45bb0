/**
 * `quarry up`: runs Quarry in local mode in this process (engine + workers on the embedded adapters, resources
 * from a folder of manifests) until Ctrl-C. A thin call into app/local-runtime.ts, the same runtime `make up` uses.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { ctxOf, positiveInt } from './context.ts';
import { print } from './output.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface UpOptions {
  port: number;
  host: string;
  dataDir: string;
  manifests: string;
  seed: boolean;
  auth: boolean;
  publicUrl?: string;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run Quarry locally (engine and workers in one process, embedded storage) until interrupted')
    .addOption(new Option('--port <port>', 'port to listen on').env('QUARRY_PORT').default(8080).argParser(positiveInt('--port')))
    .addOption(new Option('--host <host>', 'address to bind').env('QUARRY_HOST').default('127.0.0.1'))
    .addOption(new Option('--public-url <url>', 'URL clients reach this server at (printed and presigned URLs)').env('QUARRY_PUBLIC_URL'))
    .addOption(new Option('--data-dir <dir>', 'where state is kept (survives restarts)').env('QUARRY_DATA_DIR').default('.quarry'))
    .addOption(new Option('--manifests <dir>', 'folder of Quarry resource manifests to serve').env('QUARRY_MANIFESTS').default(path.join(ROOT, 'examples')))
    .option('--no-seed', 'do not ingest the sample data on first start')
    .option('--no-auth', 'serve without API keys (every request allowed)')
    .action(async (o: UpOptions, cmd: Command) => {
      const ctx = ctxOf(cmd);
      // Loaded here, not at the top: the runtime pulls in the models and the vector store, which no other command needs.
      const { startLocal, banner } = await import('../app/local-runtime.ts');
      const rt = await startLocal({ dataDir: path.resolve(o.dataDir), manifestsDir: path.resolve(o.manifests), host: o.host, port: o.port, seed: o.seed, auth: o.auth, ...(o.publicUrl ? { publicUrl: o.publicUrl } : {}) });
      const info = {
        url: rt.url,
        namespaces: [...rt.namespaces.keys()],
        data_dir: path.resolve(o.dataDir),
        manifests: path.resolve(o.manifests),
        ...(rt.apiKey ? { api_key: rt.apiKey } : {}),
        ...(rt.curl ? { try: rt.curl } : {}),
      };
      if (ctx.opts.output === 'table') {
        const lines = [
          banner(rt),
          `  namespaces: ${info.namespaces.join(', ') || '(reconciling: see quarry get namespaces)'}`,
          `  data: ${info.data_dir}`,
          `  manifests: ${info.manifests}`,
          ...(info.api_key ? [`  use it with the CLI: export QUARRY_URL=${info.url} QUARRY_API_KEY=${info.api_key}`] : []),
          'Press Ctrl-C to stop.',
        ];
        process.stdout.write(lines.join('\n') + '\n');
      } else print(ctx.opts.output, info);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          process.stderr.write('stopping…\n');
          void rt.stop().then(resolve, (err: unknown) => {
            process.stderr.write(`error while stopping: ${err instanceof Error ? err.message : String(err)}\n`);
            resolve();
          });
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
