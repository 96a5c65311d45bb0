/**
 * CLI test helpers: a local engine (startLocal on a scratch data directory with a copy of manifests, no sample
 * seeding) and the real `bin/quarry` run as a subprocess against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort } from '../harness/test-env.ts';
import { startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';

export const QUARRY_BIN = path.join(ROOT, 'bin', 'quarry');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Engine {
  rt: LocalRuntime;
  url: string;
  apiKey: string | undefined;
  scratch: string;
  manifestsDir: string;
  /** Environment for the CLI: server, key, namespace, and a private cache dir (upload journals). */
  env(extra?: Record<string, string>): Record<string, string>;
  stop(): Promise<void>;
}

async function eventually<T>(what: string, fn: () => Promise<T>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}: ${String(last)}`);
}

/**
 * Starts local mode on a scratch copy of `examples/<example>` plus extra manifest files, and waits until the
 * namespace serves requests.
 */
export async function startEngine(opts: { example: string; namespace: string; extraManifests?: Record<string, string> }): Promise<Engine> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-cli-'));
  const manifestsDir = path.join(scratch, 'manifests');
  cpSync(path.join(ROOT, 'examples', opts.example), manifestsDir, { recursive: true });
  for (const [name, text] of Object.entries(opts.extraManifests ?? {})) writeFileSync(path.join(manifestsDir, name), text);
  mkdirSync(path.join(scratch, 'cache'), { recursive: true });
  const port = await freePort();
  const rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir, host: '127.0.0.1', port, seed: false, manifestDebounceMs: 100 });
  await eventually(`namespace ${opts.namespace} to be served`, () => rt.namespace(opts.namespace));
  return {
    rt,
    url: rt.url,
    apiKey: rt.apiKey,
    scratch,
    manifestsDir,
    env: (extra = {}) => ({
      QUARRY_URL: rt.url,
      ...(rt.apiKey ? { QUARRY_API_KEY: rt.apiKey } : {}),
      QUARRY_NAMESPACE: opts.namespace,
      XDG_CACHE_HOME: path.join(scratch, 'cache'),
      ...extra,
    }),
    async stop() {
      await rt.stop();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** A cache dir for runs that name none: upload journals never land in the real ~/.cache. */
const fallbackCache = mkdtempSync(path.join(tmpdir(), 'quarry-cli-cache-'));
process.on('exit', () => rmSync(fallbackCache, { recursive: true, force: true }));

/** Environment without any inherited QUARRY_* variables (the caller's shell must not leak into a test). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUARRY_')) env[k] = v;
  return { ...env, NODE_ENV: 'test', XDG_CACHE_HOME: fallbackCache, ...extra };
}

export function spawnCli(args: string[], env: Record<string, string> = {}, cwd = ROOT): ChildProcess {
  return spawn(QUARRY_BIN, args, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs `quarry <args>` to completion. */
export function runCli(args: string[], env: Record<string, string> = {}, opts: { cwd?: string; onStderr?: (chunk: string, child: ChildProcess) => void } = {}): Promise<CliResult> {
  const child = spawnCli(args, env, opts.cwd);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    opts.onStderr?.(c, child);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Every object of a bucket, through the API (all pages). */
export async function listObjects(e: Engine, namespace: string, bucket: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (;;) {
    const res = await fetch(`${e.url}/v1/buckets/${bucket}/objects/list`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': namespace, ...(e.apiKey ? { authorization: `Bearer ${e.apiKey}` } : {}) },
      body: JSON.stringify({ limit: 1000, offset: out.length }),
    });
    if (!res.ok) throw new Error(`objects/list: HTTP ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { results: Record<string, unknown>[]; pagination: { total: number } };
    out.push(...page.results);
    if (!page.results.length || out.length >= page.pagination.total) return out;
  }
}
