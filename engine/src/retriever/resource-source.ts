/**
 * RetrieverSource over Retriever resources (group quarry.dev) in a ResourceStore: the identifier in the path is
 * the retriever's id (`ret_…`, as the management API returns it) or its name, resolved by the management API's
 * resolver (engine/src/management/identifiers.ts) among the Retrievers of the request's Kubernetes namespace; the
 * spec's camelCase fields (collectionRefs, inputSchema, stages[].stageName/config.stageId/preFilters, cacheConfig,
 * budgetLimits) are normalised by normalize.ts. Only Retrievers of the requested QuarryNamespace (spec.namespaceRef)
 * are visible. Cache keys hash the stages, so an edited pipeline never answers from an entry of its previous revision.
 */
import { displayName, findByIdentifier, idOf } from '../management/identifiers.ts';
import type { ResourceStore } from '../ports/resource-store.ts';
import type { RetrieverSource } from './types.ts';

export function resourceRetrieverSource(resources: Pick<ResourceStore, 'list'>, k8sNamespace: string): RetrieverSource {
  return {
    async get(idOrName, namespace) {
      const visible = (await resources.list('Retriever', { namespace: k8sNamespace })).filter((r) => {
        const ref = (r.spec as { namespaceRef?: string } | undefined)?.namespaceRef;
        return r.spec && !r.metadata.deletionTimestamp && (!namespace || ref === undefined || ref === namespace);
      });
      const r = findByIdentifier(visible, idOrName);
      if (!r?.spec) return undefined;
      // A `namespace` written into the spec is not where the retriever lives: callers set that from the resource.
      const { namespace: _ignored, ...spec } = r.spec as Record<string, unknown>;
      return { ...spec, retriever_name: displayName(r), retriever_id: idOf(r) };
    },
  };
}
