// Ingestion HTTP helpers: request params, batch/task/upload response shapes, bucket-id rewriting and the storage-ready wait.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { QuarryError, validationError } from '../lib/errors.ts';
import { tierProgress, type Batch } from './batch-model.ts';
import type { NamespaceIngestion } from './pipeline.ts';
import type { UploadRecord } from './object-create.ts';

export function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw validationError('request body must be a JSON object');
  return b as Record<string, unknown>;
}

export function param(req: FastifyRequest, name: string): string {
  return (req.params as Record<string, string>)[name]!;
}

/**
 * Runs `fn` on each item in order; an item that fails with a QuarryError becomes `{success: false, index, error}`
 * (the documented error body) and the others go on. Anything else is a bug and fails the request.
 */
export async function eachOf<T, R extends object>(items: T[], fn: (item: T, i: number) => Promise<R>): Promise<({ success: true } & R | { success: false; index: number; error: unknown })[]> {
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

export function batchResponse(b: Batch) {
  const { plans: _plans, storage: _storage, object_filter: _selected, retry_counts: _retries, ...rest } = b;
  return {
    // Fields the SDK's BatchModel requires: Quarry resubmits no jobs after node deaths or deploys (its retries are
    // retry_count/max_retries), and a batch's lifecycle is its status.
    max_node_death_resubmits: 0,
    max_deploy_resubmits: 0,
    lifecycle: null,
    lifecycle_reason: null,
    ...rest,
    total_tiers: Math.max(1, rest.total_tiers ?? 0),
    tier_tasks: b.tier_tasks.map(({ outcomes, media_ranges, ...t }) => ({
      ...t,
      // Per long media object, how many range jobs it was split into (the ranges themselves are the jobs' business).
      ...(media_ranges ? { media_ranges: Object.fromEntries(Object.entries(media_ranges).map(([k, r]) => [k, r.length])) } : {}),
      progress: tierProgress({ ...t, outcomes }),
      errors: Object.entries(outcomes)
        .filter(([, o]) => !o.ok)
        .map(([key, o]) => ({ job: key, reason: o.reason, message: o.error })),
    })),
  };
}

/** The documented TaskResponse (reference §1.4) of a submitted batch: a batch's task is its processing. */
export function taskResponse(batch: Batch) {
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

/**
 * A stored upload as the documented UploadResponse: the fields the SDK's model requires are always there
 * (presigned_url_expiration from the record's lifetime, create_object_on_confirm default true, expires_at; a file
 * streamed through the engine never had a URL, so it expired when it completed).
 */
export function uploadOut(u: UploadRecord): Record<string, unknown> {
  const r = u as UploadRecord & { presigned_url_expiration?: number; expires_at?: string; completed_at?: string };
  const expires = r.expires_at ?? r.completed_at ?? r.created_at;
  const lifetime = Math.round((Date.parse(expires) - Date.parse(r.created_at)) / 1000);
  return { presigned_url_expiration: Number.isFinite(lifetime) && lifetime > 0 ? lifetime : 0, create_object_on_confirm: true, ...r, expires_at: expires };
}

/** Object ids of a batch request: strings, each an object of this bucket (a batch reads one bucket). */
export async function bucketObjectIds(ns: NamespaceIngestion, bucket: string, ids: unknown, at: string, nonEmpty: boolean): Promise<string[]> {
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
export async function withBucketIds(ns: NamespaceIngestion, payload: unknown): Promise<unknown> {
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
export const BUCKET_ROUTES = /^\/v1\/(buckets\/:bucket\/(objects|uploads|batches)|tasks|batches)(\/|$)/;

/** 404 for a bucket the namespace does not have (a list of an unknown bucket is not an empty list). */
export async function knownBucket(ns: NamespaceIngestion, bucket: string): Promise<void> {
  if (ns.ns.bucketSchema) await ns.ns.bucketSchema(bucket);
  else await ns.ns.storageBucket(bucket);
}

/**
 * A bucket created through the API a moment ago may not have its storage yet (its reconciler provisions it): the
 * write is retried for a few seconds, then answered 503 with Retry-After (which the SDK retries), never 404 for a
 * bucket the namespace does have.
 */
export async function whenStorageReady<T>(ns: NamespaceIngestion, bucket: string, reply: FastifyReply, fn: () => Promise<T>, waitMs = 8000): Promise<T> {
  const storage = await ns.ns.storageBucket(bucket);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      const d = e instanceof QuarryError ? (e.toBody().error as { details?: { resource?: unknown; id?: unknown } }).details : undefined;
      const missingBucket = e instanceof QuarryError && e.status === 404 && d?.resource === 'bucket' && d?.id === storage;
      // The local object store meets a bucket directory that is being created as ENOENT under it.
      const missingDir = (e as NodeJS.ErrnoException).code === 'ENOENT' && String((e as NodeJS.ErrnoException).path ?? '').includes(`/${storage}/`);
      if (!missingBucket && !missingDir) throw e;
      if (Date.now() > deadline) {
        void reply.header('retry-after', '2');
        throw new QuarryError('ServiceUnavailableError', `bucket '${bucket}' is still being provisioned: retry shortly`, { retry_after_seconds: 2, retryable: true });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
