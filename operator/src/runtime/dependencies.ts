/**
 * Dependencies between Quarry objects (a Collection needs its QuarryNamespace and Bucket, a Retriever its
 * Collections…): read from the shared caches, never from the API.
 * - `dependencyStatus` says whether the referenced objects are Ready, naming the first one that is not, so the
 *   dependent reports `Ready=False, reason DependencyNotReady` with a message a user can act on;
 * - `referencedBy` builds the `watches` mapper that re-runs dependents when a dependency changes, so they turn
 *   Ready without user action once it does.
 */
import { keyOf, type Resource } from '#core/ports/resource-store.ts';
import type { Condition } from './conditions.ts';
import type { ReconcileResult } from './controller.ts';
import type { SharedWatches } from './shared-watches.ts';

export interface DependencyRef {
  kind: string;
  namespace: string;
  name: string;
}

export type DependencyStatus = { ready: true } | { ready: false; result: ReconcileResult['ready'] };

export function isReady(obj: Resource | undefined): boolean {
  if (!obj) return false;
  const st = obj.status as { observedGeneration?: number; conditions?: Condition[] } | undefined;
  const ready = st?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return false;
  // Ready for an older spec is not ready for the current one.
  return st?.observedGeneration === undefined || obj.metadata.generation === undefined || st.observedGeneration >= obj.metadata.generation;
}

/** Ready when every referenced object exists and is Ready; otherwise the reason names the first that is not. */
export function dependencyStatus(cache: SharedWatches, refs: readonly DependencyRef[]): DependencyStatus {
  for (const ref of refs) {
    const obj = cache.get(ref.kind, { namespace: ref.namespace, name: ref.name });
    if (!obj) {
      return { ready: false, result: { status: 'False', reason: 'DependencyNotFound', message: `${ref.kind} ${ref.namespace}/${ref.name} does not exist` } };
    }
    if (obj.metadata.deletionTimestamp) {
      return { ready: false, result: { status: 'False', reason: 'DependencyDeleting', message: `${ref.kind} ${ref.namespace}/${ref.name} is being deleted` } };
    }
    if (!isReady(obj)) {
      const ready = (obj.status as { conditions?: Condition[] } | undefined)?.conditions?.find((c) => c.type === 'Ready');
      const why = ready ? `${ready.reason}: ${ready.message}` : 'no status yet';
      return { ready: false, result: { status: 'False', reason: 'DependencyNotReady', message: `${ref.kind} ${ref.namespace}/${ref.name} is not Ready (${why})` } };
    }
  }
  return { ready: true };
}

/**
 * A `watches` entry: when an object of `dependencyKind` changes, enqueue every object of `ownKind` in the same
 * namespace whose `refs(obj)` names it.
 */
export function referencedBy(
  dependencyKind: string,
  ownKind: string,
  refs: (own: Resource) => readonly string[],
): { kind: string; map: (changed: Resource, cache: SharedWatches) => string[] } {
  return {
    kind: dependencyKind,
    map: (changed, cache) =>
      cache
        .list(ownKind, changed.metadata.namespace)
        .filter((own) => refs(own).includes(changed.metadata.name))
        .map((own) => keyOf(own)),
  };
}
