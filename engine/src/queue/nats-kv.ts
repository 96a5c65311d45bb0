/** KeyValue on a JetStream KV bucket (@nats-io/kv): JSON values, CAS via the bucket's last-sequence checks. */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { KeyValue, KvEntry } from '../ports/job-queue.ts';
import { KvConflictError } from './errors.ts';
import { KeyLocks, mutateWithRetry } from './mutate.ts';
import { checkKvKey } from './names.ts';

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export class NatsKeyValue implements KeyValue {
  private readonly kv: KV;
  private readonly locks = new KeyLocks();

  constructor(kv: KV) {
    this.kv = kv;
  }

  async get<T>(key: string): Promise<KvEntry<T> | undefined> {
    checkKvKey(key);
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT') return undefined;
    return { key, value: e.json<T>(), revision: e.revision };
  }

  async put<T>(key: string, value: T): Promise<number> {
    checkKvKey(key);
    return this.kv.put(key, JSON.stringify(value));
  }

  async update<T>(key: string, value: T, expectedRevision: number): Promise<number> {
    checkKvKey(key);
    const data = JSON.stringify(value);
    try {
      return expectedRevision <= 0 ? await this.kv.create(key, data) : await this.kv.update(key, data, expectedRevision);
    } catch (err) {
      if (isWrongLastSequence(err)) throw new KvConflictError(key, expectedRevision, err);
      throw err;
    }
  }

  mutate<T>(key: string, fn: (current: T | undefined) => T): Promise<T> {
    return mutateWithRetry<T>(this, this.locks, key, fn);
  }

  async delete(key: string): Promise<void> {
    checkKvKey(key);
    await this.kv.delete(key);
  }

  async keys(prefix = ''): Promise<string[]> {
    // A Set: the client lists keys through a consumer that keeps delivering until nothing is pending, so a key
    // written while the listing runs comes twice (two runtimes counted where one heartbeat landed mid-listing).
    const out = new Set<string>();
    // A prefix ending in a token separator narrows the server-side subject filter (`batch.` → `batch.>`).
    const filter = prefix.endsWith('.') && prefix.length > 1 ? `${prefix}>` : '>';
    for await (const k of await this.kv.keys(filter)) if (k.startsWith(prefix)) out.add(k);
    return [...out].sort();
  }
}
