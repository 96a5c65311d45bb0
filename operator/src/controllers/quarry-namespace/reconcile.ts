/**
 * QuarryNamespace controller: observe the namespace's vector collection → create it or add what is missing →
 * report. Ready only when the collection exists with every named vector the enabled extractors need.
 * Finalizer: once no Collection of the namespace is left, drops the vector collection, the namespace's extraction
 * queue (which the Collection controller creates) and its state KV bucket (objects, batches, tasks), unless
 * `deletionPolicy: Retain`.
 */
import { extractionQueueName, stateBucketName } from '#core/naming.ts';
import { keyOf, type Resource } from '#core/ports/resource-store.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';
import { formatErrors, validateResource } from '#core/resources/validate.ts';
import { TerminalError, type Reconciler } from '../../runtime/controller.ts';
import { QUARRY_KINDS } from '../../runtime/kinds.ts';
import { collectionDrift, InvalidSpecError, planNamespace, type QuarryNamespace } from './plan.ts';

export interface QuarryNamespaceDeps {
  /** Undefined when no vector store is configured: the namespace can never become Ready, and says why. */
  vectorStore: VectorStore | undefined;
  /** The queue the namespace's Collections created, deleted with the namespace (Delete policy). */
  jobQueue?: JobQueue | undefined;
  concurrency?: number;
  resyncMs?: number;
}

export function quarryNamespaceReconciler(deps: QuarryNamespaceDeps): Reconciler<QuarryNamespace> {
  const vs = deps.vectorStore;
  return {
    kind: QUARRY_KINDS.find((k) => k.kind === 'QuarryNamespace')!,
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.resyncMs ? { resyncMs: deps.resyncMs } : {}),
    // A namespace waiting for its Collections to go (finalize) continues as soon as one is gone.
    watches: [
      {
        kind: 'Collection',
        map: (c, cache) => {
          const ref = (c.spec as { namespaceRef?: string } | undefined)?.namespaceRef;
          const ns = ref ? cache.get('QuarryNamespace', { namespace: c.metadata.namespace, name: ref }) : undefined;
          return ns?.metadata.deletionTimestamp ? [keyOf(ns)] : [];
        },
      },
    ],

    async reconcile(obj, ctx) {
      // The project's validator (structure, CEL rules, semantics): a spec it rejects can only be fixed by the user.
      const { name: n, namespace, labels, annotations } = obj.metadata;
      const checked = validateResource({
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        metadata: { name: n, namespace, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
        spec: obj.spec,
      });
      if (!checked.valid) throw new TerminalError('InvalidSpec', formatErrors(checked.errors));
      let plan;
      try {
        plan = planNamespace(obj);
      } catch (err) {
        if (err instanceof InvalidSpecError) throw new TerminalError(err.reason, err.message);
        throw err;
      }
      const name = plan.collection.name;
      const status = { vectorCollection: name, vectorIndexes: plan.vectorIndexes };
      if (!vs) {
        return {
          ready: { status: 'False', reason: 'VectorStoreNotConfigured', message: `no vector store is configured for the operator; cannot provision ${name}` },
          status,
          // Operator configuration to fix: Stalled (kstatus Failed), still re-observed every resync.
          stalled: true,
        };
      }
      const ext = <T>(op: string, fn: () => Promise<T>) => ctx.metrics.external('vector-store', op, fn);
      const drift = (o: NonNullable<typeof observed>) => {
        try {
          return collectionDrift(plan.collection, o);
        } catch (err) {
          if (err instanceof InvalidSpecError) throw new TerminalError(err.reason, err.message);
          throw err;
        }
      };
      let observed = await ext('describe', () => vs.describeCollection(name));
      // Created when missing; vectors, lexical fields or payload indexes added to the spec (or dropped behind our
      // back) are added in place.
      if (!observed || drift(observed).length > 0) {
        await ext('ensure', () => vs.ensureCollection(plan.collection));
        ctx.event('Normal', observed ? 'UpdatedExternalResource' : 'CreatedExternalResource', `vector collection ${name}`);
        observed = await ext('describe', () => vs.describeCollection(name));
      }
      if (!observed) {
        return { ready: { status: 'False', reason: 'CollectionMissing', message: `vector collection ${name} does not exist after creating it` }, status };
      }
      const missing = drift(observed);
      if (missing.length > 0) {
        return {
          ready: { status: 'False', reason: 'VectorSchemaDrift', message: `vector collection ${name} lacks ${missing.join(', ')}` },
          status,
        };
      }
      const documentCount = await ext('count', () => vs.count(name));
      return {
        ready: { status: 'True', reason: 'CollectionReady', message: `vector collection ${name} has ${plan.collection.vectors.length} named vectors` },
        status: { ...status, documentCount },
      };
    },

    async finalize(obj, ctx) {
      if (obj.spec?.deletionPolicy === 'Retain') return { done: true };
      // Collections write to the namespace's vector collection, queue and state: they go first, or one reconciling
      // meanwhile could re-create the queue or state bucket after they were dropped here (an orphan nobody deletes).
      if (!ctx.cache.isSynced('Collection')) {
        return { done: false, reason: 'Deleting', message: 'waiting for the Collection cache to list before deleting', requeueAfter: 1_000 };
      }
      const users = ctx.cache
        .list<Resource>('Collection', obj.metadata.namespace)
        .filter((c) => (c.spec as { namespaceRef?: string } | undefined)?.namespaceRef === obj.metadata.name)
        .map((c) => c.metadata.name);
      if (users.length) {
        return {
          done: false,
          reason: 'DependentsExist',
          message: `waiting for the Collections of this namespace to be deleted first: ${users.slice(0, 5).join(', ')}${users.length > 5 ? ` and ${users.length - 5} more` : ''}`,
          requeueAfter: 5_000,
        };
      }
      const name = planNamespace({ ...obj, spec: { ...obj.spec, featureExtractors: [], payloadIndexes: [] } }).collection.name;
      if (!vs) throw new Error(`no vector store is configured: cannot delete vector collection ${name} (set deletionPolicy: Retain to keep it)`);
      await ctx.metrics.external('vector-store', 'drop', () => vs.dropCollection(name));
      ctx.event('Normal', 'DeletedExternalResource', `vector collection ${name}`);
      const jq = deps.jobQueue;
      if (jq) {
        const key = { k8sNamespace: obj.metadata.namespace ?? '', name: obj.metadata.name };
        const queue = extractionQueueName(key);
        const ext = <T>(op: string, fn: () => Promise<T>) => ctx.metrics.external('job-queue', op, fn);
        // Deleted unconditionally: a deletion killed between the queue's two streams leaves one, which still goes.
        const existed = await ext('exists', () => jq.queueExists(queue));
        await ext('delete', () => jq.deleteQueue(queue));
        if (existed) ctx.event('Normal', 'DeletedExternalResource', `extraction queue ${queue}`);
        // The namespace's object, batch and task records (the engine and the Collection controller create them).
        const state = stateBucketName(key);
        await ext('delete-kv', async () => jq.deleteKv?.(state));
      }
      return { done: true };
    },
  };
}
