/**
 * The engine as the security suites see it: engine/src/main.ts in local mode as its own process (what `make up`
 * runs), over HTTP, with the route recorder preloaded (route-recorder.ts), on a private data directory and a
 * manifests folder the suite writes. Exposes the admin key the banner prints, the routes the app registered, the
 * process's resident memory (from /proc) and whether it is still alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort } from '../harness/test-env.ts';

export interface Route {
  method: string;
  url: string;
}

export interface EngineProcess {
  url: string;
  adminKey: string;
  routes: Route[];
  dataDir: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resident set size in bytes (VmRSS), or undefined once the process is gone. */
  rss(): number | undefined;
  alive(): boolean;
  stop(): Promise<void>;
}

export async function startEngine(opts: { manifests: Record<string, string>; name: string; env?: Record<string, string> }): Promise<EngineProcess> {
  const scratch = mkdtempSync(path.join(tmpdir(), `quarry-${opts.name}-`));
  const manifestsDir = path.join(scratch, 'manifests');
  const dataDir = path.join(scratch, 'data');
  mkdirSync(manifestsDir, { recursive: true });
  for (const [file, text] of Object.entries(opts.manifests)) writeFileSync(path.join(manifestsDir, file), text);
  const routesFile = path.join(scratch, 'routes.json');
  // No models: the suites' collections use the passthrough extractor, so nothing is loaded and startup stays fast.
  const modelsDir = path.join(scratch, 'models');
  mkdirSync(modelsDir);
  writeFileSync(path.join(modelsDir, 'manifest.json'), JSON.stringify({ version: 1, models: {} }));
  const port = await freePort();
  let out = '';
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--import', path.join(ROOT, 'test/security/route-recorder.ts'), path.join(ROOT, 'engine/src/main.ts'), '--port', String(port)],
    {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'warn', QUARRY_DATA_DIR: dataDir, QUARRY_MANIFESTS: manifestsDir, QUARRY_TEST_ROUTES_FILE: routesFile, QUARRY_MODELS_DIR: modelsDir, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  let adminKey: string | undefined;
  while (!adminKey) {
    if (child.exitCode !== null) throw new Error(`the engine exited with ${child.exitCode}:\n${out.slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`the engine did not start:\n${out.slice(-3000)}`);
    adminKey = /API key: (sk_[A-Za-z0-9]+)/.exec(out)?.[1];
    if (!adminKey) await new Promise((r) => setTimeout(r, 200));
  }
  const routes = JSON.parse(readFileSync(routesFile, 'utf8')) as Route[];
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    url,
    adminKey,
    routes,
    dataDir,
    child,
    output: () => out,
    alive,
    rss: () => {
      try {
        const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
        return kb ? Number(kb) * 1024 : undefined;
      } catch {
        return undefined;
      }
    },
    stop: async () => {
      if (alive()) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
