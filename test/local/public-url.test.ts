/**
 * Local mode started on any free port (`--port 0`) and a wildcard address: the printed URL and presigned object URLs
 * carry the port actually bound and an address clients can reach; `--public-url` overrides both; a bad one is refused
 * before anything starts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { publicUrl, startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-public-url-'));
const manifestsDir = path.join(scratch, 'manifests');
mkdirSync(manifestsDir, { recursive: true });
let rt: LocalRuntime | undefined;

after(async () => {
  await rt?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function call(method: string, url: string, body?: unknown, ns?: string) {
  const res = await fetch(`${rt!.url}${url}`, {
    method,
    headers: { authorization: `Bearer ${rt!.apiKey}`, ...(ns ? { 'x-namespace': ns } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

test('publicUrl: the bound port, loopback for a wildcard host, brackets for IPv6, an explicit URL as given', () => {
  assert.equal(publicUrl({ host: '0.0.0.0' }, 41234), 'http://127.0.0.1:41234');
  assert.equal(publicUrl({ host: '::1' }, 8080), 'http://[::1]:8080');
  assert.equal(publicUrl({ host: 'localhost' }, 8080), 'http://localhost:8080');
  assert.equal(publicUrl({ host: '0.0.0.0', publicUrl: 'https://quarry.example/' }, 8080), 'https://quarry.example');
  assert.throws(() => publicUrl({ host: '127.0.0.1', publicUrl: 'quarry.example:8080' }, 8080), /QUARRY_PUBLIC_URL must be an http\(s\) URL/);
});

test('a bad --public-url is refused before anything starts', async () => {
  await assert.rejects(
    startLocal({ dataDir: path.join(scratch, 'bad'), manifestsDir, host: '127.0.0.1', port: 0, seed: false, publicUrl: 'ftp://x' }),
    /--public-url \/ QUARRY_PUBLIC_URL must be an http\(s\) URL/,
  );
});

test('--port 0 on 0.0.0.0: the URL names the bound port and presigned uploads work through it', async () => {
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir, host: '0.0.0.0', port: 0, seed: false, manifestDebounceMs: 100 });
  const m = /^http:\/\/127\.0\.0\.1:(\d+)$/.exec(rt.url);
  assert.ok(m && Number(m[1]) > 0, rt.url);

  const fx = { feature_extractor_name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };
  const ns = await call('POST', '/v1/namespaces', { namespace_name: 'urls', feature_extractors: [fx] });
  assert.equal(ns.status, 200, JSON.stringify(ns.body));
  const bucket = await call('POST', '/v1/buckets', { bucket_name: 'files', bucket_schema: { properties: { content: { type: 'text' } } } }, 'urls');
  assert.equal(bucket.status, 200, JSON.stringify(bucket.body));
  // The bucket's storage is provisioned by its reconciler; until then the upload is refused with a 4xx.
  let up = await call('POST', '/v1/buckets/files/uploads', { filename: 'notes.txt', content_type: 'text/plain' }, 'urls');
  for (let i = 0; up.status !== 200 && i < 240; i++) {
    assert.ok(up.status < 500, JSON.stringify(up.body));
    await new Promise((r) => setTimeout(r, 250));
    up = await call('POST', '/v1/buckets/files/uploads', { filename: 'notes.txt', content_type: 'text/plain' }, 'urls');
  }
  assert.equal(up.status, 200, JSON.stringify(up.body));
  assert.ok(String(up.body.presigned_url).startsWith(`${rt.url}/`), up.body.presigned_url);
  const put = await fetch(up.body.presigned_url, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'hello' });
  assert.equal(put.status, 200, await put.text());
  const confirm = await call('POST', `/v1/buckets/files/uploads/${up.body.upload_id}/confirm`, undefined, 'urls');
  assert.equal(confirm.body.status, 'COMPLETED', JSON.stringify(confirm.body));
});
