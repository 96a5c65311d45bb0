/**
 * Ingestion HTTP API (reference §1.3, §1.4, §7.1): objects, uploads (presigned two-phase and streamed multipart
 * through the engine), batches and tasks. Routes throw QuarryError; the app's error handler renders the
 * documented error shape. The namespace comes from `X-Namespace` through `deps.namespace(req)`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/multipart'; // request.parts() / isMultipart() typings
import type { ObjectStore } from '../ports/object-store.ts';
import { QuarryError, notFound, validationError } from '../lib/errors.ts';
import { TERMINAL, type Batch } from './batch-model.ts';
import type { UrlFetchOptions } from './blob-url.ts';
import type { FilterNode } from '../ports/filter.ts';
import type { NamespaceIngestion } from './pipeline.ts';
import { createObjectIn, objectResponse, patchObjectIn, type UploadRecord } from './object-create.ts';
import { Uploads } from './uploads.ts';
import { listResponse } from '../management/list.ts';
import { multipartFailure } from '../http/body-guard.ts';
import { body, param, eachOf, batchResponse, taskResponse, uploadOut, bucketObjectIds, withBucketIds, BUCKET_ROUTES, knownBucket, whenStorageReady } from './http-routes-helpers.ts';

export interface IngestionHttpDeps {
  namespace(req: FastifyRequest): Promise<NamespaceIngestion>;
  /**
   * For the org-wide task and batch lists sent without X-Namespace (the SDK's TasksApi, BatchesApi): every namespace
   * the request may see (`ident` narrows them by id or name); undefined when the request names its namespace.
   */
  namespaces?(req: FastifyRequest, ident?: string): Promise<NamespaceIngestion[] | undefined>;
  objects: ObjectStore;
  /** Largest accepted blob or upload, in bytes. */
  maxUploadBytes: number;
  /** Blob URL fetches (defaults from QUARRY_FETCH_ALLOW_PRIVATE and QUARRY_FETCH_TIMEOUT_SECONDS). */
  urlFetch?: Omit<UrlFetchOptions, 'maxBytes'>;
}

export function registerIngestionRoutes(app: FastifyInstance, deps: IngestionHttpDeps): void {
  /** Responses already carrying bucket ids (lists across namespaces rewrite each namespace's part themselves). */
  const rewritten = new WeakSet<FastifyRequest>();
  app.addHook('preSerialization', async (req, reply, payload) => {
    if (reply.statusCode >= 400 || rewritten.has(req) || !BUCKET_ROUTES.test(req.routeOptions.url ?? '')) return payload;
    return withBucketIds(await deps.namespace(req), payload);
  });

  /**
   * The items of a namespace-wide list: from the X-Namespace's namespace, or, without it, from every namespace the
   * request may see (each part with its own bucket ids).
   */
  const acrossNamespaces = async <T>(req: FastifyRequest, items: (ns: NamespaceIngestion) => Promise<T[]>, ident?: string): Promise<T[]> => {
    const all = await deps.namespaces?.(req, ident);
    if (!all) return items(await deps.namespace(req));
    rewritten.add(req);
    const parts = await Promise.all(all.map(async (ns) => (await withBucketIds(ns, await items(ns))) as T[]));
    return parts.flat();
  };

  // ---- objects ----------------------------------------------------------------------------------------------
  const createObject = (ns: NamespaceIngestion, bucket: string, input: Record<string, unknown>, at: string) => createObjectIn(deps, ns, bucket, input, at);
  const uploads = new Uploads(deps);

  app.post('/v1/buckets/:bucket/objects', async (req, reply) => {
    const ns = await deps.namespace(req);
    const o = await whenStorageReady(ns, param(req, 'bucket'), reply, () => createObject(ns, param(req, 'bucket'), body(req), 'body'));
    // 200 for a new object too (is_duplicate/skipped_unique_key/updated tell the cases apart): the official SDK's
    // generated client maps only 200 and returns None for a 201.
    return o;
  });

  app.post('/v1/buckets/:bucket/objects/batch', async (req) => {
    const ns = await deps.namespace(req);
    // An unknown bucket is a 404 for the request, not a 201 listing one 404 per item (as for the lists).
    await knownBucket(ns, param(req, 'bucket'));
    const { objects, skip_duplicates: skipAll } = body(req);
    if (!Array.isArray(objects) || objects.length < 1 || objects.length > 100) throw validationError('body.objects: give 1–100 objects', { field: 'body.objects' });
    // A top-level skip_duplicates is the default of every object that sets none (it was silently ignored).
    if (skipAll !== undefined && typeof skipAll !== 'boolean') throw validationError('body.skip_duplicates: must be true or false', { field: 'body.skip_duplicates' });
    const results = await eachOf(objects, async (o, i) => {
      if (!o || typeof o !== 'object') throw validationError(`body.objects[${i}]: must be an object`);
      const item = { ...(skipAll !== undefined ? { skip_duplicates: skipAll } : {}), ...(o as Record<string, unknown>) };
      return { object: await createObject(ns, param(req, 'bucket'), item, `body.objects[${i}]`) };
    });
    // 200: the SDK maps only 200
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
  const listObjects = async (req: FastifyRequest, b: Record<string, unknown>) => {
    const ns = await deps.namespace(req);
    await knownBucket(ns, param(req, 'bucket'));
    const all = (await ns.listObjects()).filter((o) => o.bucket === param(req, 'bucket')).map(objectResponse);
    return listResponse(all, { idField: 'object_id', nameField: 'object_id' }, b, req.query as Record<string, unknown>);
  };
  app.post('/v1/buckets/:bucket/objects/list', async (req) => listObjects(req, body(req)));
  // The GET form (the SDK's list_objects_get_buckets): paging in the query string.
  app.get('/v1/buckets/:bucket/objects', async (req) => listObjects(req, {}));

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
    const ns = await deps.namespace(req);
    const up = await whenStorageReady(ns, param(req, 'bucket'), reply, () => uploads.create(ns, param(req, 'bucket'), body(req), 'body'));
    // 200: the SDK maps only 200
    return up;
  });

  app.post('/v1/buckets/:bucket/uploads/batch', async (req) => {
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
    // 200: the SDK maps only 200
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
    const listed = listResponse(all.map(uploadOut), { idField: 'upload_id', nameField: 'filename' }, b, req.query as Record<string, unknown>);
    // The SDK's ListUploadsResponse requires stats: counts by status over the bucket's uploads.
    const byStatus: Record<string, number> = {};
    for (const u of all) byStatus[u.status] = (byStatus[u.status] ?? 0) + 1;
    const size = all.reduce((n, u) => n + (u.file_size_bytes ?? 0), 0);
    return { ...listed, stats: { total_uploads: all.length, total_size_bytes: size, uploads_by_status: byStatus, avg_file_size_bytes: all.length ? size / all.length : 0, unique_buckets: all.length ? 1 : 0 } };
  });

  app.get('/v1/buckets/:bucket/uploads/:uploadId', async (req) => uploadOut(await uploads.get(await deps.namespace(req), param(req, 'bucket'), param(req, 'uploadId'))));

  app.delete('/v1/buckets/:bucket/uploads/:uploadId', async (req) => uploads.remove(await deps.namespace(req), param(req, 'bucket'), param(req, 'uploadId')));

  /** Streamed multipart upload through the engine: each file part goes straight to the object store. */
  app.post('/v1/buckets/:bucket/uploads/direct', async (req, reply) => {
    const ns = await deps.namespace(req);
    if (!req.isMultipart()) throw new QuarryError('BadRequestError', 'send multipart/form-data with one or more file fields');
    const stored: UploadRecord[] = [];
    try {
      for await (const part of req.parts({ limits: { fileSize: deps.maxUploadBytes } })) {
        if (part.type === 'file') stored.push(await uploads.storeStreamed(ns, param(req, 'bucket'), part.file, part.filename, part.mimetype));
      }
    } catch (err) {
      throw multipartFailure(err, 'file');
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

  app.post('/v1/buckets/:bucket/batches', async (req) => {
    const ns = await deps.namespace(req);
    const b = body(req);
    const ids = await bucketObjectIds(ns, param(req, 'bucket'), b.object_ids ?? [], 'body.object_ids', false);
    // 200: the SDK maps only 200
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

  app.post('/v1/buckets/:bucket/batches/:batchId/submit', async (req) => {
    const ns = await deps.namespace(req);
    await batchIn(ns, param(req, 'bucket'), param(req, 'batchId'));
    const batch = await ns.submit(param(req, 'batchId'));
    // 200: the SDK maps only 200
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

  // The namespace-wide batch routes (the SDK's BatchesApi) and the ingest-accounting audit of one batch.
  app.get('/v1/batches/:batchId', async (req) => batchResponse(await (await deps.namespace(req)).getBatch(param(req, 'batchId'))));
  app.post('/v1/batches/list', async (req) => {
    const b = body(req);
    if (b.namespace_id != null && typeof b.namespace_id !== 'string') throw validationError('body.namespace_id: a namespace id or name', { field: 'body.namespace_id' });
    const listed = await acrossNamespaces(req, async (ns) => (await ns.listBatches()).map(batchResponse), (b.namespace_id as string | undefined) ?? undefined);
    const all = listed.filter((x) => (b.status == null || x.status === b.status) && (b.bucket_id == null || x.bucket_id === b.bucket_id));
    const { status: _s, bucket_id: _b, collection_id: _c, namespace_id: _n, ...rest } = b;
    return listResponse(all as unknown as Record<string, unknown>[], { idField: 'batch_id', nameField: 'batch_id' }, rest, req.query as Record<string, unknown>);
  });
  app.get('/v1/buckets/:bucket/batches/:batchId/audit', async (req) => {
    const batch = await batchIn(await deps.namespace(req), param(req, 'bucket'), param(req, 'batchId'));
    // Per tier: every object the tier was given either succeeded or failed with a recorded reason.
    const tiers = batch.tier_tasks.map((t) => {
      const outcomes = Object.values(t.outcomes);
      const ok = outcomes.filter((o) => o.ok).length;
      return { tier_num: t.tier_num, status: t.status, jobs: outcomes.length, succeeded: ok, failed: outcomes.length - ok };
    });
    const done = TERMINAL.has(batch.status);
    return {
      batch_id: batch.batch_id,
      status: batch.status,
      object_count: batch.object_ids.length,
      tiers,
      all_balanced: done && tiers.every((t) => t.jobs === t.succeeded + t.failed),
      has_lost_objects: false,
    };
  });

  const taskBatch = async (ns: NamespaceIngestion, taskId: string): Promise<Batch> => {
    const batch = await ns.batchForTask(taskId);
    if (!batch) throw notFound('task', taskId);
    return batch;
  };

  app.get('/v1/tasks/:taskId', async (req) => taskResponse(await taskBatch(await deps.namespace(req), param(req, 'taskId'))));

  /** Tasks list (reference §1.4): `status` and `task_type` narrow it, then the documented list pattern. */
  app.post('/v1/tasks/list', async (req) => {
    const b = body(req);
    for (const f of ['status', 'task_type'] as const) {
      if (b[f] !== undefined && b[f] !== null && typeof b[f] !== 'string') throw validationError(`body.${f}: a string such as ${f === 'status' ? 'COMPLETED' : 'api_buckets_batches_submit'}`, { field: `body.${f}` });
    }
    const tasks = (await acrossNamespaces(req, async (ns) => (await ns.listBatches()).filter((x) => x.task_id).map(taskResponse)))
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
