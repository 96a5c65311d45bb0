/**
 * Collection controller: validate the source and the extractor against the QuarryNamespace → publish the output
 * schema and vector indexes (feature URIs) from the extractor registry → ensure the namespace's JetStream work
 * queue for extraction jobs → when enabled, enqueue the source objects no batch has processed through it yet
 * (ingest.ts: the ingestion pipeline's own batches and jobs) → report, with the document count from the vector
 * store and status.lastBatch.
 * Ready only when its QuarryNamespace and every source Bucket/Collection are Ready (the reason names the first that
 * is not; it turns Ready by itself once they are), the queue exists and, when the operator knows which models the
 * workers serve (served-models.ts), a worker serves the extractor's model (else Ready=False ModelNotServed naming
 * it, re-checked until a worker reports it).
 * Finalizer: with `deletionPolicy: Delete` (the default) the collection's documents are deleted from the
 * namespace's vector collection; `Retain` keeps them. The queue belongs to the namespace (deleted with it).
 */
import { vectorCollectionName } from '#core/naming.ts';
import { extractionQueueSpec } from '#engine/ingestion/pipeline.ts';
import { TERMINAL } from '#engine/ingestion/batch-model.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';
import { TerminalError, type Reconciler, type ReconcileResult } from '../../runtime/controller.ts';
import { dependencyStatus, referencedBy } from '../../runtime/dependencies.ts';
import { QUARRY_KINDS } from '../../runtime/kinds.ts';
import { Recent } from '../../runtime/recent.ts';
import type { Bucket } from '#engine/objects/bucket-plan.ts';
import type { QuarryNamespace } from '../quarry-namespace/plan.ts';
import { assertValid, refsTo } from '../shared.ts';
import { namespaceExtractors, outputSchema, paramsMismatch, requiredModels, vectorIndexes, type Collection } from './plan.ts';
import { customModelProblem, customModelsOf, customNotServed } from './custom-models.ts';
import type { Model } from '#core/resources/generated/types.ts';
import { RECHECK_MS, modelNotServed, type ServedModels } from './served-models.ts';
import { cancelHalfMade, enqueueUnprocessed, listObjects, namespaceIngestion, type LastBatch, type ObjectListing, type SettledMemo } from './ingest.ts';

export interface CollectionDeps {
  /** Undefined: no queue configured; Collections are not Ready and say so. */
  jobQueue: JobQueue | undefined;
  /** For the document count and deletion of the collection's documents. */
  vectorStore: VectorStore | undefined;
  concurrency?: number;
  resyncMs?: number;
  /** What the runtimes report they serve; undefined: not checked (no runtime reports, e.g. a bare operator test). */
  servedModels?: ServedModels;
}


/**
 * How long one check that a namespace's extraction queue exists answers for all its Collections: only while it is in
 * flight (Collections reconciling together share it). A kept answer would hide a queue deleted behind the operator's
 * back from the re-observation that should recreate it (test/operator/examples.test.ts, drift).
 */
const QUEUE_CHECK_MS = 0;

const specOf = (o: { spec?: unknown }) => o.spec as Collection['spec'] | undefined;

export function collectionReconciler(deps: CollectionDeps): Reconciler<Collection> {
  const { jobQueue: jq, vectorStore: vs } = deps;
  const settled: SettledMemo = new Map();
  const queueSeen = new Recent<boolean>(QUEUE_CHECK_MS);
  const queueCreating = new Recent<void>(0);
  /** A namespace's object listing in flight, shared by its Collections reconciling meanwhile (never reused after). */
  const listings = new Recent<ObjectListing>(0);
  return {
    kind: QUARRY_KINDS.find((k) => k.kind === 'Collection')!,
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.resyncMs ? { resyncMs: deps.resyncMs } : {}),
    watches: [
      referencedBy('QuarryNamespace', 'Collection', (c) => [specOf(c)?.namespaceRef ?? '']),
      referencedBy('Bucket', 'Collection', (c) => specOf(c)?.source?.bucketRefs ?? []),
      referencedBy('Collection', 'Collection', (c) => specOf(c)?.source?.collectionRefs ?? []),
      referencedBy('Model', 'Collection', (c) => customModelsOf(c as Collection).map((m) => m.name)),
    ],

    async reconcile(obj, ctx) {
      assertValid(obj);
      const spec = obj.spec;
      const k8sNs = obj.metadata.namespace ?? '';
      const vIndexes = vectorIndexes(obj);
      const bucketRefs = spec.source.bucketRefs ?? [];
      const collectionRefs = spec.source.collectionRefs ?? [];
      const buckets = bucketRefs.map((n) => ctx.cache.get<Bucket>('Bucket', { namespace: k8sNs, name: n })).filter((b): b is Bucket => !!b);
      const upstream = collectionRefs.map((n) => ctx.cache.get<Collection>('Collection', { namespace: k8sNs, name: n })).filter((c): c is Collection => !!c);
      const status: Record<string, unknown> = { outputSchema: outputSchema(obj, { buckets, collections: upstream }), vectorIndexes: vIndexes };
      const notReady = (ready: ReconcileResult['ready']): ReconcileResult => ({ ready, status });

      const dep = dependencyStatus(ctx.cache, [
        ...refsTo(obj, 'QuarryNamespace', [spec.namespaceRef]),
        ...refsTo(obj, 'Bucket', bucketRefs),
        ...refsTo(obj, 'Collection', collectionRefs),
      ]);
      if (!dep.ready) return notReady(dep.result);
      for (const b of buckets) {
        if (b.spec.namespaceRef !== spec.namespaceRef) {
          throw new TerminalError('CrossNamespaceSource', `spec.source.bucketRefs: Bucket ${b.metadata.name} belongs to QuarryNamespace ${b.spec.namespaceRef}, not ${spec.namespaceRef}`);
        }
      }
      for (const u of upstream) {
        if (u.spec.namespaceRef !== spec.namespaceRef) {
          throw new TerminalError('CrossNamespaceSource', `spec.source.collectionRefs: Collection ${u.metadata.name} belongs to QuarryNamespace ${u.spec.namespaceRef}, not ${spec.namespaceRef}`);
        }
      }
      // The extractor must be enabled in the (Ready) namespace, with the same index-affecting params.
      const ns = ctx.cache.get<QuarryNamespace>('QuarryNamespace', { namespace: k8sNs, name: spec.namespaceRef })!;
      assertValid(obj, { namespaceExtractors: namespaceExtractors(ns) }, 'ExtractorNotEnabled');
      const mismatch = paramsMismatch(obj, ns);
      if (mismatch) throw new TerminalError('ExtractorParamsMismatch', mismatch);

      // A tenant's Model named by the extractor: present, of the right type and size, enabled here (custom-models.ts).
      const modelProblem = customModelProblem(obj, (name) => ctx.cache.get('Model', { namespace: k8sNs, name }) as unknown as Model | undefined);
      if (modelProblem) return { ...notReady({ status: 'False', ...modelProblem }), requeueAfter: RECHECK_MS };
      // The extractor's model must be loaded by a worker, or every job would fail at execution.
      const needed = requiredModels(obj);
      if (deps.servedModels && needed.length > 0) {
        const served = await ctx.metrics.external('job-queue', 'served-models', () => deps.servedModels!.servedBy('worker'));
        // A custom model is served as <k8s-namespace>/<name>, another tenant's never counts.
        const missing = served ? needed.filter((n) => !served.some((m) => m.name === n || m.name === `${k8sNs}/${n}`)) : [];
        const customMissing = customNotServed(obj, missing);
        if (customMissing) return { ...notReady(customMissing), requeueAfter: RECHECK_MS };
        if (served && missing.length > 0) return { ...notReady(modelNotServed(`collection ${obj.metadata.name}`, missing, 'worker', served)), requeueAfter: RECHECK_MS };
      }

      if (!jq) {
        // Operator configuration to fix: Stalled (kstatus Failed), still re-observed every resync.
        return { ...notReady({ status: 'False', reason: 'JobQueueNotConfigured', message: 'no job queue is configured for the operator (NATS_URL): cannot provision the extraction queue' }), stalled: true };
      }
      const queue = extractionQueueSpec({ k8sNamespace: k8sNs, name: spec.namespaceRef });
      const qext = <T>(op: string, fn: () => Promise<T>) => ctx.metrics.external('job-queue', op, fn);
      // The namespace's Collections share its queue: one existence check per queue and few seconds, one creation.
      const queueExists = () => queueSeen.get(queue.name, () => qext('exists', () => jq.queueExists(queue.name)));
      if (!(await queueExists())) {
        await queueCreating.get(queue.name, async () => {
          await qext('ensure', () => jq.ensureQueue(queue));
          ctx.event('Normal', 'CreatedExternalResource', `extraction queue ${queue.name}`);
        });
        queueSeen.forget(queue.name);
        if (!(await queueExists())) {
          return notReady({ status: 'False', reason: 'QueueMissing', message: `extraction queue ${queue.name} does not exist after creating it` });
        }
      }

      const vcName = vectorCollectionName({ k8sNamespace: k8sNs, name: spec.namespaceRef });
      if (vs) {
        status.documentCount = await ctx.metrics.external('vector-store', 'count', () => vs.count(vcName, { field: 'collection_id', value: obj.metadata.name }));
      }

      // Enabled and Ready: take the source objects no batch has processed through this collection yet.
      let requeueAfter: number | undefined;
      const prevBatch = (obj.status as { lastBatch?: LastBatch } | undefined)?.lastBatch;
      if (prevBatch) status.lastBatch = prevBatch;
      if (spec.enabled !== false && bucketRefs.length > 0 && collectionRefs.length === 0) {
        const ingestion = namespaceIngestion(jq, ctx.cache, { k8sNamespace: k8sNs, name: spec.namespaceRef });
        const listing = () => listings.get(queue.name, () => listObjects(ingestion));
        const r = await qext('enqueue-unprocessed', () => enqueueUnprocessed(obj, ingestion, settled, ctx.log, listing));
        if (r.lastBatch) status.lastBatch = r.lastBatch;
        if (r.created) ctx.event('Normal', 'CreatedExternalResource', `batch ${r.created}: ${r.enqueued} object(s) of ${bucketRefs.join(', ')} enqueued for extraction`);
        // Follow a running batch's progress more closely than the resync period.
        if (r.lastBatch && !TERMINAL.has(r.lastBatch.status)) requeueAfter = 10_000;
      }
      const batchNote = status.lastBatch ? `; last batch ${(status.lastBatch as LastBatch).batchId} ${(status.lastBatch as LastBatch).status}` : '';
      return {
        ready: {
          status: 'True',
          reason: 'CollectionReady',
          message: `${vIndexes.length} vector index(es) in ${vcName}; extraction jobs on ${queue.name}${batchNote}`,
        },
        status,
        ...(requeueAfter ? { requeueAfter } : {}),
      };
    },

    async finalize(obj, ctx) {
      settled.delete(obj.metadata.uid ?? obj.metadata.name);
      if (jq && obj.spec?.namespaceRef) {
        // Best effort: the namespace's queue may be gone already (deleted with the namespace), and its batches with it.
        const ingestion = namespaceIngestion(jq, ctx.cache, { k8sNamespace: obj.metadata.namespace ?? '', name: obj.spec.namespaceRef });
        const canceled = await cancelHalfMade(ingestion, obj.metadata.name).catch((err: Error) => (ctx.log.warn({ err: err.message }, 'could not cancel half-made batches'), []));
        if (canceled.length) ctx.event('Normal', 'UpdatedExternalResource', `canceled half-made batch(es) ${canceled.join(', ')} of the deleted collection`);
      }
      if (obj.spec?.deletionPolicy === 'Retain') return { done: true };
      const vcName = vectorCollectionName({ k8sNamespace: obj.metadata.namespace ?? '', name: obj.spec.namespaceRef });
      if (!vs) throw new Error(`no vector store is configured: cannot delete the documents of ${obj.metadata.name} from ${vcName} (set deletionPolicy: Retain to keep them)`);
      const ext = <T>(op: string, fn: () => Promise<T>) => ctx.metrics.external('vector-store', op, fn);
      if (!(await ext('describe', () => vs.describeCollection(vcName)))) return { done: true }; // the namespace's collection is gone already
      await ext('delete-documents', () => vs.deleteByFilter(vcName, { field: 'collection_id', value: obj.metadata.name }));
      ctx.event('Normal', 'DeletedExternalResource', `documents of collection ${obj.metadata.name} in ${vcName}`);
      return { done: true };
    },
  };
}
