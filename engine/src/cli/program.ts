/**
 * The `quarry` command tree (entry point: main.ts, run through bin/quarry).
 *
 * Exit codes: 0 ok; 1 the server answered with an error (its documented `error.message` and `error.type` are
 * printed) or the outcome failed (invalid manifest, failed batch); 2 usage error (commander's, or a missing
 * option found later); 3 the server cannot be reached; 130 interrupted.
 */
import { Command, CommanderError, Option } from 'commander';
import { ApiError, UnreachableError } from './client.ts';
import { EXIT, FailedError, UsageError } from './context.ts';
import { OUTPUT_FORMATS } from './output.ts';
import { registerUp } from './up.ts';
import { registerUpload } from './upload.ts';
import { registerBatch } from './batch.ts';
import { registerSearch } from './search.ts';
import { registerGet } from './get.ts';
import { registerManifest } from './manifest.ts';
import { registerKeys } from './keys.ts';
import { registerMcp } from './mcp.ts';
import { registerVectorStore } from './vector-store.ts';

export function buildProgram(): Command {
  const program = new Command('quarry')
    .description('Command-line client for Quarry, the multimodal data warehouse: run it locally, manage resources, upload, watch batches, search.')
    .version('0.1.0')
    .addOption(new Option('-s, --server <url>', 'engine URL').env('QUARRY_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('-k, --api-key <key>', 'API key, sent as Authorization: Bearer <key>').env('QUARRY_API_KEY'))
    .addOption(new Option('-n, --namespace <name>', 'namespace to act in (X-Namespace header)').env('QUARRY_NAMESPACE'))
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .showHelpAfterError('(run with --help for usage)')
    // Subcommand help lists --server, --namespace, … too (copied to each subcommand like exitOverride below).
    .configureHelp({ showGlobalOptions: true })
    // Usage errors must exit 2 (commander uses 1): throw instead of exiting and map the code in main().
    // Set before any subcommand is created: .command() copies this setting to each subcommand.
    .exitOverride();
  registerUp(program);
  registerUpload(program);
  registerBatch(program);
  registerSearch(program);
  registerGet(program);
  registerManifest(program);
  registerKeys(program);
  registerMcp(program);
  registerVectorStore(program);
  return program;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof UnreachableError) return EXIT.unreachable;
  return EXIT.api;
}

/** Error details for a terminal: a list of problems (`errors: [{kind, name, field, message}]`) one per line. */
function formatDetails(details: Record<string, unknown> | undefined): string {
  if (!details || !Object.keys(details).length) return '';
  const problems = Array.isArray(details.errors) ? (details.errors as Record<string, unknown>[]) : undefined;
  if (problems?.length && problems.every((p) => p && typeof p === 'object' && typeof p.message === 'string')) {
    return problems
      .map((p) => `\n  - ${[p.kind && p.name ? `${String(p.kind)}/${String(p.name)}` : '', p.field ?? ''].filter(Boolean).join(' ')}: ${String(p.message)}`)
      .join('');
  }
  return `\n  details: ${JSON.stringify(details)}`;
}

export function describeError(err: unknown): string {
  if (err instanceof ApiError) return `Error: ${err.message}\n  type: ${err.type} (HTTP ${err.status})${formatDetails(err.details)}`;
  if (err instanceof UsageError) return `Error: ${err.message}\n(run with --help for usage)`;
  if (err instanceof UnreachableError || err instanceof FailedError) return `Error: ${err.message}`;
  return `Error: ${err instanceof Error ? err.message : String(err)}`;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    // commander already printed its own message (and help) for its errors.
    if (!(err instanceof CommanderError)) process.stderr.write(describeError(err) + '\n');
    return exitCodeFor(err);
  }
}
