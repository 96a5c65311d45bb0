/**
 * The served vector store beyond the shared contract (vector-store.remote.test.ts): over real loopback HTTP, a wrong
 * or missing token is refused (401 on the wire, a StorageError naming the setting in the client); the store's typed
 * errors arrive as the same QuarryError; bad bodies are 4xx naming the field, never a 5xx; a server that is gone is
 * a 503 marked retryable and one that does not answer a 504, both within the deadline; a store without the optional
 * methods still answers them; probes and metrics; and the process entry (vector-store-main.ts) serves, then stops
 * gracefully on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { RemoteVectorStore } from '#engine/vector/remote/client.ts';
import { serveVectorStore, type ServedStore } from '#engine/vector/remote/serve.ts';
import { buildVectorStoreServer } from '#engine/vector/remote/server.ts';
import { eventually } from '#test/harness/eventually.ts';
import { ROOT } from '#test/harness/test-env.ts';

const token = 'adapter-token';
const spec = { name: 'docs', vectors: [{ name: 'v', size: 2, distance: 'cosine' as const }], payloadIndexes: [{ field: 'k', type: 'keyword' as const }] };
const isError = (type: string, status: number, pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof QuarryError, `expected a QuarryError, got ${String(e)}`);
  assert.equal(e.type, type, e.message);
  assert.equal(e.status, status);
  assert.match(e.message, pattern);
  return true;
};

describe('remote vector store adapter', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-remote-adapter-'));
  let served: ServedStore;
  let store: RemoteVectorStore;
  const post = (method: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${served.url}/v1/vector-store/${method}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body });

  before(async () => {
    served = await serveVectorStore({ dataDir: dir, host: '127.0.0.1', port: 0, metricsPort: 0, token, bodyLimit: 256 * 1024 });
    store = new RemoteVectorStore({ url: served.url, token });
    await store.ensureCollection(spec);
    await store.upsert('docs', [{ id: 'a', vectors: { v: [1, 0] }, payload: { k: 'x' } }]);
  });
  after(async () => {
    await store.close();
    await served.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a wrong or missing token: 401 in the documented shape on the wire, a StorageError naming the setting in the client', async () => {
    const wrong = new RemoteVectorStore({ url: served.url, token: 'not-the-token' });
    await assert.rejects(wrong.listCollections(), isError('StorageError', 500, /refused this process's token \(HTTP 401\).*QUARRY_VECTOR_STORE_TOKEN/));
    await assert.rejects(wrong.upsert('docs', [{ id: 'evil', vectors: { v: [0, 1] }, payload: {} }]), isError('StorageError', 500, /HTTP 401/));
    assert.equal(await store.count('docs'), 1, 'nothing was written with the wrong token');
    for (const headers of [{ authorization: '' }, { authorization: `Bearer ${token}x` }, { authorization: token }]) {
      const r = await post('count', JSON.stringify({ collection: 'docs' }), headers);
      assert.equal(r.status, 401);
      const body = (await r.json()) as { success: boolean; error: { type: string; message: string } };
      assert.equal(body.success, false);
      assert.equal(body.error.type, 'UnauthorizedError');
      assert.match(body.error.message, /Bearer <token>/);
    }
  });

  it("the store's typed errors arrive as the same QuarryError, with their details", async () => {
    const direct = new LanceVectorStore({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'quarry-direct-')) });
    try {
      const notFound = await store.count('missing').then(() => undefined, (e: unknown) => e);
      assert.ok(notFound instanceof QuarryError);
      assert.equal(notFound.type, 'NotFoundError');
      assert.equal(notFound.status, 404);
      assert.deepEqual(notFound.details, { resource: 'collection', id: 'missing' });
      await direct.ensureCollection(spec);
      const viaWire = await store.search('docs', { using: 'v', vector: [1, 2, 3], limit: 1 }).then(() => undefined, (e: unknown) => e as QuarryError);
      const local = await direct.search('docs', { using: 'v', vector: [1, 2, 3], limit: 1 }).then(() => undefined, (e: unknown) => e as QuarryError);
      assert.ok(viaWire instanceof QuarryError && local instanceof QuarryError);
      assert.deepEqual({ type: viaWire.type, status: viaWire.status, message: viaWire.message, details: viaWire.details }, { type: local.type, status: local.status, message: local.message, details: local.details });
      await assert.rejects(store.upsert('docs', [{ id: 'b', vectors: { v: [1, 1] }, payload: { k: 5 } }]), isError('BadRequestError', 400, /'k' is indexed as/));
      await assert.rejects(store.scroll('docs', { limit: 2, cursor: '!!' }), isError('BadRequestError', 400, /cursor/));
    } finally {
      await direct.close();
    }
  });

  it('bad bodies are 4xx naming the field or the method, never a 5xx; the body limit is a 400', async () => {
    const cases: [string, string, number, RegExp][] = [
      ['count', JSON.stringify({ collection: 5 }), 422, /collection/],
      ['upsert', JSON.stringify({ collection: 'docs', points: [{ id: 'x' }] }), 422, /vectors/],
      ['search', JSON.stringify({ collection: 'docs' }), 422, /req/],
      ['count', JSON.stringify({ collection: 'docs', extra: 1 }), 422, /additional/],
      ['count', '{"collection":', 400, /JSON|Unexpected|body/i],
      ['dropAllTheThings', '{}', 400, /'dropAllTheThings' is not a vector store method/],
      ['count', '{"collection":"docs","filter":{"__proto__":{"polluted":true}}}', 400, /not valid JSON/],
      ['upsert', JSON.stringify({ collection: 'docs', points: [{ id: 'big', vectors: { v: [1, 0] }, payload: { blob: 'x'.repeat(300 * 1024) } }] }), 400, /too large/],
    ];
    for (const [method, body, status, pattern] of cases) {
      const r = await post(method, body);
      const text = await r.text();
      assert.equal(r.status, status, `${method} ${body.slice(0, 80)}: ${text}`);
      assert.match(text, pattern, `${method}: ${text}`);
    }
    assert.equal(await store.count('docs'), 1, 'still serving after the bad bodies');
  });

  it('returned vectors are Float32Arrays again; large upserts go in several requests', async () => {
    const [p] = await store.retrieve('docs', ['a'], { withVectors: true });
    assert.ok(p?.vectors?.v instanceof Float32Array);
    const many = Array.from({ length: 1200 }, (_, i) => ({ id: `m${i}`, vectors: { v: new Float32Array([1, i / 1200]) }, payload: { k: 'm' } }));
    const small = new RemoteVectorStore({ url: served.url, token, batchSize: 500 });
    await small.upsert('docs', many);
    assert.equal(await store.count('docs', { field: 'k', value: 'm' }), 1200);
    await store.deleteByFilter('docs', { field: 'k', value: 'm' });
    assert.equal(await store.count('docs'), 1);
  });

  it('probes and metrics on their own port, without the token', async () => {
    const base = `http://127.0.0.1:${served.metricsPort}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /http_requests_total\{method="POST",route="\/v1\/vector-store\/count",status_code="200"\} \d+/);
    assert.match(metrics, /http_requests_total\{method="POST",route="\/v1\/vector-store\/count",status_code="401"\} \d+/);
    assert.match(metrics, /^process_cpu_seconds_total /m);
  });

  it('a store without optimize and version: optimize is a no-op, version changes with every write through the server', async () => {
    const app = await buildVectorStoreServer(new ExactVectorStore(), { token });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const exact = new RemoteVectorStore({ url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, token });
      await exact.ensureCollection(spec);
      const v0 = await exact.version('docs');
      await exact.optimize('docs');
      assert.equal(await exact.version('docs'), v0, 'no write, same version');
      await exact.upsert('docs', [{ id: 'a', vectors: { v: [1, 0] }, payload: {} }]);
      assert.notEqual(await exact.version('docs'), v0);
    } finally {
      await app.close();
    }
  });

  it('a server that is gone: a retryable 503 at once, for reads and writes alike; one that never answers: a 504 at the deadline', async () => {
    const gone = await serveVectorStore({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'quarry-gone-')), host: '127.0.0.1', port: 0, token });
    const client = new RemoteVectorStore({ url: gone.url, token, timeoutMs: 5000 });
    assert.deepEqual(await client.listCollections(), []);
    await gone.stop();
    const t0 = Date.now();
    const unavailable = (e: unknown) => {
      assert.ok(e instanceof QuarryError);
      assert.equal(e.type, 'ServiceUnavailableError');
      assert.equal(e.status, 503);
      assert.equal(e.details?.retryable, true);
      assert.match(e.message, /cannot be reached \(ECONNREFUSED\).*quarry vector-store/);
      return true;
    };
    await assert.rejects(client.listCollections(), unavailable);
    await assert.rejects(client.upsert('docs', [{ id: 'a', vectors: { v: [1, 0] }, payload: {} }]), unavailable);
    assert.ok(Date.now() - t0 < 4000, `refused connections fail fast (${Date.now() - t0} ms)`);

    const silent = net.createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const hung = new RemoteVectorStore({ url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, token, timeoutMs: 500 });
      const t1 = Date.now();
      await assert.rejects(hung.count('docs'), isError('TimeoutError', 504, /did not answer count within 500 ms/));
      assert.ok(Date.now() - t1 < 3000);
    } finally {
      silent.close();
    }
  });

  it('the process entry serves from QUARRY_DATA_DIR and stops gracefully on SIGTERM (exit 0)', async (t) => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'quarry-vs-main-'));
    const port = await freePort();
    const metricsPort = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'engine/src/vector-store-main.ts')], {
      cwd: ROOT,
      env: { ...process.env, QUARRY_DATA_DIR: data, QUARRY_PORT: String(port), QUARRY_METRICS_PORT: String(metricsPort), QUARRY_VECTOR_STORE_TOKEN: token, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await eventually('the vector store process to be ready', async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status === 200, 60_000, 200);
      const client = new RemoteVectorStore({ url: `http://127.0.0.1:${port}`, token });
      await client.ensureCollection(spec);
      await client.upsert('docs', [{ id: 'kept', vectors: { v: [0, 1] }, payload: { k: 'y' } }]);
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), 20_000)))]);
      clearTimeout(timer);
      assert.equal(code, 0, `exit code after SIGTERM: ${String(code)}\n${output}`);
      const reopened = new LanceVectorStore({ dataDir: path.join(data, 'vectors') });
      assert.deepEqual((await reopened.retrieve('docs', ['kept'])).map((p) => p.payload), [{ k: 'y' }], 'the write is on disk after the stop');
      await reopened.close();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      t.diagnostic(output.slice(-500));
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('quarry vector-store: without a token it exits 2 naming the settings; with one it serves until SIGINT and exits 0', async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'quarry-vs-cli-'));
    const run = (args: string[], env: Record<string, string>) => {
      const child = spawn(path.join(ROOT, 'bin/quarry'), ['vector-store', '--data-dir', data, ...args], { env: { ...process.env, QUARRY_VECTOR_STORE_TOKEN: '', QUARRY_VECTOR_STORE_TOKEN_FILE: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      return { child, exited, output: () => output };
    };
    try {
      const bare = run(['--port', '0', '--metrics-port', '0'], {});
      assert.equal(await bare.exited, 2, bare.output());
      assert.match(bare.output(), /needs a token: set QUARRY_VECTOR_STORE_TOKEN.*--token/);
      const port = await freePort();
      const served = run(['--port', String(port), '--metrics-port', '0', '--token', token], { LOG_LEVEL: 'warn' });
      await eventually('quarry vector-store to serve', async () => (await new RemoteVectorStore({ url: `http://127.0.0.1:${port}`, token }).listCollections()).length === 0, 60_000, 200);
      served.child.kill('SIGINT');
      assert.equal(await served.exited, 0, served.output());
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
