/**
 * Issue 16, timing: a namespace created through the API is usable by the next request. The SDK's generated client
 * retries nothing, so the first upload right after creating a namespace and a bucket must not meet a 404 "not ready
 * yet": the engine waits briefly for the namespace to be served, and answers 503 with Retry-After if it is still
 * reconciling after that. Local mode over HTTP, no retries in the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../harness/test-env.ts';
import { startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-ns-ready-'));
let rt: LocalRuntime;

before(async () => {
  const manifestsDir = path.join(scratch, 'manifests');
  mkdirSync(manifestsDir, { recursive: true });
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir, host: '127.0.0.1', port: await freePort(), seed: false, resyncMs: 1000, manifestDebounceMs: 100 });
});

after(async () => {
  await rt?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function post(url: string, body: unknown, ns?: string): Promise<Response> {
  return fetch(`${rt.url}${url}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json', ...(ns ? { 'x-namespace': ns } : {}) },
    body: JSON.stringify(body),
  });
}

test('the first upload right after creating a namespace and a bucket succeeds (no 404, no retry)', async () => {
  for (const ns of ['fresh-a', 'fresh-b', 'fresh-c']) {
    const created = await post('/v1/namespaces', { namespace_name: ns, feature_extractors: [{ feature_extractor_name: 'passthrough_extractor', version: 'v1' }] });
    assert.equal(created.status, 200, await created.text());
    const bucket = await post('/v1/buckets', { bucket_name: 'notes', bucket_schema: { properties: { title: { type: 'string' }, body: { type: 'text' } } } }, ns);
    assert.equal(bucket.status, 200, await bucket.text());
    const obj = await post('/v1/buckets/notes/objects', { metadata: { title: 'first' }, blobs: [{ property: 'body', type: 'text', data: 'first note' }] }, ns);
    const text = await obj.text();
    // The engine waits (up to 8 s) for the namespace to be served; local reconciliation takes well under that.
    assert.equal(obj.status, 200, `${ns}: ${obj.status} ${text}`);
  }
});
