/**
 * In-process JobQueue for local mode, with the NATS adapter's semantics: at-least-once delivery, a per-job
 * ack deadline that heartbeats extend (an unacked job becomes available again when it passes), nak with the
 * queue's backoff, dead-lettering after maxDeliver (also for jobs whose consumers never acked), dedupe of
 * job ids within a window, and KV buckets with CAS.
 *
 * With `dataDir`, queues, pending jobs, dead letters and KV buckets are persisted (memory-journal.ts: a snapshot
 * plus a journal of changes): what changed is appended at most 50 ms after the change and on close(); jobs in
 * flight when the process stopped are redelivered on restart, as with a consumer that died. A crash can lose the
 * last 50 ms of changes: local mode trades that for one write per 50 ms instead of one per change.
 */
import { mkdirSync } from 'node:fs';
import { logger } from '../lib/log.ts';
import type {
  ConsumeOptions,
  DeadLetter,
  Job,
  JobContext,
  JobQueue,
  KeyValue,
  QueueSpec,
  Subscription,
} from '../ports/job-queue.ts';
import { errorText, otherConsumer, queueNotFound } from './errors.ts';
import { MemoryKeyValue, type MemoryKvState } from './memory-kv.ts';
import { StateJournal, type Change } from './memory-journal.ts';
import type { JobMetrics } from './metrics.ts';
import { CLOSE_GRACE_MS, resolveSpec, settleWithin, type ResolvedSpec } from './spec.ts';

const log = logger('queue.memory');
const FLUSH_DELAY_MS = 50;

export interface MemoryJobQueueConfig {
  /** Persist state under this directory (`job-queue.json` and its journal); in memory only when absent. */
  dataDir?: string;
  duplicateWindowMs?: number;
  /** Records job outcomes and handler time. */
  metrics?: JobMetrics;
}

interface Entry {
  seq: number;
  job: Job;
  deliveries: number;
  availableAt: number;
  /** Set while a consumer holds the job. */
  lease?: { id: number; timer: NodeJS.Timeout };
}

interface MemQueue {
  spec: ResolvedSpec;
  /** The queue's one consumer group (durable, as in JetStream). */
  consumer?: string;
  nextSeq: number;
  entries: Map<number, Entry>;
  dedupe: Map<string, number>;
  dead: DeadLetter[];
  waiters: Set<() => void>;
}

/** What changed since the last flush, by identity; the values are read from the live state when it is written. */
class Dirty {
  /** Queues deleted (and maybe recreated) since the last flush: written whole. */
  readonly resetQueues = new Set<string>();
  readonly queues = new Set<string>();
  readonly entries = new Map<string, Set<number>>();
  readonly dedupe: Array<[string, string, number]> = [];
  readonly dead: Array<[string, DeadLetter]> = [];
  readonly resetBuckets = new Set<string>();
  readonly buckets = new Set<string>();
  readonly keys = new Map<string, Set<string>>();

  entry(queue: string, seq: number): void {
    let s = this.entries.get(queue);
    if (!s) this.entries.set(queue, (s = new Set()));
    s.add(seq);
  }

  key(bucket: string, key: string): void {
    this.buckets.add(bucket);
    let s = this.keys.get(bucket);
    if (!s) this.keys.set(bucket, (s = new Set()));
    s.add(key);
  }
}

export class MemoryJobQueue implements JobQueue {
  readonly kind = 'memory';
  private readonly queues = new Map<string, MemQueue>();
  private readonly kvState = new Map<string, MemoryKvState>();
  private readonly subs = new Set<{ stopWithin(ms: number): Promise<void> }>();
  private readonly journal?: StateJournal;
  private dirtySet = new Dirty();
  private readonly dupWindowMs: number;
  private readonly metrics?: JobMetrics;
  private leaseIds = 0;
  private dirty = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(cfg: MemoryJobQueueConfig = {}) {
    this.dupWindowMs = cfg.duplicateWindowMs ?? 120_000;
    if (cfg.metrics) this.metrics = cfg.metrics;
    if (cfg.dataDir) {
      mkdirSync(cfg.dataDir, { recursive: true });
      this.journal = new StateJournal(cfg.dataDir);
      const stored = this.journal.load();
      for (const [name, q] of stored.queues) {
        const entries = new Map([...q.entries].map(([seq, e]) => [seq, { ...e, availableAt: 0 }]));
        this.queues.set(name, { ...q, entries, waiters: new Set() });
      }
      for (const [name, state] of stored.kv) this.kvState.set(name, state);
    }
  }

  /** Schedules one write of everything that changed in the next `FLUSH_DELAY_MS`; close() writes what is left. */
  private changed(): void {
    if (!this.journal || this.dirty) return;
    this.dirty = true;
    this.flushTimer = setTimeout(() => this.flush(), FLUSH_DELAY_MS);
    this.flushTimer.unref();
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    if (!this.journal || !this.dirty) return;
    this.dirty = false;
    const d = this.dirtySet;
    this.dirtySet = new Dirty();
    this.journal.append(this.changesOf(d), () => ({ queues: this.queues, kv: this.kvState }));
  }

  /** The journal record of `d`: current values of what changed; deleted-and-recreated queues and buckets whole. */
  private changesOf(d: Dirty): Change[] {
    const out: Change[] = [];
    const meta = (q: MemQueue) => ({ spec: q.spec, ...(q.consumer ? { consumer: q.consumer } : {}), nextSeq: q.nextSeq });
    const stored = (e: Entry) => ({ seq: e.seq, job: e.job, deliveries: e.deliveries });
    for (const name of d.resetQueues) {
      out.push(['queue', name, null]);
      const q = this.queues.get(name);
      if (!q) continue;
      out.push(['queue', name, meta(q)]);
      for (const e of q.entries.values()) out.push(['entry', name, e.seq, stored(e)]);
      for (const [id, at] of q.dedupe) out.push(['dedupe', name, id, at]);
      for (const dl of q.dead) out.push(['dead', name, dl]);
    }
    for (const name of d.queues) {
      const q = this.queues.get(name);
      if (q && !d.resetQueues.has(name)) out.push(['queue', name, meta(q)]);
    }
    for (const [name, seqs] of d.entries) {
      const q = this.queues.get(name);
      if (!q || d.resetQueues.has(name)) continue;
      for (const seq of seqs) {
        const e = q.entries.get(seq);
        out.push(['entry', name, seq, e ? stored(e) : null]);
      }
    }
    for (const [name, id, at] of d.dedupe) if (!d.resetQueues.has(name)) out.push(['dedupe', name, id, at]);
    for (const [name, dl] of d.dead) if (!d.resetQueues.has(name)) out.push(['dead', name, dl]);
    for (const bucket of d.resetBuckets) {
      out.push(['bucket', bucket, null]);
      const b = this.kvState.get(bucket);
      if (!b) continue;
      out.push(['bucket', bucket, b.revision]);
      for (const [key, v] of Object.entries(b.entries)) out.push(['key', bucket, key, v]);
    }
    for (const bucket of d.buckets) {
      const b = this.kvState.get(bucket);
      if (!b || d.resetBuckets.has(bucket)) continue;
      out.push(['bucket', bucket, b.revision]);
      for (const key of d.keys.get(bucket) ?? []) out.push(['key', bucket, key, Object.hasOwn(b.entries, key) ? b.entries[key]! : null]);
    }
    return out;
  }

  private queue(name: string): MemQueue {
    const q = this.queues.get(name);
    if (!q) throw queueNotFound(name);
    return q;
  }

  async ensureQueue(spec: QueueSpec): Promise<void> {
    const resolved = resolveSpec(spec);
    const q = this.queues.get(spec.name);
    if (q) q.spec = resolved;
    else this.queues.set(spec.name, { spec: resolved, nextSeq: 1, entries: new Map(), dedupe: new Map(), dead: [], waiters: new Set() });
    this.dirtySet.queues.add(spec.name);
    this.changed();
  }

  async listQueues(): Promise<string[]> {
    return [...this.queues.keys()].sort();
  }

  async queueExists(name: string): Promise<boolean> {
    return this.queues.has(name);
  }

  async deleteQueue(name: string): Promise<void> {
    const q = this.queues.get(name);
    if (!q) return;
    for (const e of q.entries.values()) if (e.lease) clearTimeout(e.lease.timer);
    this.queues.delete(name);
    this.wake(q);
    this.dirtySet.resetQueues.add(name);
    this.changed();
  }

  async publish<T>(queue: string, job: Job<T>): Promise<void> {
    const q = this.queue(queue);
    const now = Date.now();
    for (const [id, at] of q.dedupe) if (now - at > this.dupWindowMs) q.dedupe.delete(id);
    if (q.dedupe.has(job.id)) return;
    q.dedupe.set(job.id, now);
    const seq = q.nextSeq++;
    // A JSON copy, as a broker would hold: later changes by the publisher don't reach the consumer.
    q.entries.set(seq, { seq, job: JSON.parse(JSON.stringify(job)) as Job, deliveries: 0, availableAt: 0 });
    this.wake(q);
    this.dirtySet.queues.add(queue);
    this.dirtySet.entry(queue, seq);
    this.dirtySet.dedupe.push([queue, job.id, now]);
    this.changed();
  }

  private wake(q: MemQueue): void {
    const ws = [...q.waiters];
    q.waiters.clear();
    for (const w of ws) w();
  }

  /** Leases the oldest available job, or returns the time until the next one becomes available. */
  private take(q: MemQueue): Entry | number {
    const now = Date.now();
    let next = Infinity;
    for (const e of q.entries.values()) {
      if (e.lease) continue;
      if (e.availableAt <= now) {
        e.deliveries++;
        const id = ++this.leaseIds;
        const timer = setTimeout(() => this.expire(q, e, id), q.spec.ackWaitMs);
        e.lease = { id, timer };
        this.dirtySet.entry(q.spec.name, e.seq);
        this.changed();
        return e;
      }
      next = Math.min(next, e.availableAt - now);
    }
    return next;
  }

  private expire(q: MemQueue, e: Entry, id: number): void {
    if (e.lease?.id !== id) return;
    e.lease = undefined;
    e.availableAt = 0;
    this.wake(q);
  }

  private remove(q: MemQueue, e: Entry): void {
    if (e.lease) clearTimeout(e.lease.timer);
    e.lease = undefined;
    q.entries.delete(e.seq);
    this.dirtySet.entry(q.spec.name, e.seq);
    this.changed();
  }

  async consume<T>(queue: string, opts: ConsumeOptions, handler: (job: Job<T>, ctx: JobContext) => Promise<void>): Promise<Subscription> {
    const mq = this.queue(queue);
    if (mq.consumer !== undefined && mq.consumer !== opts.consumer) throw otherConsumer(queue, opts.consumer);
    if (mq.consumer === undefined) {
      mq.consumer = opts.consumer;
      this.dirtySet.queues.add(queue);
      this.changed();
    }
    let stopped = false;
    const stopWaiters = new Set<() => void>();

    const worker = async (): Promise<void> => {
      while (!stopped) {
        const q = this.queues.get(queue);
        if (!q) return;
        const got = this.take(q);
        if (typeof got === 'number') {
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(t);
              q.waiters.delete(done);
              stopWaiters.delete(done);
              resolve();
            };
            const t = setTimeout(done, Math.min(got, 1000));
            q.waiters.add(done);
            stopWaiters.add(done);
          });
          continue;
        }
        await this.handle<T>(q, got, handler);
      }
    };
    const workers = Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, () => worker());
    const ackWait = this.queues.get(queue)!.spec.ackWaitMs;
    const sub: Subscription & { stopWithin(ms: number): Promise<void> } = {
      stop: () => sub.stopWithin(ackWait),
      stopWithin: async (ms: number) => {
        if (stopped) return;
        stopped = true;
        this.subs.delete(sub);
        for (const w of [...stopWaiters]) w();
        // A job still running past its ack deadline is redelivered anyway: don't wait longer.
        await settleWithin(Promise.all(workers), ms);
      },
    };
    this.subs.add(sub);
    return sub;
  }

  private async handle<T>(q: MemQueue, e: Entry, handler: (job: Job<T>, ctx: JobContext) => Promise<void>): Promise<void> {
    const { spec } = q;
    const attempt = e.deliveries;
    const leaseId = e.lease!.id;
    if (attempt > spec.maxDeliver) {
      this.deadLetter(q, e, `not acknowledged within ${spec.ackWaitMs} ms in ${attempt - 1} deliveries (consumer died or stalled)`, attempt - 1);
      return;
    }
    const job = JSON.parse(JSON.stringify(e.job)) as Job<T>;
    const heartbeat = async () => {
      if (e.lease?.id !== leaseId) return;
      clearTimeout(e.lease.timer);
      const timer = setTimeout(() => this.expire(q, e, leaseId), spec.ackWaitMs);
      e.lease.timer = timer;
    };
    const done = this.metrics?.time(spec.name);
    try {
      await handler(job, { attempt, heartbeat });
    } catch (err) {
      done?.();
      if (!q.entries.has(e.seq) || this.closed) return;
      if (attempt >= spec.maxDeliver) {
        this.deadLetter(q, e, errorText(err), attempt);
      } else if (e.lease?.id === leaseId) {
        this.metrics?.settled(spec.name, 'retried');
        clearTimeout(e.lease.timer);
        e.lease = undefined;
        const delays = spec.backoffMs;
        e.availableAt = Date.now() + (delays.length ? delays[Math.min(attempt - 1, delays.length - 1)]! : 0);
        this.wake(q);
      }
      return;
    }
    done?.();
    // An ack after the deadline still counts while the job is there (as JetStream accepts it).
    if (q.entries.has(e.seq) && !this.closed) {
      this.remove(q, e);
      this.metrics?.settled(spec.name, 'acked');
    }
  }

  private deadLetter(q: MemQueue, e: Entry, error: string, attempts: number): void {
    const dead = { job: e.job, error, attempts };
    q.dead.push(dead);
    this.dirtySet.dead.push([q.spec.name, dead]);
    this.remove(q, e);
    this.metrics?.settled(q.spec.name, 'dead_lettered');
    log.warn({ queue: q.spec.name, jobId: e.job.id, attempts, error }, 'job dead-lettered');
  }

  async deadLetters<T>(queue: string): Promise<DeadLetter<T>[]> {
    return this.queue(queue).dead.map((d) => JSON.parse(JSON.stringify(d)) as DeadLetter<T>);
  }

  async pending(queue: string): Promise<number> {
    return this.queue(queue).entries.size;
  }

  async kv(bucket: string): Promise<KeyValue> {
    let state = this.kvState.get(bucket);
    if (!state) {
      state = { revision: 0, entries: {} };
      this.kvState.set(bucket, state);
      this.dirtySet.buckets.add(bucket);
      this.changed();
    }
    return new MemoryKeyValue(state, (key) => {
      this.dirtySet.key(bucket, key);
      this.changed();
    });
  }

  async deleteKv(bucket: string): Promise<void> {
    if (!this.kvState.delete(bucket)) return;
    this.dirtySet.resetBuckets.add(bucket);
    this.changed();
  }

  async close(): Promise<void> {
    await Promise.all([...this.subs].map((s) => s.stopWithin(CLOSE_GRACE_MS)));
    this.closed = true;
    for (const q of this.queues.values()) {
      for (const e of q.entries.values()) if (e.lease) clearTimeout(e.lease.timer);
    }
    this.flush();
  }
}
