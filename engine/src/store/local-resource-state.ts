// Local resource state: the entries, resourceVersion counter, listeners and journal/snapshot persistence behind every LocalResourceStore view.
import { JournaledFile } from '../lib/journaled-file.ts';
import { logger } from '../lib/log.ts';
import type { ObjectKey, Resource, WatchEvent } from '../ports/resource-store.ts';

export interface Entry {
  object: Resource;
  /** Field manager → the leaf paths (JSON-encoded) it owns. */
  owners: Record<string, string[]>;
}

export interface Listener {
  kind: string;
  namespace: string | undefined;
  push(e: WatchEvent<Resource>): void;
}

export const STATE_VERSION = 1;
export const log = logger('local-store');

/** The shared state behind every field manager's view of the store (one per data directory). */
export class LocalResourceState {
  readonly file: string | undefined;
  private rv = 0;
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<Listener>();

  /** Snapshot plus journal of changes (a write costs the size of one object). */
  private readonly disk: JournaledFile<Snapshot, JournalRecord> | undefined;

  constructor(file?: string) {
    this.file = file;
    this.disk = file ? new JournaledFile(file, COMPACT_MIN_BYTES) : undefined;
    const { snapshot, changes } = this.disk?.load() ?? { snapshot: undefined, changes: [] };
    if (snapshot) {
      this.rv = snapshot.resourceVersion;
      for (const e of snapshot.entries) this.entries.set(entryKey(e.object.kind, e.object.metadata), e);
    }
    for (const rec of changes) {
      if (rec.deleted) this.entries.delete(rec.key);
      else if (rec.entry) this.entries.set(rec.key, rec.entry);
      this.rv = Math.max(this.rv, rec.rv);
    }
  }

  nextVersion(): string {
    return String(++this.rv);
  }

  entry(kind: string, key: ObjectKey): Entry | undefined {
    return this.entries.get(entryKey(kind, key));
  }

  all(kind?: string): Entry[] {
    return [...this.entries.values()].filter((e) => kind === undefined || e.object.kind === kind);
  }

  /** Stores (or with `undefined`, removes) an object, persists, and tells the watches. */
  commit(type: WatchEvent['type'], entry: Entry): void {
    const k = entryKey(entry.object.kind, entry.object.metadata);
    if (type === 'deleted') this.entries.delete(k);
    else this.entries.set(k, entry);
    this.persist(type === 'deleted' ? { key: k, rv: this.rv, deleted: true } : { key: k, rv: this.rv, entry });
    for (const l of this.listeners) {
      if (l.kind === entry.object.kind && (l.namespace === undefined || l.namespace === entry.object.metadata.namespace)) {
        l.push({ type, object: structuredClone(entry.object) });
      }
    }
  }

  listen(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Appends one change to the journal (synchronously: acknowledged writes are on disk), compacting when due. */
  private persist(rec: JournalRecord): void {
    if (this.disk?.append(rec)) this.compact();
  }

  /** Writes the whole state as the snapshot and empties the journal (lib/journaled-file.ts). */
  compact(): void {
    this.disk?.compact({ version: STATE_VERSION, resourceVersion: this.rv, entries: [...this.entries.values()] });
  }

  /** Bytes of the snapshot and the journal on disk (for tests and diagnostics). */
  diskUsage(): { snapshot: number; journal: number } {
    return this.disk?.diskUsage() ?? { snapshot: 0, journal: 0 };
  }
}

interface Snapshot {
  version: number;
  resourceVersion: number;
  entries: Entry[];
}

/** One journal line: an entry set (added/modified) or removed, and the resourceVersion counter after it. */
export interface JournalRecord {
  key: string;
  rv: number;
  entry?: Entry;
  deleted?: true;
}

/** The journal is folded into the snapshot once it is larger than the snapshot and than this. */
export const COMPACT_MIN_BYTES = 1024 * 1024;

export const entryKey = (kind: string, key: { namespace?: string | undefined; name: string }) => `${kind}|${key.namespace ?? ''}|${key.name}`;
