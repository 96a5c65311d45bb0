/**
 * Query cache (reference §3.9): whole results keyed by the pipeline, inputs, filters and the collections' index
 * signature, so new ingestion (a new signature) misses. Bounded LRU with per-entry TTL; a Map keeps insertion
 * order, which is all an LRU of this size needs.
 */
import { createHash } from 'node:crypto';

export function stableStringify(v: unknown): string {
  if (v === undefined) return 'null';
  if (v instanceof Float32Array) return stableStringify([...v]);
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export const hashOf = (v: unknown): string => createHash('sha256').update(stableStringify(v)).digest('base64url').slice(0, 32);

export class QueryCache<T> {
  private readonly entries = new Map<string, { value: T; expires: number }>();
  hits = 0;
  misses = 0;
  private readonly max: number;

  constructor(max = 1000) {
    this.max = max;
  }

  get(key: string): T | undefined {
    const e = this.entries.get(key);
    if (!e || e.expires < Date.now()) {
      if (e) this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    this.hits++;
    return e.value;
  }

  set(key: string, value: T, ttlSeconds: number): void {
    if (ttlSeconds <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expires: Date.now() + ttlSeconds * 1000 });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
