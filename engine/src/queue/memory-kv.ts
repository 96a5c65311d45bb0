/**
 * In-process KeyValue with the JetStream KV semantics: one revision counter per bucket, JSON copies of
 * values (no aliasing between writer and reader), CAS on the key's last revision, 0 = create.
 */
import type { KeyValue, KvEntry } from '../ports/job-queue.ts';
import { QuarryError } from '../lib/errors.ts';
import { KvConflictError } from './errors.ts';
import { KeyLocks, mutateWithRetry } from './mutate.ts';
import { checkKvKey } from './names.ts';

export interface MemoryKvState {
  revision: number;
  entries: Record<string, { json: string; revision: number }>;
}

export class MemoryKeyValue implements KeyValue {
  private readonly state: MemoryKvState;
  /** Called with the key after every change (the persistence writes what changed). */
  private readonly onChange: (key: string) => void;
  private readonly locks = new KeyLocks();

  constructor(state: MemoryKvState, onChange: (key: string) => void = () => {}) {
    this.state = state;
    this.onChange = onChange;
  }

  async get<T>(key: string): Promise<KvEntry<T> | undefined> {
    checkKvKey(key);
    const e = Object.hasOwn(this.state.entries, key) ? this.state.entries[key] : undefined;
    return e ? { key, value: JSON.parse(e.json) as T, revision: e.revision } : undefined;
  }

  private write(key: string, value: unknown): number {
    let json: string;
    try {
      json = JSON.stringify(value) ?? 'null';
    } catch (err) {
      // A value nested too deep for the serializer (the HTTP layer bounds body depth; this is the last line).
      if (err instanceof RangeError) throw new QuarryError('BadRequestError', `the value for '${key}' is nested too deeply to store: flatten it`, { key });
      throw err;
    }
    const revision = ++this.state.revision;
    this.state.entries[key] = { json, revision };
    this.onChange(key);
    return revision;
  }

  async put<T>(key: string, value: T): Promise<number> {
    checkKvKey(key);
    return this.write(key, value);
  }

  async update<T>(key: string, value: T, expectedRevision: number): Promise<number> {
    checkKvKey(key);
    const current = (Object.hasOwn(this.state.entries, key) ? this.state.entries[key]?.revision : undefined) ?? 0;
    if (current !== Math.max(0, expectedRevision)) throw new KvConflictError(key, expectedRevision);
    return this.write(key, value);
  }

  mutate<T>(key: string, fn: (current: T | undefined) => T): Promise<T> {
    return mutateWithRetry<T>(this, this.locks, key, fn);
  }

  async delete(key: string): Promise<void> {
    checkKvKey(key);
    if (key in this.state.entries) {
      delete this.state.entries[key];
      this.state.revision++;
      this.onChange(key);
    }
  }

  async keys(prefix = ''): Promise<string[]> {
    return Object.keys(this.state.entries)
      .filter((k) => k.startsWith(prefix))
      .sort();
  }
}
