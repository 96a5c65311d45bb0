/**
 * An embedded collection's rows mirrored in memory, so a search never waits for LanceDB: ids, payloads (as stored,
 * plus a projection onto the indexed payload fields that filters are evaluated on), one VectorSlots per named vector
 * and one BM25 index per lexical field (bm25.ts: the exact store's scoring, so both stores rank text alike). The Lance
 * table stays the source of truth: the mirror is built from it when a collection is opened and changed only after a
 * write to it commits (the store's per-table write queue), so it always holds the table's current version. Filters on
 * fields that are not indexed still run in LanceDB.
 *
 * A filter is evaluated once per distinct filter into a per-slot bitmap that later writes keep up to date (a small
 * LRU): a retriever repeats its collection scoping and its filters on every query.
 */
import type { CollectionSpec } from '../../ports/vector-store.ts';
import { Bm25Slots, type SlotScore } from '../bm25.ts';
import { filterFields, matchesFilter, type FilterExpr } from '../filter-compile.ts';
import { VectorSlots, type SlotFilter, type VectorSlotsOptions } from './memory-vectors.ts';

/**
 * One row as the mirror takes it: the payload as stored (JSON), each named vector (normalised for cosine) and each
 * lexical field's text (the text is indexed, not kept).
 */
export interface MirrorRow {
  id: string;
  payload: string;
  vectors: Record<string, Float32Array | undefined>;
  text?: Record<string, string | null | undefined>;
}

export interface MirrorHit {
  id: string;
  score: number;
  payload: string;
  /** Every named vector the row has, when asked for. */
  vectors?: Record<string, Float32Array> | undefined;
}

/** Distinct filters whose bitmaps are kept. */
const FILTER_CACHE = 32;
/** From this many rows a filter's bitmap is built on its second use (the first runs in LanceDB). */
const ADMIT_ON_SECOND_USE_ROWS = 20_000;
/** Filters seen once, remembered for their second use. */
const SEEN_ONCE = 1024;

interface FilterBits extends SlotFilter {
  expr: FilterExpr;
  bits: Uint8Array;
}

export class CollectionMirror {
  private readonly ids: (string | undefined)[] = [];
  private readonly payloads: string[] = [];
  private readonly views: Record<string, unknown>[] = [];
  private readonly slotOf = new Map<string, number>();
  private readonly free: number[] = [];
  private readonly vectors = new Map<string, VectorSlots>();
  private readonly lexical = new Map<string, Bm25Slots>();
  private readonly filters = new Map<string, FilterBits>();
  private readonly seenOnce = new Set<string>();
  private readonly fieldPaths: string[][];
  /** The indexed payload fields: filters on these (only) are evaluated here. */
  readonly fields: ReadonlySet<string>;

  constructor(spec: CollectionSpec, fields: ReadonlySet<string>, opts: VectorSlotsOptions) {
    this.fields = fields;
    for (const v of spec.vectors) this.vectors.set(v.name, new VectorSlots(v.size, v.distance, opts));
    for (const f of spec.lexicalFields ?? []) this.lexical.set(f, new Bm25Slots());
    this.fieldPaths = [...fields].map((f) => f.split('.'));
  }

  get size(): number {
    return this.slotOf.size;
  }

  /** Whether the named vector is searched through its HNSW graph now. */
  graphed(vector: string): boolean {
    return this.vectors.get(vector)?.graphed ?? false;
  }

  upsert(rows: MirrorRow[]): void {
    for (const row of rows) {
      let slot = this.slotOf.get(row.id);
      if (slot === undefined) {
        slot = this.free.pop() ?? this.ids.length;
        this.slotOf.set(row.id, slot);
      }
      this.ids[slot] = row.id;
      this.payloads[slot] = row.payload;
      this.views[slot] = project(JSON.parse(row.payload), this.fieldPaths) as Record<string, unknown>;
      for (const [name, slots] of this.vectors) slots.set(slot, row.vectors[name]);
      for (const [field, index] of this.lexical) {
        const text = row.text?.[field];
        if (typeof text === 'string') index.set(slot, text);
        else index.clear(slot);
      }
      for (const f of this.filters.values()) this.setBit(f, slot, matchesFilter(f.expr, this.views[slot]!));
    }
  }

  delete(ids: Iterable<string>): void {
    for (const id of ids) {
      const slot = this.slotOf.get(id);
      if (slot === undefined) continue;
      this.slotOf.delete(id);
      this.ids[slot] = undefined;
      this.payloads[slot] = '';
      this.views[slot] = {};
      for (const slots of this.vectors.values()) slots.clear(slot);
      for (const index of this.lexical.values()) index.clear(slot);
      for (const f of this.filters.values()) this.setBit(f, slot, false);
      this.free.push(slot);
    }
  }

  /**
   * The best `k` rows for `query` under `filter`, best first, with ties at the edge; undefined when the search is
   * better run in LanceDB: a filter on a field without an index, a graph still catching up, or a filter not seen
   * before on a large collection (its bitmap costs a pass over every row, so it is built on the filter's second use).
   */
  search(vector: string, query: Float32Array, k: number, filter: FilterExpr, withVectors: boolean, lanceIndexed: boolean): MirrorHit[] | undefined {
    const slots = this.vectors.get(vector);
    const bits = slots?.searchable(lanceIndexed) ? this.admit(filter) : undefined;
    if (!slots || bits === undefined) return undefined;
    return this.hits(slots.search(query, k, bits ?? undefined), withVectors);
  }

  /**
   * The best `k` rows for a BM25 search of `text` on a lexical field under `filter`, with ties at the edge (in no
   * order); undefined when LanceDB should answer it (as for search()).
   */
  searchText(field: string, text: string, k: number, filter: FilterExpr, withVectors: boolean): MirrorHit[] | undefined {
    const index = this.lexical.get(field);
    const bits = index ? this.admit(filter) : undefined;
    if (!index || bits === undefined) return undefined;
    return this.hits(index.top(text, k, bits ? (slot) => bits.bits[slot] === 1 : undefined), withVectors);
  }

  /** Whether a filter names indexed fields only (so the mirror can evaluate it). */
  evaluates(filter: FilterExpr): boolean {
    for (const f of filterFields(filter)) if (!this.fields.has(f)) return false;
    return true;
  }

  /** A filter's bitmap; null when there is no filter, undefined when LanceDB should evaluate it. */
  private admit(filter: FilterExpr): FilterBits | null | undefined {
    if (filter.kind === 'all') return null;
    return this.evaluates(filter) ? this.bits(filter) : undefined;
  }

  private hits(found: SlotScore[], withVectors: boolean): MirrorHit[] {
    return found.map(({ slot, score }) => ({ id: this.ids[slot]!, score, payload: this.payloads[slot]!, vectors: withVectors ? this.vectorsAt(slot) : undefined }));
  }

  private vectorsAt(slot: number): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const [name, slots] of this.vectors) {
      const v = slots.get(slot);
      if (v) out[name] = v;
    }
    return out;
  }

  /** Resolves once every graph has caught up with the writes so far. */
  async settled(): Promise<void> {
    for (const slots of this.vectors.values()) await slots.settled();
  }

  close(): void {
    for (const slots of this.vectors.values()) slots.close();
    this.filters.clear();
  }

  private bits(expr: FilterExpr): FilterBits | undefined {
    const key = filterKey(expr);
    let f = this.filters.get(key);
    if (f) {
      this.filters.delete(key); // most recently used last
      this.filters.set(key, f);
      return f;
    }
    if (this.size >= ADMIT_ON_SECOND_USE_ROWS && !this.seenOnce.delete(key)) {
      if (this.seenOnce.size >= SEEN_ONCE) this.seenOnce.delete(this.seenOnce.values().next().value!);
      this.seenOnce.add(key);
      return undefined;
    }
    const bits = new Uint8Array(this.ids.length);
    let count = 0;
    for (let slot = 0; slot < this.ids.length; slot++) {
      if (this.ids[slot] !== undefined && matchesFilter(expr, this.views[slot]!)) {
        bits[slot] = 1;
        count++;
      }
    }
    f = { expr, bits, count, accepts: (slot) => f!.bits[slot] === 1 };
    if (this.filters.size >= FILTER_CACHE) this.filters.delete(this.filters.keys().next().value!);
    this.filters.set(key, f);
    return f;
  }

  private setBit(f: FilterBits, slot: number, on: boolean): void {
    if (slot >= f.bits.length) {
      if (!on) return;
      const grown = new Uint8Array(Math.max(slot + 1, f.bits.length * 2));
      grown.set(f.bits);
      f.bits = grown;
    }
    if ((f.bits[slot] === 1) === on) return;
    f.bits[slot] = on ? 1 : 0;
    f.count += on ? 1 : -1;
  }
}

/**
 * A compiled filter's identity: its JSON, without the compiled regexes (rebuilt from pattern and case flag) and with
 * non-finite numbers spelt out (JSON writes Infinity and -Infinity alike as null, and `eq 1e999` parses to Infinity).
 */
function filterKey(expr: FilterExpr): string {
  return JSON.stringify(expr, (k, v: unknown) => (k === 'regex' ? undefined : typeof v === 'number' && !Number.isFinite(v) ? { number: String(v) } : v));
}

/**
 * The parts of a payload on the given dot paths, with the structure kept (arrays keep their elements' projections,
 * as fieldValues() flattens them), so a filter over those paths evaluates on the projection as on the payload.
 */
export function project(value: unknown, paths: string[][]): unknown {
  if (Array.isArray(value)) return value.map((v) => project(v, paths));
  if (typeof value !== 'object' || value === null) return undefined;
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const byHead = new Map<string, string[][]>();
  for (const [head, ...rest] of paths) {
    if (head === undefined || !Object.hasOwn(src, head)) continue;
    byHead.set(head, [...(byHead.get(head) ?? []), rest]);
  }
  for (const [head, rests] of byHead) {
    out[head] = rests.some((r) => r.length === 0) ? src[head] : project(src[head], rests);
  }
  return out;
}
