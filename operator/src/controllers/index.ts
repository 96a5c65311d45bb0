/** Every controller the operator runs, one folder per kind. Kinds not listed here are not reconciled yet. */
import type { VectorStore } from '../../../engine/src/ports/vector-store.ts';
import type { Reconciler } from '../runtime/controller.ts';
import { quarryNamespaceReconciler } from './quarry-namespace/reconcile.ts';

export interface ControllerOptions {
  concurrency?: number;
  resyncMs?: number;
  vectorStore?: VectorStore;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each reconciler narrows its own object type
export function reconcilers(opts: ControllerOptions = {}): Reconciler<any>[] {
  return [quarryNamespaceReconciler({ vectorStore: opts.vectorStore, concurrency: opts.concurrency, resyncMs: opts.resyncMs })];
}
