/**
 * Model controller: a Model is Ready only when a runtime (engine or extraction worker) reports serving exactly its
 * current declaration (the delivery key: a changed file hash or parameter waits for the new delivery). A runtime
 * that could not serve it (wrong hash, missing file, refused source, a model that does not load) makes it
 * Ready=False with that runtime's reason and message, which name the file. The runtimes do the work
 * (engine/src/models/custom/); the operator only reads their reports (collection/served-models.ts) and re-checks
 * every RECHECK_MS until Ready. No external state, so no finalizer.
 */
import type { Resource } from '#core/ports/resource-store.ts';
import type { ModelSpec, ModelStatus } from '#core/resources/generated/types.ts';
import { deliveryKey, runtimeModelName } from '#engine/models/custom/delivery.ts';
import type { Model as GeneratedModel } from '#core/resources/generated/types.ts';
import type { Reconciler } from '../../runtime/controller.ts';
import { QUARRY_KINDS } from '../../runtime/kinds.ts';
import { RECHECK_MS, type ServedModels } from '../collection/served-models.ts';
import { assertValid } from '../shared.ts';

export type Model = Resource<ModelSpec, ModelStatus & Record<string, unknown>> & { spec: ModelSpec };

export interface ModelDeps {
  concurrency?: number;
  resyncMs?: number;
  /** The runtimes' reports; without them no Model can be confirmed served. */
  servedModels?: ServedModels;
}

export function modelReconciler(deps: ModelDeps = {}): Reconciler<Model> {
  return {
    kind: QUARRY_KINDS.find((k) => k.kind === 'Model')!,
    finalizer: false,
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.resyncMs ? { resyncMs: deps.resyncMs } : {}),
    watches: [],

    async reconcile(obj, ctx) {
      assertValid(obj);
      const ns = obj.metadata.namespace ?? '';
      const runtimeName = runtimeModelName(ns, obj.metadata.name);
      const key = deliveryKey(ns, obj as unknown as GeneratedModel);
      const status: ModelStatus = { runtimeName, servedBy: 0, ...(obj.spec.runtime?.dimensions !== undefined ? { dimensions: obj.spec.runtime.dimensions } : {}) };
      const reader = deps.servedModels;
      if (!reader?.modelStatus) {
        return {
          ready: { status: 'False', reason: 'ServingUnknown', message: 'this operator has no job queue to read the runtimes\' served-models reports from (NATS_URL), so it cannot confirm that any runtime serves this model' },
          status,
          stalled: true,
          requeueAfter: RECHECK_MS * 3,
        };
      }
      const s = await ctx.metrics.external('job-queue', 'served-models', () => reader.modelStatus!(runtimeName, key));
      status.servedBy = s.serving.length;
      if (s.failed.length > 0) {
        const f = s.failed[0]!;
        const others = s.failed.length > 1 ? ` (and ${s.failed.length - 1} more runtime(s))` : '';
        return {
          ready: { status: 'False', reason: f.reason, message: `runtime ${f.runtime}${others} cannot serve model ${obj.metadata.name}: ${f.message}` },
          status,
          requeueAfter: RECHECK_MS,
        };
      }
      if (s.serving.length > 0) {
        return { ready: { status: 'True', reason: 'ModelServed', message: `served by ${s.serving.length} runtime(s) as ${runtimeName}` }, status };
      }
      const waiting = s.runtimes === 0
        ? 'no engine or extraction worker reports to the operator yet'
        : `${s.runtimes} runtime(s) report, none serves this declaration yet: they fetch, verify (sha256) and load its ${obj.spec.files.length} file(s)`;
      return { ready: { status: 'False', reason: 'Delivering', message: waiting }, status, requeueAfter: Math.min(RECHECK_MS, 2_000) };
    },
  };
}
