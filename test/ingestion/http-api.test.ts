/**
 * The ingestion HTTP API through the engine app (Fastify inject) on the local-mode adapters: objects, uploads
 * (presigned two-phase and streamed multipart), batches and tasks, and 4xx errors in the documented shape.
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

const models = constantModels;

describe('ingestion HTTP API (local adapters)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-http-'));
  const PREFIX = '/v1/_objects';
  const objects = new LocalObjectStore({ root: path.join(dir, 'o'), baseUrl: `http://localhost${PREFIX}`, presignSecret: 'test-secret' });
  const queue = new MemoryJobQueue();
  const vectors = new ExactVectorStore();
  const ns = new NamespaceIngestion({ queue, objects, vectors, models }, {
    key: { k8sNamespace: 'default', name: 'shop' },
    collections: async () => [{ name: 'texts', enabled: true, source: { type: 'bucket', buckets: ['files'] }, extractor: { id: 'text_extractor@v1', params: {} } }],
    storageBucket: async (b) => {
      if (b !== 'files') throw notFound('bucket', b);
      return 'files-store';
    },
  });
  let app: FastifyInstance;
  const H = { 'x-namespace': 'shop' };

  before(async () => {
    await objects.ensureBucket('files-store');
    await vectors.ensureCollection({ name: ns.vectorCollection, vectors: [{ name: 'text_extractor_v1_embedding', size: 3, distance: 'cosine' }], lexicalFields: ['text'] });
    await ns.init();
    app = await buildEngineApp({ objects, namespace: async (n) => (n === 'shop' ? ns : Promise.reject(notFound('namespace', n))), maxUploadBytes: 1024 * 1024, localPresignPrefix: PREFIX });
  });
  after(async () => {
    await app.close();
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const errorShape = (res: { statusCode: number; json(): unknown }, status: number, type: string, message: RegExp) => {
    assert.equal(res.statusCode, status);
    const body = res.json() as { success: boolean; status: number; error: { type: string; message: string } };
    assert.equal(body.success, false);
    assert.equal(body.status, status);
    assert.equal(body.error.type, type);
    assert.match(body.error.message, message);
  };

  test('creates an object from inline text, sniffs its type, and returns presigned blob URLs', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload: { blobs: [{ property: 'content', type: 'text', data: 'hello world' }], metadata: { lang: 'en' } } });
    assert.equal(res.statusCode, 200, res.body);
    const obj = res.json();
    assert.match(obj.object_id, /^obj_/);
    assert.equal(obj.bucket_id, 'files');
    assert.equal(obj.blobs[0].content_type, 'text/plain; charset=utf-8');
    assert.equal(obj.blobs[0].checksum, 'sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9');
    const got = await app.inject({ method: 'GET', url: `/v1/buckets/files/objects/${obj.object_id}?return_url=true`, headers: H });
    const url = new URL(got.json().blobs[0].presigned_url);
    const blob = await app.inject({ method: 'GET', url: url.pathname + url.search });
    assert.equal(blob.body, 'hello world');
  });

  test('extra top-level keys are kept, but never the record\'s own fields', async () => {
    const res = await app.inject({
      method: 'POST', url: '/v1/buckets/files/objects', headers: H,
      payload: { blobs: [{ property: 'content', type: 'text', data: 'open model' }], key_prefix: 'docs/', source: 'crm', created_at: '2000-01-01T00:00:00Z', replaced_at: '2099-01-01T00:00:00Z', status: 'FAILED', content_hash: 'x' },
    });
    assert.equal(res.statusCode, 200, res.body);
    const o = res.json();
    assert.deepEqual([o.key_prefix, o.source, o.status, o.replaced_at], ['docs/', 'crm', 'ACTIVE', undefined]);
    assert.notEqual(o.created_at, '2000-01-01T00:00:00Z');
    assert.match(o.content_hash, /^[0-9a-f]{64}$/);
  });

  test('skip_duplicates returns the existing object for identical content', async () => {
    const payload = { blobs: [{ property: 'content', type: 'text', data: 'same bytes' }], skip_duplicates: true };
    const a = (await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload })).json();
    const b = (await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload })).json();
    assert.equal(b.object_id, a.object_id);
    assert.equal(b.is_duplicate, true);
  });

  test('skip_duplicates under concurrency: one object wins, every other create answers it, and no bytes are left over', async () => {
    const payload = { blobs: [{ property: 'content', type: 'text', data: 'raced bytes' }], skip_duplicates: true };
    const before = (await objects.list('files-store', { maxKeys: 10000 })).objects.length;
    const all = await Promise.all(Array.from({ length: 20 }, () => app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload })));
    assert.deepEqual(all.map((r) => r.statusCode).sort(), Array(20).fill(200), 'all 200 (the SDK maps only 200); is_duplicate tells the duplicates apart');
    const bodies = all.map((r) => r.json() as { object_id: string; is_duplicate?: boolean });
    const winners = bodies.filter((b) => !b.is_duplicate);
    assert.equal(winners.length, 1, JSON.stringify(bodies));
    assert.ok(bodies.every((b) => b.object_id === winners[0]!.object_id));
    assert.equal((await objects.list('files-store', { maxKeys: 10000 })).objects.length, before + 1, 'the losers\' blobs are deleted');
  });

  test('skip_duplicates after the holder was deleted creates a new object (also over a claim from an older version)', async () => {
    const payload = { blobs: [{ property: 'content', type: 'text', data: 'deleted then re-added' }], skip_duplicates: true };
    const a = (await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload })).json();
    assert.equal((await app.inject({ method: 'DELETE', url: `/v1/buckets/files/objects/${a.object_id}`, headers: H })).statusCode, 200);
    const b = await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload });
    assert.equal(b.statusCode, 200, b.body);
    assert.notEqual(b.json().object_id, a.object_id);
    assert.equal(b.json().is_duplicate, undefined);
    // An older version stored the bare object id and did not release it on delete.
    await ns.kvPut(`hash.files.${b.json().content_hash}`, 'obj_gone');
    const c = await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload });
    assert.equal(c.statusCode, 200, c.body);
    assert.equal(c.json().is_duplicate, undefined);
  });

  test('presigned two-phase upload: create, PUT, confirm, then reference by upload_id', async () => {
    const up = await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads', headers: H, payload: { filename: 'notes.txt', content_type: 'text/plain' } });
    assert.equal(up.statusCode, 200, up.body);
    const { upload_id, presigned_url } = up.json();
    const early = await app.inject({ method: 'POST', url: `/v1/buckets/files/uploads/${upload_id}/confirm`, headers: H });
    errorShape(early, 400, 'BadRequestError', /PUT the file to its presigned_url/);
    const u = new URL(presigned_url);
    const put = await app.inject({ method: 'PUT', url: u.pathname + u.search, headers: { 'content-type': 'text/plain' }, payload: 'uploaded via presigned url' });
    assert.equal(put.statusCode, 200, put.body);
    const confirm = await app.inject({ method: 'POST', url: `/v1/buckets/files/uploads/${upload_id}/confirm`, headers: H });
    assert.equal(confirm.json().status, 'COMPLETED');
    assert.equal(confirm.json().file_size_bytes, 26);
    // create_object_on_confirm (default true): the file became an object, its blob property the filename stem.
    assert.equal(confirm.json().is_duplicate, false);
    const made = await app.inject({ method: 'GET', url: `/v1/buckets/files/objects/${confirm.json().object_id}`, headers: H });
    assert.equal(made.statusCode, 200, made.body);
    assert.deepEqual(made.json().blobs.map((b: { property: string; type: string }) => [b.property, b.type]), [['notes', 'text']]);
    const again = await app.inject({ method: 'POST', url: `/v1/buckets/files/uploads/${upload_id}/confirm`, headers: H });
    assert.equal(again.json().object_id, confirm.json().object_id, 'confirming twice creates nothing more');
    const obj = await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload: { blobs: [{ property: 'content', type: 'text', upload_id }] } });
    assert.equal(obj.statusCode, 200, obj.body);
  });

  const presignedUpload = async (payload: Record<string, unknown>, bytes: string) => {
    const up = await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads', headers: H, payload: { content_type: 'text/plain', ...payload } });
    assert.equal(up.statusCode, 200, up.body);
    const u = new URL(up.json().presigned_url);
    const put = await app.inject({ method: 'PUT', url: u.pathname + u.search, headers: { 'content-type': 'text/plain' }, payload: bytes });
    assert.equal(put.statusCode, 200, put.body);
    return app.inject({ method: 'POST', url: `/v1/buckets/files/uploads/${up.json().upload_id}/confirm`, headers: H });
  };

  test('upload options: duplicates by content, object metadata and property, upload-level duplicates, file_hash checked', async () => {
    const first = await presignedUpload({ filename: 'a.txt', blob_property: 'content', object_metadata: { lang: 'en' } }, 'uploaded twice');
    assert.equal(first.json().is_duplicate, false);
    const obj = (await app.inject({ method: 'GET', url: `/v1/buckets/files/objects/${first.json().object_id}`, headers: H })).json();
    assert.equal(obj.blobs[0].property, 'content');
    assert.deepEqual(obj.metadata, { lang: 'en' });
    const second = await presignedUpload({ filename: 'b.txt', blob_property: 'content' }, 'uploaded twice');
    assert.equal(second.json().is_duplicate, true);
    assert.equal(second.json().existing_object_id, first.json().object_id);

    const u1 = await presignedUpload({ filename: 'c.txt', create_object_on_confirm: false }, 'kept as a file only');
    assert.equal(u1.json().is_duplicate, false);
    assert.equal(u1.json().object_id, undefined);
    const u2 = await presignedUpload({ filename: 'd.txt', create_object_on_confirm: false }, 'kept as a file only');
    assert.equal(u2.json().duplicate_of_upload_id, u1.json().upload_id);

    const wrong = await presignedUpload({ filename: 'e.txt', file_hash: 'a'.repeat(64) }, 'not what was announced');
    errorShape(wrong, 422, 'ValidationError', /file_hash/);
    const badType = await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads', headers: H, payload: { filename: 'x.txt', content_type: 'text/plain', blob_type: 'spreadsheet' } });
    errorShape(badType, 422, 'ValidationError', /body\.blob_type: one of/);
  });

  test('confirm checks file_size_bytes (the confirm\'s, else the one declared at create) against the bytes PUT', async () => {
    const upload = async (payload: Record<string, unknown>, bytes: string) => {
      const up = await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads', headers: H, payload: { content_type: 'text/plain', create_object_on_confirm: false, ...payload } });
      assert.equal(up.statusCode, 200, up.body);
      const u = new URL(up.json().presigned_url);
      assert.equal((await app.inject({ method: 'PUT', url: u.pathname + u.search, headers: { 'content-type': 'text/plain' }, payload: bytes })).statusCode, 200);
      return up.json().upload_id as string;
    };
    const confirm = (id: string, payload: Record<string, unknown>) => app.inject({ method: 'POST', url: `/v1/buckets/files/uploads/${id}/confirm`, headers: H, payload });
    const declared = await upload({ filename: 'declared.txt', file_size_bytes: 100 }, 'only 21 bytes arrived');
    errorShape(await confirm(declared, {}), 422, 'ValidationError', /21 bytes were uploaded, not the 100 given as file_size_bytes/);
    const atConfirm = await upload({ filename: 'at-confirm.txt' }, 'twelve bytes');
    errorShape(await confirm(atConfirm, { file_size_bytes: 13 }), 422, 'ValidationError', /12 bytes were uploaded, not the 13/);
    errorShape(await confirm(atConfirm, { file_size_bytes: 'twelve' }), 422, 'ValidationError', /body\.file_size_bytes/);
    const ok = await confirm(atConfirm, { file_size_bytes: 12 });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().status, 'COMPLETED');
    const batch = await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads/confirm/batch', headers: H, payload: { confirmations: [{ upload_id: declared, file_size_bytes: 21 }, { upload_id: atConfirm, file_size_bytes: 0 }] } });
    assert.deepEqual([batch.json().confirmed, batch.json().failed], [1, 1], batch.body);
    assert.equal(batch.json().results[1].error.details.field, 'body.confirmations[1].file_size_bytes');
  });

  test('uploads in batches: shared metadata, batch confirm, list by status, get, cancel and delete', async () => {
    const put = async (u: { presigned_url: string }, bytes: string) => {
      const url = new URL(u.presigned_url);
      assert.equal((await app.inject({ method: 'PUT', url: url.pathname + url.search, headers: { 'content-type': 'text/plain' }, payload: bytes })).statusCode, 200);
    };
    const batch = await app.inject({
      method: 'POST', url: '/v1/buckets/files/uploads/batch', headers: H,
      payload: { uploads: [{ filename: 'one.txt', content_type: 'text/plain', blob_property: 'content' }, { filename: 'two.txt', content_type: 'text/plain', create_object_on_confirm: false }, { filename: '../bad', content_type: 'text/plain' }], shared_object_metadata: { source: 'batch' } },
    });
    assert.equal(batch.statusCode, 200, batch.body);
    const made = batch.json();
    assert.deepEqual([made.created, made.failed], [2, 1]);
    assert.equal(made.results[2].error.details.field, 'body.uploads[2].filename');
    const [one, two] = [made.results[0].upload, made.results[1].upload];
    await put(one, 'first file of the batch');
    await put(two, 'second file of the batch');

    const confirmed = await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads/confirm/batch', headers: H, payload: { confirmations: [{ upload_id: one.upload_id }, { upload_id: two.upload_id }, { upload_id: 'upl_missing' }] } });
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    const c = confirmed.json();
    assert.deepEqual([c.confirmed, c.failed], [2, 1]);
    assert.equal(c.results[2].error.type, 'NotFoundError');
    const obj = (await app.inject({ method: 'GET', url: `/v1/buckets/files/objects/${c.results[0].upload.object_id}`, headers: H })).json();
    assert.deepEqual(obj.metadata, { source: 'batch' }, 'shared object metadata applied');

    const pending = (await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads', headers: H, payload: { filename: 'never.txt', content_type: 'text/plain' } })).json();
    const listed = await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads/list', headers: H, payload: { status: 'PENDING' } });
    assert.ok(listed.json().results.some((u: { upload_id: string }) => u.upload_id === pending.upload_id));
    assert.ok(listed.json().results.every((u: { status: string }) => u.status === 'PENDING'));
    assert.equal((await app.inject({ method: 'GET', url: `/v1/buckets/files/uploads/${one.upload_id}`, headers: H })).json().status, 'COMPLETED');

    const cancel = await app.inject({ method: 'DELETE', url: `/v1/buckets/files/uploads/${pending.upload_id}`, headers: H });
    assert.equal(cancel.json().status, 'CANCELED');
    errorShape(await app.inject({ method: 'POST', url: `/v1/buckets/files/uploads/${pending.upload_id}/confirm`, headers: H }), 400, 'BadRequestError', /was canceled/);
    errorShape(await app.inject({ method: 'DELETE', url: `/v1/buckets/files/uploads/${one.upload_id}`, headers: H }), 400, 'BadRequestError', /is the file of object obj_.*delete the object first/);
    const gone = await app.inject({ method: 'DELETE', url: `/v1/buckets/files/uploads/${two.upload_id}`, headers: H });
    assert.equal(gone.json().status, 'DELETED');
    assert.equal((await app.inject({ method: 'GET', url: `/v1/buckets/files/uploads/${two.upload_id}`, headers: H })).statusCode, 404);
  });

  test('streamed multipart upload through the engine, with the size limit enforced', async () => {
    const boundary = '----quarry';
    const part = (name: string, file: string, type: string, body: string | Buffer) =>
      Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${file}"\r\nContent-Type: ${type}\r\n\r\n`), Buffer.from(body), Buffer.from('\r\n')]);
    const pdfish = Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n', 'latin1');
    const payload = Buffer.concat([part('file', 'a.txt', 'application/octet-stream', 'alpha'), part('file', 'b.pdf', 'application/octet-stream', pdfish), Buffer.from(`--${boundary}--\r\n`)]);
    const res = await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads/direct', headers: { ...H, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
    assert.equal(res.statusCode, 201, res.body);
    const uploads = res.json().uploads;
    assert.deepEqual(uploads.map((u: { content_type: string }) => u.content_type), ['text/plain; charset=utf-8', 'application/pdf']);
    const big = Buffer.concat([part('file', 'big.bin', 'application/octet-stream', Buffer.alloc(1024 * 1024 + 10, 7)), Buffer.from(`--${boundary}--\r\n`)]);
    const tooBig = await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads/direct', headers: { ...H, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: big });
    errorShape(tooBig, 400, 'BadRequestError', /limit/);
  });

  test('batch: create, submit, poll to COMPLETED; task endpoint reports tiers', async () => {
    const obj = (await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload: { blobs: [{ property: 'content', type: 'text', data: 'batch me' }] } })).json();
    const batch = (await app.inject({ method: 'POST', url: '/v1/buckets/files/batches', headers: H, payload: { object_ids: [obj.object_id] } })).json();
    assert.equal(batch.status, 'DRAFT');
    const sub = await app.inject({ method: 'POST', url: `/v1/buckets/files/batches/${batch.batch_id}/submit`, headers: H });
    assert.equal(sub.statusCode, 200);
    const worker = await ns.startWorker(1);
    try {
      let status = '';
      for (let i = 0; i < 200 && status !== 'COMPLETED'; i++) {
        status = (await app.inject({ method: 'GET', url: `/v1/buckets/files/batches/${batch.batch_id}`, headers: H })).json().status;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(status, 'COMPLETED');
      const task = (await app.inject({ method: 'GET', url: `/v1/tasks/${sub.json().task_id}`, headers: H })).json();
      assert.equal(task.status, 'COMPLETED');
      assert.equal(task.additional_data.tiers[0].progress.succeeded, 1);
    } finally {
      await worker.stop();
    }
  });

  const create = async (data: string, metadata: Record<string, unknown>) => {
    const res = await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload: { blobs: [{ property: 'content', type: 'text', data }], metadata } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { object_id: string; updated_at: string };
  };

  test('objects/list follows the documented list pattern: filters, sort, query limit and cursor, PaginationResponse', async () => {
    for (const n of [3, 1, 2]) await create(`listed ${n}`, { tag: 'listme', n });
    const list = (payload: Record<string, unknown>, query = '') => app.inject({ method: 'POST', url: `/v1/buckets/files/objects/list${query}`, headers: H, payload });
    const first = await list({ filters: { field: 'metadata.tag', value: 'listme' }, sort: { field: 'metadata.n', direction: 'asc' } }, '?limit=2');
    assert.equal(first.statusCode, 200, first.body);
    const p1 = first.json();
    assert.deepEqual(p1.results.map((o: { metadata: { n: number } }) => o.metadata.n), [1, 2]);
    assert.deepEqual([p1.pagination.total, p1.pagination.page, p1.pagination.page_size, p1.pagination.total_pages, p1.pagination.next_page], [3, 1, 2, 2, 2]);
    const p2 = (await list({ filters: { field: 'metadata.tag', value: 'listme' }, sort: { field: 'metadata.n', direction: 'asc' } }, `?limit=2&cursor=${p1.pagination.next_cursor}`)).json();
    assert.deepEqual(p2.results.map((o: { metadata: { n: number } }) => o.metadata.n), [3]);
    assert.equal(p2.pagination.next_cursor, null);
    errorShape(await list({ filters: 'tag = listme' }), 422, 'ValidationError', /filters/);
  });

  test('PATCH an object: metadata merged (null removes a key), other keys replaced, blobs refused, another bucket 404', async () => {
    const o = await create('patch me', { lang: 'en', draft: true });
    const res = await app.inject({ method: 'PATCH', url: `/v1/buckets/files/objects/${o.object_id}`, headers: H, payload: { metadata: { lang: 'fr', draft: null, year: 2024 }, key_prefix: 'fr/', object_id: 'obj_ignored' } });
    assert.equal(res.statusCode, 200, res.body);
    const got = (await app.inject({ method: 'GET', url: `/v1/buckets/files/objects/${o.object_id}`, headers: H })).json();
    assert.deepEqual(got.metadata, { lang: 'fr', year: 2024 });
    assert.equal(got.key_prefix, 'fr/');
    assert.equal(got.object_id, o.object_id);
    assert.equal(got.blobs.length, 1);
    errorShape(await app.inject({ method: 'PATCH', url: `/v1/buckets/files/objects/${o.object_id}`, headers: H, payload: { blobs: [] } }), 422, 'ValidationError', /body\.blobs/);
    errorShape(await app.inject({ method: 'PATCH', url: `/v1/buckets/files/objects/${o.object_id}`, headers: H, payload: { metadata: [1] } }), 422, 'ValidationError', /body\.metadata/);
    errorShape(await app.inject({ method: 'PATCH', url: `/v1/buckets/other/objects/${o.object_id}`, headers: H, payload: { metadata: { lang: 'de' } } }), 404, 'NotFoundError', /object/);
    errorShape(await app.inject({ method: 'PATCH', url: '/v1/buckets/files/objects/obj_missing', headers: H, payload: {} }), 404, 'NotFoundError', /object 'obj_missing'/);
  });

  test('batches belong to their bucket: list, a batch read through another bucket is 404, another bucket\'s object is refused', async () => {
    const o = await create('batch listing', {});
    const made = (await app.inject({ method: 'POST', url: '/v1/buckets/files/batches', headers: H, payload: { object_ids: [o.object_id], metadata: { mark: 'listed' } } })).json();
    const listed = await app.inject({ method: 'POST', url: '/v1/buckets/files/batches/list?limit=1000', headers: H, payload: { filters: { field: 'metadata.mark', value: 'listed' } } });
    assert.equal(listed.statusCode, 200, listed.body);
    assert.deepEqual(listed.json().results.map((b: { batch_id: string }) => b.batch_id), [made.batch_id]);
    assert.equal(listed.json().pagination.total, 1);
    assert.equal(listed.json().results[0].plans, undefined, 'the list shows the batch response, not the stored record');
    errorShape(await app.inject({ method: 'GET', url: `/v1/buckets/other/batches/${made.batch_id}`, headers: H }), 404, 'NotFoundError', /batch/);
    errorShape(await app.inject({ method: 'POST', url: `/v1/buckets/other/batches/${made.batch_id}/submit`, headers: H }), 404, 'NotFoundError', /batch/);
    const stranger = await ns.putObject({ bucket: 'other', blobs: [], metadata: {} });
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/files/batches', headers: H, payload: { object_ids: [stranger.object_id] } }), 422, 'ValidationError', /body\.object_ids\[0\]: object obj_\w+ is in bucket 'other'/);
    errorShape(await app.inject({ method: 'POST', url: `/v1/buckets/files/batches/${made.batch_id}/objects`, headers: H, payload: { object_ids: [o.object_id, stranger.object_id] } }), 422, 'ValidationError', /body\.object_ids\[1\]/);
    assert.deepEqual((await app.inject({ method: 'GET', url: `/v1/buckets/files/batches/${made.batch_id}`, headers: H })).json().object_ids, [o.object_id]);
  });

  test('tasks: list by status, kill with DELETE /v1/tasks/{id} (the batch is canceled)', async () => {
    const o = await create('task to kill', {});
    const batch = (await app.inject({ method: 'POST', url: '/v1/buckets/files/batches', headers: H, payload: { object_ids: [o.object_id] } })).json();
    const sub = (await app.inject({ method: 'POST', url: `/v1/buckets/files/batches/${batch.batch_id}/submit`, headers: H })).json();
    const listed = await app.inject({ method: 'POST', url: '/v1/tasks/list?limit=1000', headers: H, payload: { status: 'PENDING' } });
    assert.equal(listed.statusCode, 200, listed.body);
    const pending = listed.json().results as { task_id: string; status: string; task_type: string }[];
    assert.ok(pending.some((t) => t.task_id === sub.task_id), listed.body);
    assert.ok(pending.every((t) => t.status === 'PENDING'));
    assert.ok(pending.every((t) => t.task_type === 'api_buckets_batches_submit'));
    const killed = await app.inject({ method: 'DELETE', url: `/v1/tasks/${sub.task_id}`, headers: H });
    assert.equal(killed.statusCode, 200, killed.body);
    assert.equal(killed.json().status, 'CANCELED');
    assert.equal((await app.inject({ method: 'GET', url: `/v1/buckets/files/batches/${batch.batch_id}`, headers: H })).json().status, 'CANCELED');
    const canceled = (await app.inject({ method: 'POST', url: '/v1/tasks/list?limit=1000', headers: H, payload: { status: 'CANCELED' } })).json();
    assert.ok(canceled.results.some((t: { task_id: string }) => t.task_id === sub.task_id));
    errorShape(await app.inject({ method: 'DELETE', url: '/v1/tasks/task_missing', headers: H }), 404, 'NotFoundError', /task 'task_missing'/);
    errorShape(await app.inject({ method: 'POST', url: '/v1/tasks/list', headers: H, payload: { status: 3 } }), 422, 'ValidationError', /body\.status/);
  });

  test('retry takes retry_mode (default transient_only), tier_nums and max_retry_count', async () => {
    const a = await create('retry a', {});
    const b = await create('retry b', {});
    const batch = (await app.inject({ method: 'POST', url: '/v1/buckets/files/batches', headers: H, payload: { object_ids: [a.object_id, b.object_id] } })).json();
    await app.inject({ method: 'POST', url: `/v1/buckets/files/batches/${batch.batch_id}/submit`, headers: H });
    // Both jobs failed: one on the infrastructure (every delivery), one on its input.
    const fail = async () => {
      const rec = await ns.getBatch(batch.batch_id);
      rec.tier_tasks[0]!.outcomes = {
        [`texts/${a.object_id}`]: { ok: false, documents: 0, reason: 'retries_exhausted', error: 'store unreachable' },
        [`texts/${b.object_id}`]: { ok: false, documents: 0, reason: 'not_text', error: 'not text' },
      };
      rec.tier_tasks[0]!.status = 'FAILED';
      rec.status = 'FAILED';
      await ns.kvPut(`batch.${batch.batch_id}`, rec);
    };
    const retry = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: `/v1/buckets/files/batches/${batch.batch_id}/retry`, headers: H, payload });
    const failedJobs = (res: { json(): { tier_tasks: { errors: { job: string }[] }[] } }) => res.json().tier_tasks[0]!.errors.map((e) => e.job).sort();
    await fail();
    const transient = await retry({});
    assert.equal(transient.statusCode, 200, transient.body);
    assert.deepEqual(failedJobs(transient), [`texts/${b.object_id}`], 'only the infrastructure failure is retried by default');
    assert.equal(transient.json().status, 'IN_PROGRESS');
    await fail();
    assert.deepEqual(failedJobs(await retry({ tier_nums: [1] })), [`texts/${a.object_id}`, `texts/${b.object_id}`].sort(), 'no such tier: nothing retried');
    assert.deepEqual(failedJobs(await retry({ retry_mode: 'all', max_retry_count: 1 })), [`texts/${a.object_id}`], 'a already retried once: max_retry_count 1 keeps it failed');
    await fail();
    assert.deepEqual(failedJobs(await retry({ retry_mode: 'all' })), [], 'all, under the default max of 3');
    errorShape(await retry({ retry_mode: 'some' }), 422, 'ValidationError', /body\.retry_mode/);
    errorShape(await retry({ tier_nums: ['0'] }), 422, 'ValidationError', /body\.tier_nums/);
    errorShape(await retry({ max_retry_count: -1 }), 422, 'ValidationError', /body\.max_retry_count/);
  });

  test('bad input gets 4xx in the documented shape, naming the field', async () => {
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', payload: { blobs: [] } }), 400, 'BadRequestError', /X-Namespace/);
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: { 'x-namespace': 'nope' }, payload: { blobs: [] } }), 404, 'NotFoundError', /namespace 'nope'/);
    // The manifest example's X-Namespace-Id spelling names the namespace too (reference §11 #27).
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: { 'x-namespace-id': 'nope' }, payload: { blobs: [] } }), 404, 'NotFoundError', /namespace 'nope'/);
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: { 'x-namespace-id': 'shop' }, payload: { blobs: [] } }), 422, 'ValidationError', /body\.blobs/);
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload: { blobs: [] } }), 422, 'ValidationError', /body\.blobs/);
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload: { blobs: [{ property: 'x', type: 'gif', data: 'a' }] } }), 422, 'ValidationError', /blobs\[0\]\.type/);
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload: { blobs: [{ property: 'x', type: 'image', data: '%%%not base64' }] } }), 422, 'ValidationError', /base64/);
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/nope/objects', headers: H, payload: { blobs: [{ property: 'x', type: 'text', data: 'a' }] } }), 404, 'NotFoundError', /bucket 'nope'/);
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: { ...H, 'content-type': 'application/json' }, payload: '{"blobs": [' }), 400, 'BadRequestError', /JSON/i);
    errorShape(await app.inject({ method: 'GET', url: '/v1/buckets/files/batches/btch_x', headers: H }), 404, 'NotFoundError', /batch 'btch_x'/);
    for (const what of ['objects', 'uploads', 'batches']) {
      errorShape(await app.inject({ method: 'POST', url: `/v1/buckets/nope/${what}/list`, headers: H, payload: {} }), 404, 'NotFoundError', /bucket 'nope'/);
    }
    errorShape(await app.inject({ method: 'POST', url: '/v1/buckets/files/uploads', headers: H, payload: { filename: '../etc/passwd', content_type: 'text/plain' } }), 422, 'ValidationError', /filename/);
    errorShape(await app.inject({ method: 'GET', url: '/v1/nowhere' }), 404, 'NotFoundError', /no route GET \/v1\/nowhere/);
  });
});
