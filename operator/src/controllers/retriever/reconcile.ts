/**
 * Retriever controller: validate the pipeline with the project's validator (stage parameters against the stage
 * registry's schemas, templates, filters) and its feature URIs against what the referenced Collections publish
 * (status.vectorIndexes) → report. No external state: the engine reads the Retriever itself; status carries the
 * revision (bumped with every spec generation, so caches of older revisions are invalid), the resolved
 * collections and the feature URIs the stages use. Ready only when its QuarryNamespace and every referenced
 * Collection are Ready and, when the operator knows which models the engines serve (collection/served-models.ts),
 * the models its stages need are served: each feature URI's model (query embedding) and a reranker for a rerank
 * stage (else Ready=False ModelNotServed naming the model, re-checked until an engine reports it).
 */
import type { Resource } from '#core/ports/resource-store.ts';
import type { RetrieverSpec as GeneratedRetrieverSpec, RetrieverStatus } from '#core/resources/generated/types.ts';
import type { Reconciler } from '../../runtime/controller.ts';
import { dependencyStatus, referencedBy } from '../../runtime/dependencies.ts';
import { QUARRY_KINDS } from '../../runtime/kinds.ts';
import type { Collection } from '../collection/plan.ts';
import { assertValid, refsTo, unique } from '../shared.ts';
import { DEFAULT_MODELS } from '#engine/extractors/default-models.ts';
import { RECHECK_MS, modelNotServed, servedForTenant, type ServedModels } from '../collection/served-models.ts';

export type RetrieverSpec = { [K in keyof GeneratedRetrieverSpec]: GeneratedRetrieverSpec[K] };
export type Retriever = Resource<RetrieverSpec, RetrieverStatus & Record<string, unknown>> & { spec: RetrieverSpec };

const FEATURE_KEYS = new Set(['feature_uri', 'feature_address', 'diversity_feature_uri']);

/** Feature URIs named in stage parameters (templated ones excluded: they are resolved per request). */
export function featureDependencies(r: Retriever): string[] {
  const found: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (FEATURE_KEYS.has(k) && typeof x === 'string' && !x.includes('{{')) found.push(x);
        else walk(x);
      }
    }
  };
  for (const s of r.spec.stages ?? []) walk(s.config?.parameters);
  return unique(found).sort();
}

/** Revision of the spec: follows metadata.generation, never goes back. */
export function revisionOf(r: Retriever): number {
  return Math.max(r.status?.revision ?? 0, r.metadata.generation ?? 1);
}

export interface RetrieverDeps {
  concurrency?: number;
  resyncMs?: number;
  /** What the runtimes report they serve; undefined: not checked. */
  servedModels?: ServedModels;
}

/**
 * The models the stages need (served by the engine, which runs retrievers): the model of every dense feature URI
 * (`quarry://<extractor>@<version>/<model>`, one of `denseUris`, the collections' vector indexes: the query is
 * embedded with it; a lexical leg such as `…/bm25` needs none) by name, and the rerank stages' model names (any
 * reranker serves them: the stage maps the reference's model names onto the one loaded).
 */
export function stageModels(r: Retriever, denseUris: ReadonlySet<string>): { models: string[]; rerankers: string[] } {
  const models = featureDependencies(r)
    .filter((u) => denseUris.has(u))
    .map((u) => /^quarry:\/\/[^/]+\/([^/?#]+)$/.exec(u)?.[1])
    .filter((m): m is string => !!m);
  const rerankers = (r.spec.stages ?? [])
    .filter((s) => s.config?.stageId === 'rerank')
    .map((s) => {
      const p = (s.config?.parameters ?? {}) as { inference_name?: unknown };
      return typeof p.inference_name === 'string' && !p.inference_name.includes('{{') ? p.inference_name : DEFAULT_MODELS.reranker.name;
    });
  return { models: unique(models), rerankers: unique(rerankers) };
}

export function retrieverReconciler(deps: RetrieverDeps = {}): Reconciler<Retriever> {
  return {
    kind: QUARRY_KINDS.find((k) => k.kind === 'Retriever')!,
    finalizer: false,
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.resyncMs ? { resyncMs: deps.resyncMs } : {}),
    watches: [
      referencedBy('QuarryNamespace', 'Retriever', (r) => [(r.spec as RetrieverSpec | undefined)?.namespaceRef ?? '']),
      referencedBy('Collection', 'Retriever', (r) => (r.spec as RetrieverSpec | undefined)?.collectionRefs ?? []),
      // A rerank stage naming a Model of this Kubernetes namespace waits for it (and is re-checked when it changes).
      referencedBy('Model', 'Retriever', (r) => (r.spec ? stageModels(r as Retriever, new Set()).rerankers : [])),
    ],

    async reconcile(obj, ctx) {
      assertValid(obj);
      const k8sNs = obj.metadata.namespace ?? '';
      const collectionRefs = obj.spec.collectionRefs ?? [];
      const status = { revision: revisionOf(obj), collections: collectionRefs, featureDependencies: featureDependencies(obj) };
      const dep = dependencyStatus(ctx.cache, [...refsTo(obj, 'QuarryNamespace', [obj.spec.namespaceRef]), ...refsTo(obj, 'Collection', collectionRefs)]);
      if (!dep.ready) return { ready: dep.result, status };
      // Feature URIs must be published by a referenced collection (their status, written once they are Ready).
      const collections = collectionRefs.map((n) => ctx.cache.get<Collection>('Collection', { namespace: k8sNs, name: n })!);
      const featureUris = unique(collections.flatMap((c) => (c.status?.vectorIndexes ?? []).map((v) => v.featureUri)));
      assertValid(obj, { featureUris }, 'FeatureNotAvailable');
      // Rerankers that are Model resources here: Ready only once the Model is, and only if it is enabled for this
      // QuarryNamespace (spec.namespaceRefs); the engine's stage would otherwise fall back to another reranker.
      const custom = stageModels(obj, new Set()).rerankers.filter((n) => ctx.cache.get('Model', { namespace: k8sNs, name: n }));
      if (custom.length > 0) {
        const modelDep = dependencyStatus(ctx.cache, refsTo(obj, 'Model', custom));
        if (!modelDep.ready) return { ready: modelDep.result, status };
        for (const n of custom) {
          const refs = (ctx.cache.get('Model', { namespace: k8sNs, name: n })!.spec as { namespaceRefs?: string[] } | undefined)?.namespaceRefs;
          if (refs && !refs.includes(obj.spec.namespaceRef)) {
            return { ready: { status: 'False', reason: 'ModelNotEnabled', message: `Model ${n} (rerank stage) is not enabled for QuarryNamespace ${obj.spec.namespaceRef}: add it to the Model's spec.namespaceRefs or name another reranker` }, status };
          }
        }
      }
      if (deps.servedModels) {
        const { models, rerankers: named } = stageModels(obj, new Set(featureUris));
        const rerankers = named.filter((n) => !custom.includes(n));
        if (models.length > 0 || rerankers.length > 0) {
          const all = await ctx.metrics.external('job-queue', 'served-models', () => deps.servedModels!.servedBy('engine'));
          const served = all && servedForTenant(all, k8sNs);
          const missing = served ? [...models.filter((n) => !served.some((m) => m.name === n)), ...(served.some((m) => m.kind === 'reranker') ? [] : rerankers.map((n) => `${n} (reranker)`))] : [];
          if (served && missing.length > 0) return { ready: modelNotServed(`retriever ${obj.metadata.name}`, missing, 'engine', served), status, requeueAfter: RECHECK_MS };
        }
      }
      return {
        ready: {
          status: 'True',
          reason: 'RetrieverReady',
          message: `revision ${status.revision}: ${obj.spec.stages.length} stage(s) over ${collectionRefs.length ? collectionRefs.join(', ') : 'no collection'}`,
        },
        status,
      };
    },
  };
}
