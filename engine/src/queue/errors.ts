/** Errors the JobQueue adapters share, so callers can tell them apart without knowing the adapter. */
import { QuarryError } from '../lib/errors.ts';

/** A compare-and-set `update` lost: the stored revision is not the expected one. */
export class KvConflictError extends QuarryError {
  readonly key: string;
  readonly expectedRevision: number;
  constructor(key: string, expectedRevision: number, cause?: unknown) {
    super('AlreadyExistsError', `KV conflict on '${key}': revision ${expectedRevision} is not the latest`, { key, expectedRevision });
    this.key = key;
    this.expectedRevision = expectedRevision;
    if (cause !== undefined) this.cause = cause;
  }
}

export function isKvConflict(err: unknown): err is KvConflictError {
  return err instanceof KvConflictError;
}

export function queueNotFound(name: string): QuarryError {
  return new QuarryError('NotFoundError', `queue '${name}' not found`, { resource: 'queue', id: name });
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** A work queue has one consumer group: every job goes to one of its workers, never to two groups. */
export function otherConsumer(queue: string, consumer: string): QuarryError {
  return new QuarryError('AlreadyExistsError', `queue '${queue}' already has a different consumer than '${consumer}': a work queue has one consumer group`, {
    queue,
    consumer,
  });
}
