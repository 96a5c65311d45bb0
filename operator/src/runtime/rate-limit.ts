/**
 * The work queue's retry limiters, the same pair controller-runtime uses by default (client-go
 * DefaultTypedControllerRateLimiter): a per-key exponential backoff (5 ms → 1000 s) combined (max-of) with one
 * global token bucket (10 qps, burst 100). Written here because no maintained npm package offers this pair with an
 * injectable clock; it is a few lines of arithmetic.
 */
import type { Clock } from './clock.ts';

export class ExponentialBackoff {
  readonly baseMs: number;
  readonly maxMs: number;
  private readonly failures = new Map<string, number>();

  constructor(baseMs = 5, maxMs = 1_000_000) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  /** Delay before the next retry of `key`; each call counts one more failure. */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const d = this.baseMs * 2 ** n;
    return Number.isFinite(d) ? Math.min(d, this.maxMs) : this.maxMs;
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

/** Token bucket: `reserve()` takes one token and says how long the caller must wait for it. */
export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private last: number;

  constructor(clock: Clock, qps = 10, burst = 100) {
    this.clock = clock;
    this.qps = qps;
    this.burst = burst;
    this.tokens = burst;
    this.last = clock.now();
  }

  reserve(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  /** Takes a token only if one is free now (used to drop, rather than delay, e.g. event spam). */
  tryTake(): boolean {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface RateLimiter {
  when(key: string): number;
  retries(key: string): number;
  forget(key: string): void;
}

/** Max of the per-key backoff and the global bucket. */
export function defaultControllerRateLimiter(
  clock: Clock,
  opts: { baseMs?: number; maxMs?: number; qps?: number; burst?: number } = {},
): RateLimiter {
  const backoff = new ExponentialBackoff(opts.baseMs ?? 5, opts.maxMs ?? 1_000_000);
  const bucket = new TokenBucket(clock, opts.qps ?? 10, opts.burst ?? 100);
  return {
    when: (key) => Math.max(backoff.when(key), bucket.reserve()),
    retries: (key) => backoff.retries(key),
    forget: (key) => backoff.forget(key),
  };
}
