/**
 * The Bucket's spec.uniqueKey through the objects API (engine app, local adapters): objects with the same key
 * values are the same object. insert keeps the first, upsert replaces in place (same id, created_at kept, old
 * blobs and documents gone), update only changes existing objects; concurrent upserts of one key make one object.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { constantModels } from './constant-models.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { MemoryJobQueue } from '#engine/queue/memory.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { NamespaceIngestion } from '#engine/ingestion/pipeline.ts';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { notFound } from '#core/lib/errors.ts';

const POLICIES = { kept: 'insert', latest: 'upsert', fixed: 'update' } as const;

describe('unique keys', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-ukey-'));
  const objects = new LocalObjectStore({ root: path.join(dir, 'o'), presignSecret: 'test-secret' });
  const queue = new MemoryJobQueue();
  const vectors = new ExactVectorStore();
  const ns = new NamespaceIngestion({ queue, objects, vectors, models: constantModels }, {
    key: { k8sNamespace: 'default', name: 'cat' },
    collections: async () => [],
    storageBucket: async (b) => {
      if (!(b in POLICIES)) throw notFound('bucket', b);
      return `${b}-store`;
    },
    uniqueKey: async (b) => ({ fields: ['doc_id'], defaultPolicy: POLICIES[b as keyof typeof POLICIES] }),
  });
  let app: FastifyInstance;
  const H = { 'x-namespace': 'cat' };
  const put = (bucket: string, docId: string | undefined, text: string) =>
    app.inject({ method: 'POST', url: `/v1/buckets/${bucket}/objects`, headers: H, payload: { blobs: [{ property: 'body', type: 'text', data: text }], metadata: docId === undefined ? {} : { doc_id: docId, text } } });
  const keys = async (bucket: string) => (await objects.list(`${bucket}-store`, { maxKeys: 10000 })).objects.map((o) => o.key);

  before(async () => {
    for (const b of Object.keys(POLICIES)) await objects.ensureBucket(`${b}-store`);
    await vectors.ensureCollection({ name: ns.vectorCollection, vectors: [{ name: 'v', size: 2, distance: 'cosine' }] });
    await ns.init();
    app = await buildEngineApp({ objects, namespace: async (n) => (n === 'cat' ? ns : Promise.reject(notFound('namespace', n))), maxUploadBytes: 1024 * 1024 });
  });
  after(async () => {
    await app.close();
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('upsert replaces the object in place: same id and created_at, new content, old blobs and documents gone', async () => {
    const first = await put('latest', 'a', 'first version');
    assert.equal(first.statusCode, 200, first.body);
    const a = first.json();
    await vectors.upsert(ns.vectorCollection, [{ id: 'doc-a', vectors: { v: [1, 0] }, payload: { root_object_id: a.object_id } }]);
    const second = await put('latest', 'a', 'second version');
    assert.equal(second.statusCode, 200, second.body);
    const b = second.json();
    assert.equal(b.updated, true);
    assert.equal(b.object_id, a.object_id);
    assert.equal(b.created_at, a.created_at);
    assert.equal(b.metadata.text, 'second version');
    assert.deepEqual(await keys('latest'), [b.blobs[0].key], 'only the new blob is stored');
    assert.equal(await vectors.count(ns.vectorCollection, { field: 'root_object_id', value: a.object_id }), 0, 'stale documents removed');
    const got = await app.inject({ method: 'GET', url: `/v1/buckets/latest/objects/${a.object_id}`, headers: H });
    assert.equal(got.json().metadata.text, 'second version');
    // With skip_duplicates, re-sending the content the object already holds changes nothing.
    const same = await app.inject({ method: 'POST', url: '/v1/buckets/latest/objects', headers: H, payload: { blobs: [{ property: 'body', type: 'text', data: 'second version' }], metadata: { doc_id: 'a', text: 'changed' }, skip_duplicates: true } });
    assert.equal(same.statusCode, 200, same.body);
    assert.equal(same.json().is_duplicate, true);
    assert.equal(same.json().metadata.text, 'second version');
    assert.deepEqual(await keys('latest'), [b.blobs[0].key]);
  });

  test('insert keeps the first object and answers it', async () => {
    const first = (await put('kept', 'k', 'original')).json();
    const again = await put('kept', 'k', 'ignored rewrite');
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().skipped_unique_key, true);
    assert.equal(again.json().object_id, first.object_id);
    assert.equal(again.json().metadata.text, 'original');
    assert.equal((await keys('kept')).length, 1, 'the skipped write left no bytes');
  });

  test('update refuses a key no object has; a missing key field is a 422 naming it', async () => {
    const none = await put('fixed', 'nobody', 'x');
    assert.equal(none.statusCode, 404, none.body);
    assert.match(none.json().error.message, /no object in bucket 'fixed' has doc_id="nobody"; .*use upsert/);
    assert.deepEqual(await keys('fixed'), []);
    const missing = await put('latest', undefined, 'no key');
    assert.equal(missing.statusCode, 422);
    assert.equal(missing.json().error.details.field, 'body.metadata.doc_id');
  });

  test('concurrent upserts of one key make one object and leave no orphaned blob', async () => {
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) => put('latest', 'raced', `version ${i}`)));
    for (const r of all) assert.ok(r.statusCode === 200, r.body);
    assert.equal(all.filter((r) => !r.json().updated && !r.json().skipped_unique_key && !r.json().is_duplicate).length, 1, 'one upsert created it, the others replaced it');
    assert.equal(new Set(all.map((r) => r.json().object_id)).size, 1);
    const list = await app.inject({ method: 'POST', url: '/v1/buckets/latest/objects/list', headers: H, payload: {} });
    const raced = (list.json().results as { metadata: { doc_id: string } }[]).filter((o) => o.metadata.doc_id === 'raced');
    assert.equal(raced.length, 1);
    // Every replacement dropped the version it actually overwrote: only the surviving version's blob is stored.
    const got = (await app.inject({ method: 'GET', url: `/v1/buckets/latest/objects/${all[0]!.json().object_id}`, headers: H })).json();
    const stored = (await keys('latest')).filter((k) => k.startsWith(`${got.object_id}/`));
    assert.deepEqual(stored, got.blobs.map((b: { key: string }) => b.key), 'no orphaned blob from a losing upsert');
  });

  test('deleting the object frees its key', async () => {
    const a = (await put('kept', 'gone', 'one')).json();
    assert.equal((await app.inject({ method: 'DELETE', url: `/v1/buckets/kept/objects/${a.object_id}`, headers: H })).statusCode, 200);
    const b = await put('kept', 'gone', 'two');
    assert.equal(b.statusCode, 200);
    assert.notEqual(b.json().object_id, a.object_id);
  });
});
