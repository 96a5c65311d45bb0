/**
 * No key, no access, in every mode (issue 15): the cluster-mode engine process (engine/src/main.ts) never serves
 * without API keys. Without any Kubernetes namespace for the key Secrets it refuses to start (exit 2, naming
 * QUARRY_API_KEYS_NAMESPACE) instead of accepting requests without a key; with POD_NAMESPACE alone (what every pod
 * has) it keeps keys there and answers 401 to a request without one.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createTestNamespace } from '../harness/env.ts';
import { ROOT, freePort } from '../harness/test-env.ts';

const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
});

function startEngine(env: Record<string, string>): { proc: ChildProcess; log: () => string; exited: Promise<number | null> } {
  const base = { ...process.env };
  for (const k of ['QUARRY_API_KEYS_NAMESPACE', 'POD_NAMESPACE', 'WATCH_NAMESPACES', 'QUARRY_BOOTSTRAP_API_KEY']) delete base[k];
  const proc = spawn(process.execPath, ['--import', 'tsx', 'engine/src/main.ts'], {
    cwd: ROOT,
    env: { ...base, QUARRY_MODE: 'cluster', QUARRY_HOST: '127.0.0.1', LOG_LEVEL: 'info', QDRANT_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  let log = '';
  proc.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  return { proc, log: () => log, exited: new Promise((resolve) => proc.on('exit', (code) => resolve(code))) };
}

test('without a namespace for the key Secrets the cluster-mode engine does not start', async () => {
  const e = startEngine({ QUARRY_PORT: String(await freePort()) });
  const code = await Promise.race([e.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))]);
  assert.equal(code, 2, `expected exit 2, got ${String(code)}:\n${e.log()}`);
  assert.match(e.log(), /QUARRY_API_KEYS_NAMESPACE/);
  assert.doesNotMatch(e.log(), /engine up/);
});

test('with POD_NAMESPACE alone, keys live there and a request without a key is a 401', async () => {
  const ns = await createTestNamespace('engine-keys');
  try {
    const port = await freePort();
    const e = startEngine({ QUARRY_PORT: String(port), POD_NAMESPACE: ns.name, WATCH_NAMESPACES: ns.name });
    const deadline = Date.now() + 60_000;
    while (!/engine up/.test(e.log())) {
      assert.equal(e.proc.exitCode, null, `the engine exited:\n${e.log()}`);
      assert.ok(Date.now() < deadline, `the engine did not start:\n${e.log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const [method, url] of [['POST', '/v1/namespaces/list'], ['GET', '/v1/organizations/api-keys'], ['POST', '/v1/buckets/docs/objects/list']]) {
      const res = await fetch(`http://127.0.0.1:${port}${url}`, { method, headers: { 'content-type': 'application/json', 'x-namespace': 'research' }, ...(method === 'POST' ? { body: '{}' } : {}) });
      assert.equal(res.status, 401, `${method} ${url}: ${await res.text()}`);
    }
    e.proc.kill('SIGTERM');
    await e.exited;
  } finally {
    await ns.cleanup();
  }
});
