/**
 * Objects are checked against their Bucket's schema through the objects API (engine app, local adapters): blob
 * properties and types, required properties, metadata types and enums, defaults; every refusal is a 422 naming the
 * field and the fix, and stores nothing.
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
import type { BucketSchema } from '#engine/ingestion/object-schema.ts';

const SCHEMA: BucketSchema = {
  properties: {
    body: { type: 'text', required: true },
    photo: { type: 'image' },
    lang: { type: 'string', enum: ['en', 'de'] },
    pages: { type: 'integer' },
    published: { type: 'date' },
    shelf: { type: 'string', default: 'unsorted' },
    sku: { type: 'string', required: true },
  },
};
const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

describe('objects against the bucket schema', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-schema-'));
  const objects = new LocalObjectStore({ root: path.join(dir, 'o'), baseUrl: 'http://localhost/v1/_objects', presignSecret: 'test-secret' });
  const queue = new MemoryJobQueue();
  const vectors = new ExactVectorStore();
  const ns = new NamespaceIngestion({ queue, objects, vectors, models: constantModels }, {
    key: { k8sNamespace: 'default', name: 'lib' },
    collections: async () => [],
    storageBucket: async (b) => {
      if (b !== 'books') throw notFound('bucket', b);
      return 'books-store';
    },
    bucketSchema: async () => SCHEMA,
  });
  let app: FastifyInstance;
  const H = { 'x-namespace': 'lib' };
  const create = (payload: unknown) => app.inject({ method: 'POST', url: '/v1/buckets/books/objects', headers: H, payload: payload as Record<string, unknown> });
  const stored = async () => (await objects.list('books-store', { maxKeys: 10000 })).objects.length;
  const refused = async (payload: unknown, field: string, message: RegExp) => {
    const before = await stored();
    const res = await create(payload);
    assert.equal(res.statusCode, 422, res.body);
    const err = res.json().error;
    assert.equal(err.type, 'ValidationError');
    assert.equal(err.details?.field, field, res.body);
    assert.match(err.message, message);
    assert.equal(await stored(), before, 'nothing stored');
  };

  before(async () => {
    await objects.ensureBucket('books-store');
    await ns.init();
    app = await buildEngineApp({ objects, namespace: async (n) => (n === 'lib' ? ns : Promise.reject(notFound('namespace', n))), maxUploadBytes: 1024 * 1024, localPresignPrefix: '/v1/_objects' });
  });
  after(async () => {
    await app.close();
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a valid object is stored, with declared defaults filled in and undeclared metadata kept', async () => {
    const res = await create({ blobs: [{ property: 'body', type: 'text', data: 'A story.' }], metadata: { sku: 'b-1', lang: 'en', pages: 12, published: '2024-05-01', note: 'free-form' } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().metadata, { sku: 'b-1', lang: 'en', pages: 12, published: '2024-05-01', note: 'free-form', shelf: 'unsorted' });
    const top = await create({ blobs: [{ property: 'body', type: 'string', data: 'Top-level key.' }], sku: 'b-2' });
    assert.equal(top.statusCode, 200, 'declared properties may come as top-level keys, and string fills a text property');
  });

  test('blobs name declared content properties of a matching type', async () => {
    await refused({ blobs: [{ property: 'cover', type: 'image', data: PNG_1PX }], metadata: { sku: 'x' } }, 'body.blobs[0].property', /'cover' is not declared in bucket 'books' schema \(content properties: body, photo\); use one of them or add it to the Bucket's spec\.schema\.properties/);
    await refused({ blobs: [{ property: 'body', type: 'text', data: 'ok' }, { property: 'photo', type: 'pdf', data: PNG_1PX }], metadata: { sku: 'x' } }, 'body.blobs[1].type', /declares 'photo' as image/);
    // 'auto' is resolved by sniffing, then checked: text in an image property is refused and its bytes dropped.
    await refused({ blobs: [{ property: 'body', type: 'text', data: 'ok' }, { property: 'photo', type: 'auto', data: 'not an image at all' }], metadata: { sku: 'x' } }, 'body.blobs[1].type', /the content is text, but bucket 'books' declares 'photo' as image/);
  });

  test('required properties, metadata types and enums', async () => {
    await refused({ blobs: [{ property: 'photo', type: 'image', data: PNG_1PX }], metadata: { sku: 'x' } }, 'body.blobs', /requires a 'body' blob/);
    await refused({ blobs: [{ property: 'body', type: 'text', data: 'ok' }] }, 'body.metadata.sku', /requires it \(string\)/);
    await refused({ blobs: [{ property: 'body', type: 'text', data: 'ok' }], metadata: { sku: 'x', pages: '12' } }, 'body.metadata.pages', /must be an integer/);
    await refused({ blobs: [{ property: 'body', type: 'text', data: 'ok' }], metadata: { sku: 'x', lang: 'fr' } }, 'body.metadata.lang', /one of en, de/);
    await refused({ blobs: [{ property: 'body', type: 'text', data: 'ok' }], metadata: { sku: 'x', published: 'May 2024' } }, 'body.metadata.published', /a date such as 2026-01-31/);
  });

  test('uploads: the blob property defaults to the one fitting content property; property and metadata are checked up front', async () => {
    const upload = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/v1/buckets/books/uploads', headers: H, payload: { filename: 'chapter one.txt', content_type: 'text/plain', ...payload } });
    const wrongProperty = await upload({ blob_property: 'photo', object_metadata: { sku: 'u' } });
    assert.equal(wrongProperty.statusCode, 422, wrongProperty.body);
    assert.equal(wrongProperty.json().error.details.field, 'body.blob_property');
    assert.match(wrongProperty.json().error.message, /'photo' is not a text property of bucket 'books'; use body/);
    const noSku = await upload({});
    assert.equal(noSku.statusCode, 422, noSku.body);
    assert.equal(noSku.json().error.details.field, 'body.object_metadata.sku');

    const up = await upload({ object_metadata: { sku: 'u-1' } });
    assert.equal(up.statusCode, 200, up.body);
    assert.equal(up.json().blob_property, 'body', 'the only text property');
    const u = new URL(up.json().presigned_url);
    assert.equal((await app.inject({ method: 'PUT', url: u.pathname + u.search, headers: { 'content-type': 'text/plain' }, payload: 'It was a dark night.' })).statusCode, 200);
    const confirm = await app.inject({ method: 'POST', url: `/v1/buckets/books/uploads/${up.json().upload_id}/confirm`, headers: H });
    assert.equal(confirm.statusCode, 200, confirm.body);
    const obj = (await app.inject({ method: 'GET', url: `/v1/buckets/books/objects/${confirm.json().object_id}`, headers: H })).json();
    assert.deepEqual([obj.blobs[0].property, obj.metadata], ['body', { sku: 'u-1', shelf: 'unsorted' }]);
  });

  test('batch create names the object in the batch', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/buckets/books/objects/batch', headers: H, payload: { objects: [{ blobs: [{ property: 'body', type: 'text', data: 'ok' }], metadata: { sku: 'a' } }, { blobs: [{ property: 'nope', type: 'text', data: 'x' }], metadata: { sku: 'b' } }] } });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.created, 1);
    assert.equal(body.failed, 1);
    assert.equal(body.results[1].error.details.field, 'body.objects[1].blobs[0].property', res.body);
  });
});
