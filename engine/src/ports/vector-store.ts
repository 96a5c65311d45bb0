/**
 * VectorStore port. Semantics follow Qdrant (the production store); every adapter must pass the same contract
 * suite in test/contract/vector-store.contract.ts.
 */
import type { FilterNode } from './filter.ts';

export type Distance = 'cosine' | 'dot' | 'euclid';
export type PayloadIndexType = 'keyword' | 'integer' | 'float' | 'bool' | 'datetime' | 'text';

export interface NamedVectorSpec {
  name: string;
  size: number;
  distance: Distance;
}

export interface CollectionSpec {
  name: string;
  vectors: NamedVectorSpec[];
  /** Lexical (BM25) fields: point.text[field] is indexed for full-text search. */
  lexicalFields?: string[];
  payloadIndexes?: { field: string; type: PayloadIndexType }[];
  shards?: number;
  replicationFactor?: number;
  onDisk?: boolean;
}

export type Vector = Float32Array | number[];

export interface Point {
  /** Deterministic id chosen by the caller; re-upserting the same id replaces the point. */
  id: string;
  vectors: Record<string, Vector>;
  payload: Record<string, unknown>;
  /** Text for the lexical fields declared on the collection. */
  text?: Record<string, string>;
}

export interface ScoredPoint {
  id: string;
  score: number;
  payload?: Record<string, unknown>;
  vectors?: Record<string, Float32Array>;
}

export interface SearchRequest {
  /** Named dense vector to search, or a lexical field when `query` is text. */
  using: string;
  vector?: Vector;
  /** Text query for a lexical (BM25) field. */
  text?: string;
  filter?: FilterNode;
  limit: number;
  offset?: number;
  scoreThreshold?: number;
  withPayload?: boolean;
  withVectors?: boolean;
}

export type Fusion = { method: 'rrf'; k?: number } | { method: 'dbsf' };

export interface FusionRequest {
  searches: Omit<SearchRequest, 'offset' | 'withPayload' | 'withVectors'>[];
  fusion: Fusion;
  filter?: FilterNode;
  limit: number;
  offset?: number;
  withPayload?: boolean;
  withVectors?: boolean;
}

export interface GroupRequest {
  search: SearchRequest | FusionRequest;
  groupBy: string;
  groupSize: number;
  limit: number;
}

export interface PointGroup {
  key: string | number | boolean;
  hits: ScoredPoint[];
}

export interface ScrollRequest {
  filter?: FilterNode;
  limit: number;
  /** Opaque cursor returned by a previous scroll; stable under concurrent upserts. */
  cursor?: string;
  withPayload?: boolean;
  withVectors?: boolean;
}

export interface ScrollPage {
  points: ScoredPoint[];
  nextCursor?: string;
}

export interface FacetHit {
  value: string | number | boolean;
  count: number;
}

export interface VectorStore {
  readonly kind: string;
  ensureCollection(spec: CollectionSpec): Promise<void>;
  describeCollection(name: string): Promise<CollectionSpec | undefined>;
  dropCollection(name: string): Promise<void>;
  listCollections(): Promise<string[]>;

  upsert(collection: string, points: Point[]): Promise<void>;
  retrieve(collection: string, ids: string[], opts?: { withVectors?: boolean }): Promise<ScoredPoint[]>;
  delete(collection: string, ids: string[]): Promise<void>;
  deleteByFilter(collection: string, filter: FilterNode): Promise<void>;
  count(collection: string, filter?: FilterNode): Promise<number>;
  scroll(collection: string, req: ScrollRequest): Promise<ScrollPage>;

  search(collection: string, req: SearchRequest): Promise<ScoredPoint[]>;
  fuse(collection: string, req: FusionRequest): Promise<ScoredPoint[]>;
  searchGroups(collection: string, req: GroupRequest): Promise<PointGroup[]>;
  facet(collection: string, key: string, opts?: { filter?: FilterNode; limit?: number }): Promise<FacetHit[]>;

  /**
   * Optional: build or refresh the store's indexes now, for stores that maintain them lazily in the background
   * (the embedded store). Searches are correct without it; call it after a bulk load to get ANN speed at once.
   */
  optimize?(collection: string): Promise<void>;

  /**
   * Optional: an opaque token that changes whenever the collection's contents change (the embedded store's table
   * version). Lets callers key caches on the contents without counting documents on every query.
   */
  version?(collection: string): Promise<string>;

  close(): Promise<void>;
}
