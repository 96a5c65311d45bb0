/**
 * RetrieverSource over Retriever resources (group quarry.dev) in a ResourceStore: the name in the path is the
 * resource name in the request's Kubernetes namespace; the spec's camelCase fields (collectionRefs, inputSchema,
 * stages[].stageName/config.stageId/preFilters, cacheConfig, budgetLimits) are normalised by normalize.ts. Only
 * Retrievers of the requested QuarryNamespace (spec.namespaceRef) are visible. Cache keys hash the stages, so an
 * edited pipeline never answers from an entry of its previous revision.
 */
import type { ResourceStore } from '../ports/resource-store.ts';
import type { RetrieverSource } from './types.ts';

export function resourceRetrieverSource(resources: Pick<ResourceStore, 'get'>, k8sNamespace: string): RetrieverSource {
  return {
    async get(idOrName, namespace) {
      const r = await resources.get('Retriever', { namespace: k8sNamespace, name: idOrName });
      if (!r?.spec) return undefined;
      const spec = r.spec as Record<string, unknown>;
      if (namespace && spec.namespaceRef !== undefined && spec.namespaceRef !== namespace) return undefined;
      return {
        ...spec,
        retriever_name: r.metadata.name,
        retriever_id: r.metadata.uid ? `ret_${String(r.metadata.uid).replace(/-/g, '').slice(0, 16)}` : r.metadata.name,
      };
    },
  };
}
