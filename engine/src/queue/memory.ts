/**
 * In-process JobQueue for local mode, with the NATS adapter's semantics: at-least-once delivery, a per-job
 * ack deadline that heartbeats extend (an unacked job becomes available again when it passes), nak with the
 * queue's backoff, dead-lettering after maxDeliver (also for jobs whose consumers never acked), dedupe of
 * job ids within a window, and KV buckets with CAS.
 *
 * With `dataDir`, queues, pending jobs, dead letters and KV buckets are written to one JSON snapshot
 * (temp file + rename) at most 50 ms after a change and on close(); jobs in flight when the process stopped
 * are redelivered on restart, as with a consumer that died. A crash can lose the last 50 ms of changes:
 * local mode trades that for not rewriting the snapshot on every change.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
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
import type { JobMetrics } from './metrics.ts';
import { CLOSE_GRACE_MS, resolveSpec, settleWithin, type ResolvedSpec } from './spec.ts';

const log = logger('queue.memory');
const FLUSH_DELAY_MS = 50;

export interface MemoryJobQueueConfig {
  /** Persist state under this directory (file `job-queue.json`); in memory only when absent. */
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

interface Snapshot {
  queues: Array<{ spec: ResolvedSpec; consumer?: string; nextSeq: number; entries: Array<Pick<Entry, 'seq' | 'job' | 'deliveries'>>; dedupe: Array<[string, number]>; dead: DeadLetter[] }>;
  kv: Record<string, MemoryKvState>;
}

export class MemoryJobQueue implements JobQueue {
  readonly kind = 'memory';
  private readonly queues = new Map<string, MemQueue>();
  private readonly kvState = new Map<string, MemoryKvState>();
  private readonly subs = new Set<{ stopWithin(ms: number): Promise<void> }>();
  private readonly file?: string;
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
      this.file = path.join(cfg.dataDir, 'job-queue.json');
      this.load();
    }
  }

  private load(): void {
    let snap: Snapshot;
    try {
      snap = JSON.parse(readFileSync(this.file!, 'utf8')) as Snapshot;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const q of snap.queues) {
      this.queues.set(q.spec.name, {
        spec: q.spec,
        ...(q.consumer ? { consumer: q.consumer } : {}),
        nextSeq: q.nextSeq,
        entries: new Map(q.entries.map((e) => [e.seq, { ...e, availableAt: 0 }])),
        dedupe: new Map(q.dedupe),
        dead: q.dead,
        waiters: new Set(),
      });
    }
    for (const [name, state] of Object.entries(snap.kv)) this.kvState.set(name, state);
  }

  /**
   * Coalesces the changes of up to `FLUSH_DELAY_MS` into one snapshot write (the whole state is rewritten,
   * so writing per change would cost O(state) each time); close() writes what is left.
   */
  private changed(): void {
    if (!this.file || this.dirty) return;
    this.dirty = true;
    this.flushTimer = setTimeout(() => this.flush(), FLUSH_DELAY_MS);
    this.flushTimer.unref();
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    if (!this.file || !this.dirty) return;
    this.dirty = false;
    const snap: Snapshot = {
      queues: [...this.queues.values()].map((q) => ({
        spec: q.spec,
        ...(q.consumer ? { consumer: q.consumer } : {}),
        nextSeq: q.nextSeq,
        entries: [...q.entries.values()].map(({ seq, job, deliveries }) => ({ seq, job, deliveries })),
        dedupe: [...q.dedupe],
        dead: q.dead,
      })),
      kv: Object.fromEntries(this.kvState),
    };
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(snap));
    renameSync(tmp, this.file);
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
    this.changed();
  }

  async consume<T>(queue: string, opts: ConsumeOptions, handler: (job: Job<T>, ctx: JobContext) => Promise<void>): Promise<Subscription> {
    const mq = this.queue(queue);
    if (mq.consumer !== undefined && mq.consumer !== opts.consumer) throw otherConsumer(queue, opts.consumer);
    if (mq.consumer === undefined) {
      mq.consumer = opts.consumer;
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
    q.dead.push({ job: e.job, error, attempts });
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
      this.changed();
    }
    return new MemoryKeyValue(state, () => this.changed());
  }

  async deleteKv(bucket: string): Promise<void> {
    if (this.kvState.delete(bucket)) this.changed();
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
