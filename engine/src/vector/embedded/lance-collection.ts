// Embedded store internals its parts share: options and defaults, the open-collection record, row shape, constants and pure helpers.
import type * as lancedb from '@lancedb/lancedb';
import { badRequest, QuarryError } from '../../lib/errors.ts';
import type { CollectionSpec, Distance, PayloadIndexType } from '../../ports/vector-store.ts';
import { sqlString } from './filter-sql.ts';
import type { CollectionMirror } from './memory-mirror.ts';

export interface LanceStoreOptions {
  /** Directory holding the Lance tables and the collection specs. */
  dataDir: string;
  /** Build the ANN index once a collection has this many rows (below it, search is exact). Default 10,000. */
  indexThreshold?: number;
  /** HNSW search breadth. Default 128. */
  ef?: number;
  /**
   * Re-rank this many times `limit` candidates with full-precision vectors (the index quantises to 8 bits). Default 4:
   * recall@10 ≈ 1.0 and exact scores (what `score_threshold` and score fusion compare). 0 ranks by the quantised
   * distances: on 100k×384 (bench/results/vector-store.json) recall@10 ≈ 0.98–0.99 and scores off by up to ~1e-2,
   * for about 0.8 ms less per search — the time LanceDB spends reading the candidates' full vectors, nearly the same
   * for a factor of 1 or 4. The HNSW search breadth is raised to `limit × refineFactor` when that is
   * larger than `ef`: LanceDB asks the graph for that many candidates and fails ("ef must be greater than or equal to
   * k") when `ef` is smaller.
   */
  refineFactor?: number;
  /** HNSW graph degree (edges per node). Default 16. */
  hnswM?: number;
  /** HNSW construction breadth. Default 100. */
  efConstruction?: number;
  /** IVF partitions of the index (one HNSW graph each). Default: LanceDB's (about sqrt(rows)). */
  numPartitions?: number;
  /**
   * Maintenance deletes table versions that stopped being current more than this many seconds ago (LanceDB keeps
   * them 7 days by default: unbounded disk under many small writes). The version current when maintenance starts is
   * always kept, as a search may be reading it. 0 keeps only that. Default 60.
   */
  keepVersionsSeconds?: number;
  /**
   * Memory LanceDB may hold for index data (graphs, quantised vectors, full-text postings), in MiB. LanceDB's own
   * default is 6 GiB, which an engine process grows into over hours of writes and searches. Default 512.
   */
  indexCacheMb?: number;
  /**
   * Memory LanceDB may hold for file metadata, schemas and manifests of table versions, in MiB (LanceDB: 1 GiB).
   * Every commit (each upsert call) writes a new version whose manifest and fragment metadata enter this cache, and
   * superseded versions are never read again but stay until evicted: the cache grows by ~100 KB per write up to its
   * bound (measured: 24 MiB per 250 single-row upserts), which was the soak bench's steady RSS climb. Only the
   * current versions are worth caching. Default 16.
   */
  metadataCacheMb?: number;
  /**
   * Reads (searches, fusions, group searches, facets, scrolls, counts, retrieves) the store runs at once; later ones
   * wait their turn, in order. Unbounded, a burst let hundreds of LanceDB queries run side by side, each holding its
   * scan buffers and all of them contending for malloc's arenas, so every query got slower and the backlog grew
   * (the soak's collapse: 265 in flight, +600 MB). Default: twice the CPUs (createVectorStore applies it).
   */
  maxConcurrentReads?: number;
  /**
   * Segments an ANN index may have before it is rebuilt as one. LanceDB folds new rows into an index as a separate
   * segment (a delta) at every compaction, and a search walks every segment: on 20,000 rows × 384, after 80
   * ingestion batches of 20 rows (one compaction each) the index had 81 segments and a search took 59 ms instead
   * of 2.3 ms (bench-ann-segments). Rebuilds are spaced so they take at most a fifth of the time. Default 4.
   */
  maxIndexSegments?: number;
  /**
   * Keep each collection's ids, payloads, vectors and BM25 postings in memory beside its table and answer dense and
   * lexical searches there (memory-mirror.ts): an exact SIMD scan below `indexThreshold` rows, a usearch HNSW graph
   * from it, filters on indexed fields as per-filter bitmaps. LanceDB still answers filters on other fields and
   * searches while a mirror is being built; its own ANN index is built only once a dense search of that kind comes
   * (annWanted), and optimize() no longer compacts after every batch (see LanceVectorStore.optimize). Costs about
   * the table's vectors (float32, plus half that for the graph), payloads and postings in RAM. Default true.
   */
  memoryIndex?: boolean;
}

/** Index settings used when a LanceStoreOptions field is not given. */
export const EMBEDDED_DEFAULTS = { indexThreshold: 10_000, ef: 128, refineFactor: 4, hnswM: 16, efConstruction: 100, keepVersionsSeconds: 60, indexCacheMb: 512, metadataCacheMb: 16, maxIndexSegments: 4, memoryIndex: true } as const;

/** Options with every default applied, checked: a bad setting is a 400 naming it. */
export function resolveOptions(opts: LanceStoreOptions): ResolvedLanceOptions {
  if (!opts?.dataDir) throw badRequest('the embedded vector store needs a dataDir', { field: 'dataDir' });
  const o: ResolvedLanceOptions = { ...EMBEDDED_DEFAULTS, ...definedOnly(opts) };
  for (const key of ['indexThreshold', 'ef', 'refineFactor', 'hnswM', 'efConstruction', 'indexCacheMb', 'metadataCacheMb', 'maxIndexSegments'] as const) {
    const v = o[key];
    const min = key === 'refineFactor' ? 0 : 1;
    if (!Number.isInteger(v) || v < min) throw badRequest(`the embedded vector store's ${key} must be ${min ? 'a positive' : 'a non-negative'} integer (got ${String(v)})`, { field: key });
  }
  if (typeof o.memoryIndex !== 'boolean') throw badRequest(`the embedded vector store's memoryIndex must be true or false (got ${String(o.memoryIndex)})`, { field: 'memoryIndex' });
  const keep = o.keepVersionsSeconds;
  if (!Number.isFinite(keep) || keep < 0) throw badRequest(`the embedded vector store's keepVersionsSeconds must be 0 or more (got ${String(keep)})`, { field: 'keepVersionsSeconds' });
  for (const key of ['numPartitions', 'maxConcurrentReads'] as const) {
    const v = o[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw badRequest(`the embedded vector store's ${key} must be a positive integer (got ${String(v)})`, { field: key });
  }
  return o;
}

export function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export const LANCE_DISTANCE: Record<Distance, 'cosine' | 'dot' | 'l2'> = { cosine: 'cosine', dot: 'dot', euclid: 'l2' };
export const SPEC_DIR = '_quarry_collections';
export const SCAN_BATCH = 100_000;
/**
 * Payload fields every new table promotes to SQL columns even when the spec declares no index on them: Quarry
 * keeps all collections of a namespace in one store collection and scopes every retriever search (and the
 * retriever's index signature) by `collection_id`; without a promoted column each of those filters would parse
 * every stored JSON payload (measured: ~400 ms per search on 400 documents). They are not reported by
 * describeCollection (they are not part of the caller's spec); tables created before this existed simply lack the
 * column and keep the (correct, slower) JSON scan.
 */
export const IMPLICIT_INDEXES: { field: string; type: PayloadIndexType }[] = [{ field: 'collection_id', type: 'keyword' }];
/**
 * Background maintenance compacts (and prunes old versions) once this many rows were written, or this many commits
 * (upserts, deletes, schema changes: each is a new table version) were made, since the last compaction.
 */
export const COMPACT_AFTER_WRITES = 256;

export interface Collection {
  spec: CollectionSpec;
  table: lancedb.Table;
  indexes: Map<string, PayloadIndexType>;
  /** Writes (and schema changes) on one table run one at a time. */
  queue: Promise<unknown>;
  /** FTS columns known to be indexed, and `ann:<vector>` once a vector's ANN index exists. */
  ready: Set<string>;
  /** Rows written since the vector indexes were last built or optimised (approximate, in-process). */
  writesSinceIndex: number;
  /** Commits (new table versions) since the last compaction. */
  commitsSinceCompact: number;
  /**
   * A dense search on this table was answered by LanceDB though the in-memory index is on (a filter on a field
   * without a payload index): LanceDB's ANN index is worth building from the threshold on.
   */
  annWanted?: boolean;
  /** The running background index build / refresh, if any. */
  maintenance?: Promise<void> | undefined;
  /** Implicit index fields whose promoted columns exist in this table. */
  implicit: Set<string>;
  /** When the last ANN index build of this table ended and how long it took (rebuilds are spaced by it). */
  lastAnnBuild?: { endedAt: number; ms: number };
  /** A merge of ANN index segments waits for the spacing since the last build: the timer that runs it then. */
  mergeTimer?: NodeJS.Timeout | undefined;
  /** Set when that timer fires: maintenance is due even without new writes. */
  mergeOwed?: boolean;
  /** Called after a compaction replaced index files (the store checks its cache for superseded entries). */
  afterCompact?: () => void;
  /** The rows mirrored in memory (see LanceStoreOptions.memoryIndex), once built. */
  mirror?: CollectionMirror | undefined;
  /** The mirror's build from the table, while it runs. */
  mirrorBuild?: Promise<void> | undefined;
}

export type Row = Record<string, unknown> & { id: string; payload: string };

/** Distance LanceDB reports -> score as Qdrant reports it. */
export function toScore(distance: Distance, d: number): number {
  if (distance === 'cosine' || distance === 'dot') return 1 - d; // LanceDB: cosine 1 - cos, dot 1 - x·y
  return Math.sqrt(Math.max(0, d)); // LanceDB's l2 is the squared distance
}

export function asFloat32(v: unknown): Float32Array | undefined {
  if (v === null || v === undefined) return undefined;
  const arr = v as { toArray?: () => ArrayLike<number> } & ArrayLike<number>;
  return Float32Array.from(typeof arr.toArray === 'function' ? arr.toArray() : arr);
}

/** LanceStoreOptions with every default applied. */
export type ResolvedLanceOptions = Required<Omit<LanceStoreOptions, 'numPartitions' | 'maxConcurrentReads'>> & Pick<LanceStoreOptions, 'numPartitions' | 'maxConcurrentReads'>;

/**
 * The date before which versions may be deleted: the commit time of the oldest version that was still current at
 * `keepSince` (superseded after it) or is current now, so every version a search started since then may be
 * reading survives. LanceDB deletes versions strictly older than this date and never the current one.
 */
export function pruneBefore(versions: { version: number; timestamp: Date }[], keepSince: number): Date {
  const sorted = [...versions].sort((a, b) => a.version - b.version);
  for (let i = 0; i < sorted.length; i++) {
    const supersededAt = sorted[i + 1]?.timestamp.getTime() ?? Infinity;
    if (supersededAt > keepSince) return sorted[i]!.timestamp;
  }
  return new Date(keepSince);
}

/** Declared payload indexes plus the implicit ones this table has columns for. */
export function indexMap(c: Pick<Collection, 'spec' | 'implicit'>): Map<string, PayloadIndexType> {
  const m = new Map((c.spec.payloadIndexes ?? []).map((p) => [p.field, p.type]));
  for (const p of IMPLICIT_INDEXES) if (c.implicit.has(p.field) && !m.has(p.field)) m.set(p.field, p.type);
  return m;
}

export async function columnNames(table: lancedb.Table): Promise<Set<string>> {
  return new Set((await table.schema()).fields.map((f) => f.name));
}

export function sqlValue(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (Array.isArray(v)) return v.length === 0 ? 'NULL' : `make_array(${v.map(sqlValue).join(', ')})`;
  if (typeof v === 'string') return sqlString(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return `CAST(${v} AS DOUBLE)`;
  throw new QuarryError('InternalServerError', `cannot write ${typeof v} as SQL`);
}
