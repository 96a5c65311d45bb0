/**
 * Retriever controller: validate the pipeline with the project's validator (stage parameters against the stage
 * registry's schemas, templates, filters) and its feature URIs against what the referenced Collections publish
 * (status.vectorIndexes) → report. No external state: the engine reads the Retriever itself; status carries the
 * revision (bumped with every spec generation, so caches of older revisions are invalid), the resolved
 * collections and the feature URIs the stages use. Ready only when its QuarryNamespace and every referenced
 * Collection are Ready.
 */
import type { Resource } from '../../../../engine/src/ports/resource-store.ts';
import type { RetrieverSpec as GeneratedRetrieverSpec, RetrieverStatus } from '../../../../engine/src/resources/generated/types.ts';
import type { Reconciler } from '../../runtime/controller.ts';
import { dependencyStatus, referencedBy } from '../../runtime/dependencies.ts';
import { QUARRY_KINDS } from '../../runtime/kinds.ts';
import type { Collection } from '../collection/plan.ts';
import { assertValid, refsTo, unique } from '../shared.ts';

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
