/**
 * A FeatureResolver over a QuarryNamespace's collections, for the engine wiring: feature URIs
 * (`quarry://` or `mixpeek://<extractor>@<version>/<output>`) are matched against the vector outputs the extractor
 * registry declares for each collection (the output segment is the model name; the storage name
 * `<extractor>_<version>_<suffix>` is accepted too), `.../bm25` names the extractor's lexical field, and documents
 * are restricted to the requested collections by their collection_id. The index signature hashes the collections'
 * configuration and document count, so new ingestion changes it.
 */
import { QuarryError, badRequest } from '../lib/errors.ts';
import type { VectorStore } from '../ports/vector-store.ts';
import { parseFeatureUri } from '../extractors/feature-uri.ts';
import { getExtractor } from '../extractors/registry.ts';
import type { CollectionPlan } from '../ingestion/collections.ts';
import { hashOf } from './cache.ts';
import type { FeatureResolver, ResolvedFeature } from './types.ts';

export interface NamespaceCollections {
  /** VectorStore collection holding the namespace's documents. */
  storeCollection(namespace?: string): Promise<string>;
  /** The namespace's collections as currently declared. */
  collections(namespace?: string): Promise<CollectionPlan[]>;
}

const LEXICAL = new Set(['bm25', 'lexical', 'text_bm25']);

export function namespaceFeatureResolver(store: VectorStore, ns: NamespaceCollections): FeatureResolver {
  const select = async (names: string[], namespace?: string) => {
    const all = (await ns.collections(namespace)).filter((c) => c.enabled);
    if (names.length === 0) return all;
    return names.map((n) => {
      const c = all.find((x) => x.name === n);
      if (!c) throw new QuarryError('NotFoundError', `collection '${n}' not found in namespace${namespace ? ` '${namespace}'` : ''}`, { resource: 'collection', id: n });
      return c;
    });
  };
  const scopeFilter = (plans: CollectionPlan[]) => ({ field: 'collection_id', operator: 'in' as const, value: plans.map((p) => p.name) });

  return {
    async resolve(uri, collections, namespace): Promise<ResolvedFeature> {
      let addr;
      try {
        addr = parseFeatureUri(uri);
      } catch (e) {
        throw badRequest((e as Error).message, { field: 'feature_uri', feature_uri: uri });
      }
      const plans = await select(collections, namespace);
      if (plans.length === 0) throw badRequest('no collections to search: set collection_identifiers on the retriever or the stage', { field: 'collection_identifiers' });
      const found = new Map<string, Omit<ResolvedFeature, 'store' | 'filter'>>();
      for (const plan of plans) {
        const ext = getExtractor(plan.extractor.id);
        if (!ext) continue;
        const sameExtractor = ext.name === addr.extractor && ext.version === addr.version;
        if (sameExtractor && addr.output && LEXICAL.has(addr.output) && ext.lexicalFields.length) {
          found.set(plan.name, { using: ext.lexicalFields[0]!, lexical: true });
          continue;
        }
        const vectors = ext.vectors(plan.extractor.params);
        const v = vectors.find((x) =>
          addr.output === undefined ? sameExtractor && vectors.length === 1 : x.output === addr.output || (sameExtractor && (x.name === `${ext.name}_${ext.version}_${addr.output}` || x.name === addr.output)),
        );
        if (v) found.set(plan.name, { using: v.name, model: v.model });
      }
      if (found.size === 0) {
        throw badRequest(`feature '${uri}' is not exposed by collection(s) ${plans.map((p) => p.name).join(', ')}; GET /v1/collections/{id}/features lists their feature URIs`, { field: 'feature_uri', feature_uri: uri });
      }
      const usings = new Set([...found.values()].map((f) => f.using));
      if (usings.size > 1) throw badRequest(`feature '${uri}' maps to different vectors (${[...usings].join(', ')}) in these collections; search them in separate searches`, { field: 'feature_uri' });
      const chosen = plans.filter((p) => found.has(p.name));
      return { store: await ns.storeCollection(namespace), ...found.get(chosen[0]!.name)!, filter: scopeFilter(chosen) };
    },
    async collectionScope(collections, namespace) {
      const plans = await select(collections, namespace);
      return { store: await ns.storeCollection(namespace), filter: scopeFilter(plans) };
    },
    async indexSignature(collections, namespace) {
      const plans = await select(collections, namespace);
      const storeName = await ns.storeCollection(namespace);
      const count = (await store.listCollections()).includes(storeName) ? await store.count(storeName, scopeFilter(plans)) : 0;
      return hashOf({ plans, count });
    },
  };
}
