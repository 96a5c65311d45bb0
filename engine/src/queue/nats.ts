/**
 * JobQueue on NATS JetStream.
 *
 * Per queue: a work-queue stream (file storage, Nats-Msg-Id dedupe window) and a limits stream for its
 * dead-letter subject. Durable pull consumers (explicit ack, ack_wait) are shared by name; each worker
 * pulls one message at a time so no job waits in a client buffer while its ack deadline runs.
 *
 * Max deliveries is enforced here rather than with the consumer's max_deliver: the server only stops
 * redelivering at max_deliver and leaves the message in the stream, so a job whose workers keep dying would
 * never reach the dead-letter subject. The consumer is unlimited; a delivery past maxDeliver is moved to
 * the dead-letter stream without running the handler. Failed attempts are nak'd with the queue's backoff.
 * The queue spec travels in the stream description, so any process can consume without the spec.
 */
import { readFileSync } from 'node:fs';
import {
  AckPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, credsAuthenticator, nanos, type NatsConnection } from '@nats-io/transport-node';
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
import { NatsKeyValue } from './nats-kv.ts';
import type { JobMetrics } from './metrics.ts';
import { queueNames, token, type QueueNames } from './names.ts';
import { CLOSE_GRACE_MS, resolveSpec, settleWithin, type ResolvedSpec } from './spec.ts';

const log = logger('queue.nats');

export interface NatsJobQueueConfig {
  servers: string | string[];
  /** Path to a NATS .creds file (JWT + nkey seed). */
  credsFile?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Prefix of stream names and subjects; lets several installations share one NATS account. */
  prefix?: string;
  replicas?: number;
  duplicateWindowMs?: number;
  /** How long dead letters are kept. */
  deadLetterMaxAgeMs?: number;
  /** Connection name shown in server monitoring. */
  name?: string;
  /** Records job outcomes and handler time. */
  metrics?: JobMetrics;
}

interface DeadLetterRecord {
  job: Job;
  error: string;
  attempts: number;
  at: string;
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

export class NatsJobQueue implements JobQueue {
  readonly kind = 'nats';
  private readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private readonly prefix: string;
  private readonly cfg: NatsJobQueueConfig;
  private readonly specs = new Map<string, ResolvedSpec>();
  private readonly subs = new Set<{ stopWithin(ms: number): Promise<void> }>();
  private readonly kvs = new Map<string, Promise<KeyValue>>();

  private constructor(nc: NatsConnection, jsm: JetStreamManager, cfg: NatsJobQueueConfig) {
    this.nc = nc;
    this.jsm = jsm;
    this.js = jetstream(nc);
    this.cfg = cfg;
    this.prefix = token(cfg.prefix ?? 'QUARRY').toUpperCase();
  }

  static async connect(cfg: NatsJobQueueConfig): Promise<NatsJobQueue> {
    const nc = await connect({
      servers: cfg.servers,
      name: cfg.name ?? 'quarry',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...(cfg.user !== undefined ? { user: cfg.user, pass: cfg.pass ?? '' } : {}),
      ...(cfg.token !== undefined ? { token: cfg.token } : {}),
      ...(cfg.credsFile ? { authenticator: credsAuthenticator(readFileSync(cfg.credsFile)) } : {}),
    });
    const jsm = await jetstreamManager(nc);
    return new NatsJobQueue(nc, jsm, cfg);
  }

  private names(queue: string): QueueNames {
    return queueNames(this.prefix, queue);
  }

  async ensureQueue(spec: QueueSpec): Promise<void> {
    const resolved = resolveSpec(spec);
    const n = this.names(spec.name);
    const description = JSON.stringify({ quarry: resolved });
    const work: Partial<StreamConfig> & { name: string } = {
      name: n.stream,
      subjects: [n.subject],
      description,
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: this.cfg.replicas ?? 1,
      duplicate_window: nanos(this.cfg.duplicateWindowMs ?? 120_000),
      discard: DiscardPolicy.Old,
    };
    await this.upsertStream(work);
    await this.upsertStream({
      name: n.dlqStream,
      subjects: [n.dlqSubject],
      description: `dead letters of queue ${spec.name}`,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: this.cfg.replicas ?? 1,
      duplicate_window: nanos(this.cfg.duplicateWindowMs ?? 120_000),
      max_age: nanos(this.cfg.deadLetterMaxAgeMs ?? 14 * 24 * 3600_000),
    });
    this.specs.set(spec.name, resolved);
  }

  private async upsertStream(cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
    try {
      const info = await this.jsm.streams.info(cfg.name);
      if (info.config.description !== cfg.description) await this.jsm.streams.update(cfg.name, { ...info.config, description: cfg.description });
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
      await this.jsm.streams.add(cfg);
    }
  }

  /** Both streams of the queue exist (a process killed inside ensureQueue may have left the first one only). */
  async queueExists(name: string): Promise<boolean> {
    const n = this.names(name);
    for (const stream of [n.stream, n.dlqStream]) {
      try {
        await this.jsm.streams.info(stream);
      } catch (err) {
        if (isApiError(err, JetStreamApiCodes.StreamNotFound)) return false;
        throw err;
      }
    }
    return true;
  }

  async listQueues(): Promise<string[]> {
    const out: string[] = [];
    for await (const si of this.jsm.streams.list()) {
      if (!si.config.name.startsWith(`${this.prefix}_JOBS_`)) continue;
      try {
        const name = (JSON.parse(si.config.description ?? '{}') as { quarry?: { name?: string } }).quarry?.name;
        if (name) out.push(name);
      } catch {
        /* a stream with our prefix but not written by ensureQueue */
      }
    }
    return out.sort();
  }

  async deleteQueue(name: string): Promise<void> {
    const n = this.names(name);
    for (const stream of [n.stream, n.dlqStream]) {
      try {
        await this.jsm.streams.delete(stream);
      } catch (err) {
        if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
      }
    }
    this.specs.delete(name);
  }

  private async spec(queue: string): Promise<ResolvedSpec> {
    const cached = this.specs.get(queue);
    if (cached) return cached;
    try {
      const info = await this.jsm.streams.info(this.names(queue).stream);
      const parsed = JSON.parse(info.config.description ?? '{}') as { quarry?: ResolvedSpec };
      const spec = parsed.quarry ?? resolveSpec({ name: queue });
      this.specs.set(queue, spec);
      return spec;
    } catch (err) {
      if (isApiError(err, JetStreamApiCodes.StreamNotFound)) throw queueNotFound(queue);
      throw err;
    }
  }

  async publish<T>(queue: string, job: Job<T>): Promise<void> {
    const n = this.names(queue);
    try {
      await this.js.publish(n.subject, JSON.stringify(job), { msgID: job.id });
    } catch (err) {
      // No stream listens on the subject: the client reports the missing responder as "JetStream not
      // enabled", so tell a missing queue apart by asking for the stream.
      if (!(await this.queueExists(queue).catch(() => true))) throw queueNotFound(queue);
      throw err;
    }
  }

  async consume<T>(queue: string, opts: ConsumeOptions, handler: (job: Job<T>, ctx: JobContext) => Promise<void>): Promise<Subscription> {
    const spec = await this.spec(queue);
    const n = this.names(queue);
    const durable = token(opts.consumer);
    try {
      const info = await this.jsm.consumers.info(n.stream, durable);
      if (info.config.ack_wait !== nanos(spec.ackWaitMs)) {
        // The queue spec changed since the consumer was made; servers before 2.10 may refuse the edit.
        await this.jsm.consumers.update(n.stream, durable, { ack_wait: nanos(spec.ackWaitMs) }).catch((err: unknown) => {
          log.warn({ queue, err: errorText(err) }, 'could not update the consumer ack_wait');
        });
      }
    } catch (err) {
      if (isApiError(err, JetStreamApiCodes.StreamNotFound)) {
        this.specs.delete(queue); // deleted by another client since we cached its spec
        throw queueNotFound(queue);
      }
      if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
      try {
        await this.jsm.consumers.add(n.stream, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          ack_wait: nanos(spec.ackWaitMs),
          max_deliver: -1,
          filter_subject: n.subject,
        });
      } catch (addErr) {
        // 10099/10100: a work-queue stream allows one consumer; each job goes to exactly one consumer group.
        if (isApiError(addErr, 10100) || isApiError(addErr, 10099)) throw otherConsumer(queue, opts.consumer);
        throw addErr;
      }
    }
    const consumer = await this.js.consumers.get(n.stream, durable);
    let stopped = false;

    const worker = async (): Promise<void> => {
      let errors = 0;
      while (!stopped) {
        let msg: JsMsg | null;
        try {
          msg = await consumer.next({ expires: 1000 });
          errors = 0;
        } catch (err) {
          if (stopped || this.nc.isClosed()) return;
          if (!(await this.queueExists(queue).catch(() => true))) {
            log.info({ queue }, 'queue deleted; its consumer stops');
            return;
          }
          errors++;
          log.warn({ queue, err: errorText(err) }, 'pull failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** errors)));
          continue;
        }
        if (!msg) continue;
        if (stopped) {
          msg.nak();
          return;
        }
        await this.handle<T>(queue, n, spec, msg, handler);
      }
    };
    const workers = Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, () => worker());
    const sub: Subscription & { stopWithin(ms: number): Promise<void> } = {
      stop: () => sub.stopWithin(spec.ackWaitMs),
      stopWithin: async (ms: number) => {
        if (stopped) return;
        stopped = true;
        this.subs.delete(sub);
        // Jobs still running after their ack deadline will be redelivered anyway: don't wait longer.
        await settleWithin(Promise.all(workers), ms);
      },
    };
    this.subs.add(sub);
    return sub;
  }

  private async handle<T>(
    queue: string,
    n: QueueNames,
    spec: ResolvedSpec,
    msg: JsMsg,
    handler: (job: Job<T>, ctx: JobContext) => Promise<void>,
  ): Promise<void> {
    const attempt = msg.info.deliveryCount;
    let job: Job<T>;
    try {
      job = msg.json<Job<T>>();
    } catch (err) {
      log.error({ queue, seq: msg.seq, err: errorText(err) }, 'undecodable job; terminating it');
      msg.term('undecodable');
      return;
    }
    try {
      if (attempt > spec.maxDeliver) {
        // Earlier deliveries were never acked: their consumers died or stalled past ack_wait.
        const error = `not acknowledged within ${spec.ackWaitMs} ms in ${attempt - 1} deliveries (consumer died or stalled)`;
        await this.deadLetter(n, msg, job, error, attempt - 1);
        this.cfg.metrics?.settled(queue, 'dead_lettered');
        return;
      }
      const done = this.cfg.metrics?.time(queue);
      try {
        await handler(job, { attempt, heartbeat: async () => msg.working() });
      } catch (err) {
        done?.();
        if (attempt >= spec.maxDeliver) {
          await this.deadLetter(n, msg, job, errorText(err), attempt);
          this.cfg.metrics?.settled(queue, 'dead_lettered');
        } else {
          const delays = spec.backoffMs;
          msg.nak(delays.length ? delays[Math.min(attempt - 1, delays.length - 1)] : 0);
          this.cfg.metrics?.settled(queue, 'retried');
        }
        return;
      }
      done?.();
      await msg.ackAck();
      this.cfg.metrics?.settled(queue, 'acked');
    } catch (err) {
      // Connection trouble while acking: the job will be redelivered (at-least-once).
      log.warn({ queue, jobId: job.id, err: errorText(err) }, 'could not settle job');
    }
  }

  private async deadLetter(n: QueueNames, msg: JsMsg, job: Job, error: string, attempts: number): Promise<void> {
    const rec: DeadLetterRecord = { job, error, attempts, at: new Date().toISOString() };
    // The msg id makes a second dead-lettering of the same message (a crash before the ack) a no-op.
    await this.js.publish(n.dlqSubject, JSON.stringify(rec), { msgID: `dlq:${msg.seq}:${job.id}` });
    await msg.ackAck();
    log.warn({ stream: n.stream, jobId: job.id, attempts, error }, 'job dead-lettered');
  }

  async deadLetters<T>(queue: string): Promise<DeadLetter<T>[]> {
    const n = this.names(queue);
    let first: number;
    let last: number;
    try {
      const info = await this.jsm.streams.info(n.dlqStream);
      first = info.state.first_seq;
      last = info.state.last_seq;
      if (info.state.messages === 0) return [];
    } catch (err) {
      if (isApiError(err, JetStreamApiCodes.StreamNotFound)) throw queueNotFound(queue);
      throw err;
    }
    const out: DeadLetter<T>[] = [];
    for (let seq = first; seq <= last; seq++) {
      let m;
      try {
        m = await this.jsm.streams.getMessage(n.dlqStream, { seq });
      } catch (err) {
        if (isApiError(err, JetStreamApiCodes.NoMessageFound)) continue;
        throw err;
      }
      if (!m) continue;
      const rec = m.json<DeadLetterRecord>();
      out.push({ job: rec.job as Job<T>, error: rec.error, attempts: rec.attempts });
    }
    return out;
  }

  async pending(queue: string): Promise<number> {
    try {
      const info = await this.jsm.streams.info(this.names(queue).stream);
      return info.state.messages;
    } catch (err) {
      if (isApiError(err, JetStreamApiCodes.StreamNotFound)) throw queueNotFound(queue);
      throw err;
    }
  }

  kv(bucket: string): Promise<KeyValue> {
    const name = `${this.prefix}_${token(bucket)}`;
    let p = this.kvs.get(name);
    if (!p) {
      p = new Kvm(this.js)
        .create(name, { history: 1, storage: StorageType.File, replicas: this.cfg.replicas ?? 1 })
        .then((kv) => new NatsKeyValue(kv));
      p.catch(() => this.kvs.delete(name));
      this.kvs.set(name, p);
    }
    return p;
  }

  async deleteKv(bucket: string): Promise<void> {
    const name = `${this.prefix}_${token(bucket)}`;
    this.kvs.delete(name);
    try {
      await this.jsm.streams.delete(`KV_${name}`); // a KV bucket is the JetStream stream KV_<bucket>
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.subs].map((s) => s.stopWithin(CLOSE_GRACE_MS)));
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}
