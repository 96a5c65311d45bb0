/**
 * Ingestion HTTP API (reference §1.3, §1.4, §7.1): objects, uploads (presigned two-phase and streamed multipart
 * through the engine), batches and tasks. Routes throw QuarryError; the app's error handler renders the
 * documented error shape. The namespace comes from `X-Namespace` through `deps.namespace(req)`.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/multipart'; // request.parts() / isMultipart() typings
import type { ObjectStore } from '../ports/object-store.ts';
import { QuarryError, notFound, validationError } from '../lib/errors.ts';
import { tierProgress, type Batch } from './batch-model.ts';
import { BLOB_TYPES, blobTypeFor, sniffContentType } from './blob-input.ts';
import { checkMetadata, contentPropertiesFor, defaultBlobProperty, type BucketSchema } from './object-schema.ts';
import { streamToStore, type UrlFetchOptions } from './blob-url.ts';
import type { NamespaceIngestion } from './pipeline.ts';
import { createObjectIn, objectResponse, type UploadRecord } from './object-create.ts';
import type { BlobType } from './types.ts';

export interface IngestionHttpDeps {
  namespace(req: FastifyRequest): Promise<NamespaceIngestion>;
  objects: ObjectStore;
  /** Largest accepted blob or upload, in bytes. */
  maxUploadBytes: number;
  /** Blob URL fetches (defaults from QUARRY_FETCH_ALLOW_PRIVATE and QUARRY_FETCH_TIMEOUT_SECONDS). */
  urlFetch?: Omit<UrlFetchOptions, 'maxBytes'>;
}

const fileStem = (filename: string) => filename.replace(/\.[^.]*$/, '') || filename;

/**
 * The object-creation options of an upload request (reference CreateUploadRequest), checked before any byte moves:
 * with a bucket schema, the blob property (named, or defaulted) and the object metadata are checked as an object
 * create would check them, so a confirm does not fail on what was knowable up front.
 */
function uploadOptions(b: Record<string, unknown>, filename: string, contentType: string, bucket: string, schema: BucketSchema | undefined): Partial<UploadRecord> {
  const out: Partial<UploadRecord> = {};
  // Both default to true and are recorded resolved (a record without them predates these options).
  const bool = (f: 'create_object_on_confirm' | 'skip_duplicates') => {
    if (b[f] !== undefined && typeof b[f] !== 'boolean') throw validationError(`body.${f}: true or false`, { field: `body.${f}` });
    out[f] = b[f] !== false;
  };
  bool('create_object_on_confirm');
  bool('skip_duplicates');
  for (const f of ['metadata', 'object_metadata'] as const) {
    const v = b[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) throw validationError(`body.${f}: must be an object`, { field: `body.${f}` });
    out[f] = v as Record<string, unknown>;
  }
  if (b.file_hash !== undefined) {
    if (typeof b.file_hash !== 'string' || !/^[0-9a-f]{64}$/i.test(b.file_hash)) throw validationError('body.file_hash: the file\'s sha256 as 64 hex characters', { field: 'body.file_hash' });
    out.file_hash = b.file_hash.toLowerCase();
  }
  if (b.blob_type !== undefined) {
    if (!BLOB_TYPES.includes(b.blob_type as BlobType)) throw validationError(`body.blob_type: one of ${BLOB_TYPES.join(', ')} (default: from content_type, here ${blobTypeFor(contentType)})`, { field: 'body.blob_type' });
    out.blob_type = b.blob_type as BlobType;
  }
  if (b.blob_property !== undefined) {
    if (typeof b.blob_property !== 'string' || b.blob_property.length < 1 || b.blob_property.length > 100) {
      throw validationError('body.blob_property: the bucket schema property the file becomes (1–100 characters)', { field: 'body.blob_property' });
    }
    out.blob_property = b.blob_property;
  }
  if (out.create_object_on_confirm === false) return out;
  const blobType = out.blob_type && out.blob_type !== 'auto' ? out.blob_type : blobTypeFor(contentType);
  if (!schema) {
    out.blob_property ??= fileStem(filename).slice(0, 100);
    return out;
  }
  const fits = contentPropertiesFor(schema, blobType);
  if (out.blob_property === undefined) {
    const picked = defaultBlobProperty(schema, fileStem(filename), blobType);
    if (!picked) {
      throw validationError(
        `body.blob_property: bucket '${bucket}' has ${fits.length ? `several ${blobType} properties (${fits.join(', ')})` : `no ${blobType} property`}; name the property the file fills${fits.length ? '' : ', or send create_object_on_confirm: false'}`,
        { field: 'body.blob_property' },
      );
    }
    out.blob_property = picked;
  }
  if (!fits.includes(out.blob_property)) {
    throw validationError(`body.blob_property: '${out.blob_property}' is not a ${blobType} property of bucket '${bucket}'${fits.length ? `; use ${fits.join(' or ')}` : ''}`, { field: 'body.blob_property' });
  }
  checkMetadata(schema, bucket, [out.blob_property], out.object_metadata ?? {}, {}, 'body', 'body.object_metadata');
  return out;
}

const id = (prefix: string) => `${prefix}_${randomBytes(10).toString('hex')}`;

function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw validationError('request body must be a JSON object');
  return b as Record<string, unknown>;
}

function param(req: FastifyRequest, name: string): string {
  return (req.params as Record<string, string>)[name]!;
}

function batchResponse(b: Batch) {
  const { plans: _plans, storage: _storage, object_filter: _selected, ...rest } = b;
  return {
    ...rest,
    tier_tasks: b.tier_tasks.map(({ outcomes, ...t }) => ({
      ...t,
      progress: tierProgress({ ...t, outcomes }),
      errors: Object.entries(outcomes)
        .filter(([, o]) => !o.ok)
        .map(([key, o]) => ({ job: key, reason: o.reason, message: o.error })),
    })),
  };
}

export function registerIngestionRoutes(app: FastifyInstance, deps: IngestionHttpDeps): void {
  // ---- objects ----------------------------------------------------------------------------------------------
  const createObject = (ns: NamespaceIngestion, bucket: string, input: Record<string, unknown>, at: string) => createObjectIn(deps, ns, bucket, input, at);

  app.post('/v1/buckets/:bucket/objects', async (req, reply) => {
    const ns = await deps.namespace(req);
    const o = await createObject(ns, param(req, 'bucket'), body(req), 'body');
    // 201 for a new object; 200 when an existing one answers (duplicate, unique key) or was replaced.
    reply.code(o.is_duplicate || o.skipped_unique_key || o.updated ? 200 : 201);
    return o;
  });

  app.post('/v1/buckets/:bucket/objects/batch', async (req, reply) => {
    const ns = await deps.namespace(req);
    const objects = body(req).objects;
    if (!Array.isArray(objects) || objects.length < 1 || objects.length > 100) throw validationError('body.objects: give 1–100 objects', { field: 'body.objects' });
    const results = [];
    for (const [i, o] of objects.entries()) {
      try {
        if (!o || typeof o !== 'object') throw validationError(`body.objects[${i}]: must be an object`);
        results.push({ success: true, object: await createObject(ns, param(req, 'bucket'), o as Record<string, unknown>, `body.objects[${i}]`) });
      } catch (err) {
        if (!(err instanceof QuarryError)) throw err;
        results.push({ success: false, index: i, error: err.toBody().error });
      }
    }
    reply.code(201);
    return { results, created: results.filter((r) => r.success).length, failed: results.filter((r) => !r.success).length };
  });

  app.get('/v1/buckets/:bucket/objects/:objectId', async (req) => {
    const ns = await deps.namespace(req);
    const o = await ns.getObject(param(req, 'objectId'));
    if (o.bucket !== param(req, 'bucket')) throw notFound('object', param(req, 'objectId'));
    const res = objectResponse(o);
    if ((req.query as Record<string, string>).return_url === 'true') {
      const storage = await ns.ns.storageBucket(o.bucket);
      res.blobs = await Promise.all(o.blobs.map(async (b) => ({ ...b, presigned_url: await deps.objects.presignGet(storage, b.key, 3600) })));
    }
    return res;
  });

  app.post('/v1/buckets/:bucket/objects/list', async (req) => {
    const ns = await deps.namespace(req);
    const b = body(req);
    const limit = b.limit === undefined ? 20 : Number(b.limit);
    const offset = b.offset === undefined ? 0 : Number(b.offset);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw validationError('body.limit: an integer in 1–1000');
    if (!Number.isInteger(offset) || offset < 0) throw validationError('body.offset: a non-negative integer');
    const all = (await ns.listObjects()).filter((o) => o.bucket === param(req, 'bucket'));
    all.sort((x, y) => x.created_at.localeCompare(y.created_at) || x.object_id.localeCompare(y.object_id));
    return { results: all.slice(offset, offset + limit).map(objectResponse), pagination: { total: all.length, limit, offset } };
  });

  app.delete('/v1/buckets/:bucket/objects/:objectId', async (req) => {
    const ns = await deps.namespace(req);
    const o = await ns.getObject(param(req, 'objectId'));
    if (o.bucket !== param(req, 'bucket')) throw notFound('object', o.object_id);
    await ns.deleteObject(o.object_id);
    return { success: true, object_id: o.object_id };
  });

  // ---- uploads ----------------------------------------------------------------------------------------------
  app.post('/v1/buckets/:bucket/uploads', async (req, reply) => {
    const ns = await deps.namespace(req);
    const b = body(req);
    const bucket = param(req, 'bucket');
    if (typeof b.filename !== 'string' || !b.filename || b.filename.length > 255 || /(^|[\\/])\.\.([\\/]|$)|[\\/]/.test(b.filename)) {
      throw validationError('body.filename: required, 1–255 characters, no path separators or ..', { field: 'body.filename' });
    }
    if (typeof b.content_type !== 'string' || !/^[\w.+-]+\/[\w.+-]+/.test(b.content_type)) throw validationError('body.content_type: a MIME type such as image/png', { field: 'body.content_type' });
    const size = b.file_size_bytes;
    if (size !== undefined && (!Number.isInteger(size) || (size as number) < 1 || (size as number) > deps.maxUploadBytes)) {
      throw validationError(`body.file_size_bytes: an integer in 1–${deps.maxUploadBytes}`, { field: 'body.file_size_bytes' });
    }
    const exp = b.presigned_url_expiration === undefined ? 3600 : Number(b.presigned_url_expiration);
    if (!Number.isInteger(exp) || exp < 60 || exp > 86400) throw validationError('body.presigned_url_expiration: seconds in 60–86400');
    const options = uploadOptions(b, b.filename, b.content_type, bucket, await ns.ns.bucketSchema?.(bucket));
    const uploadId = id('upl');
    const storage = await ns.ns.storageBucket(bucket);
    const key = await ns.blobKey(bucket, `_uploads/${uploadId}/${b.filename}`);
    const record: UploadRecord = {
      upload_id: uploadId, bucket_id: bucket, filename: b.filename, content_type: b.content_type, s3_key: key, status: 'PENDING',
      presigned_url: await deps.objects.presignPut(storage, key, { expiresInSeconds: exp, contentType: b.content_type }),
      created_at: new Date().toISOString(), expires_at: new Date(Date.now() + exp * 1000).toISOString(),
      ...(size !== undefined ? { file_size_bytes: size as number } : {}),
      ...options,
    };
    await ns.kvPut(`upload.${uploadId}`, record);
    reply.code(201);
    return { ...record, presigned_url_expiration: exp };
  });

  app.post('/v1/buckets/:bucket/uploads/:uploadId/confirm', async (req) => {
    const ns = await deps.namespace(req);
    const up = await ns.kvGet<UploadRecord>(`upload.${param(req, 'uploadId')}`);
    if (!up || up.bucket_id !== param(req, 'bucket')) throw notFound('upload', param(req, 'uploadId'));
    if (up.status === 'COMPLETED') {
      if (up.is_duplicate !== undefined || up.create_object_on_confirm === undefined) return up;
      // A confirm that stopped between recording the file and creating its object: finish it.
      const finished = { ...up, ...(await afterConfirm(ns, up)) };
      await ns.kvPut(`upload.${up.upload_id}`, finished);
      return finished;
    }
    const storage = await ns.ns.storageBucket(up.bucket_id);
    const head = await deps.objects.head(storage, up.s3_key);
    if (!head) throw new QuarryError('BadRequestError', `upload ${up.upload_id} has no data yet: PUT the file to its presigned_url, then confirm`);
    if (head.size > deps.maxUploadBytes) throw new QuarryError('BadRequestError', `upload ${up.upload_id} is ${head.size} bytes, over the ${deps.maxUploadBytes}-byte limit`);
    const { body: stream } = await deps.objects.get(storage, up.s3_key);
    const hash = createHash('sha256');
    for await (const c of stream) hash.update(c as Buffer);
    const digest = hash.digest('hex');
    if (up.file_hash && up.file_hash !== digest) {
      throw validationError(`upload ${up.upload_id}: the uploaded bytes have sha256 ${digest}, not the file_hash given (${up.file_hash}); PUT the right file again, then confirm`, { field: 'file_hash' });
    }
    const completedAt = new Date().toISOString();
    let done: UploadRecord = { ...up, status: 'COMPLETED', file_size_bytes: head.size, file_hash: digest, completed_at: completedAt };
    // Recorded before the object is created, so the object can reference the upload as confirmed.
    await ns.kvPut(`upload.${up.upload_id}`, done);
    done = { ...done, ...(await afterConfirm(ns, done)) };
    await ns.kvPut(`upload.${up.upload_id}`, done);
    return { ...done, verified_at: completedAt };
  });

  /** What confirming a file does besides recording it: create its object, or report it as a duplicate. */
  async function afterConfirm(ns: NamespaceIngestion, up: UploadRecord): Promise<Partial<UploadRecord>> {
    const skip = up.skip_duplicates !== false;
    if (up.create_object_on_confirm !== false) {
      const blob = { property: up.blob_property ?? fileStem(up.filename).slice(0, 100), type: up.blob_type ?? blobTypeFor(up.content_type), upload_id: up.upload_id };
      const o = await createObject(ns, up.bucket_id, { blobs: [blob], metadata: up.object_metadata ?? {}, skip_duplicates: skip }, 'upload');
      if (o.is_duplicate) return { object_id: o.object_id, is_duplicate: true, existing_object_id: o.object_id, message: `the same content is already object ${o.object_id}; no new object was created` };
      if (o.skipped_unique_key) return { object_id: o.object_id, is_duplicate: false, skipped_unique_key: true, existing_object_id: o.object_id, message: `object ${o.object_id} already has this unique key; it was kept (policy insert)` };
      return { object_id: o.object_id, is_duplicate: false, ...(o.updated ? { message: `object ${o.object_id} had this unique key and was replaced` } : {}) };
    }
    if (!skip) return { is_duplicate: false };
    const first = await ns.claimUploadContent(up.bucket_id, up.file_hash!, up.upload_id);
    return first === up.upload_id
      ? { is_duplicate: false }
      : { is_duplicate: true, duplicate_of_upload_id: first, message: `the same content was uploaded as ${first}` };
  }

  /** Streamed multipart upload through the engine: each file part goes straight to the object store. */
  app.post('/v1/buckets/:bucket/uploads/direct', async (req, reply) => {
    const ns = await deps.namespace(req);
    const bucket = param(req, 'bucket');
    const storage = await ns.ns.storageBucket(bucket);
    if (!req.isMultipart()) throw new QuarryError('BadRequestError', 'send multipart/form-data with one or more file fields');
    const uploads: UploadRecord[] = [];
    for await (const part of req.parts({ limits: { fileSize: deps.maxUploadBytes } })) {
      if (part.type !== 'file') continue;
      const uploadId = id('upl');
      const filename = (part.filename || 'file').replace(/[\\/]/g, '_');
      const key = await ns.blobKey(bucket, `_uploads/${uploadId}/${filename}`);
      const result = await streamToStore(deps.objects, storage, key, part.file, part.mimetype, deps.maxUploadBytes);
      if (part.file.truncated) throw new QuarryError('BadRequestError', `file ${filename} exceeds the ${deps.maxUploadBytes}-byte limit`);
      const contentType = await sniffContentType(result.head, part.mimetype === 'application/octet-stream' ? undefined : part.mimetype);
      const now = new Date().toISOString();
      const rec: UploadRecord = {
        upload_id: uploadId, bucket_id: bucket, filename, content_type: contentType, s3_key: key, status: 'COMPLETED',
        file_size_bytes: result.size, file_hash: result.sha256, created_at: now, completed_at: now,
      };
      await ns.kvPut(`upload.${uploadId}`, rec);
      uploads.push(rec);
    }
    if (!uploads.length) throw new QuarryError('BadRequestError', 'no file parts in the multipart body');
    reply.code(201);
    return { uploads };
  });

  // ---- batches and tasks ------------------------------------------------------------------------------------
  app.post('/v1/buckets/:bucket/batches', async (req, reply) => {
    const ns = await deps.namespace(req);
    const b = body(req);
    const ids = b.object_ids ?? [];
    if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string')) throw validationError('body.object_ids: an array of object ids', { field: 'body.object_ids' });
    for (const oid of ids as string[]) await ns.getObject(oid);
    reply.code(201);
    return batchResponse(await ns.createBatch(param(req, 'bucket'), ids as string[], (b.metadata as Record<string, unknown>) ?? {}));
  });

  app.get('/v1/buckets/:bucket/batches/:batchId', async (req) => batchResponse(await (await deps.namespace(req)).getBatch(param(req, 'batchId'))));

  app.post('/v1/buckets/:bucket/batches/:batchId/objects', async (req) => {
    const ns = await deps.namespace(req);
    const ids = body(req).object_ids;
    if (!Array.isArray(ids) || ids.length === 0 || ids.some((x) => typeof x !== 'string')) throw validationError('body.object_ids: a non-empty array of object ids', { field: 'body.object_ids' });
    for (const oid of ids as string[]) await ns.getObject(oid);
    return batchResponse(await ns.addObjects(param(req, 'batchId'), ids as string[]));
  });

  app.post('/v1/buckets/:bucket/batches/:batchId/submit', async (req, reply) => {
    const batch = await (await deps.namespace(req)).submit(param(req, 'batchId'));
    reply.code(202);
    return { task_id: batch.task_id, task_type: 'api_buckets_batches_submit', status: batch.status, batch_id: batch.batch_id, additional_data: { total_tiers: batch.total_tiers } };
  });

  app.post('/v1/buckets/:bucket/batches/:batchId/cancel', async (req) => batchResponse(await (await deps.namespace(req)).cancel(param(req, 'batchId'))));

  app.post('/v1/buckets/:bucket/batches/:batchId/retry', async (req) => batchResponse(await (await deps.namespace(req)).retryFailed(param(req, 'batchId'))));

  app.get('/v1/tasks/:taskId', async (req) => {
    const ns = await deps.namespace(req);
    const batch = await ns.batchForTask(param(req, 'taskId'));
    if (!batch) throw notFound('task', param(req, 'taskId'));
    return {
      task_id: batch.task_id,
      task_type: 'api_buckets_batches_submit',
      status: batch.status,
      inputs: { batch_id: batch.batch_id, bucket_id: batch.bucket_id },
      additional_data: { tiers: batch.tier_tasks.map((t) => ({ tier_num: t.tier_num, status: t.status, progress: tierProgress(t) })), error_summary: batch.error_summary },
      ...(batch.error ? { error: batch.error } : {}),
    };
  });

  app.post('/v1/collections/:collection/trigger', async (req, reply) => {
    const ns = await deps.namespace(req);
    const batch = await ns.triggerCollection(param(req, 'collection'));
    reply.code(202);
    return { task_id: batch.task_id, task_type: 'api_collections_trigger', status: batch.status, batch_id: batch.batch_id };
  });
}
