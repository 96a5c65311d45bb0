/**
 * JetStream names for a queue. Queue names come from namespaces and resources, which may hold characters
 * that stream names and subject tokens forbid ('.', '*', '>', whitespace, path separators); those are
 * replaced and a short hash keeps two different names from colliding.
 */
import { createHash } from 'node:crypto';

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

export function checkKvKey(key: string): void {
  if (!KV_KEY.test(key) || key.startsWith('.') || key.endsWith('.')) {
    throw new Error(`invalid KV key '${key}': use letters, digits and - / _ = . (not at the ends)`);
  }
}
