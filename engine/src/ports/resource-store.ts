/**
 * ResourceStore port: where Quarry's declarative resources (QuarryNamespace, Bucket, Collection, Retriever,
 * Taxonomy) live. Cluster mode: the Kubernetes API (operator/src/runtime/kube-resource-store.ts). Local mode: a
 * folder of manifests (a later adapter). Reconcile code depends on this interface only, never on a client library.
 *
 * Write semantics every adapter keeps:
 * - `apply` is server-side-apply-like: the body is the full intent of one field manager (the adapter's), fields the
 *   manager applied before and leaves out are released; other managers' fields are untouched.
 * - `applyStatus` writes only the status of an existing object (never spec, never creates it).
 * - `addFinalizer` / `removeFinalizer` never clobber other finalizers and never create an object.
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface Resource<Spec = Record<string, unknown>, Status = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
  status?: Status;
}

export interface ObjectKey {
  namespace?: string;
  name: string;
  /** When set, writes are preconditioned on it: they fail rather than touch a recreated object of that name. */
  uid?: string;
}

/** `namespace/name` (or `name` for cluster-scoped objects): the work-queue key. */
export function keyOf(o: ObjectKey | { metadata: ObjectKey }): string {
  const k = 'metadata' in o ? o.metadata : o;
  return k.namespace ? `${k.namespace}/${k.name}` : k.name;
}

export function parseKey(key: string): ObjectKey {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** An object to apply: apiVersion, kind, metadata.name (+namespace) and only the fields the manager owns. */
export interface ApplyIntent {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export type WatchEventType = 'added' | 'modified' | 'deleted';

export interface WatchEvent<T extends Resource = Resource> {
  type: WatchEventType;
  object: T;
}

/** A running watch with a local cache of what it has seen (an informer). */
export interface WatchHandle<T extends Resource = Resource> {
  /** Resolves once the first full list is in the cache. */
  readonly synced: Promise<void>;
  isSynced(): boolean;
  get(key: ObjectKey): T | undefined;
  list(namespace?: string): T[];
  stop(): Promise<void>;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
}

export interface ApplyOptions {
  /** Take ownership of fields another manager set (only for fields this manager truly owns). */
  force?: boolean;
}

export interface ResourceStore {
  /** Undefined when the object does not exist. */
  get<T extends Resource = Resource>(kind: string, key: ObjectKey): Promise<T | undefined>;
  list<T extends Resource = Resource>(kind: string, opts?: ListOptions): Promise<T[]>;
  watch<T extends Resource = Resource>(
    kind: string,
    opts: { namespace?: string },
    onEvent: (e: WatchEvent<T>) => void,
  ): WatchHandle<T>;
  apply<T extends Resource = Resource>(intent: ApplyIntent, opts?: ApplyOptions): Promise<T>;
  applyStatus<T extends Resource = Resource>(kind: string, key: ObjectKey, status: Record<string, unknown>): Promise<T>;
  /**
   * `current`: the caller's copy of the object (e.g. from its watch cache). A store may write against it instead of
   * reading the object first, as long as a stale copy makes the write fail (and the store re-read and retry) rather
   * than clobber anything.
   */
  addFinalizer<T extends Resource = Resource>(kind: string, key: ObjectKey, finalizer: string, current?: Resource): Promise<T>;
  /** Undefined when removing the last finalizer let the object go away. */
  removeFinalizer<T extends Resource = Resource>(kind: string, key: ObjectKey, finalizer: string): Promise<T | undefined>;
  delete(kind: string, key: ObjectKey): Promise<void>;
}

export type ResourceErrorReason = 'NotFound' | 'Conflict' | 'Invalid' | 'Forbidden' | 'Unavailable' | 'Unknown';

/** What adapters throw, so callers can branch on the reason without knowing the backend. */
export class ResourceStoreError extends Error {
  readonly reason: ResourceErrorReason;
  readonly status: number;

  constructor(reason: ResourceErrorReason, status: number, message: string) {
    super(message);
    this.name = 'ResourceStoreError';
    this.reason = reason;
    this.status = status;
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof ResourceStoreError && err.reason === 'NotFound';
export const isConflict = (err: unknown): boolean => err instanceof ResourceStoreError && err.reason === 'Conflict';
