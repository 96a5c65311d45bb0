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

/** An in-memory inverted index over one text field, on English-analyzed terms (text-analysis.ts). */
export class Bm25Index {
  private readonly postings = new Map<string, Map<string, number>>();
  private readonly lengths = new Map<string, number>();
  private totalLength = 0;

  get size(): number {
    return this.lengths.size;
  }

  add(id: string, text: string): void {
    this.remove(id);
    const tokens = analyzeEnglish(text);
    this.lengths.set(id, tokens.length);
    this.totalLength += tokens.length;
    for (const t of tokens) {
      let p = this.postings.get(t);
      if (!p) this.postings.set(t, (p = new Map()));
      p.set(id, (p.get(id) ?? 0) + 1);
    }
  }

  remove(id: string): void {
    const len = this.lengths.get(id);
    if (len === undefined) return;
    this.lengths.delete(id);
    this.totalLength -= len;
    for (const [t, p] of this.postings) {
      if (p.delete(id) && p.size === 0) this.postings.delete(t);
    }
  }

  /** BM25 score of every document containing at least one query term. */
  score(query: string): Map<string, number> {
    const out = new Map<string, number>();
    const n = this.lengths.size;
    if (n === 0) return out;
    const avg = this.totalLength / n;
    for (const term of new Set(analyzeEnglish(query))) {
      const p = this.postings.get(term);
      if (!p) continue;
      const w = idf(n, p.size);
      for (const [id, tf] of p) out.set(id, (out.get(id) ?? 0) + w * tfWeight(tf, this.lengths.get(id)!, avg));
    }
    return out;
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
