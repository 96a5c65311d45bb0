/**
 * JobQueue port: at-least-once work queues (NATS JetStream in cluster mode, in-process in local mode) plus a
 * key-value store for batch and task state. Contract suite: test/contract/job-queue.contract.ts.
 */
export interface QueueSpec {
  name: string;
  /** Max deliveries before the job goes to the dead-letter subject. */
  maxDeliver?: number;
  ackWaitMs?: number;
  /** Redelivery delays after a failed attempt (nak), one per attempt; the last repeats. */
  backoffMs?: number[];
}

export interface Job<T = unknown> {
  /** Unique id: publishing the same id twice within the dedupe window enqueues it once. */
  id: string;
  data: T;
}

export interface JobContext {
  attempt: number;
  /** Extends the ack deadline of a long job. */
  heartbeat(): Promise<void>;
}

export interface DeadLetter<T = unknown> {
  job: Job<T>;
  error: string;
  attempts: number;
}

export interface ConsumeOptions {
  /** Durable consumer name: consumers with the same name share the work. */
  consumer: string;
  concurrency?: number;
}

export interface Subscription {
  stop(): Promise<void>;
}

export interface KvEntry<T = unknown> {
  key: string;
  value: T;
  revision: number;
}

export interface KeyValue {
  get<T>(key: string): Promise<KvEntry<T> | undefined>;
  put<T>(key: string, value: T): Promise<number>;
  /** Compare-and-set: fails with a conflict error when the stored revision differs. */
  update<T>(key: string, value: T, expectedRevision: number): Promise<number>;
  /** Atomic read-modify-write with retries on conflict. */
  mutate<T>(key: string, fn: (current: T | undefined) => T): Promise<T>;
  delete(key: string): Promise<void>;
  keys(prefix?: string): Promise<string[]>;
}

export interface JobQueue {
  readonly kind: string;
  ensureQueue(spec: QueueSpec): Promise<void>;
  /** The queue is fully provisioned (with its dead-letter store): false after a half-finished ensureQueue. */
  queueExists(name: string): Promise<boolean>;
  /** Names of every queue this store holds (workers discover the namespaces' queues with it). */
  listQueues(): Promise<string[]>;
  /** Deletes whatever exists of the queue; a queue that does not exist (or half exists) is not an error. */
  deleteQueue(name: string): Promise<void>;
  publish<T>(queue: string, job: Job<T>): Promise<void>;
  /** Handler resolves → ack; throws → nak with backoff, or dead-letter after maxDeliver. */
  consume<T>(queue: string, opts: ConsumeOptions, handler: (job: Job<T>, ctx: JobContext) => Promise<void>): Promise<Subscription>;
  deadLetters<T>(queue: string): Promise<DeadLetter<T>[]>;
  pending(queue: string): Promise<number>;
  kv(bucket: string): Promise<KeyValue>;
  /** Deletes a key-value bucket and everything in it; a bucket that does not exist is not an error. */
  deleteKv?(bucket: string): Promise<void>;
  close(): Promise<void>;
}
