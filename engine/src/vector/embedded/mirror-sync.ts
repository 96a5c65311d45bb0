/**
 * Keeps an embedded collection's in-memory mirror (memory-mirror.ts) in step with its Lance table: built from the
 * table when a collection is opened or its schema changes (inside the table's write queue, so no write slips between
 * the scan and the mirror), fed by every committed write, and asked first by dense and lexical searches.
 */
import { logger } from '../../lib/log.ts';
import type { FilterExpr } from '../filter-compile.ts';
import { textColumn, vectorColumn } from './columns.ts';
import { asFloat32, type Collection, type ResolvedLanceOptions, type Row } from './lance-collection.ts';
import { annIndexed, serial } from './lance-indexes.ts';
import { CollectionMirror, type MirrorHit, type MirrorRow } from './memory-mirror.ts';

const log = logger('vector-store.embedded');

export interface MirrorState {
  rows: number;
  graphed: string[];
  fields: string[];
}

function newMirror(c: Collection, opts: ResolvedLanceOptions): CollectionMirror {
  // Only fields with promoted columns: a filter on any other field runs in LanceDB, as before.
  return new CollectionMirror(c.spec, new Set(c.indexes.keys()), { graphThreshold: opts.indexThreshold, m: opts.hnswM, efConstruction: opts.efConstruction, ef: opts.ef });
}

/** A new, empty table's mirror (nothing to read). */
export function startEmptyMirror(c: Collection, opts: ResolvedLanceOptions): void {
  if (opts.memoryIndex) c.mirror = newMirror(c, opts);
}

/** Builds the mirror from the table in the background, after the writes already queued; searches use LanceDB until then. */
export function buildMirror(c: Collection, opts: ResolvedLanceOptions): void {
  if (!opts.memoryIndex || c.mirror || c.mirrorBuild) return;
  const started = performance.now();
  c.mirrorBuild = serial(c, async () => {
    const mirror = newMirror(c, opts);
    const columns = ['id', 'payload', ...c.spec.vectors.map((v) => vectorColumn(v.name)), ...(c.spec.lexicalFields ?? []).map(textColumn)];
    for await (const batch of c.table.query().select(columns)) {
      mirror.upsert((batch.toArray() as unknown as Row[]).map((r) => mirrorRow(c, r)));
    }
    c.mirror = mirror;
    // A LanceDB ANN index built earlier (with the in-memory index off, or for searches it could not answer) is kept up.
    if ((await annIndexed(c)).length) c.annWanted = true;
    log.info({ collection: c.spec.name, rows: mirror.size, ms: Math.round(performance.now() - started) }, 'memory index built');
  })
    .catch((err: unknown) => log.error({ err, collection: c.spec.name }, 'memory index build failed; searches run in LanceDB'))
    .finally(() => (c.mirrorBuild = undefined));
}

/** Drops the mirror (a schema change: vectors or indexed fields were added); buildMirror makes the next one. */
export function dropMirror(c: Collection): void {
  c.mirror?.close();
  c.mirror = undefined;
}

/** Rows just committed by an upsert (vector columns as written: normalised for cosine). */
export function mirrorUpsert(c: Collection, rows: Row[]): void {
  c.mirror?.upsert(rows.map((r) => mirrorRow(c, r)));
}

/** A table row (as read from LanceDB or as written) as the mirror takes it. */
function mirrorRow(c: Collection, r: Row): MirrorRow {
  return {
    id: r.id,
    payload: r.payload,
    vectors: Object.fromEntries(c.spec.vectors.map((v) => [v.name, asFloat32(r[vectorColumn(v.name)])])),
    text: Object.fromEntries((c.spec.lexicalFields ?? []).map((f) => [f, r[textColumn(f)] as string | null | undefined])),
  };
}

/**
 * A dense search answered from the mirror, as rows the store renders (payload as stored, the vectors when asked), or
 * undefined when LanceDB should answer it (no mirror yet, or see CollectionMirror.search).
 */
export function mirrorSearch(c: Collection, vector: string, query: Float32Array, k: number, filter: FilterExpr, withVectors: boolean): { row: Row; score: number }[] | undefined {
  return asRows(c.mirror?.search(vector, query, k, filter, withVectors, c.ready.has(`ann:${vector}`)));
}

/** A dense search handed to LanceDB: if the mirror cannot evaluate its filter, LanceDB's ANN index is worth building. */
export function wantAnnFor(c: Collection, filter: FilterExpr): void {
  if (c.mirror && !c.mirror.evaluates(filter)) c.annWanted = true;
}

/** A lexical (BM25) search answered from the mirror, as mirrorSearch. */
export function mirrorTextSearch(c: Collection, field: string, text: string, k: number, filter: FilterExpr, withVectors: boolean): { row: Row; score: number }[] | undefined {
  return asRows(c.mirror?.searchText(field, text, k, filter, withVectors));
}

function asRows(hits: MirrorHit[] | undefined): { row: Row; score: number }[] | undefined {
  return hits?.map((h) => {
    const row: Row = { id: h.id, payload: h.payload };
    for (const [name, v] of Object.entries(h.vectors ?? {})) row[vectorColumn(name)] = v;
    return { row, score: h.score };
  });
}

/**
 * The mirror once built and caught up (undefined: none): rows held, the vectors searched through an HNSW graph, and
 * the payload fields filters are evaluated on in memory.
 */
export async function mirrorState(c: Collection): Promise<MirrorState | undefined> {
  while (c.mirrorBuild) await c.mirrorBuild;
  const mirror = c.mirror;
  if (!mirror) return undefined;
  await mirror.settled();
  return { rows: mirror.size, graphed: c.spec.vectors.map((v) => v.name).filter((v) => mirror.graphed(v)), fields: [...mirror.fields].sort() };
}
