/**
 * POST /v1/collections/{c}/trigger (reference §1.5): every source bucket of the collection is processed (one batch
 * per bucket), `include_buckets` and `source_filters` narrow what is submitted, and the response has the documented
 * fields. Local adapters and a constant model: this is about what is submitted, not about extraction.
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

const BUCKETS = ['news', 'blogs', 'empty'];

describe('collection trigger', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-trigger-'));
  const objects = new LocalObjectStore({ root: path.join(dir, 'o'), presignSecret: 'test-secret' });
  const queue = new MemoryJobQueue();
  const vectors = new ExactVectorStore();
  const ns = new NamespaceIngestion({ queue, objects, vectors, models: constantModels }, {
    key: { k8sNamespace: 'default', name: 'press' },
    collections: async () => [
      { name: 'articles', enabled: true, source: { type: 'bucket', buckets: BUCKETS }, extractor: { id: 'text_extractor@v1', params: {} } },
      { name: 'summaries', enabled: true, source: { type: 'collection', collections: ['articles'] }, extractor: { id: 'text_extractor@v1', params: {} } },
    ],
    storageBucket: async (b) => {
      if (!BUCKETS.includes(b)) throw notFound('bucket', b);
      return `${b}-store`;
    },
  });
  let app: FastifyInstance;
  const H = { 'x-namespace': 'press' };
  const trigger = (collection: string, payload: unknown = {}) => app.inject({ method: 'POST', url: `/v1/collections/${collection}/trigger`, headers: H, payload: payload as object });

  before(async () => {
    for (const b of BUCKETS) await objects.ensureBucket(`${b}-store`);
    await ns.init();
    app = await buildEngineApp({ objects, namespace: async (n) => (n === 'press' ? ns : Promise.reject(notFound('namespace', n))), maxUploadBytes: 1024 * 1024 });
    const put = async (bucket: string, text: string, lang: string) => {
      const r = await app.inject({ method: 'POST', url: `/v1/buckets/${bucket}/objects`, headers: H, payload: { blobs: [{ property: 'body', type: 'text', data: text }], metadata: { lang } } });
      assert.equal(r.statusCode, 200, r.body);
    };
    await put('news', 'Markets rose today.', 'en');
    await put('news', 'Les marchés ont monté.', 'fr');
    await put('blogs', 'How I fixed my bike.', 'en');
  });
  after(async () => {
    await app.close();
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every source bucket with objects gets a batch; the response has the documented fields', async () => {
    const res = await trigger('articles');
    assert.equal(res.statusCode, 202, res.body);
    const t = res.json();
    assert.equal(t.collection_id, 'articles');
    assert.deepEqual(t.source_bucket_ids, BUCKETS);
    assert.deepEqual(t.source_collection_ids, []);
    assert.equal(t.object_count, 3);
    assert.equal(t.batch_ids.length, 2, 'news and blogs; the empty bucket leaves no batch');
    assert.equal(t.batch_id, t.batch_ids[0]);
    assert.equal(t.total_tiers, 2, 'articles feeds summaries');
    assert.equal(t.task_type, 'api_collections_trigger');
    assert.match(t.message, /3 objects from 3 buckets/);
    const batches = await Promise.all(t.batch_ids.map((id: string) => ns.getBatch(id)));
    assert.deepEqual(batches.map((b) => b.bucket_id).sort(), ['blogs', 'news']);
    assert.deepEqual(batches.map((b) => b.object_ids.length).sort(), [1, 2]);
    assert.ok(batches.every((b) => b.status !== 'DRAFT'), 'submitted');
    const task = await app.inject({ method: 'GET', url: `/v1/tasks/${t.task_id}`, headers: H });
    assert.equal(task.statusCode, 200, task.body);
  });

  test('include_buckets and source_filters narrow what is submitted', async () => {
    const only = (await trigger('articles', { include_buckets: ['news'] })).json();
    assert.deepEqual(only.source_bucket_ids, ['news']);
    assert.equal(only.object_count, 2);
    const en = (await trigger('articles', { source_filters: { filters: { field: 'lang', operator: 'eq', value: 'en' } } })).json();
    assert.equal(en.object_count, 2, 'one English object in news, one in blogs');
    assert.equal(en.batch_ids.length, 2);
    const none = (await trigger('articles', { source_filters: { filters: { field: 'lang', operator: 'eq', value: 'de' } } })).json();
    assert.equal(none.object_count, 0);
    assert.deepEqual(none.batch_ids, []);
    assert.equal(none.batch_id, null);
  });

  test('bad input names the field', async () => {
    const notSource = await trigger('articles', { include_buckets: ['news', 'podcasts'] });
    assert.equal(notSource.statusCode, 422, notSource.body);
    assert.match(notSource.json().error.message, /include_buckets\[1\]: 'podcasts' is not a source bucket of collection articles/);
    const badType = await trigger('articles', { include_buckets: 'news' });
    assert.equal(badType.statusCode, 422);
    assert.equal(badType.json().error.details.field, 'include_buckets');
    const badFilter = await trigger('articles', { source_filters: { filters: { field: 'lang', operator: 'like', value: 'x' } } });
    assert.equal(badFilter.statusCode, 422, badFilter.body);
    assert.match(badFilter.json().error.message, /^source_filters: /);
    assert.equal((await trigger('summaries')).statusCode, 400, 'a collection-sourced collection is triggered through its upstream');
    assert.equal((await trigger('nope')).statusCode, 404);
  });
});
