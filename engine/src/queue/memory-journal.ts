/**
 * Durable state of the in-process JobQueue: `job-queue.json` plus its journal (lib/journaled-file.ts). Each flush
 * appends one journal line with only what changed since the last one. Before, the whole state was rewritten on
 * every flush: with a few thousand objects and batches in the KV, local mode spent a quarter of its CPU
 * re-serialising unchanged records, and more the longer it ran (the soak bench's latency drift).
 */
import path from 'node:path';
import { JournaledFile } from '../lib/journaled-file.ts';
import type { DeadLetter, Job } from '../ports/job-queue.ts';
import type { MemoryKvState } from './memory-kv.ts';
import type { ResolvedSpec } from './spec.ts';

/** The journal is compacted into a new snapshot once it is larger than this and than the last snapshot. */
const MIN_COMPACT_BYTES = 8 * 1024 * 1024;

export interface StoredEntry {
  seq: number;
  job: Job;
  deliveries: number;
}

export interface StoredQueueMeta {
  spec: ResolvedSpec;
  consumer?: string;
  nextSeq: number;
}

export interface StoredQueue extends StoredQueueMeta {
  entries: Map<number, StoredEntry>;
  dedupe: Map<string, number>;
  dead: DeadLetter[];
}

export interface StoredState {
  queues: Map<string, StoredQueue>;
  kv: Map<string, MemoryKvState>;
}

/** One change, applied in order: a null value deletes (a queue with its jobs, a bucket with its keys). */
export type Change =
  | ['queue', string, StoredQueueMeta | null]
  | ['entry', string, number, StoredEntry | null]
  | ['dedupe', string, string, number]
  | ['dead', string, DeadLetter]
  | ['bucket', string, number | null]
  | ['key', string, string, { json: string; revision: number } | null];

interface SnapshotFile {
  queues: Array<StoredQueueMeta & { entries: StoredEntry[]; dedupe: Array<[string, number]>; dead: DeadLetter[] }>;
  kv: Record<string, MemoryKvState>;
}

export function applyChange(state: StoredState, c: Change): void {
  switch (c[0]) {
    case 'queue': {
      const [, name, meta] = c;
      if (!meta) state.queues.delete(name);
      else {
        const q = state.queues.get(name);
        if (q) Object.assign(q, meta);
        else state.queues.set(name, { ...meta, entries: new Map(), dedupe: new Map(), dead: [] });
      }
      return;
    }
    case 'entry': {
      const q = state.queues.get(c[1]);
      if (!q) return;
      if (c[3]) q.entries.set(c[2], c[3]);
      else q.entries.delete(c[2]);
      return;
    }
    case 'dedupe':
      state.queues.get(c[1])?.dedupe.set(c[2], c[3]);
      return;
    case 'dead':
      state.queues.get(c[1])?.dead.push(c[2]);
      return;
    case 'bucket': {
      const [, bucket, revision] = c;
      if (revision === null) state.kv.delete(bucket);
      else {
        const b = state.kv.get(bucket);
        if (b) b.revision = revision;
        else state.kv.set(bucket, { revision, entries: {} });
      }
      return;
    }
    case 'key': {
      const b = state.kv.get(c[1]);
      if (!b) return;
      if (c[3]) b.entries[c[2]] = c[3];
      else delete b.entries[c[2]];
      return;
    }
  }
}

export class StateJournal {
  private readonly file: JournaledFile<SnapshotFile, Change[]>;

  constructor(dir: string) {
    this.file = new JournaledFile(path.join(dir, 'job-queue.json'), MIN_COMPACT_BYTES);
  }

  /** The state on disk: the snapshot with its journal replayed. */
  load(): StoredState {
    const state: StoredState = { queues: new Map(), kv: new Map() };
    const { snapshot, changes } = this.file.load();
    for (const q of snapshot?.queues ?? []) {
      state.queues.set(q.spec.name, {
        spec: q.spec,
        ...(q.consumer ? { consumer: q.consumer } : {}),
        nextSeq: q.nextSeq,
        entries: new Map(q.entries.map((e) => [e.seq, e])),
        dedupe: new Map(q.dedupe),
        dead: q.dead,
      });
    }
    for (const [name, kv] of Object.entries(snapshot?.kv ?? {})) state.kv.set(name, kv);
    for (const line of changes) for (const c of line) applyChange(state, c);
    return state;
  }

  /** Appends one flush's changes; compacts into a new snapshot (from `current`) once the journal outgrows it. */
  append(changes: Change[], current: () => StoredState): void {
    if (changes.length && this.file.append(changes)) this.compact(current());
  }

  /** Writes the whole state as the next snapshot and empties the journal. */
  compact(state: StoredState): void {
    this.file.compact({
      queues: [...state.queues.values()].map((q) => ({
        spec: q.spec,
        ...(q.consumer ? { consumer: q.consumer } : {}),
        nextSeq: q.nextSeq,
        entries: [...q.entries.values()].map(({ seq, job, deliveries }) => ({ seq, job, deliveries })),
        dedupe: [...q.dedupe],
        dead: q.dead,
      })),
      kv: Object.fromEntries(state.kv),
    });
  }
}
