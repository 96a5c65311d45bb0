/** Every controller the operator runs, one folder per kind. Kinds not listed here are not reconciled yet. */
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';
import type { Reconciler } from '../runtime/controller.ts';
import type { S3Target } from '#engine/objects/bucket-plan.ts';
import type { StoragePolicy } from '#engine/objects/storage-policy.ts';
import { bucketReconciler } from './bucket/reconcile.ts';
import { collectionReconciler } from './collection/reconcile.ts';
import { quarryNamespaceReconciler } from './quarry-namespace/reconcile.ts';
import { retrieverReconciler } from './retriever/reconcile.ts';
import { taxonomyReconciler } from './taxonomy/reconcile.ts';
import { modelReconciler } from './model/reconcile.ts';
import type { ServedModels } from './collection/served-models.ts';

export interface ControllerOptions {
  concurrency?: number;
  resyncMs?: number;
  /** Each port is optional: without it the kinds needing it report why they cannot become Ready. */
  vectorStore?: VectorStore;
  objectStore?: ObjectStore;
  /** S3 clients for Buckets with their own endpoint/credentials (spec.storage). */
  objectStoreFor?: (target: S3Target) => ObjectStore;
  jobQueue?: JobQueue;
  /** Allowed endpoints and shared storage for Buckets (default: the environment, engine/src/objects/storage-policy.ts). */
  storagePolicy?: StoragePolicy;
  /** What the workers and engines report they serve (collection/served-models.ts); undefined: not checked. */
  servedModels?: ServedModels;
  /**
   * The runtimes' reports for Model readiness only (default: servedModels). Local mode passes it alone, so its
   * Collections and Retrievers are not gated on served models while Models still are.
   */
  modelServing?: ServedModels;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each reconciler narrows its own object type
export function reconcilers(opts: ControllerOptions = {}): Reconciler<any>[] {
  const common = {
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
    ...(opts.resyncMs ? { resyncMs: opts.resyncMs } : {}),
  };
  return [
    quarryNamespaceReconciler({ vectorStore: opts.vectorStore, jobQueue: opts.jobQueue, ...common }),
    bucketReconciler({ objectStore: opts.objectStore, ...(opts.objectStoreFor ? { objectStoreFor: opts.objectStoreFor } : {}), ...(opts.storagePolicy ? { storagePolicy: opts.storagePolicy } : {}), ...common }),
    collectionReconciler({ jobQueue: opts.jobQueue, vectorStore: opts.vectorStore, ...(opts.servedModels ? { servedModels: opts.servedModels } : {}), ...common }),
    retrieverReconciler({ ...(opts.servedModels ? { servedModels: opts.servedModels } : {}), ...common }),
    taxonomyReconciler(common),
    modelReconciler({ ...((opts.modelServing ?? opts.servedModels) ? { servedModels: (opts.modelServing ?? opts.servedModels)! } : {}), ...common }),
  ];
}
