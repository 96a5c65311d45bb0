/**
 * Ingestion HTTP API (reference §1.3, §1.4, §7.1): objects, uploads (presigned two-phase and streamed multipart
 * through the engine), batches and tasks. Routes throw QuarryError; the app's error handler renders the
 * documented error shape. The namespace comes from `X-Namespace` through `deps.namespace(req)`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/multipart'; // request.parts() / isMultipart() typings
import type { ObjectStore } from '../ports/object-store.ts';
import { QuarryError, notFound, validationError } from '../lib/errors.ts';
import { TERMINAL, tierProgress, type Batch } from './batch-model.ts';
import type { UrlFetchOptions } from './blob-url.ts';
import type { FilterNode } from '../ports/filter.ts';
import type { NamespaceIngestion } from './pipeline.ts';
import { createObjectIn, objectResponse, patchObjectIn, type UploadRecord } from './object-create.ts';
import { Uploads } from './uploads.ts';
import { listResponse } from '../management/list.ts';

export interface IngestionHttpDeps {
  namespace(req: FastifyRequest): Promise<NamespaceIngestion>;
  objects: ObjectStore;
  /** Largest accepted blob or upload, in bytes. */
  maxUploadBytes: number;
  /** Blob URL fetches (defaults from QUARRY_FETCH_ALLOW_PRIVATE and QUARRY_FETCH_TIMEOUT_SECONDS). */
  urlFetch?: Omit<UrlFetchOptions, 'maxBytes'>;
}


function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw validationError('request body must be a JSON object');
  return b as Record<string, unknown>;
}

function param(req: FastifyRequest, name: string): string {
  return (req.params as Record<string, string>)[name]!;
}

/**
 * Runs `fn` on each item in order; an item that fails with a QuarryError becomes `{success: false, index, error}`
 * (the documented error body) and the others go on. Anything else is a bug and fails the request.
 */
async function eachOf<T, R extends object>(items: T[], fn: (item: T, i: number) => Promise<R>): Promise<({ success: true } & R | { success: false; index: number; error: unknown })[]> {
  const out: ({ success: true } & R | { success: false; index: number; error: unknown })[] = [];
  for (const [i, item] of items.entries()) {
    try {
      out.push({ success: true, ...(await fn(item, i)) });
    } catch (err) {
      if (!(err instanceof QuarryError)) throw err;
      out.push({ success: false, index: i, error: err.toBody().error });
    }
  }
  return out;
}

function batchResponse(b: Batch) {
  const { plans: _plans, storage: _storage, object_filter: _selected, retry_counts: _retries, ...rest } = b;
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

/** The documented TaskResponse (reference §1.4) of a submitted batch: a batch's task is its processing. */
function taskResponse(batch: Batch) {
  return {
    task_id: batch.task_id,
    task_type: batch.metadata.trigger === 'collection' ? 'api_collections_trigger' : 'api_buckets_batches_submit',
    status: batch.status,
    inputs: { batch_id: batch.batch_id, bucket_id: batch.bucket_id },
    additional_data: { tiers: batch.tier_tasks.map((t) => ({ tier_num: t.tier_num, status: t.status, progress: tierProgress(t) })), error_summary: batch.error_summary },
    ...(batch.error ? { error: batch.error } : {}),
    created_at: batch.created_at,
    updated_at: batch.updated_at,
  };
}

/** Object ids of a batch request: strings, each an object of this bucket (a batch reads one bucket). */
async function bucketObjectIds(ns: NamespaceIngestion, bucket: string, ids: unknown, at: string, nonEmpty: boolean): Promise<string[]> {
  if (!Array.isArray(ids) || (nonEmpty && ids.length === 0) || ids.some((x) => typeof x !== 'string')) {
    throw validationError(`${at}: ${nonEmpty ? 'a non-empty array' : 'an array'} of object ids`, { field: at });
  }
  for (const [i, oid] of (ids as string[]).entries()) {
    const o = await ns.getObject(oid);
    if (o.bucket !== bucket) throw validationError(`${at}[${i}]: object ${oid} is in bucket '${o.bucket}', not '${bucket}'; a batch processes the objects of one bucket`, { field: `${at}[${i}]` });
  }
  return ids as string[];
}

/**
 * Response bucket fields as the reference shows them (§1.3 ObjectResponse, §1.4 BatchModel, §7.1 UploadResponse):
 * `bucket_id` is the Bucket's id (`bkt_…`), with `bucket_name` beside it, and a `source_details` bucket entry's
 * `source_id` the id too. Records keep the Bucket's object name; this rewrites a response on its way out.
 */
async function withBucketIds(ns: NamespaceIngestion, payload: unknown): Promise<unknown> {
  const lookup = ns.ns.bucketRef;
  if (!lookup || typeof payload !== 'object' || payload === null) return payload;
  // A copy: handlers may answer stored records themselves (an upload), which must keep the object name.
  const out = JSON.parse(JSON.stringify(payload)) as unknown;
  const refs = new Map<string, Promise<{ id: string; name: string } | undefined>>();
  const ref = (name: string) => {
    if (!refs.has(name)) refs.set(name, lookup(name).catch(() => undefined));
    return refs.get(name)!;
  };
  const walk = async (v: unknown, depth: number): Promise<void> => {
    if (depth > 6 || typeof v !== 'object' || v === null) return;
    if (Array.isArray(v)) {
      for (const x of v) await walk(x, depth + 1);
      return;
    }
    const o = v as Record<string, unknown>;
    if (typeof o.bucket_id === 'string') {
      const r = await ref(o.bucket_id);
      if (r) {
        o.bucket_id = r.id;
        o.bucket_name ??= r.name;
      }
    }
    if (o.type === 'bucket' && typeof o.source_id === 'string') o.source_id = (await ref(o.source_id))?.id ?? o.source_id;
    for (const [k, x] of Object.entries(o)) if (k !== 'metadata' && typeof x === 'object') await walk(x, depth + 1);
  };
  await walk(out, 0);
  return out;
}

/** The routes whose responses carry bucket fields (see withBucketIds). */
const BUCKET_ROUTES = /^\/v1\/(buckets\/:bucket\/(objects|uploads|batches)|tasks)(\/|$)/;

/** 404 for a bucket the namespace does not have (a list of an unknown bucket is not an empty list). */
async function knownBucket(ns: NamespaceIngestion, bucket: string): Promise<void> {
  if (ns.ns.bucketSchema) await ns.ns.bucketSchema(bucket);
  else await ns.ns.storageBucket(bucket);
}

export function registerIngestionRoutes(app: FastifyInstance, deps: IngestionHttpDeps): void {
  app.addHook('preSerialization', async (req, reply, payload) => {
    if (reply.statusCode >= 400 || !BUCKET_ROUTES.test(req.routeOptions.url ?? '')) return payload;
    return withBucketIds(await deps.namespace(req), payload);
  });

  // ---- objects ----------------------------------------------------------------------------------------------
  const createObject = (ns: NamespaceIngestion, bucket: string, input: Record<string, unknown>, at: string) => createObjectIn(deps, ns, bucket, input, at);
  const uploads = new Uploads(deps);

  app.post('/v1/buckets/:bucket/objects', async (req, reply) => {
    const ns = await deps.namespace(req);
    const o = await createObject(ns, param(req, 'bucket'), body(req), 'body');
    // 201 for a new object; 200 when an existing one answers (duplicate, unique key) or was replaced.
    reply.code(o.is_duplicate || o.skipped_unique_key || o.updated ? 200 : 201);
    return o;
  });

  app.post('/v1/buckets/:bucket/objects/batch', async (req, reply) => {
    const ns = await deps.namespace(req);
    // An unknown bucket is a 404 for the request, not a 201 listing one 404 per item (as for the lists).
    await knownBucket(ns, param(req, 'bucket'));
    const objects = body(req).objects;
    if (!Array.isArray(objects) || objects.length < 1 || objects.length > 100) throw validationError('body.objects: give 1–100 objects', { field: 'body.objects' });
    const results = await eachOf(objects, async (o, i) => {
      if (!o || typeof o !== 'object') throw validationError(`body.objects[${i}]: must be an object`);
      return { object: await createObject(ns, param(req, 'bucket'), o as Record<string, unknown>, `body.objects[${i}]`) };
    });
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

  // The documented list pattern (reference §0.1): filters/sort/search in the body, limit/offset/cursor in the query (or body).
  app.post('/v1/buckets/:bucket/objects/list', async (req) => {
    const ns = await deps.namespace(req);
    await knownBucket(ns, param(req, 'bucket'));
    const all = (await ns.listObjects()).filter((o) => o.bucket === param(req, 'bucket')).map(objectResponse);
    return listResponse(all, { idField: 'object_id', nameField: 'object_id' }, body(req), req.query as Record<string, unknown>);
  });

  app.patch('/v1/buckets/:bucket/objects/:objectId', async (req) => patchObjectIn(await deps.namespace(req), param(req, 'bucket'), param(req, 'objectId'), body(req)));

  app.delete('/v1/buckets/:bucket/objects/:objectId', async (req) => {
    const ns = await deps.namespace(req);
    const o = await ns.getObject(param(req, 'objectId'));
    if (o.bucket !== param(req, 'bucket')) throw notFound('object', o.object_id);
    await ns.deleteObject(o.object_id);
    return { success: true, object_id: o.object_id };
  });

  // ---- uploads ----------------------------------------------------------------------------------------------
  app.post('/v1/buckets/:bucket/uploads', async (req, reply) => {
    const up = await uploads.create(await deps.namespace(req), param(req, 'bucket'), body(req), 'body');
    reply.code(201);
    return up;
  });

  app.post('/v1/buckets/:bucket/uploads/batch', async (req, reply) => {
    const ns = await deps.namespace(req);
    await knownBucket(ns, param(req, 'bucket'));
    const b = body(req);
    const items = b.uploads;
    if (!Array.isArray(items) || items.length < 1 || items.length > 100) throw validationError('body.uploads: give 1–100 uploads {filename, content_type, …}', { field: 'body.uploads' });
    for (const f of ['shared_metadata', 'shared_object_metadata'] as const) {
      if (b[f] !== undefined && b[f] !== null && (typeof b[f] !== 'object' || Array.isArray(b[f]))) throw validationError(`body.${f}: must be an object`, { field: `body.${f}` });
    }
    const shared = { metadata: (b.shared_metadata ?? {}) as Record<string, unknown>, object_metadata: (b.shared_object_metadata ?? {}) as Record<string, unknown> };
    const results = await eachOf(items, async (item, i) => {
      if (!item || typeof item !== 'object' || Array.isArray(item)) throw validationError(`body.uploads[${i}]: must be an object`, { field: `body.uploads[${i}]` });
      const u = item as Record<string, unknown>;
      const merged = { ...u, metadata: { ...shared.metadata, ...(u.metadata as object | undefined) }, object_metadata: { ...shared.object_metadata, ...(u.object_metadata as object | undefined) } };
      return { upload: await uploads.create(ns, param(req, 'bucket'), merged, `body.uploads[${i}]`) };
    });
    reply.code(201);
    return { results, created: results.filter((r) => r.success).length, failed: results.filter((r) => !r.success).length };
  });

  app.post('/v1/buckets/:bucket/uploads/:uploadId/confirm', async (req) => uploads.confirm(await deps.namespace(req), param(req, 'bucket'), param(req, 'uploadId'), body(req)));

  app.post('/v1/buckets/:bucket/uploads/confirm/batch', async (req) => {
    const ns = await deps.namespace(req);
    await knownBucket(ns, param(req, 'bucket'));
    const items = body(req).confirmations;
    if (!Array.isArray(items) || items.length < 1 || items.length > 100) throw validationError('body.confirmations: give 1–100 of {upload_id}', { field: 'body.confirmations' });
    const results = await eachOf(items, async (item, i) => {
      const uploadId = (item as { upload_id?: unknown } | null)?.upload_id;
      if (typeof uploadId !== 'string' || !uploadId) throw validationError(`body.confirmations[${i}].upload_id: required`, { field: `body.confirmations[${i}].upload_id` });
      return { upload: await uploads.confirm(ns, param(req, 'bucket'), uploadId, item as { file_size_bytes?: unknown }, `body.confirmations[${i}]`) };
    });
    return { results, confirmed: results.filter((r) => r.success).length, failed: results.filter((r) => !r.success).length };
  });

  app.post('/v1/buckets/:bucket/uploads/list', async (req) => {
    const ns = await deps.namespace(req);
    const b = body(req);
    if (b.status !== undefined && typeof b.status !== 'string') throw validationError('body.status: an upload status such as PENDING or COMPLETED', { field: 'body.status' });
    await knownBucket(ns, param(req, 'bucket'));
    const all = (await uploads.list(ns, param(req, 'bucket'))).filter((u) => b.status === undefined || u.status === b.status);
    return listResponse(all as unknown as Record<string, unknown>[], { idField: 'upload_id', nameField: 'filename' }, b, req.query as Record<string, unknown>);
  });

  app.get('/v1/buckets/:bucket/uploads/:uploadId', async (req) => uploads.get(await deps.namespace(req), param(req, 'bucket'), param(req, 'uploadId')));

  app.delete('/v1/buckets/:bucket/uploads/:uploadId', async (req) => uploads.remove(await deps.namespace(req), param(req, 'bucket'), param(req, 'uploadId')));

  /** Streamed multipart upload through the engine: each file part goes straight to the object store. */
  app.post('/v1/buckets/:bucket/uploads/direct', async (req, reply) => {
    const ns = await deps.namespace(req);
    if (!req.isMultipart()) throw new QuarryError('BadRequestError', 'send multipart/form-data with one or more file fields');
    const stored: UploadRecord[] = [];
    for await (const part of req.parts({ limits: { fileSize: deps.maxUploadBytes } })) {
      if (part.type === 'file') stored.push(await uploads.storeStreamed(ns, param(req, 'bucket'), part.file, part.filename, part.mimetype));
    }
    if (!stored.length) throw new QuarryError('BadRequestError', 'no file parts in the multipart body');
    reply.code(201);
    return { uploads: stored };
  });

  // ---- batches and tasks ------------------------------------------------------------------------------------
  /** The batch, when it belongs to this bucket (else 404, as for an unknown one). */
  const batchIn = async (ns: NamespaceIngestion, bucket: string, batchId: string): Promise<Batch> => {
    const batch = await ns.getBatch(batchId);
    if (batch.bucket_id !== bucket) throw notFound('batch', batchId);
    return batch;
  };

  app.post('/v1/buckets/:bucket/batches', async (req, reply) => {
    const ns = await deps.namespace(req);
    const b = body(req);
    const ids = await bucketObjectIds(ns, param(req, 'bucket'), b.object_ids ?? [], 'body.object_ids', false);
    reply.code(201);
    return batchResponse(await ns.createBatch(param(req, 'bucket'), ids, (b.metadata as Record<string, unknown>) ?? {}));
  });

  app.post('/v1/buckets/:bucket/batches/list', async (req) => {
    const ns = await deps.namespace(req);
    await knownBucket(ns, param(req, 'bucket'));
    const all = (await ns.listBatches()).filter((x) => x.bucket_id === param(req, 'bucket')).map(batchResponse);
    return listResponse(all as unknown as Record<string, unknown>[], { idField: 'batch_id', nameField: 'batch_id' }, body(req), req.query as Record<string, unknown>);
  });

  app.get('/v1/buckets/:bucket/batches/:batchId', async (req) => batchResponse(await batchIn(await deps.namespace(req), param(req, 'bucket'), param(req, 'batchId'))));

  app.post('/v1/buckets/:bucket/batches/:batchId/objects', async (req) => {
    const ns = await deps.namespace(req);
    await batchIn(ns, param(req, 'bucket'), param(req, 'batchId'));
    const ids = await bucketObjectIds(ns, param(req, 'bucket'), body(req).object_ids, 'body.object_ids', true);
    return batchResponse(await ns.addObjects(param(req, 'batchId'), ids));
  });

  app.post('/v1/buckets/:bucket/batches/:batchId/submit', async (req, reply) => {
    const ns = await deps.namespace(req);
    await batchIn(ns, param(req, 'bucket'), param(req, 'batchId'));
    const batch = await ns.submit(param(req, 'batchId'));
    reply.code(202);
    return { task_id: batch.task_id, task_type: 'api_buckets_batches_submit', status: batch.status, batch_id: batch.batch_id, additional_data: { total_tiers: batch.total_tiers } };
  });

  app.post('/v1/buckets/:bucket/batches/:batchId/cancel', async (req) => {
    const ns = await deps.namespace(req);
    await batchIn(ns, param(req, 'bucket'), param(req, 'batchId'));
    return batchResponse(await ns.cancel(param(req, 'batchId')));
  });

  app.post('/v1/buckets/:bucket/batches/:batchId/retry', async (req) => {
    const ns = await deps.namespace(req);
    await batchIn(ns, param(req, 'bucket'), param(req, 'batchId'));
    const b = body(req);
    const mode = b.retry_mode ?? 'transient_only';
    if (mode !== 'transient_only' && mode !== 'all') throw validationError('body.retry_mode: transient_only (the default: jobs that failed on the infrastructure) or all (every failed job)', { field: 'body.retry_mode' });
    const tiers = b.tier_nums;
    if (tiers !== undefined && tiers !== null && (!Array.isArray(tiers) || tiers.some((n) => !Number.isInteger(n) || (n as number) < 0))) {
      throw validationError('body.tier_nums: a list of tier numbers (0 = bucket → collection)', { field: 'body.tier_nums' });
    }
    const max = b.max_retry_count ?? 3;
    if (!Number.isInteger(max) || (max as number) < 0) throw validationError('body.max_retry_count: a non-negative integer (default 3)', { field: 'body.max_retry_count' });
    return batchResponse(await ns.retryFailed(param(req, 'batchId'), { mode, maxRetryCount: max as number, ...(Array.isArray(tiers) ? { tierNums: tiers as number[] } : {}) }));
  });

  const taskBatch = async (ns: NamespaceIngestion, taskId: string): Promise<Batch> => {
    const batch = await ns.batchForTask(taskId);
    if (!batch) throw notFound('task', taskId);
    return batch;
  };

  app.get('/v1/tasks/:taskId', async (req) => taskResponse(await taskBatch(await deps.namespace(req), param(req, 'taskId'))));

  /** Tasks list (reference §1.4): `status` and `task_type` narrow it, then the documented list pattern. */
  app.post('/v1/tasks/list', async (req) => {
    const ns = await deps.namespace(req);
    const b = body(req);
    for (const f of ['status', 'task_type'] as const) {
      if (b[f] !== undefined && b[f] !== null && typeof b[f] !== 'string') throw validationError(`body.${f}: a string such as ${f === 'status' ? 'COMPLETED' : 'api_buckets_batches_submit'}`, { field: `body.${f}` });
    }
    const tasks = (await ns.listBatches())
      .filter((x) => x.task_id)
      .map(taskResponse)
      .filter((t) => (b.status == null || t.status === b.status) && (b.task_type == null || t.task_type === b.task_type));
    return listResponse(tasks as unknown as Record<string, unknown>[], { idField: 'task_id', nameField: 'task_id' }, b, req.query as Record<string, unknown>);
  });

  /** Kills a task (reference §1.4 `DELETE /v1/tasks/{id}`): its batch is canceled; a finished task stays as it ended. */
  app.delete('/v1/tasks/:taskId', async (req) => {
    const ns = await deps.namespace(req);
    const batch = await taskBatch(ns, param(req, 'taskId'));
    return taskResponse(TERMINAL.has(batch.status) ? batch : await ns.cancel(batch.batch_id));
  });

  app.post('/v1/collections/:collection/trigger', async (req, reply) => {
    const ns = await deps.namespace(req);
    const b = body(req);
    const include = b.include_buckets;
    if (include !== undefined && include !== null && (!Array.isArray(include) || include.some((x) => typeof x !== 'string'))) {
      throw validationError('include_buckets: a list of source bucket names of this collection', { field: 'include_buckets' });
    }
    const sf = b.source_filters;
    if (sf !== undefined && sf !== null && (typeof sf !== 'object' || Array.isArray(sf))) {
      throw validationError('source_filters: {filters: {field, operator, value} or {AND|OR|NOT: [...]}}', { field: 'source_filters' });
    }
    const filters = (sf as { filters?: unknown } | null | undefined)?.filters ?? sf ?? undefined;
    const t = await ns.triggerCollection(param(req, 'collection'), {
      ...(Array.isArray(include) ? { includeBuckets: include as string[] } : {}),
      ...(filters ? { filters: filters as FilterNode } : {}),
    });
    const [first] = t.batches;
    // Ids as the reference's trigger response has them (col_…, bkt_…), where the namespace view knows them.
    const collectionRef = await ns.ns.collectionRef?.(t.collection.name).catch(() => undefined);
    const bucketIds = await Promise.all(t.buckets.map(async (b) => (await ns.ns.bucketRef?.(b).catch(() => undefined))?.id ?? b));
    reply.code(202);
    // The documented trigger response; one batch per source bucket, the first also as batch_id/task_id.
    return {
      batch_id: first?.batch_id ?? null,
      batch_ids: t.batches.map((x) => x.batch_id),
      task_id: first?.task_id ?? null,
      task_type: 'api_collections_trigger',
      status: first?.status ?? 'COMPLETED',
      collection_id: collectionRef?.id ?? t.collection.name,
      ...(collectionRef ? { collection_name: collectionRef.name } : {}),
      source_bucket_ids: bucketIds,
      source_collection_ids: [],
      object_count: t.objectCount,
      total_tiers: Math.max(0, ...t.batches.map((x) => x.total_tiers ?? 0)),
      message: `${t.objectCount} object${t.objectCount === 1 ? '' : 's'} from ${t.buckets.length} bucket${t.buckets.length === 1 ? '' : 's'} submitted to collection ${t.collection.name}`,
    };
  });
}
