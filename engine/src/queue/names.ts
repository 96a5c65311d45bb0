/**
 * JetStream names for a queue. Queue names come from namespaces and resources, which may hold characters
 * that stream names and subject tokens forbid ('.', '*', '>', whitespace, path separators); those are
 * replaced and a short hash keeps two different names from colliding.
 */
import { createHash } from 'node:crypto';
import { QuarryError } from '../lib/errors.ts';
import { FORBIDDEN_KEYS } from '../lib/safe-object.ts';

const SAFE = /^[A-Za-z0-9_-]{1,64}$/;

export function token(name: string): string {
  if (!name) throw new Error('queue name must not be empty');
  if (SAFE.test(name)) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 48)}_${hash}`;
}

export interface QueueNames {
  stream: string;
  subject: string;
  dlqStream: string;
  dlqSubject: string;
}

export function queueNames(prefix: string, name: string): QueueNames {
  const t = token(name);
  return {
    stream: `${prefix}_JOBS_${t}`,
    subject: `${prefix.toLowerCase()}.jobs.${t}`,
    dlqStream: `${prefix}_DLQ_${t}`,
    dlqSubject: `${prefix.toLowerCase()}.dlq.${t}`,
  };
}

/** KV keys: NATS allows `[-/_=.a-zA-Z0-9]`, not leading/trailing dots. */
const KV_KEY = /^[-/_=.a-zA-Z0-9]+$/;

/**
 * Throws unless `key` can be a KV key. Keys hold ids from request paths (tasks, batches, uploads), so a bad one is
 * the client's: a 400 naming it, never a 500. Segments named like prototype keys are refused too (the in-memory
 * KV keeps entries in a plain object).
 */
export function checkKvKey(key: string): void {
  if (!KV_KEY.test(key) || key.startsWith('.') || key.endsWith('.') || key.split(/[/.]/).some((s) => FORBIDDEN_KEYS.has(s))) {
    const id = key.slice(key.lastIndexOf('/') + 1);
    throw new QuarryError('BadRequestError', `'${id}' is not a valid id: ids use letters, digits and - _ = . only`, { field: 'id', id });
  }
}
