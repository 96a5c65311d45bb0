/**
 * Server-side fusion as Qdrant computes it, for the stores that fuse in-process (exact, embedded):
 * - RRF: score = sum over lists of 1 / (k + position), position 0-based, default k = 2 (Qdrant's DEFAULT_RRF_K);
 * - DBSF: each list normalised with mean ± 3 sample standard deviations as the extremes (a single hit scores 0.5,
 *   equal extremes give 0.5), smaller-is-better lists (euclid) flipped, normalised scores summed.
 */
import type { Fusion, ScoredPoint } from '../ports/vector-store.ts';

export const DEFAULT_RRF_K = 2;

export interface RankedList {
  hits: ScoredPoint[];
  smallerIsBetter?: boolean;
}

export function fuseLists(lists: RankedList[], fusion: Fusion): ScoredPoint[] {
  const byId = new Map<string, ScoredPoint>();
  const add = (p: ScoredPoint, s: number) => {
    const cur = byId.get(p.id);
    if (cur) cur.score += s;
    else byId.set(p.id, { ...p, score: s });
  };
  if (fusion.method === 'rrf') {
    const k = fusion.k ?? DEFAULT_RRF_K;
    for (const l of lists) l.hits.forEach((p, pos) => add(p, 1 / (k + pos)));
  } else {
    for (const l of lists) {
      const scores = l.hits.map((h) => h.score);
      const norm = distrNorm(scores, l.smallerIsBetter ?? false);
      l.hits.forEach((p, i) => add(p, norm[i]!));
    }
  }
  return [...byId.values()].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Qdrant's distr_norm: Welford mean and sample variance, extremes at mean ± 3σ. */
export function distrNorm(scores: number[], smallerIsBetter: boolean): number[] {
  if (scores.length < 2) return scores.map(() => 0.5);
  const n = scores.length;
  const mean = scores.reduce((a, b) => a + b, 0) / n;
  const variance = scores.reduce((a, s) => a + (s - mean) ** 2, 0) / (n - 1);
  const sd = Math.sqrt(variance);
  const min = mean - 3 * sd;
  const max = mean + 3 * sd;
  if (min === max) return scores.map(() => 0.5);
  return scores.map((s) => (smallerIsBetter ? (max - s) / (max - min) : (s - min) / (max - min)));
}
