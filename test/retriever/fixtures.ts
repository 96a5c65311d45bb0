/**
 * A seeded namespace for retriever tests: the exact VectorStore with one store collection holding two Quarry
 * collections (`products`, `catalog`), 4-d vectors, a fake text model (deterministic bag-of-letters embedding) and
 * reranker, and a FeatureResolver mapping quarry:// and mixpeek:// URIs to the named vector.
 */
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import type { Models, ModelInfo } from '#core/ports/models.ts';
import type { Point } from '#core/ports/vector-store.ts';
import { badRequest } from '#core/lib/errors.ts';
import { RetrieverEngine } from '#engine/retriever/executor.ts';
import type { EngineDeps, FeatureResolver } from '#engine/retriever/types.ts';

export const STORE = 'quarry_test__ns';
export const VECTOR = 'text_extractor_v1_embedding';
export const URI = 'quarry://text_extractor@v1/multilingual_e5_large_instruct_v1';
export const DIMS = 4;

/** Deterministic 4-d text "embedding": counts of letter groups, so similar words land close. */
export function fakeEmbed(text: string): Float32Array {
  const v = new Float32Array(DIMS);
  for (const ch of text.toLowerCase()) {
    const c = ch.charCodeAt(0) - 97;
    if (c >= 0 && c < 26) v[c % DIMS]! += 1;
  }
  if (v.every((x) => x === 0)) v[0] = 1;
  return v;
}

export function fakeModels(): Models & { calls: { embed: number; rerank: number } } {
  const calls = { embed: 0, rerank: 0 };
  const list: ModelInfo[] = [
    { name: 'fake-embed', kind: 'text-embedding', dimensions: DIMS },
    { name: 'fake-reranker', kind: 'reranker' },
  ];
  return {
    calls,
    list: () => list,
    info: (m) => list.find((x) => x.name === m)!,
    embedText: async (_m, texts) => {
      calls.embed++;
      return texts.map(fakeEmbed);
    },
    embedImage: async (_m, imgs) => imgs.map(() => new Float32Array(DIMS).fill(0.5)),
    // Reranker: fraction of query words present in the passage.
    rerank: async (_m, q, passages) => {
      calls.rerank++;
      const words = q.toLowerCase().split(/\s+/).filter(Boolean);
      return passages.map((p) => words.filter((w) => p.toLowerCase().includes(w)).length / Math.max(1, words.length));
    },
    ocr: async () => [],
    close: async () => {},
  };
}

export interface Seeded {
  engine: RetrieverEngine;
  deps: EngineDeps;
  store: ExactVectorStore;
  models: ReturnType<typeof fakeModels>;
  bumpSignature(): void;
}

export const PRODUCTS = [
  { id: 'p1', title: 'wireless earbuds', category: 'audio', price: 99, brand: 'acme', tags: ['wireless', 'audio'], vector: [1, 0, 0, 0] },
  { id: 'p2', title: 'wireless headphones', category: 'audio', price: 199, brand: 'acme', tags: ['wireless'], vector: [0.9, 0.1, 0, 0] },
  { id: 'p3', title: 'noise cancelling headphones', category: 'audio', price: 299, brand: 'sonic', tags: ['anc', 'audio'], vector: [0.8, 0.2, 0.1, 0] },
  { id: 'p4', title: 'usb cable', category: 'accessories', price: 9, brand: 'acme', tags: [], vector: [0, 1, 0, 0] },
  { id: 'p5', title: 'phone case', category: 'accessories', price: 19, brand: 'cover', tags: ['case'], vector: [0, 0.2, 1, 0] },
  { id: 'p6', title: 'smart watch', category: 'wearables', price: 249, brand: 'sonic', tags: ['smart'], vector: [0, 0, 0.3, 1] },
];

export async function seed(extra: Partial<EngineDeps> = {}): Promise<Seeded> {
  const store = new ExactVectorStore();
  await store.ensureCollection({ name: STORE, vectors: [{ name: VECTOR, size: DIMS, distance: 'cosine' }], lexicalFields: ['text'] });
  const points: Point[] = PRODUCTS.map((p) => ({
    id: p.id,
    vectors: { [VECTOR]: p.vector },
    payload: { document_id: p.id, collection_id: 'products', title: p.title, content: p.title, text: p.title, metadata: { category: p.category, price: p.price, brand: p.brand, product_id: `sku-${p.id}`, customer_id: `cus_${p.id}` }, tags: p.tags },
    text: { text: p.title },
  }));
  points.push(
    ...PRODUCTS.map((p) => ({
      id: `c-${p.id}`,
      vectors: { [VECTOR]: p.vector },
      payload: { document_id: `c-${p.id}`, collection_id: 'catalog', product_id: `sku-${p.id}`, name: p.title.toUpperCase(), price: p.price, category: p.category, warranty: '1y' },
    })),
  );
  await store.upsert(STORE, points);
  let signature = 1;
  const features: FeatureResolver = {
    async resolve(uri, collections) {
      const m = /^(quarry|mixpeek):\/\/([a-z0-9_]+)@(v\d+)(?:\/([A-Za-z0-9_.-]+))?$/.exec(uri);
      if (!m) throw badRequest(`'${uri}' is not a feature URI: expected quarry://<extractor>@<version>/<output>`, { field: 'feature_uri' });
      if (m[4] === 'bm25') return { store: STORE, using: 'text', lexical: true, ...(collections.length ? { filter: { field: 'collection_id', operator: 'in', value: collections } } : {}) };
      if (m[2] !== 'text_extractor') throw badRequest(`feature '${uri}' is not exposed by collections ${collections.join(', ')}`, { field: 'feature_uri' });
      return { store: STORE, using: VECTOR, model: 'fake-embed', ...(collections.length ? { filter: { field: 'collection_id', operator: 'in', value: collections } } : {}) };
    },
    async collectionScope(collections) {
      return { store: STORE, ...(collections.length ? { filter: { field: 'collection_id', operator: 'in', value: collections } } : {}) };
    },
    async indexSignature() {
      return `sig-${signature}`;
    },
  };
  const models = fakeModels();
  const deps: EngineDeps = { store, models, features, ...extra };
  return { engine: new RetrieverEngine(deps), deps, store, models, bumpSignature: () => signature++ };
}

/** A one-stage feature_search stage with a raw vector query. */
export function vectorSearch(vector: number[], params: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    stage_name: 'search',
    stage_type: 'filter',
    config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'vector', value: vector }, top_k: 100 }], final_top_k: 100, ...params } },
  };
}
