/**
 * BM25 shared by the stores that score text themselves (the exact store scores whole documents; the Qdrant
 * adapter turns text into sparse vectors whose IDF Qdrant applies server-side). Hand-written because it is a
 * few lines and every library found couples it to its own index.
 */
import { createHash } from 'node:crypto';
import { analyzeEnglish } from './text-analysis.ts';

export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/** Lucene's non-negative IDF: ln(1 + (N - n + 0.5) / (n + 0.5)). */
export function idf(docCount: number, docFreq: number): number {
  return Math.log(1 + (docCount - docFreq + 0.5) / (docFreq + 0.5));
}

/** The term-frequency part of BM25 for one term in one document. */
export function tfWeight(tf: number, docLen: number, avgDocLen: number, k1 = BM25_K1, b = BM25_B): number {
  return (tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * docLen) / Math.max(avgDocLen, 1e-9)));
}

/** A document's score for one search: its slot in a `Bm25Slots`. */
export interface SlotScore {
  slot: number;
  score: number;
}

/** Postings entries are triples in one Uint32Array per term: slot, the slot's generation when written, term frequency. */
const STRIDE = 3;

/**
 * An in-memory inverted index over one text field, on English-analyzed terms (text-analysis.ts), keyed by integer
 * slots the caller assigns (the embedded store's mirror rows, or Bm25Index's ids). Clearing a slot is O(its own
 * distinct terms): its entries are not searched for but invalidated by bumping the slot's generation, and a term's
 * list is compacted once half its entries are stale, so a rewrite costs the same on a collection of any size.
 * Per-term state is kept as arrays indexed by term id rather than an object per term: most terms of a real
 * vocabulary occur in one or two documents, and an object with its own arrays per term cost ~400 bytes each.
 */
export class Bm25Slots {
  private readonly termIds = new Map<string, number>();
  /** Per term: its postings, the entries used, the stale ones among them, and its live documents (its df). */
  private readonly postings: Uint32Array[] = [];
  private readonly used: number[] = [];
  private readonly stale: number[] = [];
  private readonly df: number[] = [];
  /** Per slot: its distinct term ids (undefined: no document), its length in terms and its generation. */
  private readonly terms: (Uint32Array | undefined)[] = [];
  private readonly lengths: number[] = [];
  private readonly gens: number[] = [];
  private live = 0;
  private totalLength = 0;
  private scratch = new Float64Array(0);

  get size(): number {
    return this.live;
  }

  /** Indexes `text` as the document at `slot`, replacing what it held. */
  set(slot: number, text: string): void {
    this.clear(slot);
    const tokens = analyzeEnglish(text);
    const tf = new Map<number, number>();
    for (const t of tokens) {
      let id = this.termIds.get(t);
      if (id === undefined) {
        id = this.postings.length;
        // A long token may be a slice of the whole text; a key must not keep the text alive.
        this.termIds.set(t.length >= 13 ? Buffer.from(t).toString() : t, id);
        this.postings.push(new Uint32Array(STRIDE));
        this.used.push(0);
        this.stale.push(0);
        this.df.push(0);
      }
      tf.set(id, (tf.get(id) ?? 0) + 1);
    }
    const gen = this.gens[slot] ?? 0;
    for (const [id, n] of tf) {
      this.append(id, slot, gen, n);
      this.df[id]!++;
    }
    this.terms[slot] = Uint32Array.from(tf.keys());
    this.lengths[slot] = tokens.length;
    this.totalLength += tokens.length;
    this.live++;
  }

  /** Removes the document at `slot`, if any. */
  clear(slot: number): void {
    const ids = this.terms[slot];
    if (!ids) return;
    this.terms[slot] = undefined;
    this.gens[slot] = (this.gens[slot] ?? 0) + 1;
    this.live--;
    this.totalLength -= this.lengths[slot]!;
    for (const id of ids) {
      this.df[id]!--;
      if (++this.stale[id]! * 2 >= this.used[id]!) this.compact(id);
    }
  }

  /**
   * BM25 score of every document containing at least one query term (accepted by `accepts` when given), summed in
   * the query's term order, so every store using this index scores alike to the last bit.
   */
  score(query: string, accepts?: (slot: number) => boolean): SlotScore[] {
    const touched = this.accumulate(query, accepts);
    const acc = this.scratch;
    const out = touched.map((slot) => ({ slot, score: acc[slot]! }));
    for (const slot of touched) acc[slot] = 0;
    return out;
  }

  /**
   * The `k` best of score() with ties at the edge, in no particular order. A common word matches a good part of a
   * large collection; this finds the k-th score with a heap of k instead of sorting (or allocating for) every match.
   */
  top(query: string, k: number, accepts?: (slot: number) => boolean): SlotScore[] {
    const touched = this.accumulate(query, accepts);
    const acc = this.scratch;
    let edge = -Infinity;
    if (k <= 0) edge = Infinity;
    else if (touched.length > k) edge = kthLargest(touched, acc, k);
    const out: SlotScore[] = [];
    for (const slot of touched) {
      if (acc[slot]! >= edge) out.push({ slot, score: acc[slot]! });
      acc[slot] = 0;
    }
    return out;
  }

  /** Sums the query's term weights into `scratch` per matching slot; returns the slots touched (caller zeroes them). */
  private accumulate(query: string, accepts?: (slot: number) => boolean): number[] {
    const n = this.live;
    const touched: number[] = [];
    if (n === 0) return touched;
    if (this.scratch.length < this.terms.length) this.scratch = new Float64Array(Math.max(this.terms.length, this.scratch.length * 2));
    const acc = this.scratch;
    const avg = this.totalLength / n;
    for (const term of new Set(analyzeEnglish(query))) {
      const id = this.termIds.get(term);
      if (id === undefined || this.df[id] === 0) continue;
      const w = idf(n, this.df[id]!);
      const p = this.postings[id]!;
      const end = this.used[id]! * STRIDE;
      for (let i = 0; i < end; i += STRIDE) {
        const slot = p[i]!;
        if (p[i + 1] !== (this.gens[slot] ?? 0) || (accepts && !accepts(slot))) continue;
        if (acc[slot] === 0) touched.push(slot);
        acc[slot]! += w * tfWeight(p[i + 2]!, this.lengths[slot]!, avg);
      }
    }
    return touched;
  }

  private append(id: number, slot: number, gen: number, tf: number): void {
    let p = this.postings[id]!;
    const at = this.used[id]! * STRIDE;
    if (at === p.length) {
      const grown = new Uint32Array(p.length * 2);
      grown.set(p);
      this.postings[id] = p = grown;
    }
    p[at] = slot;
    p[at + 1] = gen;
    p[at + 2] = tf;
    this.used[id]!++;
  }

  private compact(id: number): void {
    const p = this.postings[id]!;
    const end = this.used[id]! * STRIDE;
    let w = 0;
    for (let i = 0; i < end; i += STRIDE) {
      if (p[i + 1] !== (this.gens[p[i]!] ?? 0)) continue;
      p.copyWithin(w, i, i + STRIDE);
      w += STRIDE;
    }
    this.used[id] = w / STRIDE;
    this.stale[id] = 0;
    if (p.length > 4 * Math.max(w, STRIDE)) this.postings[id] = p.slice(0, Math.max(2 * w, STRIDE));
  }
}

/**
 * The k-th largest of `values[slot]` over `slots` (k ≤ slots.length), with a binary min-heap of the k largest so far.
 * Written out because no dependency here offers a top-k selection over typed arrays.
 */
function kthLargest(slots: readonly number[], values: Float64Array, k: number): number {
  const heap = new Float64Array(k);
  for (let i = 0; i < k; i++) heap[i] = values[slots[i]!]!;
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(heap, i);
  for (let i = k; i < slots.length; i++) {
    const v = values[slots[i]!]!;
    if (v > heap[0]!) {
      heap[0] = v;
      siftDown(heap, 0);
    }
  }
  return heap[0]!;
}

function siftDown(heap: Float64Array, at: number): void {
  const n = heap.length;
  const v = heap[at]!;
  for (;;) {
    let c = 2 * at + 1;
    if (c >= n) break;
    if (c + 1 < n && heap[c + 1]! < heap[c]!) c++;
    if (heap[c]! >= v) break;
    heap[at] = heap[c]!;
    at = c;
  }
  heap[at] = v;
}

/** A `Bm25Slots` keyed by string ids (the exact store). */
export class Bm25Index {
  private readonly index = new Bm25Slots();
  private readonly slotOf = new Map<string, number>();
  private readonly ids: (string | undefined)[] = [];
  private readonly free: number[] = [];

  get size(): number {
    return this.slotOf.size;
  }

  add(id: string, text: string): void {
    let slot = this.slotOf.get(id);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.ids.length;
      this.slotOf.set(id, slot);
      this.ids[slot] = id;
    }
    this.index.set(slot, text);
  }

  remove(id: string): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    this.index.clear(slot);
    this.slotOf.delete(id);
    this.ids[slot] = undefined;
    this.free.push(slot);
  }

  /** BM25 score of every document containing at least one query term. */
  score(query: string): Map<string, number> {
    return new Map(this.index.score(query).map(({ slot, score }) => [this.ids[slot]!, score]));
  }
}

/** Stable 31-bit token id for sparse vectors (sha1 prefix; collisions are as rare as in any hashing vectorizer). */
export function tokenId(token: string): number {
  return createHash('sha1').update(token).digest().readUInt32BE(0) >>> 1;
}

/**
 * Sparse BM25 document vector: term -> tf weight with a fixed average length (the store applies IDF).
 * Qdrant's own BM25 recipe (fastembed) uses the same fixed-average approach.
 */
export function bm25DocumentSparse(text: string, avgDocLen = 256): { indices: number[]; values: number[] } {
  const tokens = analyzeEnglish(text);
  const tf = new Map<number, number>();
  for (const t of tokens) tf.set(tokenId(t), (tf.get(tokenId(t)) ?? 0) + 1);
  const indices = [...tf.keys()].sort((a, b) => a - b);
  return { indices, values: indices.map((i) => tfWeight(tf.get(i)!, tokens.length, avgDocLen)) };
}

/** Sparse BM25 query vector: each distinct term weighs 1. */
export function bm25QuerySparse(text: string): { indices: number[]; values: number[] } {
  const indices = [...new Set(analyzeEnglish(text).map(tokenId))].sort((a, b) => a - b);
  return { indices, values: indices.map(() => 1) };
}
