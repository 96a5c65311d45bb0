/**
 * The documents API of a Collection over the namespace's vector collection (exact store, engine routes): list with
 * filters and a cursor (every document exactly once, only this collection's), get, delete, return_vectors,
 * return_presigned_urls through the presigner, and 4xx with the documented shape for bad input.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { constantModels } from './constant-models.ts';
import { MemoryJobQueue } from '#engine/queue/memory.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { NamespaceIngestion } from '#engine/ingestion/pipeline.ts';
import { registerDocumentRoutes } from '#engine/ingestion/document-routes.ts';
import { installErrorHandling } from '#engine/app/http-errors.ts';
import { notFound } from '#core/lib/errors.ts';

describe('documents API', () => {
  const queue = new MemoryJobQueue();
  const vectors = new ExactVectorStore();
  const objects = new LocalObjectStore({ root: '/tmp/quarry-docs-api-unused' });
  const plan = (name: string) => ({ name, enabled: true, source: { type: 'bucket' as const, buckets: ['b'] }, extractor: { id: 'text_extractor@v1', params: {} } });
  const ns = new NamespaceIngestion({ queue, objects, vectors, models: constantModels }, {
    key: { k8sNamespace: 'default', name: 'lib' },
    collections: async () => [plan('notes'), plan('other')],
    storageBucket: async () => 'store',
  });
  let app: FastifyInstance;
  const H = { 'x-namespace': 'lib' };

  before(async () => {
    await vectors.ensureCollection({ name: ns.vectorCollection, vectors: [{ name: 'v', size: 2, distance: 'cosine' }], payloadIndexes: [{ field: 'collection_id', type: 'keyword' }] });
    const notes = Array.from({ length: 25 }, (_, i) => ({ id: `n${String(i).padStart(2, '0')}`, vectors: { v: [1, i] }, payload: { document_id: `n${i}`, collection_id: 'notes', topic: i % 2 ? 'odd' : 'even', thumbnail_url: 's3://store/t.jpg' } }));
    const others = Array.from({ length: 5 }, (_, i) => ({ id: `o${i}`, vectors: { v: [0, 1] }, payload: { collection_id: 'other' } }));
    await vectors.upsert(ns.vectorCollection, [...notes, ...others]);
    app = Fastify();
    installErrorHandling(app);
    registerDocumentRoutes(app, {
      namespace: async (req) => (req.headers['x-namespace'] === 'lib' ? ns : Promise.reject(notFound('namespace', String(req.headers['x-namespace'])))),
      presign: async (url, n) => (n === 'lib' && url.startsWith('s3://store/') ? `https://signed.example/${url.slice(5)}` : undefined),
    });
  });
  after(async () => {
    await app.close();
    await queue.close();
  });

  const list = (payload: unknown, query = '') => app.inject({ method: 'POST', url: `/v1/collections/notes/documents/list${query}`, headers: H, payload: payload as Record<string, unknown> });

  test('pages through every document of the collection exactly once with the cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await list({ limit: 10, ...(cursor ? { cursor } : {}) });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.total_documents, 25);
      for (const d of body.results) {
        assert.equal(d.collection_id, 'notes');
        seen.push(d.document_id);
      }
      cursor = body.pagination.next_cursor;
    } while (cursor);
    assert.equal(seen.length, 25);
    assert.equal(new Set(seen).size, 25);
  });

  test('filters, vectors and presigned URLs', async () => {
    const odd = (await list({ filters: { field: 'topic', value: 'odd' }, limit: 100, return_vectors: true }, '?return_presigned_urls=true')).json();
    assert.equal(odd.total_documents, 12);
    assert.ok(odd.results.every((d: { topic: string }) => d.topic === 'odd'));
    assert.equal(odd.results[0]._vectors.v.length, 2);
    assert.equal(odd.results[0].thumbnail_url, 'https://signed.example/store/t.jpg');
    const plain = (await list({ limit: 1 })).json();
    assert.equal(plain.results[0].thumbnail_url, 's3://store/t.jpg');
    assert.equal(plain.results[0]._vectors, undefined);
  });

  test('offset skips documents (reference §1.6 offset), alone or after a cursor', async () => {
    const all = (await list({ limit: 100 })).json().results.map((d: { document_id: string }) => d.document_id);
    assert.equal(all.length, 25);
    const page = (await list({ limit: 5, offset: 7 })).json();
    assert.deepEqual(page.results.map((d: { document_id: string }) => d.document_id), all.slice(7, 12));
    assert.equal(page.total_documents, 25);
    const first = (await list({ limit: 3 })).json();
    const after = (await list({ limit: 2, offset: 4, cursor: first.pagination.next_cursor })).json();
    assert.deepEqual(after.results.map((d: { document_id: string }) => d.document_id), all.slice(7, 9));
    assert.deepEqual((await list({ limit: 5, offset: 30 })).json().results, []);
    const bad = await list({ offset: -1 });
    assert.equal(bad.statusCode, 422, bad.body);
    assert.match(bad.json().error.message, /^offset: a non-negative integer/);
  });

  test('DocumentResponse shape: return_vectors puts the named vectors at the root, return_vector_names lists them, select narrows', async () => {
    const [withVectors] = (await list({ filters: { field: 'topic', value: 'odd' }, limit: 1, return_vectors: true })).json().results;
    assert.deepEqual(withVectors.v, withVectors._vectors.v, 'the vector by its name at the root (reference §1.6), as under _vectors');
    assert.equal(withVectors.v.length, 2);
    const [named] = (await list({ filters: { field: 'topic', value: 'odd' }, limit: 1, return_vector_names: true })).json().results;
    assert.deepEqual(named._vectors, ['v']);
    assert.equal(named.v, undefined, 'names only: no vector values');
    const got = (await app.inject({ method: 'GET', url: '/v1/collections/notes/documents/n01?return_vectors=true', headers: H })).json();
    assert.equal(got.v.length, 2);
    const [picked] = (await list({ filters: { field: 'topic', value: 'odd' }, limit: 1, select: ['topic'] })).json().results;
    assert.deepEqual(picked, { document_id: withVectors.document_id, collection_id: 'notes', topic: 'odd' });
    const bad = await list({ select: 'topic' });
    assert.equal(bad.statusCode, 422, bad.body);
    assert.match(bad.json().error.message, /^select: a list of field paths/);
  });

  test('get and delete one document; another collection\'s document is not found here', async () => {
    const got = await app.inject({ method: 'GET', url: '/v1/collections/notes/documents/n03', headers: H });
    assert.equal(got.statusCode, 200, got.body);
    assert.equal(got.json().topic, 'odd');
    assert.equal((await app.inject({ method: 'GET', url: '/v1/collections/notes/documents/o1', headers: H })).statusCode, 404);
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/collections/notes/documents/n03', headers: H })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/collections/notes/documents/n03', headers: H })).statusCode, 404);
    assert.equal((await list({})).json().total_documents, 24);
  });

  test('bad input: 4xx in the documented error shape, naming the field', async () => {
    const cases: [unknown, string, number, RegExp][] = [
      [{ limit: 0 }, '', 422, /limit: an integer in 1–1000/],
      [{ filters: { field: 'topic', operator: 'like', value: 'x' } }, '', 400, /invalid filter/],
      [{ filters: 'topic = odd' }, '', 422, /filters: a filter object/],
      [{}, '?return_vectors=maybe', 422, /query parameter return_vectors must be true or false/],
      [{ return_presigned_urls: 'yes' }, '', 422, /^return_presigned_urls must be true or false/],
    ];
    for (const [payload, query, status, message] of cases) {
      const res = await list(payload, query);
      assert.equal(res.statusCode, status, res.body);
      assert.equal(res.json().success, false);
      assert.match(res.json().error.message, message);
    }
    const unknown = await app.inject({ method: 'POST', url: '/v1/collections/nope/documents/list', headers: H, payload: {} });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error.type, 'NotFoundError');
  });
});
