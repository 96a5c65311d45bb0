/**
 * One named vector of an embedded collection, held in memory beside its Lance table: a slot-indexed float32 matrix
 * (searched exactly with usearch's SIMD kernels, and used to rescore graph candidates at full precision) and, once
 * the vector has `graphThreshold` rows, a usearch HNSW graph over half-precision copies.
 *
 * Why beside LanceDB rather than through it: a LanceDB vector query costs 2.5–4.5 ms on 100k×384 whatever it
 * computes (its async runtime's thread hand-offs, and the per-query read and decode of the flat scan), where the
 * same search in process takes 0.3–0.4 ms (HNSW) or 1.2 ms (exact, 10k rows) — bench/results/vector-store.json.
 *
 * The graph is fed in the background in small chunks (each chunk blocks the event loop for a few milliseconds):
 * until a slot's vector is in the graph it is "pending" and searched exactly beside the graph, so a search always
 * sees every committed write. Scores are computed from the float32 matrix as LanceDB reports them: the dot product
 * for cosine (vectors stored normalised) and dot, the Euclidean distance for euclid.
 */
import { createRequire } from 'node:module';
import type * as Usearch from 'usearch';
import type { Distance } from '../../ports/vector-store.ts';
import type { SlotScore } from '../bm25.ts';
import { logger } from '../../lib/log.ts';

// usearch's ES module finds its native build from a stack trace, which fails outside a file (node -e, some bundles);
// its CommonJS entry uses __dirname.
const usearch = createRequire(import.meta.url)('usearch') as typeof Usearch;
const log = logger('vector-store.embedded');

export interface VectorSlotsOptions {
  /** Rows from which the HNSW graph is built (below it every search is exact). */
  graphThreshold: number;
  /** HNSW graph degree. */
  m: number;
  /** HNSW construction breadth. */
  efConstruction: number;
  /** HNSW search breadth. */
  ef: number;
  /** Rows × dimensions up to which an exact scan is cheaper than handing a search to LanceDB (default 8M: 20k × 384, ~2.5 ms). */
  cheapScanFloats?: number;
}

/** A filter as the mirror evaluates it: per slot, and how many live slots it keeps. */
export interface SlotFilter {
  accepts(slot: number): boolean;
  count: number;
}


/** At most this many accepted rows are searched by a plain loop (5,000 × 384 floats take ~1.8 ms). */
const LOOP_MAX = 4096;
/** With more pending rows than this the graph is not used yet (an exact SIMD scan is cheaper than looping them). */
const PENDING_MAX = 4096;
/** Vectors added to the graph per event-loop turn. */
const GRAPH_CHUNK = 32;
/** Graph candidates beyond `k` that are rescored (half-precision distances reorder close neighbours). */
const RESCORE_EXTRA = 10;
/** Candidates fetched beyond the expected need under a filter (matches are not spread evenly). */
const OVERFETCH = 1.5;

export class VectorSlots {
  private matrix: Float32Array;
  private has: Uint8Array;
  /** Slots holding a vector. */
  private count = 0;
  /** One past the highest slot ever written (the exact scan's extent). */
  private extent = 0;
  private graph: Usearch.Index | undefined;
  /**
   * A row's graph node is never removed, only forgotten (its key no longer maps to a slot), and a rewritten row gets a
   * new key: with usearch 2.26, nodes added after a remove() left live neighbours unreachable (recall@10 0.70–0.80
   * after overwriting 7% of 3,000 rows, against 1.0 when stale nodes stay; test/unit/memory-vectors.test.ts).
   */
  private readonly slotOfKey = new Map<number, number>();
  private keyOfSlot: Float64Array;
  private nextKey = 0;
  /** Stale nodes in the graph (it is rebuilt once they outnumber the live rows). */
  private stale = 0;
  private readonly pending = new Set<number>();
  private draining = false;
  /** A graph (re)build under way: the rows it started with and when (for its log line). */
  private building: { rows: number; t0: number } | undefined;
  private closed = false;

  readonly dims: number;
  readonly distance: Distance;
  private readonly opts: VectorSlotsOptions;

  constructor(dims: number, distance: Distance, opts: VectorSlotsOptions, capacity = 1024) {
    this.dims = dims;
    this.distance = distance;
    this.opts = opts;
    this.matrix = new Float32Array(capacity * dims);
    this.has = new Uint8Array(capacity);
    this.keyOfSlot = new Float64Array(capacity).fill(-1);
  }

  get size(): number {
    return this.count;
  }

  /** Whether the HNSW graph answers searches (exact scans until it exists and has caught up). */
  get graphed(): boolean {
    return this.graph !== undefined && this.pending.size <= PENDING_MAX;
  }

  /**
   * Whether this answers searches now. False only while a graph is being built and has far to go (a reopened
   * 100k-row table: ~15 s), the rows are too many for a cheap exact scan, and LanceDB has its own ANN index for the
   * vector (`lanceIndexed`): only then is LanceDB faster meanwhile. Without its index LanceDB scans every row too,
   * behind its own overhead and concurrency gate (with the in-memory index on it has none, so every collection
   * reaching the graph threshold used to hand it all its searches until the graph caught up).
   */
  searchable(lanceIndexed: boolean): boolean {
    return this.graph === undefined || this.graphed || !lanceIndexed || this.count * this.dims <= (this.opts.cheapScanFloats ?? 8_000_000);
  }

  /** Stores `vector` (normalised already for cosine) at `slot`, or clears the slot when it has none. */
  set(slot: number, vector: Float32Array | undefined): void {
    this.clear(slot);
    if (vector === undefined) return;
    this.reserve(slot + 1);
    this.matrix.set(vector, slot * this.dims);
    this.has[slot] = 1;
    this.count++;
    this.extent = Math.max(this.extent, slot + 1);
    if (this.graph) this.pending.add(slot);
    else if (this.count >= this.opts.graphThreshold) this.startGraph();
    this.drain();
  }

  clear(slot: number): void {
    if (slot >= this.extent || !this.has[slot]) return;
    this.has[slot] = 0;
    this.count--;
    this.matrix.fill(0, slot * this.dims, (slot + 1) * this.dims);
    this.pending.delete(slot);
    const key = this.keyOfSlot[slot]!;
    if (key >= 0) {
      this.slotOfKey.delete(key);
      this.keyOfSlot[slot] = -1;
      if (++this.stale > this.count && this.count >= this.opts.graphThreshold) this.startGraph();
    }
  }

  /** A copy of the vector at `slot`. */
  get(slot: number): Float32Array | undefined {
    return slot < this.extent && this.has[slot] ? this.matrix.slice(slot * this.dims, (slot + 1) * this.dims) : undefined;
  }

  /** Resolves once every vector written so far is in the graph (at once when there is no graph). */
  async settled(): Promise<void> {
    while (this.draining && !this.closed) await new Promise((r) => setImmediate(r));
  }

  close(): void {
    this.closed = true;
    this.graph = undefined;
    this.pending.clear();
  }

  /**
   * The best `k` slots for `query` (normalised already for cosine), best first, scored exactly; under `filter` only
   * accepted slots. May return more than `k` (ties at the edge are the caller's to order); never fewer than there are.
   */
  search(query: Float32Array, k: number, filter?: SlotFilter): SlotScore[] {
    if (k <= 0 || this.count === 0 || filter?.count === 0) return [];
    const q = Float32Array.from(query); // usearch reads a typed array from the start of its buffer (a subarray's offset is ignored)
    if (filter && filter.count <= LOOP_MAX) return this.best(this.loop(q, filter), k);
    const share = filter ? Math.min(1, filter.count / this.count) : 1;
    const want = filter ? Math.ceil((k / share) * OVERFETCH) + RESCORE_EXTRA : k + RESCORE_EXTRA;
    if (this.graphed) {
      for (let fetch = want; ; fetch *= 4) {
        const got = this.graphSearch(q, fetch, filter);
        if (got.fromGraph >= k || fetch >= this.graph!.size()) return this.best(got.hits, k);
        if (fetch * 4 >= this.count) break;
      }
    }
    const got = this.scan(q, want, filter);
    if (got.length >= k || !filter) return this.best(got, k);
    return this.best(this.loop(q, filter), k);
  }

  private graphSearch(q: Float32Array, fetch: number, filter: SlotFilter | undefined): { hits: SlotScore[]; fromGraph: number } {
    const found = this.graph!.search(q, fetch, 1);
    const hits: SlotScore[] = [];
    for (const key of found.keys) {
      const slot = this.slotOfKey.get(Number(key));
      if (slot !== undefined && (!filter || filter.accepts(slot))) hits.push({ slot, score: this.score(q, slot) });
    }
    const fromGraph = hits.length;
    for (const slot of this.pending) if (!filter || filter.accepts(slot)) hits.push({ slot, score: this.score(q, slot) });
    return { hits, fromGraph };
  }

  /** usearch's exact SIMD scan over every slot, keeping the accepted ones among the nearest `want` vectors. */
  private scan(q: Float32Array, want: number, filter: SlotFilter | undefined): SlotScore[] {
    const holes = this.extent - this.count; // empty slots hold zeros and may rank anywhere
    const count = Math.min(this.extent, want + holes);
    const found = usearch.exactSearch(this.matrix.subarray(0, this.extent * this.dims), q, this.dims, count, this.metric, 1) as Usearch.Matches;
    const hits: SlotScore[] = [];
    for (const key of found.keys) {
      const slot = Number(key);
      if (this.has[slot] && (!filter || filter.accepts(slot))) hits.push({ slot, score: this.score(q, slot) });
    }
    return hits;
  }

  /** Scores every accepted slot (a filter keeping few rows). */
  private loop(q: Float32Array, filter: SlotFilter): SlotScore[] {
    const hits: SlotScore[] = [];
    for (let slot = 0; slot < this.extent; slot++) if (this.has[slot] && filter.accepts(slot)) hits.push({ slot, score: this.score(q, slot) });
    return hits;
  }

  private best(hits: SlotScore[], k: number): SlotScore[] {
    const asc = this.distance === 'euclid';
    hits.sort((a, b) => (asc ? a.score - b.score : b.score - a.score));
    if (hits.length <= k) return hits;
    const edge = hits[k - 1]!.score;
    let end = k;
    while (end < hits.length && hits[end]!.score === edge) end++;
    return hits.slice(0, end);
  }

  private score(q: Float32Array, slot: number): number {
    const m = this.matrix;
    const o = slot * this.dims;
    let s = 0;
    if (this.distance === 'euclid') {
      for (let i = 0; i < this.dims; i++) {
        const d = q[i]! - m[o + i]!;
        s += d * d;
      }
      return Math.sqrt(s);
    }
    for (let i = 0; i < this.dims; i++) s += q[i]! * m[o + i]!;
    return s;
  }

  private reserve(slots: number): void {
    if (slots <= this.has.length) return;
    const capacity = Math.max(slots, this.has.length * 2);
    const matrix = new Float32Array(capacity * this.dims);
    matrix.set(this.matrix);
    this.matrix = matrix;
    const has = new Uint8Array(capacity);
    has.set(this.has);
    this.has = has;
    const keys = new Float64Array(capacity).fill(-1);
    keys.set(this.keyOfSlot);
    this.keyOfSlot = keys;
  }

  /** usearch's distance for the stored vectors: inner product (cosine vectors are stored normalised) or squared L2. */
  private get metric(): Usearch.MetricKind {
    return this.distance === 'euclid' ? usearch.MetricKind.L2sq : usearch.MetricKind.IP;
  }

  private startGraph(): void {
    this.graph = new usearch.Index({
      dimensions: this.dims,
      metric: this.metric,
      quantization: usearch.ScalarKind.F16,
      connectivity: this.opts.m,
      expansion_add: this.opts.efConstruction,
      expansion_search: this.opts.ef,
      multi: false,
    });
    this.slotOfKey.clear();
    this.keyOfSlot.fill(-1);
    this.stale = 0;
    for (let slot = 0; slot < this.extent; slot++) if (this.has[slot]) this.pending.add(slot);
    this.building = { rows: this.pending.size, t0: performance.now() };
    log.info({ rows: this.count, dims: this.dims }, 'building the in-memory HNSW graph');
    this.drain();
  }

  /** Feeds pending vectors into the graph, a chunk per event-loop turn. */
  private drain(): void {
    if (this.draining || !this.graph || this.pending.size === 0) return;
    this.draining = true;
    const step = () => {
      const graph = this.graph;
      if (this.closed || !graph || this.pending.size === 0) {
        this.draining = false;
        if (this.building && graph) log.info({ rows: this.building.rows, ms: Math.round(performance.now() - this.building.t0) }, 'in-memory HNSW graph built');
        this.building = undefined;
        return;
      }
      const slots: number[] = [];
      for (const slot of this.pending) {
        slots.push(slot);
        if (slots.length === GRAPH_CHUNK) break;
      }
      const keys = new BigUint64Array(slots.length);
      const vectors = new Float32Array(slots.length * this.dims);
      slots.forEach((slot, i) => {
        const key = this.nextKey++;
        this.slotOfKey.set(key, slot);
        this.keyOfSlot[slot] = key;
        keys[i] = BigInt(key);
        vectors.set(this.matrix.subarray(slot * this.dims, (slot + 1) * this.dims), i * this.dims);
        this.pending.delete(slot);
      });
      graph.add(keys, vectors, 0);
      setImmediate(step);
    };
    setImmediate(step);
  }
}
