/**
 * Keyed, de-duplicating work queue (the client-go workqueue semantics controller-runtime is built on):
 * - a key is queued at most once, however many events arrive for it (level-triggered: the worker re-reads the
 *   current object, so coalescing loses nothing);
 * - a key is never handled by two workers at once; a key added while it is being handled runs once more after;
 * - a handler that throws is retried after `rateLimiter.when(key)` (per-key exponential backoff max-of a global
 *   token bucket); success forgets the key's failure count;
 * - a handler may ask to see the key again after `requeueAfter` ms (periodic re-observation);
 * - at most `concurrency` handlers run at once.
 * Hand-written: no npm package offers these semantics with an injectable clock.
 */
import { realClock, type Clock, type TimerHandle } from './clock.ts';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limit.ts';

export interface HandlerResult {
  requeueAfter?: number;
}

export type Handler = (key: string) => Promise<HandlerResult | void>;

export interface WorkQueueOptions {
  concurrency?: number;
  clock?: Clock;
  rateLimiter?: RateLimiter;
  /** Called whenever the number of waiting keys changes (metrics). */
  onDepth?: (depth: number) => void;
  /** Called after a handler threw (logging); the key is retried with backoff. */
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

export class WorkQueue {
  private readonly handler: Handler;
  private readonly concurrency: number;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  private readonly onDepth: (depth: number) => void;
  private readonly onError: (key: string, err: unknown, retryInMs: number) => void;

  /** Keys waiting for a worker, in arrival order (a Set: O(1) de-duplication and FIFO iteration). */
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added while being processed: they run once more when the current run ends. */
  private readonly again = new Set<string>();
  private readonly waiting = new Map<string, { at: number; timer: TimerHandle }>();
  private active = 0;
  private running = false;
  private shuttingDown = false;
  private idleWaiters: Array<() => void> = [];

  constructor(handler: Handler, opts: WorkQueueOptions = {}) {
    this.handler = handler;
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.clock = opts.clock ?? realClock;
    this.limiter = opts.rateLimiter ?? defaultControllerRateLimiter(this.clock);
    this.onDepth = opts.onDepth ?? (() => {});
    this.onError = opts.onError ?? (() => {});
  }

  /** Starts handing keys to workers (keys added before are kept). */
  start(): void {
    if (this.shuttingDown) return;
    this.running = true;
    this.pump();
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.again.add(key);
      return;
    }
    if (!this.queued.has(key)) {
      this.queued.add(key);
      this.onDepth(this.queued.size);
    }
    this.pump();
  }

  /** Adds `key` after `ms`; an earlier pending delayed add for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const pending = this.waiting.get(key);
    if (pending && pending.at <= at) return;
    pending?.timer.cancel();
    const timer = this.clock.setTimer(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, timer });
  }

  addRateLimited(key: string): number {
    const d = this.limiter.when(key);
    this.addAfter(key, d);
    return d;
  }

  forget(key: string): void {
    this.limiter.forget(key);
  }

  retries(key: string): number {
    return this.limiter.retries(key);
  }

  get depth(): number {
    return this.queued.size;
  }

  get inFlight(): number {
    return this.active;
  }

  /** True when no key is queued or being processed (delayed keys do not count). */
  get idle(): boolean {
    return this.queued.size === 0 && this.active === 0;
  }

  /** Resolves once nothing is queued or running. */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops taking keys, drops delayed adds, waits for running handlers to finish. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.running = false;
    for (const w of this.waiting.values()) w.timer.cancel();
    this.waiting.clear();
    this.queued.clear();
    this.again.clear();
    this.onDepth(0);
    while (this.active > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    if (!this.running) return;
    while (this.active < this.concurrency && this.queued.size > 0) {
      const key = this.queued.values().next().value as string;
      this.queued.delete(key);
      this.onDepth(this.queued.size);
      this.processing.add(key);
      this.active++;
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    try {
      const res = await this.handler(key);
      this.limiter.forget(key);
      if (res && res.requeueAfter !== undefined && res.requeueAfter >= 0) this.addAfter(key, res.requeueAfter);
    } catch (err) {
      if (!this.shuttingDown) {
        const d = this.addRateLimited(key);
        this.onError(key, err, d);
      }
    } finally {
      this.processing.delete(key);
      this.active--;
      if (this.again.delete(key)) this.add(key);
      this.pump();
      if (this.idle || this.shuttingDown) {
        const ws = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of ws) w();
      }
    }
  }
}
