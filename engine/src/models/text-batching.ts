/**
 * Which waiting texts one encoder run takes (the dynamic batching of onnx-models.ts).
 *
 * A run pads every text to the longest in it and blocks the process's thread for its whole duration (onnxruntime-
 * node's run is synchronous). Taking texts in arrival order put a 12-token search query into a batch of 256-token
 * documents: it paid for 32 documents' padding, and every request of a local-mode engine waited behind that run.
 * So a run takes texts of similar length, shortest first (queries ride in short, cheap runs), bounded by a token
 * budget (count x longest), and a text that has waited longer than `maxWaitMs` goes first, so long documents are
 * never starved by a stream of queries.
 */
export interface Waiting {
  /** Tokens, special tokens included. */
  len: number;
  /** When it arrived (ms). */
  at: number;
}

export interface BatchLimits {
  maxBatch: number;
  /** Most padded tokens (texts x longest) in one run; a single longer text still runs alone. */
  tokenBudget: number;
  maxWaitMs: number;
}

/** Removes the texts of the next run from `waiting` (in arrival order) and returns them. */
export function takeBatch<T extends Waiting>(waiting: T[], limits: BatchLimits, now: number): T[] {
  if (waiting.length === 0) return [];
  const oldest = waiting[0]!;
  const overdue = now - oldest.at > limits.maxWaitMs;
  const seed = overdue ? oldest : waiting.reduce((a, b) => (b.len < a.len ? b : a));
  // Texts up to twice the seed's length (at least 32 tokens more) share its run; an overdue seed takes anything shorter.
  const longest = overdue ? seed.len : Math.max(2 * seed.len, seed.len + 32);
  const picked = new Set<T>([seed]);
  let maxLen = seed.len;
  for (const w of waiting) {
    if (picked.size >= limits.maxBatch) break;
    if (picked.has(w) || w.len > longest) continue;
    const padded = (picked.size + 1) * Math.max(maxLen, w.len);
    if (padded > limits.tokenBudget) continue;
    picked.add(w);
    maxLen = Math.max(maxLen, w.len);
  }
  const batch = waiting.filter((w) => picked.has(w));
  const rest = waiting.filter((w) => !picked.has(w));
  waiting.length = 0;
  waiting.push(...rest);
  return batch;
}
