// Ingestion pipeline model: its ports, the namespace view, extraction jobs, object records and index claims, and the queue and retry constants.
import type { BucketSchema } from './object-schema.ts';
import type { JobQueue, QueueSpec } from '../ports/job-queue.ts';
import type { Models } from '../ports/models.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import type { VectorStore } from '../ports/vector-store.ts';
import { QuarryError } from '../lib/errors.ts';
import { compileFilter, type FilterExpr } from '../vector/filter-compile.ts';
import { extractionQueueName, type NamespaceKey } from '../naming.ts';
import type { MediaRange } from '../media/plan.ts';
import type { CollectionPlan } from './collections.ts';
import type { StoredObject } from './types.ts';

export interface IngestionPorts {
  queue: JobQueue;
  objects: ObjectStore;
  vectors: VectorStore;
  models: Models;
}

export interface NamespaceView {
  key: NamespaceKey;
  /** The namespace's collections as currently declared. */
  collections(): Promise<CollectionPlan[]>;
  /** The object-store bucket that holds a Bucket resource's blobs. */
  storageBucket(bucket: string): Promise<string>;
  /**
   * The key prefix (empty or ending in '/') under which a Bucket resource's blobs live in that bucket
   * (spec.storage.prefix). Absent: the bucket root.
   */
  storagePrefix?(bucket: string): Promise<string>;
  /** The Bucket's object schema, which new objects are checked against. Absent: objects are not checked. */
  bucketSchema?(bucket: string): Promise<BucketSchema | undefined>;
  /**
   * The Bucket's documented id (`bkt_…`) and display name, for responses (records keep the object name).
   * Absent, or undefined for a bucket it does not know: responses show the object name as bucket_id.
   */
  bucketRef?(bucket: string): Promise<{ id: string; name: string } | undefined>;
  /** The Collection's documented id (`col_…`) and display name, as bucketRef for buckets. */
  collectionRef?(collection: string): Promise<{ id: string; name: string } | undefined>;
  /** The Bucket's spec.uniqueKey (objects with the same values are the same object). */
  uniqueKey?(bucket: string): Promise<{ fields: string[]; defaultPolicy?: 'insert' | 'update' | 'upsert' } | undefined>;
}

export interface ExtractionJob {
  batch_id: string;
  tier: number;
  collection: string;
  object_id: string;
  /**
   * The collection as declared when the batch was submitted, and the object-store bucket holding the blobs:
   * workers need no access to the resource store, and a batch runs on the definitions it was submitted with.
   */
  plan?: CollectionPlan;
  storage?: string;
  /** The Bucket's key prefix in `storage` (absent: the bucket root). */
  storage_prefix?: string;
  /** The namespace the job belongs to, so a worker serving every namespace knows where state and vectors live. */
  ns?: NamespaceKey;
  /** For a range job of a long media object: the range of the file it extracts. */
  range?: MediaRange;
}

export interface ObjectRecord extends StoredObject {
  status: 'ACTIVE' | 'PROCESSING' | 'FAILED';
  /** sha256 over the blobs' checksums: the key of the bucket's content index (skip_duplicates). */
  content_hash?: string;
  /** sha256 over the Bucket's spec.uniqueKey values: the key of the bucket's unique-key index. */
  unique_key_hash?: string;
  /** When the object was last replaced in place (unique-key update): batches before it processed older content. */
  replaced_at?: string;
  error?: { collection: string; reason: string; message: string };
  created_at: string;
  updated_at: string;
}

export type NewObject = Pick<StoredObject, 'bucket' | 'blobs' | 'metadata'> & {
  object_id?: string;
  key_prefix?: string;
  content_hash?: string;
  unique_key_hash?: string;
  created_at?: string;
};

/**
 * A bucket's object indexes, kept in the namespace state store: `hash` (content, for skip_duplicates) and `ukey`
 * (the Bucket's spec.uniqueKey values).
 */
export type ObjectIndex = 'hash' | 'ukey';

/** Who holds an index key: the object created with it. */
export interface IndexClaim {
  object_id: string;
  claimed_at: number;
}
/** How long a claim whose object is not stored yet is waited for before it is taken over (its creator died). */
export const CLAIM_WAIT_MS = 10_000;
export const indexKey = (index: ObjectIndex, bucket: string, key: string) => `${index}.${bucket}.${key}`;
/** Claims were plain object ids before claimed_at existed; those count as old. */
export const asClaim = (v: IndexClaim | string | undefined): IndexClaim | undefined => (typeof v === 'string' ? { object_id: v, claimed_at: 0 } : v);

/**
 * Failure reasons a retry in `transient_only` mode takes again: the infrastructure failed (a store or network
 * error on every delivery), not the input or the collection's definition.
 */
export const TRANSIENT_REASONS: ReadonlySet<string> = new Set(['retries_exhausted', 'InternalServerError', 'InferenceServiceUnavailableError']);

/** Deliveries of one extraction job before it is recorded as failed (and dead-lettered by the queue). */
export const MAX_DELIVER = 5;

/** The extraction queue of a namespace: the one definition the operator provisions and the pipeline ensures. */
export function extractionQueueSpec(ns: NamespaceKey): QueueSpec {
  return { name: extractionQueueName(ns), maxDeliver: MAX_DELIVER, ackWaitMs: 60_000, backoffMs: [1000, 5000, 15000] };
}

/** A collection's compiled source filters; invalid ones are a 400 naming the collection. */
export function sourceFilter(plan: CollectionPlan): FilterExpr | undefined {
  if (!plan.sourceFilters) return undefined;
  try {
    return compileFilter(plan.sourceFilters);
  } catch (err) {
    throw new QuarryError('BadRequestError', `collection ${plan.name}: source filters are invalid: ${(err as Error).message}`, { collection: plan.name, field: 'spec.source.filters' });
  }
}
