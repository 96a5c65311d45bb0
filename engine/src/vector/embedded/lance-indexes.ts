// Embedded store index maintenance: per-table write queue, full-text and ANN index builds, background refresh and compaction with version pruning.
import path from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { logger } from '../../lib/log.ts';
import { vectorColumn } from './columns.ts';
import { sweepEmptyIndexDirs } from './lance-husks.ts';
import { COMPACT_AFTER_WRITES, LANCE_DISTANCE, pruneBefore, type Collection, type ResolvedLanceOptions } from './lance-collection.ts';

const log = logger('vector-store.embedded');

/** Runs `fn` after the table's queued writes (writes and schema changes on one table run one at a time). */
export function serial<T>(c: Collection, fn: () => Promise<T>): Promise<T> {
  const run = c.queue.then(fn, fn);
  c.queue = run.catch(() => undefined);
  return run;
}

/**
 * The BM25 index of one text column, with the English analyzer of text-analysis.ts (LanceDB's built-in Snowball
 * English stemmer, stop words and ASCII folding). The index name carries the analyzer, so an index built by an
 * earlier version with another analyzer is rebuilt from the stored text on first use.
 */
export async function ensureFts(c: Collection, col: string): Promise<void> {
  if (c.ready.has(col)) return;
  await serial(c, async () => {
    const name = `${col}_fts_english`;
    const have = (await c.table.listIndices()).filter((i) => i.columns.includes(col) && i.indexType === 'FTS');
    for (const stale of have.filter((i) => i.name !== name)) await c.table.dropIndex(stale.name);
    if (!have.some((i) => i.name === name)) {
      await c.table.createIndex(col, {
        name,
        config: lancedb.Index.fts({ withPosition: false, stem: true, language: 'English', removeStopWords: true, asciiFolding: true, lowercase: true }),
      });
    }
    c.ready.add(col);
  });
}

/**
 * Index maintenance runs in the background, so a search never waits for an index build: rows not (yet)
 * indexed are searched exhaustively by LanceDB. Once a table reaches `indexThreshold` rows every vector
 * column gets its ANN index; after many writes the indexes are refreshed (optimize).
 */
export function maintain(c: Collection, opts: ResolvedLanceOptions): void {
  if (c.maintenance) return;
  const due = c.writesSinceIndex > 0 || c.commitsSinceCompact >= COMPACT_AFTER_WRITES || c.mergeOwed;
  if (!due && (!annServes(c, opts) || c.spec.vectors.every((v) => c.ready.has(`ann:${v.name}`)))) return;
  c.maintenance = refreshIndexes(c, opts, false)
    .catch((err: unknown) => log.error({ err, collection: c.spec.name }, 'index maintenance failed'))
    .finally(() => (c.maintenance = undefined));
}

export async function refreshIndexes(c: Collection, opts: ResolvedLanceOptions, force: boolean): Promise<void> {
  c.mergeOwed = false;
  const writes = c.writesSinceIndex;
  const commits = c.commitsSinceCompact;
  const rows = await c.table.countRows();
  // Many commits since the last compaction: fragments and versions pile up (disk), whatever the index needs.
  const manyCommits = force ? commits > 0 : commits >= COMPACT_AFTER_WRITES;
  if (rows < opts.indexThreshold || !annServes(c, opts)) {
    // No ANN index yet, but every upsert call wrote its own fragment: compact them (and fold new rows into the
    // full-text index), which is what makes searches right after an ingestion of single-document writes fast.
    if (manyCommits || (force ? writes > 0 : writes >= COMPACT_AFTER_WRITES)) {
      await compact(c, opts);
      c.writesSinceIndex -= writes;
    }
    return;
  }
  const have = await c.table.listIndices();
  let built = false;
  for (const v of c.spec.vectors) {
    const col = vectorColumn(v.name);
    const current = have.find((i) => i.columns.includes(col));
    const segments = current ? await segmentsToMerge(c, current.name, opts) : 0;
    if (current && rows < RETRAIN_GROWTH * trainedRows(current.name) && !segments) {
      c.ready.add(`ann:${v.name}`);
      continue;
    }
    const t0 = Date.now();
    // The index name records how many rows its partitions were trained on (see trainedRows).
    const name = annIndexName(col, rows);
    await c.table.createIndex(col, {
      name,
      config: lancedb.Index.hnswSq({
        distanceType: LANCE_DISTANCE[v.distance],
        m: opts.hnswM,
        efConstruction: opts.efConstruction,
        ...(opts.numPartitions ? { numPartitions: opts.numPartitions } : {}),
      }),
    });
    if (current && current.name !== name) await c.table.dropIndex(current.name);
    c.ready.add(`ann:${v.name}`);
    built = true;
    const ms = Date.now() - t0;
    c.lastAnnBuild = { endedAt: Date.now(), ms };
    const trainedOn = current ? trainedRows(current.name) : 0;
    log.info({ collection: c.spec.name, vector: v.name, rows, trainedOn, ...(segments ? { segments } : {}), ms }, !current ? 'built ANN index' : segments ? 'merged ANN index segments' : 'retrained ANN index');
  }
  const stale = force ? writes > 0 : writes > Math.max(opts.indexThreshold, rows / 5);
  if (!built && (stale || manyCommits)) {
    await compact(c, opts);
    log.info({ collection: c.spec.name, rows, newRows: writes, commits }, 'optimised indexes');
    // The compaction added a segment to each ANN index: a merge it makes due runs as soon as the spacing allows.
    for (const ann of have.filter((i) => c.spec.vectors.some((v) => i.columns.includes(vectorColumn(v.name))))) {
      if (await segmentsToMerge(c, ann.name, opts)) scheduleMerge(c, opts, MERGE_RETRY_MS);
    }
  }
  if (built || stale) c.writesSinceIndex -= writes;
}

/**
 * Whether LanceDB's ANN index answers any search of this table. With the in-memory index on, dense searches run in
 * memory, and LanceDB's index would only cost its build (a burst on both cores when a collection reaches the
 * threshold, again at every doubling) and its upkeep at every compaction. It is built once LanceDB is handed a dense
 * search the memory cannot answer (annWanted), or kept when one exists already.
 */
function annServes(c: Collection, opts: ResolvedLanceOptions): boolean {
  return !opts.memoryIndex || c.annWanted === true;
}

/** The vectors of this table with a LanceDB ANN index. */
export async function annIndexed(c: Collection): Promise<string[]> {
  const have = await c.table.listIndices();
  return c.spec.vectors.filter((v) => have.some((i) => i.columns.includes(vectorColumn(v.name)) && i.indexType !== 'FTS')).map((v) => v.name);
}

/**
 * An ANN index is retrained from scratch once the table has grown to this many times the rows it was trained on.
 * LanceDB's optimize adds new rows to the existing IVF partitions without re-training them, so an index first built
 * at 10k rows and grown to 100k by optimize has ~8x fewer, ~8x larger partitions than one trained on 100k, and every
 * probe searches a larger graph (measured on bench-vector-store: p50 6.4 ms grown vs 3.3 ms retrained, same recall).
 * Doubling keeps the total build work at most twice that of the final build.
 */
export const RETRAIN_GROWTH = 2;

const annIndexName = (col: string, rows: number) => `${col}_ann_n${rows}`;

/** Rows folded into an index since it was trained, as a share of them, that make its deltas worth merging. */
export const MERGE_DELTA_SHARE = 0.1;
/** A rebuild waits this many times the last build's duration after it ended: rebuilds take at most 1/(1+x) of the time. */
export const REBUILD_GAP_FACTOR = 4;

/**
 * Whether an ANN index is due to be rebuilt as one segment now: its segment count if so, else 0. LanceDB's optimize
 * adds the rows written since the last one as a new segment (a delta index; its JS API cannot merge them, only a
 * rebuild does), and every search walks every segment: ~0.7 ms each on 20,000 × 384. Due once there are more than
 * maxIndexSegments, or when the deltas hold a tenth of the trained rows (a bulk load's few large deltas); spaced by
 * REBUILD_GAP_FACTOR so steady ingestion does not spend its time rebuilding; a merge that has to wait for that is
 * scheduled (scheduleMerge).
 */
async function segmentsToMerge(c: Collection, indexName: string, opts: ResolvedLanceOptions): Promise<number> {
  const stats = await c.table.indexStats(indexName);
  const segments = stats?.numIndices ?? 1;
  if (segments <= 1) return 0;
  const deltaRows = (stats?.numIndexedRows ?? 0) - trainedRows(indexName);
  if (segments <= opts.maxIndexSegments && deltaRows < MERGE_DELTA_SHARE * trainedRows(indexName)) return 0;
  const last = c.lastAnnBuild;
  const wait = last ? Math.ceil(last.endedAt + REBUILD_GAP_FACTOR * last.ms - Date.now()) : 0;
  if (wait <= 0) return segments;
  scheduleMerge(c, opts, wait);
  return 0;
}

/** Delay before an owed merge whose spacing has already passed (lets the maintenance that found it finish). */
const MERGE_RETRY_MS = 10;

/** Runs the maintenance again in `ms` so an owed merge happens without further writes (a bulk load's last deltas). */
function scheduleMerge(c: Collection, opts: ResolvedLanceOptions, ms: number): void {
  c.mergeTimer ??= setTimeout(() => {
    c.mergeTimer = undefined;
    c.mergeOwed = true;
    maintain(c, opts);
  }, ms).unref();
}

/** Waits for the table's writes and maintenance, cancels an owed merge, and closes the table handle. */
export async function release(c: Collection): Promise<void> {
  await c.queue;
  while (c.maintenance) await c.maintenance;
  clearTimeout(c.mergeTimer);
  c.mergeTimer = undefined;
  c.mirror?.close();
  c.mirror = undefined;
  c.table.close();
}

/** Rows an ANN index was trained on, from its name; 0 for indexes named before this was recorded (retrained once). */
export function trainedRows(indexName: string): number {
  return Number(/_ann_n(\d+)$/.exec(indexName)?.[1] ?? 0);
}

/**
 * LanceDB's optimize: compacts small fragments, adds new rows to the existing indexes (vector and full-text)
 * and prunes the versions older than `pruneBefore` (see keepVersionsSeconds), then the empty index directories
 * that pruning leaves (see sweepEmptyIndexDirs). It runs in the table's
 * write queue, so it never races a merge-insert into a commit conflict.
 */
export async function compact(c: Collection, opts: ResolvedLanceOptions): Promise<void> {
  await serial(c, async () => {
    const commits = c.commitsSinceCompact;
    const cleanupOlderThan = pruneBefore(await c.table.listVersions(), Date.now() - opts.keepVersionsSeconds * 1000);
    const stats = await c.table.optimize({ cleanupOlderThan });
    c.commitsSinceCompact -= commits;
    const husks = await sweepEmptyIndexDirs(path.join(opts.dataDir, `${c.spec.name}.lance`), cleanupOlderThan.getTime());
    log.debug({ collection: c.spec.name, compaction: stats.compaction, prune: stats.prune, emptyIndexDirsRemoved: husks }, 'compacted');
  });
  c.afterCompact?.();
}
