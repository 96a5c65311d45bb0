/**
 * The served vector store (`node engine/src/vector-store-main.ts`, as the chart's vector-store StatefulSet runs it)
 * as a process of its own for a bench, and the resident memory of a process from /proc.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Peak (VmHWM) and current (VmRSS) resident memory of `pid` in kB; zeros once it is gone. */
export function rssKb(pid: number): { hwm: number; rss: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const get = (k: string) => Number(s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm'))?.[1] ?? 0);
    return { hwm: get('VmHWM'), rss: get('VmRSS') };
  } catch {
    return { hwm: 0, rss: 0 };
  }
}

export interface ServedStoreOptions {
  /** The checkout whose store runs. */
  root: string;
  /** Its data go under `<dataDir>/store`. */
  dataDir: string;
  /** Extra environment (the chart's, e.g. MALLOC_ARENA_MAX). */
  env: Record<string, string>;
  freePort: () => Promise<number>;
  log: (msg: string) => void;
}

/** Starts the store on free ports and waits until it is ready; `clientEnv` points a client at it, `peakMb` reads its peak RSS. */
export async function startServedStore(o: ServedStoreOptions): Promise<{ clientEnv: Record<string, string>; peakMb: () => number; stop: () => Promise<void> }> {
  const [port, metrics] = [await o.freePort(), await o.freePort()];
  const token = randomBytes(24).toString('hex');
  let out = '';
  const proc = spawn(process.execPath, ['engine/src/vector-store-main.ts'], {
    cwd: o.root,
    env: { ...process.env, ...o.env, QUARRY_PORT: String(port), QUARRY_METRICS_PORT: String(metrics), QUARRY_DATA_DIR: path.join(o.dataDir, 'store'), QUARRY_VECTOR_STORE_TOKEN: token, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (c: Buffer) => (out = (out + c.toString()).slice(-10_000));
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const deadline = Date.now() + 60_000;
  while (!(await fetch(`http://127.0.0.1:${metrics}/readyz`).then((r) => r.ok, () => false))) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`the served vector store did not start:\n${out}`);
    await sleep(250);
  }
  o.log(`served vector store pid ${proc.pid} on :${port}`);
  let peakKb = 0;
  const sampler = setInterval(() => (peakKb = Math.max(peakKb, rssKb(proc.pid!).hwm)), 1000);
  return {
    clientEnv: { QUARRY_VECTOR_STORE_URL: `http://127.0.0.1:${port}`, QUARRY_VECTOR_STORE_TOKEN: token },
    peakMb: () => Math.round(Math.max(peakKb, rssKb(proc.pid!).hwm) / 102.4) / 10,
    stop: async () => {
      clearInterval(sampler);
      proc.kill('SIGTERM');
      for (let i = 0; i < 100 && proc.exitCode === null; i++) await sleep(100);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}
