/**
 * State kept on disk as a JSON snapshot plus an append-only journal of the changes since (local mode's resource
 * store and job queue): a write costs the size of its change, not of the whole state, and the journal is folded
 * into a new snapshot once it outgrows the last one (amortised O(1) per change).
 *
 * Crash safety: the snapshot is replaced by write-then-rename, so it is never half-written. Every snapshot carries
 * a generation and every journal line the generation it continues; compaction writes generation g+1 before it
 * empties the journal, so a crash between the two leaves lines of generation g, which are skipped: a change is
 * never applied twice (changes need not be idempotent). A last line cut short by a crash mid-append is dropped and
 * cut off the file, so the lines appended after a restart are read back. Snapshots and lines written before
 * generations existed count as generation 0. Hand-written: no maintained embedded store installs offline here
 * without a native build (node:sqlite is experimental in Node 22 and warns on load).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { logger } from './log.ts';

const log = logger('journaled-file');

export class JournaledFile<Snapshot extends object, Change> {
  readonly file: string;
  readonly journal: string;
  private readonly minCompactBytes: number;
  private gen = 0;
  private journalBytes = 0;
  private snapshotBytes = 0;

  /** `file`: the snapshot; the journal is `file` + `.journal`. Compaction once the journal exceeds both the snapshot and `minCompactBytes`. */
  constructor(file: string, minCompactBytes: number) {
    this.file = file;
    this.journal = `${file}.journal`;
    this.minCompactBytes = minCompactBytes;
  }

  /** The snapshot on disk (undefined when none) and the journal's changes that continue it, in order. */
  load(): { snapshot: Snapshot | undefined; changes: Change[] } {
    let snapshot: Snapshot | undefined;
    if (existsSync(this.file)) {
      const text = readFileSync(this.file, 'utf8');
      this.snapshotBytes = text.length;
      const saved = JSON.parse(text) as Snapshot & { gen?: number };
      this.gen = saved.gen ?? 0;
      delete saved.gen;
      snapshot = saved;
    }
    const changes: Change[] = [];
    if (!existsSync(this.journal)) return { snapshot, changes };
    const text = readFileSync(this.journal, 'utf8');
    let start = 0;
    while (start < text.length) {
      const end = text.indexOf('\n', start);
      let line: unknown;
      let whole = false;
      try {
        if (end >= 0) {
          line = JSON.parse(text.slice(start, end));
          whole = true;
        }
      } catch {
        // cut short: handled below
      }
      if (!whole) {
        log.warn({ file: this.journal, offset: start, dropped: text.length - start }, 'dropped a journal line cut short by a crash (the change written last before it is lost)');
        truncateSync(this.journal, Buffer.byteLength(text.slice(0, start)));
        break;
      }
      // Lines from before generations were recorded are the change itself, of generation 0.
      const framed = typeof line === 'object' && line !== null && 'g' in line && 'c' in line;
      const [gen, change] = framed ? [(line as { g: number }).g, (line as { c: Change }).c] : [0, line as Change];
      if (gen === this.gen) changes.push(change);
      start = end + 1;
    }
    this.journalBytes = Buffer.byteLength(text.slice(0, start));
    return { snapshot, changes };
  }

  /** Appends one change (synchronously); true when the journal has outgrown the snapshot and compact() is due. */
  append(change: Change): boolean {
    if (this.journalBytes === 0) mkdirSync(path.dirname(this.file), { recursive: true });
    const line = `${JSON.stringify({ g: this.gen, c: change })}\n`;
    appendFileSync(this.journal, line);
    this.journalBytes += line.length;
    return this.journalBytes > Math.max(this.minCompactBytes, this.snapshotBytes);
  }

  /** Writes `snapshot` as the next generation, then empties the journal it replaces. */
  compact(snapshot: Snapshot): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    const text = JSON.stringify({ ...snapshot, gen: this.gen + 1 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.file);
    this.gen++;
    writeFileSync(this.journal, '');
    this.snapshotBytes = text.length;
    this.journalBytes = 0;
  }

  /** Bytes of the snapshot and the journal on disk (for tests and diagnostics). */
  diskUsage(): { snapshot: number; journal: number } {
    const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
    return { snapshot: size(this.file), journal: size(this.journal) };
  }
}
