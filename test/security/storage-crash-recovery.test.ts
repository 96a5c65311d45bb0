/**
 * kill -9 during ingestion (issue 14 item 17), on a real local-mode engine process over HTTP: an object create
 * whose first blob is stored and whose second blob is still streaming (from a server that never finishes) is
 * killed. That leaves an orphan blob (no object record points at it) and a temp file of the interrupted write,
 * and the Bucket's object_count would count the orphan. On restart, before anything is counted, both are removed:
 * the temp folder is empty, the storage holds exactly the blobs of the recorded objects, and object_count says so.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort } from '../harness/test-env.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';

type Json = Record<string, unknown> & { [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-crash-'));
const dataDir = path.join(scratch, 'data');
const manifestsDir = path.join(scratch, 'manifests');
const children: ChildProcess[] = [];
const slow = http.createServer((_req, res) => {
  // Headers and a first chunk, then nothing: the engine keeps streaming into its temp file until it is killed.
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.write(Buffer.alloc(64 * 1024, 'x'));
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  slow.closeAllConnections();
  slow.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function startEngine(): Promise<{ child: ChildProcess; url: string; key: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/security/fixtures/local-engine.ts'), dataDir, manifestsDir, String(port)], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'warn', QUARRY_FETCH_ALLOW_PRIVATE: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`engine did not start:\n${out.slice(-4000)}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+) (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, key: m[2]! });
      }
    });
    child.once('exit', (code) => reject(new Error(`engine exited (${code}):\n${out.slice(-4000)}`)));
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const blob = (text: string) => ({ property: 'body', type: 'text', data: `data:text/plain;base64,${Buffer.from(text).toString('base64')}` });

test('after kill -9 mid-ingestion the restarted engine removes the orphan blob and the temp file, and object_count is right', async () => {
  mkdirSync(manifestsDir, { recursive: true });
  writeFileSync(
    path.join(manifestsDir, 'kb.yaml'),
    `apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata: {name: kb}
spec:
  featureExtractors: [{name: text_extractor, version: v1}]
---
apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata: {name: notes}
spec:
  namespaceRef: kb
  schema: {properties: {body: {type: text}, extra: {type: text}}}
`,
  );
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/never-ends.txt`;

  let e = await startEngine();
  const call = async (method: string, url: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${e.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${e.key}`, 'x-namespace': 'kb', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
  };
  await until('bucket ready', async () => (await call('GET', '/v1/buckets/notes')).body.ready === true);
  const storage: string = (await call('GET', '/v1/buckets/notes')).body.storage_location.bucket;
  for (const t of ['first', 'second']) assert.ok((await call('POST', '/v1/buckets/notes/objects', { blobs: [blob(t)] })).status < 300);

  const tmpDir = path.join(dataDir, 'objects', storage, 'tmp');
  const objects = new LocalObjectStore({ root: path.join(dataDir, 'objects') });
  const keys = async () => (await objects.list(storage, { maxKeys: 1000 })).objects.map((o) => o.key).filter((k) => !k.startsWith('.quarry-owners/'));
  assert.equal((await keys()).length, 2);

  // The create that gets killed: its inline blob is stored, its URL blob is streaming into a temp file.
  const doomed = call('POST', '/v1/buckets/notes/objects', { blobs: [blob('orphan to be'), { property: 'extra', type: 'text', data: slowUrl }] }).catch(() => undefined);
  await until('the second blob is streaming into a temp file', () => existsSync(tmpDir) && readdirSync(tmpDir).some((f) => statSync(path.join(tmpDir, f)).size > 0));
  e.child.kill('SIGKILL');
  await doomed;
  await until('the engine is gone', () => e.child.exitCode !== null || e.child.signalCode !== null);
  assert.equal((await keys()).length, 3, 'the crash left an orphan blob');
  assert.ok(readdirSync(tmpDir).length > 0, 'and a temp file');

  e = await startEngine();
  assert.deepEqual(readdirSync(tmpDir), [], 'the temp file is gone');
  const recorded = (await call('POST', '/v1/buckets/notes/objects/list', {})).body;
  const ids: string[] = (recorded.results ?? recorded.objects ?? []).map((o: Json) => o.object_id);
  assert.equal(ids.length, 2, JSON.stringify(recorded));
  const left = await keys();
  assert.equal(left.length, 2, `only the recorded objects’ blobs are left: ${left.join(', ')}`);
  for (const k of left) assert.ok(ids.some((id) => k.startsWith(`${id}/`)), `${k} belongs to a recorded object`);
  // The status written before the crash may still say 3 until the restarted operator's first pass recounts.
  const count = await until('object_count recounted', async () => {
    const b = (await call('GET', '/v1/buckets/notes')).body;
    return b.ready === true && b.object_count === 2 && b;
  }, 15_000);
  assert.equal(count.object_count, 2, 'object_count does not count the orphan');
  e.child.kill('SIGKILL');
});
