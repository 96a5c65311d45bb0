/**
 * Answers of external reads shared between reconciles for a short while: concurrent callers of the same key share
 * one call in flight, and an answer is reused for `ttlMs` after it arrived. A failed call is never kept. For reads
 * many objects make at once and whose answer changes rarely (which models the workers serve, whether a namespace's
 * queue exists): 1,000 Collections reconciling together then cost one read per key and period instead of 1,000.
 * Hand-written: a Map and a timestamp; the npm caches (lru-cache's fetch, p-memoize) bring more than this needs.
 */
export class Recent<T> {
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, { at: number; value: Promise<T> }>();

  constructor(ttlMs: number, now: () => number = Date.now) {
    this.ttlMs = ttlMs;
    this.now = now;
  }

  get(key: string, load: () => Promise<T>): Promise<T> {
    const e = this.entries.get(key);
    // `at` is when the answer arrived (Infinity while in flight), so a slow call is not counted as stale at once.
    if (e && this.now() - e.at < this.ttlMs) return e.value;
    const entry = { at: Number.POSITIVE_INFINITY, value: load() };
    this.entries.set(key, entry);
    entry.value.then(
      () => (entry.at = this.now()),
      () => this.entries.get(key) === entry && this.entries.delete(key),
    );
    if (this.entries.size > 10_000) this.prune();
    return entry.value;
  }

  /** Forgets `key` (the caller changed what it answers, e.g. created the queue). */
  forget(key: string): void {
    this.entries.delete(key);
  }

  private prune(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (now - e.at >= this.ttlMs) this.entries.delete(k);
  }
}
