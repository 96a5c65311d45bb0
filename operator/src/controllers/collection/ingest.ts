/**
 * Processing a Collection's source objects: when the Collection is enabled and Ready, the objects of its source
 * Bucket(s) that no batch has taken through this collection yet are put in a batch and submitted, with the same
 * code and records as `POST /v1/buckets/{bucket}/batches` + `/submit` (NamespaceIngestion.createBatch and
 * submit): the same batch record, the same extraction jobs, so workers, the tasks API and retries treat them alike.
 *
 * "Processed" is read from the batch records themselves (the namespace's state KV bucket): an object counts as
 * taken when a submitted batch lists it and names this collection, whoever submitted it (this controller, a user
 * through the API, a collection trigger). So re-reconciling never enqueues an object twice, an object a user
 * already batched is not batched again, and the marker survives operator restarts. A canceled batch counts too:
 * canceling is the user's decision, and `retry`/`trigger` re-run on request.
 *
 * Crash safety: the batch is created as a DRAFT tagged with this collection, then submitted. A DRAFT a crash left
 * between the two is submitted by the next run instead of creating another batch, and a PENDING batch of ours
 * whose first tier was never fully published is submitted again (NamespaceIngestion.submit republishes it; job ids
 * make that idempotent).
 *
 * An object replaced in place (a unique-key upsert, `replaced_at`) is new content: only a batch created after the
 * replacement counts, so it is enqueued once more.
 *
 * Cost: objects already known to be taken are remembered per Collection (by uid), so a re-observation with no new
 * object reads no object or batch record, only the keys; after a restart the first run reads them once.
 * Collections reading other Collections are processed by their upstream's batches (tiers), not here.
 */
import { QuarryError } from '#core/lib/errors.ts';
import { TERMINAL, type Batch, type BatchStatus } from '#engine/ingestion/batch-model.ts';
import { namespaceView } from '#engine/ingestion/namespace-view.ts';
import { NamespaceIngestion, type IngestionPorts, type ObjectRecord } from '#engine/ingestion/pipeline.ts';
import type { NamespaceKey } from '#core/naming.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { SharedWatches } from '../../runtime/shared-watches.ts';
import type { Collection } from './plan.ts';

/** `metadata.trigger` of the batches this controller submits. */
export const OPERATOR_TRIGGER = 'quarry-operator';

/** status.lastBatch: the most recent batch that took objects through this collection, and its progress here. */
export interface LastBatch {
  batchId: string;
  status: BatchStatus;
  /** Objects in the batch. */
  total: number;
  /** Of them, processed through this collection so far, and failed. */
  processed: number;
  failed: number;
  startedAt: string;
  completedAt?: string;
}

export interface IngestResult {
  lastBatch?: LastBatch;
  /** Objects enqueued by this run. */
  enqueued: number;
  /** The batch created by this run, if any. */
  created?: string;
}

/**
 * Per Collection uid: object ids known to be taken by a batch of it (or not in its source buckets), as of one
 * spec generation (a new spec may name other buckets, so it starts over).
 */
export type SettledMemo = Map<string, { generation: number | undefined; ids: Set<string>; last?: string }>;

/**
 * Ports for a NamespaceIngestion that only creates and submits batches: the operator never reads blobs, writes
 * vectors or runs models, so those ports answer with an error saying so (as the worker's view does for collections).
 */
function batchOnlyPorts(queue: JobQueue): IngestionPorts {
  const unavailable = (port: string) =>
    new Proxy(
      {},
      {
        get: (_t, prop) =>
          prop === 'then'
            ? undefined
            : () => Promise.reject(new QuarryError('InternalServerError', `the operator only submits batches; ${port}.${String(prop)} is not available to it`)),
      },
    );
  return { queue, objects: unavailable('objects') as IngestionPorts['objects'], vectors: unavailable('vectors') as IngestionPorts['vectors'], models: unavailable('models') as IngestionPorts['models'] };
}

/** The namespace's ingestion as the engine sees it, built from the operator's caches (collections, bucket storage). */
export function namespaceIngestion(queue: JobQueue, cache: SharedWatches, key: NamespaceKey): NamespaceIngestion {
  return new NamespaceIngestion(batchOnlyPorts(queue), namespaceView(cache, key));
}

/** The batch's progress through one collection. */
export function progressFor(b: Batch, collection: string): LastBatch {
  const tier = b.tier_tasks.find((t) => t.collection_ids.includes(collection));
  const mine = tier ? Object.entries(tier.outcomes).filter(([k]) => k.startsWith(`${collection}/`)) : [];
  const done = TERMINAL.has(b.status);
  return {
    batchId: b.batch_id,
    status: b.status,
    total: b.object_ids.length,
    processed: mine.length,
    failed: mine.filter(([, o]) => !o.ok).length,
    startedAt: b.created_at,
    ...(done ? { completedAt: tier?.completed_at ?? b.updated_at } : {}),
  };
}

/** An object's identity for "taken": its id, and the time it was last replaced in place. */
const versionOf = (id: string, replacedAt: string | undefined) => (replacedAt ? `${id}@${replacedAt}` : id);
const version = (o: ObjectRecord) => versionOf(o.object_id, o.replaced_at);

const ours = (b: Batch, collection: string) =>
  b.metadata.trigger === OPERATOR_TRIGGER && ((b.metadata.restrict_collections as string[] | undefined) ?? []).includes(collection);

/**
 * Cancels the batches of ours a crash left as DRAFT for a collection being deleted: nobody resumes them once the
 * collection is gone (enqueueUnprocessed resumes them only while it lives). Returns their ids.
 */
export async function cancelHalfMade(ingestion: NamespaceIngestion, collection: string): Promise<string[]> {
  const drafts = (await ingestion.listBatches()).filter((b) => ours(b, collection) && b.status === 'DRAFT');
  for (const b of drafts) await ingestion.cancel(b.batch_id);
  return drafts.map((b) => b.batch_id);
}

/**
 * Enqueues the source objects of `c` no batch has taken through it yet, resuming a batch of ours a crash left half
 * submitted. Returns what to report in status.lastBatch.
 */
/** The namespace's object ids and replacement markers (two key listings of its state bucket). */
export interface ObjectListing {
  ids: string[];
  replaced: Map<string, string>;
}

export async function listObjects(ingestion: NamespaceIngestion): Promise<ObjectListing> {
  const [replaced, ids] = await Promise.all([ingestion.replacedObjects(), ingestion.listObjectIds()]);
  return { ids, replaced };
}

/**
 * `listing`: how to read the namespace's objects; the reconciler shares one listing between the Collections of a
 * namespace reconciling at the same moment (each listing is a consumer on the state bucket).
 */
export async function enqueueUnprocessed(
  c: Collection,
  ingestion: NamespaceIngestion,
  memo: SettledMemo,
  log?: { warn(o: object, msg: string): void },
  listing: () => Promise<ObjectListing> = () => listObjects(ingestion),
): Promise<IngestResult> {
  const name = c.metadata.name;
  const sources = c.spec.source.bucketRefs ?? [];
  const uid = c.metadata.uid ?? name;
  let entry = memo.get(uid);
  if (!entry || entry.generation !== c.metadata.generation) memo.set(uid, (entry = { generation: c.metadata.generation, ids: new Set() }));
  const settled = entry.ids;
  const prev = (c.status as { lastBatch?: LastBatch } | undefined)?.lastBatch;

  // Only objects not settled yet are read: ids come from the keys, replacements from their marker keys.
  const { ids, replaced } = await listing();
  const unsettled = ids.filter((id) => !settled.has(versionOf(id, replaced.get(id))));
  const fresh = unsettled.length ? await ingestion.getObjects(unsettled) : [];
  for (const o of fresh) if (!sources.includes(o.bucket)) settled.add(version(o));
  const candidates = fresh.filter((o) => sources.includes(o.bucket));

  let latest: Batch | undefined;
  let enqueued = 0;
  let created: string | undefined;
  if (candidates.length) {
    const batches = await ingestion.listBatches();
    for (const [i, b] of batches.entries()) {
      if (!ours(b, name)) continue;
      const halfSubmitted = b.status === 'DRAFT' || (b.status === 'PENDING' && b.tier_tasks[0] !== undefined && !b.tier_tasks[0].enqueued_at);
      if (!halfSubmitted || b.object_ids.length === 0) continue;
      try {
        batches[i] = await ingestion.submit(b.batch_id);
      } catch (err) {
        log?.warn({ batch: b.batch_id, err: (err as Error).message }, 'resuming a half-submitted batch failed');
      }
    }
    const covering = batches.filter((b) => b.status !== 'DRAFT' && b.collection_ids.includes(name));
    // Per object, the newest batch that took it through this collection.
    const takenAt = new Map<string, string>();
    for (const b of covering) for (const id of b.object_ids) if ((takenAt.get(id) ?? '') < b.created_at) takenAt.set(id, b.created_at);
    for (const b of covering) if (!latest || b.created_at > latest.created_at) latest = b;
    const todo = new Map<string, ObjectRecord[]>();
    for (const o of candidates) {
      const at = takenAt.get(o.object_id);
      if (at !== undefined && (!o.replaced_at || at >= o.replaced_at)) settled.add(version(o));
      else todo.set(o.bucket, [...(todo.get(o.bucket) ?? []), o]);
    }
    for (const [bucket, objs] of todo) {
      const ids = objs.map((o) => o.object_id);
      const draft = await ingestion.createBatch(bucket, ids, { trigger: OPERATOR_TRIGGER, restrict_collections: [name] });
      latest = await ingestion.submit(draft.batch_id);
      for (const o of objs) settled.add(version(o));
      enqueued += ids.length;
      created = latest.batch_id;
    }
  }

  if (latest) {
    entry.last = latest.batch_id;
    return { lastBatch: progressFor(latest, name), enqueued, ...(created ? { created } : {}) };
  }
  // Nothing new: keep reporting the last batch, refreshing its progress while it runs. The memo's batch wins over
  // status: a status write that failed after the batch was taken (objects already settled here) must not lose it.
  const lastId = entry.last ?? prev?.batchId;
  if (!lastId) return { enqueued };
  if (prev?.batchId === lastId && TERMINAL.has(prev.status)) return { lastBatch: prev, enqueued };
  try {
    return { lastBatch: progressFor(await ingestion.getBatch(lastId), name), enqueued };
  } catch (err) {
    if (!(err instanceof QuarryError && err.type === 'NotFoundError')) throw err;
    return { enqueued }; // the batch record is gone (the namespace's state was reset)
  }
}
