/**
 * The read-modify-write loop behind KeyValue.mutate, shared by every adapter: compare-and-set with retries
 * on conflict (other processes), plus a per-key in-process lock so writers in the same process queue up
 * instead of burning CAS rounds against each other.
 */
import type { KvEntry } from '../ports/job-queue.ts';
import { isKvConflict } from './errors.ts';

export interface CasStore {
  get<T>(key: string): Promise<KvEntry<T> | undefined>;
  /** expectedRevision 0 = create only if absent. */
  update<T>(key: string, value: T, expectedRevision: number): Promise<number>;
}

export class KeyLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<R>(key: string, fn: () => Promise<R>): Promise<R> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

export async function mutateWithRetry<T>(
  store: CasStore,
  locks: KeyLocks,
  key: string,
  fn: (current: T | undefined) => T,
  maxAttempts = 100,
): Promise<T> {
  return locks.run(key, async () => {
    for (let attempt = 1; ; attempt++) {
      const current = await store.get<T>(key);
      const next = fn(current?.value);
      try {
        await store.update(key, next, current?.revision ?? 0);
        return next;
      } catch (err) {
        if (!isKvConflict(err) || attempt >= maxAttempts) throw err;
        // Full jitter, capped: contention comes from other processes only.
        const cap = Math.min(100, 2 ** Math.min(attempt, 7));
        await new Promise((r) => setTimeout(r, Math.random() * cap));
      }
    }
  });
}
