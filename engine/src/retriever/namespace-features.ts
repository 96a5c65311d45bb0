/**
 * A FeatureResolver over a QuarryNamespace's collections, for the engine wiring: feature URIs
 * (`quarry://` or `mixpeek://<extractor>@<version>/<output>`) are matched against the vector outputs the extractor
 * registry declares for each collection (the output segment is the model name; the storage name
 * `<extractor>_<version>_<suffix>` is accepted too), `.../bm25` names the extractor's lexical field, and documents
 * are restricted to the requested collections by their collection_id.
 *
 * The index signature (query-cache key part, reference §3.9) hashes the collections' configuration and a token
 * for the stored contents, so new ingestion changes it. It is computed on every execute, so it must be cheap:
 * - stores with a content version (the embedded LanceDB store: the table version, bumped by every commit) use it
 *   directly: exact, no scan. An embedded store is written only by the process that serves it.
 * - other stores (Qdrant in cluster mode, where ingestion workers are separate processes this one cannot hear
 *   from; the in-memory exact store) use the document count of the requested collections, remembered for
 *   `signatureTtlMs` (default 1 s): a result cached just before new documents land can be served for at most that
 *   long after, and counting costs one store call per second per (namespace, collections) instead of per query.
 */
import { QuarryError, badRequest } from '../lib/errors.ts';
import type { VectorStore } from '../ports/vector-store.ts';
import { parseFeatureUri } from '../extractors/feature-uri.ts';
import { getExtractor } from '../extractors/registry.ts';
import type { CollectionPlan } from '../ingestion/collections.ts';
import { hashOf } from './cache.ts';
import type { FeatureResolver, ResolvedFeature } from './types.ts';

export interface ResolverOptions {
  /** How long a document count stands for the contents of a store without a version (ms). Default 1000. */
  signatureTtlMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

export interface NamespaceCollections {
  /** VectorStore collection holding the namespace's documents. */
  storeCollection(namespace?: string): Promise<string>;
  /** The namespace's collections as currently declared. */
  collections(namespace?: string): Promise<CollectionPlan[]>;
}

const LEXICAL = new Set(['bm25', 'lexical', 'text_bm25']);

export function namespaceFeatureResolver(store: VectorStore, ns: NamespaceCollections, opts: ResolverOptions = {}): FeatureResolver {
  const ttl = opts.signatureTtlMs ?? 1000;
  const now = opts.now ?? Date.now;
  const counts = new Map<string, { count: number; expires: number }>();
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
      if (store.version) {
        const version = (await store.listCollections()).includes(storeName) ? await store.version(storeName) : 'absent';
        return hashOf({ plans, version });
      }
      const key = hashOf({ storeName, names: plans.map((p) => p.name) });
      let hit = counts.get(key);
      if (!hit || hit.expires <= now()) {
        const count = (await store.listCollections()).includes(storeName) ? await store.count(storeName, scopeFilter(plans)) : 0;
        hit = { count, expires: now() + ttl };
        if (counts.size >= 1000) counts.delete(counts.keys().next().value!);
        counts.set(key, hit);
      }
      return hashOf({ plans, count: hit.count });
    },
  };
}
