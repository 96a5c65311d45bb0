/**
 * Taxonomy controller: validate the taxonomy (structure, tree without cycles) and its references → report. No
 * external state. Ready when its QuarryNamespace, its retriever(s) and its reference collection(s) are Ready, and
 * every input mapping names an input the retriever declares.
 */
import type { Resource } from '#core/ports/resource-store.ts';
import type { TaxonomySpec as GeneratedTaxonomySpec, TaxonomyStatus } from '#core/resources/generated/types.ts';
import { TerminalError, type Reconciler } from '../../runtime/controller.ts';
import { dependencyStatus, referencedBy } from '../../runtime/dependencies.ts';
import { QUARRY_KINDS } from '../../runtime/kinds.ts';
import type { Retriever } from '../retriever/reconcile.ts';
import { assertValid, refsTo, unique } from '../shared.ts';

export type TaxonomySpec = { [K in keyof GeneratedTaxonomySpec]: GeneratedTaxonomySpec[K] };
export type Taxonomy = Resource<TaxonomySpec, TaxonomyStatus & Record<string, unknown>> & { spec: TaxonomySpec };

export function taxonomyRefs(spec: TaxonomySpec | undefined): { retrievers: string[]; collections: string[] } {
  if (!spec) return { retrievers: [], collections: [] };
  const nodes = spec.nodes ?? [];
  return {
    retrievers: unique([spec.retrieverRef, ...nodes.map((n) => n.retrieverRef)]),
    collections: unique([spec.sourceCollection?.collectionRef, ...nodes.flatMap((n) => [n.collectionRef, n.parentCollectionRef])]),
  };
}

export interface TaxonomyDeps {
  concurrency?: number;
  resyncMs?: number;
}

export function taxonomyReconciler(deps: TaxonomyDeps = {}): Reconciler<Taxonomy> {
  const specOf = (t: Resource) => t.spec as TaxonomySpec | undefined;
  return {
    kind: QUARRY_KINDS.find((k) => k.kind === 'Taxonomy')!,
    finalizer: false,
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.resyncMs ? { resyncMs: deps.resyncMs } : {}),
    watches: [
      referencedBy('QuarryNamespace', 'Taxonomy', (t) => [specOf(t)?.namespaceRef ?? '']),
      referencedBy('Retriever', 'Taxonomy', (t) => taxonomyRefs(specOf(t)).retrievers),
      referencedBy('Collection', 'Taxonomy', (t) => taxonomyRefs(specOf(t)).collections),
    ],

    async reconcile(obj, ctx) {
      assertValid(obj);
      const spec = obj.spec;
      const type = spec.type ?? 'flat';
      if (type === 'flat' && (!spec.retrieverRef || !spec.sourceCollection)) {
        throw new TerminalError('InvalidSpec', 'a flat taxonomy needs spec.retrieverRef and spec.sourceCollection.collectionRef');
      }
      if (type === 'hierarchical' && (spec.nodes ?? []).length === 0) {
        throw new TerminalError('InvalidSpec', 'spec.nodes: a hierarchical taxonomy needs at least one node');
      }
      const refs = taxonomyRefs(spec);
      const status = { version: obj.metadata.generation ?? 1, nodeCount: type === 'flat' ? 1 : (spec.nodes ?? []).length };
      const dep = dependencyStatus(ctx.cache, [
        ...refsTo(obj, 'QuarryNamespace', [spec.namespaceRef]),
        ...refsTo(obj, 'Retriever', refs.retrievers),
        ...refsTo(obj, 'Collection', refs.collections),
      ]);
      if (!dep.ready) return { ready: dep.result, status };
      // Input mappings must fill inputs the retriever declares.
      const check = (retrieverName: string | undefined, mappings: TaxonomySpec['inputMappings'], path: string) => {
        if (!retrieverName) return;
        const r = ctx.cache.get<Retriever>('Retriever', { namespace: obj.metadata.namespace ?? '', name: retrieverName })!;
        const inputs = r.spec.inputSchema ?? {};
        (mappings ?? []).forEach((m, i) => {
          if (!(m.inputKey in inputs)) {
            throw new TerminalError('UnknownRetrieverInput', `${path}[${i}].inputKey: Retriever ${retrieverName} declares no input '${m.inputKey}' (inputs: ${Object.keys(inputs).join(', ') || 'none'})`);
          }
        });
      };
      check(spec.retrieverRef, spec.inputMappings, 'spec.inputMappings');
      (spec.nodes ?? []).forEach((n, i) => check(n.retrieverRef ?? spec.retrieverRef, n.inputMappings ?? spec.inputMappings, `spec.nodes[${i}].inputMappings`));
      return {
        ready: { status: 'True', reason: 'TaxonomyReady', message: `${status.nodeCount} node(s); retriever ${refs.retrievers.join(', ')} and collections ${refs.collections.join(', ')} are Ready` },
        status,
      };
    },
  };
}
