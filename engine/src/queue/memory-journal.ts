/**
 * Durable state of the in-process JobQueue: a JSON snapshot plus an append-only journal of changes.
 *
 * Rewriting the whole state on every change cost O(state) per write: with a few thousand objects and batches in
 * the KV, local mode spent a quarter of its CPU re-serialising unchanged records, and more the longer it ran (the
 * soak bench's latency drift). Each flush now appends one journal line with only what changed since the last one;
 * the snapshot is rewritten (compaction) once the journal outgrows it, so the cost per change is amortised O(1).
 *
 * Files in the data dir: `job-queue.json` (the snapshot, naming its generation) and `job-queue.<gen>.journal`.
 * Compaction writes generation g+1's snapshot (temp file + rename) before it deletes journal g, so a crash
 * between the two leaves a snapshot whose journal does not exist yet: nothing is replayed twice. A torn last
 * journal line (a crash mid-append) is dropped with a warning. Hand-written because no maintained embedded store
 * installs offline here without a native build (node:sqlite is still experimental in Node 22 and warns on load).
 */
import { appendFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { logger } from '../lib/log.ts';
import type { DeadLetter, Job } from '../ports/job-queue.ts';
import type { MemoryKvState } from './memory-kv.ts';
import type { ResolvedSpec } from './spec.ts';

const log = logger('queue.memory');
const SNAPSHOT = 'job-queue.json';
/** The journal is compacted into a new snapshot once it is larger than this and than twice the last snapshot. */
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
  /** The journal generation that continues this snapshot (absent in files written before the journal). */
  gen?: number;
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
  private readonly dir: string;
  private gen = 0;
  private journalBytes = 0;
  private snapshotBytes = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  private journalFile(gen = this.gen): string {
    return path.join(this.dir, `job-queue.${gen}.journal`);
  }

  /** The state on disk: the snapshot with its journal replayed. Journals of other generations are removed. */
  load(): StoredState {
    const state: StoredState = { queues: new Map(), kv: new Map() };
    const file = path.join(this.dir, SNAPSHOT);
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      this.snapshotBytes = text.length;
      const snap = JSON.parse(text) as SnapshotFile;
      this.gen = snap.gen ?? 0;
      for (const q of snap.queues) {
        state.queues.set(q.spec.name, {
          spec: q.spec,
          ...(q.consumer ? { consumer: q.consumer } : {}),
          nextSeq: q.nextSeq,
          entries: new Map(q.entries.map((e) => [e.seq, e])),
          dedupe: new Map(q.dedupe),
          dead: q.dead,
        });
      }
      for (const [name, kv] of Object.entries(snap.kv)) state.kv.set(name, kv);
    }
    for (const f of readdirSync(this.dir)) {
      if (/^job-queue\.\d+\.journal$/.test(f) && f !== path.basename(this.journalFile())) rmSync(path.join(this.dir, f), { force: true });
    }
    if (existsSync(this.journalFile())) {
      const text = readFileSync(this.journalFile(), 'utf8');
      let good = 0; // bytes of the lines read whole
      for (let start = 0; start < text.length; ) {
        const end = text.indexOf('\n', start);
        let changes: Change[] | undefined;
        try {
          if (end >= 0) changes = JSON.parse(text.slice(start, end)) as Change[];
        } catch {
          // unreadable: handled below
        }
        if (!changes) {
          log.warn({ file: this.journalFile(), offset: start, dropped: text.length - start }, 'journal ends in a line cut short by a crash; dropped it (the changes of the last flush before the crash are lost)');
          // Cut it off so the next appends start on a line of their own and are read back.
          truncateSync(this.journalFile(), Buffer.byteLength(text.slice(0, start)));
          break;
        }
        for (const c of changes) applyChange(state, c);
        start = end + 1;
        good = start;
      }
      this.journalBytes = good;
    }
    return state;
  }

  /** Appends one flush's changes; compacts into a new snapshot (from `current`) once the journal outgrows it. */
  append(changes: Change[], current: () => StoredState): void {
    if (!changes.length) return;
    const line = `${JSON.stringify(changes)}\n`;
    appendFileSync(this.journalFile(), line);
    this.journalBytes += line.length;
    if (this.journalBytes > Math.max(MIN_COMPACT_BYTES, 2 * this.snapshotBytes)) this.compact(current());
  }

  /** Writes the whole state as the next generation's snapshot and drops the journal it replaces. */
  compact(state: StoredState): void {
    const old = this.journalFile();
    const snap: SnapshotFile = {
      gen: this.gen + 1,
      queues: [...state.queues.values()].map((q) => ({
        spec: q.spec,
        ...(q.consumer ? { consumer: q.consumer } : {}),
        nextSeq: q.nextSeq,
        entries: [...q.entries.values()].map(({ seq, job, deliveries }) => ({ seq, job, deliveries })),
        dedupe: [...q.dedupe],
        dead: q.dead,
      })),
      kv: Object.fromEntries(state.kv),
    };
    const text = JSON.stringify(snap);
    const tmp = path.join(this.dir, `${SNAPSHOT}.${process.pid}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, path.join(this.dir, SNAPSHOT));
    this.gen++;
    this.snapshotBytes = text.length;
    this.journalBytes = 0;
    rmSync(old, { force: true });
  }
}
