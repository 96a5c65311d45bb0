/**
 * Batch records (reference §1.4) and their state machine:
 * DRAFT → PENDING → IN_PROGRESS → COMPLETED | COMPLETED_WITH_ERRORS | FAILED | CANCELED.
 * Progress is derived from per-job outcomes stored in the record, so a redelivered job never counts twice and
 * counters stay exact when many workers finish jobs at once (every update is a compare-and-set on the record).
 */
import type { MediaRange } from '../media/plan.ts';
import type { CollectionPlan } from './collections.ts';

export type BatchStatus = 'DRAFT' | 'PENDING' | 'IN_PROGRESS' | 'COMPLETED' | 'COMPLETED_WITH_ERRORS' | 'FAILED' | 'CANCELED';
export const TERMINAL: ReadonlySet<BatchStatus> = new Set(['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELED']);

export interface JobOutcome {
  ok: boolean;
  documents: number;
  error?: string;
  reason?: string;
}

export interface TierTask {
  tier_num: number;
  task_id: string;
  status: BatchStatus;
  collection_ids: string[];
  source_type: 'bucket' | 'collection';
  /**
   * job key → outcome; keys are `${collection}/${object_id}`, and `${collection}/${object_id}#r<n>` for the range
   * jobs of a long media object (see media_ranges).
   */
  outcomes: Record<string, JobOutcome>;
  total_jobs: number;
  /**
   * Long media objects whose job handed the file on in ranges (job key → its ranges): each range is one more job
   * of the tier (counted in total_jobs), so progress counts ranges and a lost worker costs one range.
   */
  media_ranges?: Record<string, MediaRange[]>;
  /** Objects read for the tier's bucket-sourced collections, and how many passed their source filters. */
  source_documents_fetched?: number;
  documents_after_source_filter?: number;
  /** Set once every job of the tier is published (a tier is enqueued again until then: publishing is idempotent). */
  enqueued_at?: string;
  started_at?: string;
  completed_at?: string;
}

export interface Batch {
  batch_id: string;
  bucket_id: string;
  status: BatchStatus;
  object_ids: string[];
  collection_ids: string[];
  dag_tiers: string[][];
  tier_tasks: TierTask[];
  current_tier: number;
  total_tiers: number;
  task_id?: string;
  error?: string;
  error_summary: Record<string, number>;
  type: 'BUCKET' | 'COLLECTION';
  metadata: Record<string, unknown>;
  /** Collection definitions and blob storage as of submit: every tier runs on them, wherever its jobs run. */
  plans?: Record<string, CollectionPlan>;
  storage?: string;
  /** The Bucket's key prefix in `storage` (absent: the bucket root). */
  storage_prefix?: string;
  /** Retries per job (`<tier>/<collection>/<object_id>`), for the retry's max_retry_count. */
  retry_counts?: Record<string, number>;
  /** Objects selected by a collection's source filters at submit (collections without filters take every object). */
  object_filter?: Record<string, string[]>;
  created_at: string;
  updated_at: string;
}

export function newBatch(batchId: string, bucket: string, objectIds: string[], metadata: Record<string, unknown> = {}): Batch {
  const now = new Date().toISOString();
  return {
    batch_id: batchId,
    bucket_id: bucket,
    status: 'DRAFT',
    object_ids: [...new Set(objectIds)],
    collection_ids: [],
    dag_tiers: [],
    tier_tasks: [],
    current_tier: 0,
    total_tiers: 0,
    error_summary: {},
    type: 'BUCKET',
    metadata,
    created_at: now,
    updated_at: now,
  };
}

export function tierProgress(t: TierTask) {
  const outcomes = Object.values(t.outcomes);
  const failed = outcomes.filter((o) => !o.ok).length;
  return {
    total: t.total_jobs,
    processed: outcomes.length,
    succeeded: outcomes.length - failed,
    failed,
    documents_written: outcomes.reduce((n, o) => n + o.documents, 0),
    percent: t.total_jobs ? Math.round((outcomes.length / t.total_jobs) * 1000) / 10 : 100,
  };
}

/** The job key of an object's job in a collection, or of one range of it. */
export function jobKey(collection: string, objectId: string, range?: number): string {
  return `${collection}/${objectId}${range === undefined ? '' : `#r${range}`}`;
}

/** Collection, object and range of a job key. */
export function parseJobKey(key: string): { collection: string; objectId: string; range?: number } {
  const slash = key.indexOf('/');
  const m = /^(.*)#r(\d+)$/.exec(key.slice(slash + 1));
  return { collection: key.slice(0, slash), objectId: m ? m[1]! : key.slice(slash + 1), ...(m ? { range: Number(m[2]) } : {}) };
}

/**
 * Records that the job `key` handed its object on in `ranges` (idempotent: a redelivered job that splits again
 * adds nothing). Must come before the ranges are published, so that no range's outcome can complete the tier early.
 */
export function recordRanges(batch: Batch, tierNum: number, key: string, ranges: MediaRange[]): Batch {
  const tier = batch.tier_tasks[tierNum];
  if (!tier || TERMINAL.has(batch.status) || tier.media_ranges?.[key]) return batch;
  (tier.media_ranges ??= {})[key] = ranges;
  tier.total_jobs += ranges.length;
  batch.updated_at = new Date().toISOString();
  return batch;
}

/** Records one job's outcome (idempotent per job key) and advances tier and batch status. */
export function recordOutcome(batch: Batch, tierNum: number, jobKey: string, outcome: JobOutcome): Batch {
  const tier = batch.tier_tasks[tierNum];
  if (!tier || TERMINAL.has(batch.status)) return batch;
  if (tier.outcomes[jobKey]?.ok) return batch; // a redelivery after success changes nothing
  tier.outcomes[jobKey] = outcome;
  if (tier.status === 'PENDING') {
    tier.status = 'IN_PROGRESS';
    tier.started_at = new Date().toISOString();
  }
  const p = tierProgress(tier);
  if (p.processed >= p.total) {
    tier.status = p.failed === 0 ? 'COMPLETED' : p.succeeded === 0 ? 'FAILED' : 'COMPLETED_WITH_ERRORS';
    tier.completed_at = new Date().toISOString();
  }
  return refreshBatch(batch);
}

/** Recomputes the batch status and error summary from its tiers. */
export function refreshBatch(batch: Batch): Batch {
  batch.updated_at = new Date().toISOString();
  batch.error_summary = {};
  for (const t of batch.tier_tasks) {
    for (const o of Object.values(t.outcomes)) if (!o.ok) batch.error_summary[o.reason ?? 'error'] = (batch.error_summary[o.reason ?? 'error'] ?? 0) + 1;
  }
  if (TERMINAL.has(batch.status) || batch.status === 'DRAFT') return batch;
  const open = batch.tier_tasks.findIndex((t) => !TERMINAL.has(t.status));
  if (open === -1) {
    const statuses = batch.tier_tasks.map((t) => t.status);
    batch.status = statuses.every((s) => s === 'COMPLETED')
      ? 'COMPLETED'
      : statuses.every((s) => s === 'FAILED')
        ? 'FAILED'
        : 'COMPLETED_WITH_ERRORS';
    batch.current_tier = Math.max(0, batch.tier_tasks.length - 1);
    return batch;
  }
  batch.current_tier = open;
  if (batch.tier_tasks.some((t) => Object.keys(t.outcomes).length > 0)) batch.status = 'IN_PROGRESS';
  return batch;
}
