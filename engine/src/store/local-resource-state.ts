// Local resource state: the entries, resourceVersion counter, listeners and journal/snapshot persistence behind every LocalResourceStore view.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
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

  private readonly journal: string | undefined;
  /** Bytes in the journal and in the last snapshot: the journal is compacted once it outgrows the snapshot. */
  private journalBytes = 0;
  private snapshotBytes = 0;

  constructor(file?: string) {
    this.file = file;
    this.journal = file ? `${file}.journal` : undefined;
    if (file && existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      this.snapshotBytes = text.length;
      const saved = JSON.parse(text) as { version: number; resourceVersion: number; entries: Entry[] };
      this.rv = saved.resourceVersion;
      for (const e of saved.entries) this.entries.set(entryKey(e.object.kind, e.object.metadata), e);
    }
    if (this.journal && existsSync(this.journal)) this.replay(readFileSync(this.journal, 'utf8'));
  }

  /** Applies the journal's changes in order; a last line cut short by a crash mid-append is dropped. */
  private replay(text: string): void {
    this.journalBytes = text.length;
    for (const line of text.split('\n')) {
      if (!line) continue;
      let rec: JournalRecord;
      try {
        rec = JSON.parse(line) as JournalRecord;
      } catch {
        log.warn({ file: this.journal }, 'dropping a truncated last journal line');
        break;
      }
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
    if (!this.file || !this.journal) return;
    if (this.journalBytes === 0 && !existsSync(path.dirname(this.file))) mkdirSync(path.dirname(this.file), { recursive: true });
    const line = `${JSON.stringify(rec)}\n`;
    appendFileSync(this.journal, line);
    this.journalBytes += line.length;
    if (this.journalBytes > Math.max(COMPACT_MIN_BYTES, this.snapshotBytes)) this.compact();
  }

  /**
   * Writes the whole state as the snapshot (write-then-rename: a crash leaves the previous snapshot, never a
   * truncated one), then empties the journal. A crash between the two replays the journal onto the new snapshot,
   * which changes nothing: each record sets or removes a whole entry.
   */
  compact(): void {
    if (!this.file || !this.journal) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    const text = JSON.stringify({ version: STATE_VERSION, resourceVersion: this.rv, entries: [...this.entries.values()] });
    writeFileSync(tmp, text);
    renameSync(tmp, this.file);
    writeFileSync(this.journal, '');
    this.snapshotBytes = text.length;
    this.journalBytes = 0;
  }

  /** Bytes of the snapshot and the journal on disk (for tests and diagnostics). */
  diskUsage(): { snapshot: number; journal: number } {
    const size = (f: string | undefined) => (f && existsSync(f) ? statSync(f).size : 0);
    return { snapshot: size(this.file), journal: size(this.journal) };
  }
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
