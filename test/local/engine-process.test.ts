/**
 * engine/src/main.ts as a process, in both modes:
 * - local (what `make up` runs): --port is honoured, the banner names the URL and the local API key, health answers
 *   without a key and other routes need it, SIGTERM stops it cleanly; a bad WORKER_CONCURRENCY is refused by name
 *   (by the worker process too);
 * - cluster (QUARRY_MODE=cluster, the chart's engine Deployment): the engine reads QuarryNamespaces and Buckets
 *   from the real kube-apiserver (WATCH_NAMESPACES), serves a namespace once its status says Ready, and answers an
 *   unknown or not-yet-Ready namespace with a 404 in the documented error shape.
 */
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort } from '../harness/test-env.ts';
import { applyCrds, createTestNamespace, kubectl, testEnv } from '../harness/env.ts';
import { createJobQueue } from '#engine/queue/config.ts';
import { privateNatsPrefix } from '../harness/env-ports.ts';
import { extractionQueueName } from '#core/naming.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-engine-proc-'));
const children: ChildProcess[] = [];

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

function start(env: Record<string, string>, args: string[], script = 'engine/src/main.ts'): { child: ChildProcess; out: () => string } {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  children.push(child);
  return { child, out: () => out };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, out: () => string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; output:\n${out()}`);
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

test('local mode process: --port, banner with URL and API key, key required, clean SIGTERM', async () => {
  const manifests = path.join(scratch, 'manifests');
  cpSync(path.join(ROOT, 'examples', 'hybrid-text-search'), manifests, { recursive: true }); // no sample: no seeding
  const port = await freePort();
  const p = start({ QUARRY_DATA_DIR: path.join(scratch, 'local-data'), QUARRY_MANIFESTS: manifests, QUARRY_PORT: '1' }, ['--port', String(port)]);
  const url = `http://127.0.0.1:${port}`;
  await until('the banner', async () => p.out().includes(`Quarry is running (local mode) at ${url}`), p.out);
  const key = /API key: (sk_[A-Za-z0-9]+)/.exec(p.out())?.[1];
  assert.ok(key, p.out());
  assert.equal((await fetch(`${url}/v1/health`)).status, 200);
  const noKey = await fetch(`${url}/v1/namespaces`);
  assert.equal(noKey.status, 401);
  const withKey = await fetch(`${url}/v1/namespaces`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(withKey.status, 200);
  p.child.kill('SIGTERM');
  assert.equal(await exited(p.child), 0);
});

test('local mode process: WORKER_CONCURRENCY that is not a positive integer stops the start, naming the setting', async () => {
  for (const bad of ['0', '-1', '2.5', 'four']) {
    const p = start({ QUARRY_DATA_DIR: path.join(scratch, `bad-workers-${bad}`), QUARRY_MANIFESTS: path.join(scratch, 'none'), WORKER_CONCURRENCY: bad }, ['--port', '0']);
    assert.equal(await exited(p.child), 2, p.out());
    assert.match(p.out(), /WORKER_CONCURRENCY must be a positive integer/);
  }
});

test('worker process: a WORKER_CONCURRENCY or WORKER_DISCOVERY_SECONDS that is not a positive integer stops it, naming the setting', async () => {
  for (const [name, bad] of [['WORKER_CONCURRENCY', 'four'], ['WORKER_CONCURRENCY', '0'], ['WORKER_DISCOVERY_SECONDS', '-5']] as const) {
    const p = start({ QUARRY_DATA_DIR: path.join(scratch, `bad-worker-${bad}`), [name]: bad }, [], 'engine/src/worker.ts');
    assert.equal(await exited(p.child), 2, p.out());
    assert.match(p.out(), new RegExp(`${name} must be a positive integer \\(.+\\), got '${bad}'`));
  }
});

test('cluster mode process: namespaces come from the Kubernetes API and are served once Ready', async () => {
  await applyCrds();
  const ns = await createTestNamespace('engine-proc');
  const t = testEnv();
  const natsPrefix = privateNatsPrefix();
  const queue = await createJobQueue({ kind: 'nats', servers: [t.natsUrl], prefix: natsPrefix });
  try {
    const manifest = {
      apiVersion: 'quarry.dev/v1alpha1',
      kind: 'QuarryNamespace',
      metadata: { name: 'procns' },
      spec: { featureExtractors: [{ name: 'text_extractor', version: 'v1' }] },
    };
    const bucket = { apiVersion: 'quarry.dev/v1alpha1', kind: 'Bucket', metadata: { name: 'procbucket' }, spec: { namespaceRef: 'procns', schema: { properties: { t: { type: 'string' } } } } };
    for (const o of [manifest, bucket]) {
      const r = await kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(o), namespace: ns.name });
      assert.equal(r.code, 0, r.stderr);
    }
    const port = await freePort();
    // The cluster-mode engine needs its key store (a namespace for the key Secrets) and a key to be asked with.
    const key = `sk_${randomBytes(24).toString('hex')}`;
    const p = start(
      { QUARRY_MODE: 'cluster', QUARRY_API_KEYS_NAMESPACE: ns.name, QUARRY_BOOTSTRAP_API_KEY: key, NATS_STREAM_PREFIX: natsPrefix, WATCH_NAMESPACES: ns.name, QUARRY_VECTOR_STORE: 'embedded', QUARRY_DATA_DIR: path.join(scratch, 'cluster-data'), QUARRY_HOST: '127.0.0.1' },
      ['--port', String(port)],
    );
    const url = `http://127.0.0.1:${port}`;
    await until('health', async () => (await fetch(`${url}/v1/health`)).status === 200, p.out);
    const list = (name: string) =>
      fetch(`${url}/v1/buckets/procbucket/objects/list`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'x-namespace': name, 'content-type': 'application/json' }, body: '{}' });

    const unknown = await list('nope');
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { type: string } }).error.type, 'NotFoundError');
    // Not Ready yet: 503 with Retry-After (after a brief wait), never 404 — it exists and will be served.
    const notReady = await list('procns');
    assert.equal(notReady.status, 503);
    assert.ok(Number(notReady.headers.get('retry-after')) > 0, `Retry-After: ${notReady.headers.get('retry-after')}`);
    assert.match(((await notReady.json()) as { error: { message: string } }).error.message, /not ready yet/);

    // The operator's job in a cluster; here the status is written by hand: Ready at the current generation.
    const status = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'CollectionReady', message: 'ok', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), observedGeneration: 1 }] };
    const patched = await kubectl(['patch', 'quarrynamespace.quarry.dev/procns', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })], { namespace: ns.name });
    assert.equal(patched.code, 0, patched.stderr);
    const served = await until('the namespace served', async () => ((await list('procns')).status === 200 ? true : undefined), p.out, 60_000);
    assert.ok(served);
    p.child.kill('SIGTERM');
    assert.equal(await exited(p.child), 0);
  } finally {
    await queue.deleteQueue(extractionQueueName({ k8sNamespace: ns.name, name: 'procns' })).catch(() => undefined);
    await queue.close();
    await ns.cleanup();
  }
});
