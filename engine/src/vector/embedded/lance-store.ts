/**
 * The embedded VectorStore on LanceDB: one Lance table per collection under a data directory (persistent and
 * versioned), an IVF-HNSW-SQ index per named vector once a table is large enough (searched with refinement and
 * SQL prefiltering), a full-text (BM25) index per lexical field, and schema evolution by adding columns.
 * Fusion, group-by and facets run in-process with the same code as the exact store. See columns.ts for the
 * table layout and filter-sql.ts for how filters are pushed down.
 */
import path from 'node:path';
import type * as lancedb from '@lancedb/lancedb';
import { MatchQuery } from '@lancedb/lancedb';
import { badRequest } from '../../lib/errors.ts';
import { logger } from '../../lib/log.ts';
import type { FilterNode } from '../../ports/filter.ts';
import type { CollectionSpec, Distance, FacetHit, FusionRequest, GroupRequest, PayloadIndexType, Point, PointGroup, ScoredPoint, ScrollPage, ScrollRequest, SearchRequest, VectorStore } from '../../ports/vector-store.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { sortFacets, validateGroupRequest } from '../exact/exact-store.ts';
import { compileFilter, fieldValues, matchesFilter, type FilterExpr } from '../filter-compile.ts';
import { fuseLists } from '../fusion.ts';
import { groupHits } from '../groups.ts';
import { mergeSpecs, normalized, normalizeSpec, passesThreshold, requireCollection, smallerIsBetter, toFloat32, validatePoints, validateSearch } from '../spec.ts';
import { payloadColumn, payloadIndexFields, promotedValues, tableSchema, textColumn, textField, vectorColumn, vectorField } from './columns.ts';
import { filterToSql, narrowingSql, sqlString } from './filter-sql.ts';
import { resolveOptions, LANCE_DISTANCE, SPEC_DIR, SCAN_BATCH, IMPLICIT_INDEXES, COMPACT_AFTER_WRITES, toScore, asFloat32, indexMap, columnNames, sqlValue } from './lance-collection.ts';
import type { LanceStoreOptions, Collection, Row, ResolvedLanceOptions } from './lance-collection.ts';
import { planFilter } from './filter-plan.ts';
import { LanceConnection } from './lance-connection.ts';
import { annIndexed, ensureFts, maintain, refreshIndexes, release, serial, trainedRows } from './lance-indexes.ts';
import { SpecFiles } from './spec-files.ts';
import { buildMirror, dropMirror, mirrorSearch, mirrorState, mirrorTextSearch, mirrorUpsert, startEmptyMirror, wantAnnFor, type MirrorState } from './mirror-sync.ts';
export { EMBEDDED_DEFAULTS, pruneBefore } from './lance-collection.ts';
export type { LanceStoreOptions } from './lance-collection.ts';

const log = logger('vector-store.embedded');

export class LanceVectorStore implements VectorStore {
  readonly kind = 'embedded';
  private readonly opts: ResolvedLanceOptions;
  private readonly specs: SpecFiles;
  private readonly collections = new Map<string, Promise<Collection | undefined>>();
  private readonly connection: LanceConnection;

  constructor(opts: LanceStoreOptions) {
    this.opts = resolveOptions(opts);
    this.specs = new SpecFiles(path.join(opts.dataDir, SPEC_DIR));
    this.connection = new LanceConnection(this.opts);
  }

  private db(): Promise<lancedb.Connection> {
    return this.connection.db();
  }

  /** Bytes LanceDB's caches hold now (bounded by indexCacheMb + metadataCacheMb). */
  cacheBytes(): number {
    return this.connection.cacheBytes();
  }

  private load(name: string): Promise<Collection | undefined> {
    let p = this.collections.get(name);
    if (!p) {
      p = (async () => {
        const spec = this.specs.read(name);
        if (!spec) return undefined;
        const table = await (await this.db()).openTable(name);
        const c = this.wrap(spec, table, await columnNames(table));
        buildMirror(c, this.opts);
        return c;
      })();
      this.collections.set(name, p);
      p.catch(() => this.collections.delete(name));
    }
    return p;
  }

  private wrap(spec: CollectionSpec, table: lancedb.Table, columns: Set<string>): Collection {
    const declared = new Set((spec.payloadIndexes ?? []).map((p) => p.field));
    const implicit = new Set(IMPLICIT_INDEXES.filter((p) => !declared.has(p.field) && columns.has(payloadColumn(p.field))).map((p) => p.field));
    const c: Collection = { spec, table, indexes: new Map(), queue: Promise.resolve(), ready: new Set(), writesSinceIndex: 0, commitsSinceCompact: 0, implicit, afterCompact: () => this.connection.renewIfStale(this.collections) };
    c.indexes = indexMap(c);
    return c;
  }

  private async get(name: string): Promise<Collection> {
    return requireCollection(await this.load(name), name);
  }

  // ---------- collections ----------

  async ensureCollection(requested: CollectionSpec): Promise<void> {
    const spec = normalizeSpec(requested);
    const existing = await this.load(spec.name);
    if (!existing) {
      const db = await this.db();
      const declared = new Set((spec.payloadIndexes ?? []).map((p) => p.field));
      const withImplicit = { ...spec, payloadIndexes: [...(spec.payloadIndexes ?? []), ...IMPLICIT_INDEXES.filter((p) => !declared.has(p.field))] };
      const existed = (await db.tableNames()).includes(spec.name);
      const table = existed ? await db.openTable(spec.name) : await db.createEmptyTable(spec.name, tableSchema(withImplicit), { mode: 'create', existOk: true });
      this.specs.write(spec);
      const c = this.wrap(spec, table, await columnNames(table));
      if (existed) buildMirror(c, this.opts);
      else startEmptyMirror(c, this.opts);
      this.collections.set(spec.name, Promise.resolve(c));
      return;
    }
    const { spec: merged, added } = mergeSpecs(existing.spec, spec);
    if (!added.vectors.length && !added.lexicalFields.length && !added.payloadIndexes.length) return;
    await serial(existing, async () => {
      // A newly declared index on an implicitly promoted field reuses its column (same layout for keyword).
      const reuse = added.payloadIndexes.filter((p) => existing.implicit.has(p.field));
      for (const p of reuse) {
        if (p.type !== 'keyword') throw badRequest(`the embedded store indexes '${p.field}' as keyword; it cannot be indexed as ${p.type}`, { field: 'payloadIndexes' });
      }
      const fresh = added.payloadIndexes.filter((p) => !existing.implicit.has(p.field));
      const fields = [
        ...added.vectors.map((v) => vectorField(v.name, v.size)),
        ...added.lexicalFields.map(textField),
        ...fresh.flatMap((p) => payloadIndexFields(p.field, p.type)),
      ];
      if (fields.length) {
        await existing.table.addColumns(fields);
        existing.commitsSinceCompact++;
      }
      existing.spec = merged;
      for (const p of reuse) existing.implicit.delete(p.field);
      existing.indexes = indexMap(existing);
      dropMirror(existing); // new vectors or indexed fields: rebuilt below, after this change
      if (fresh.length) await this.backfill(existing, fresh);
      this.specs.write(merged);
      log.info({ collection: merged.name, added }, 'collection schema evolved');
    });
    buildMirror(existing, this.opts);
  }

  /** Fills new promoted columns from the stored JSON payloads. */
  private async backfill(c: Collection, added: { field: string; type: PayloadIndexType }[]): Promise<void> {
    const total = await c.table.countRows();
    for (let offset = 0; offset < total; offset += SCAN_BATCH) {
      const rows = (await c.table.query().select(['id', 'payload']).limit(SCAN_BATCH).offset(offset).toArray()) as Row[];
      for (const row of rows) {
        const payload = JSON.parse(row.payload) as Record<string, unknown>;
        const values: Record<string, string> = {};
        for (const p of added) {
          for (const [col, v] of Object.entries(promotedValues(payload, p.field, p.type))) values[col] = sqlValue(v);
        }
        await c.table.update({ where: `id = ${sqlString(row.id)}`, valuesSql: values });
        c.commitsSinceCompact++;
      }
    }
  }

  async describeCollection(name: string): Promise<CollectionSpec | undefined> {
    const c = await this.load(name);
    return c ? structuredClone(c.spec) : undefined;
  }

  async dropCollection(name: string): Promise<void> {
    const c = await this.load(name);
    this.collections.delete(name);
    this.specs.remove(name);
    if (c) await release(c);
    const db = await this.db();
    if ((await db.tableNames()).includes(name)) await db.dropTable(name);
  }

  async listCollections(): Promise<string[]> {
    return this.specs.names();
  }

  // ---------- points ----------

  private toRow(c: Collection, p: Point): Row {
    const row: Row = { id: p.id, payload: JSON.stringify(p.payload) };
    for (const v of c.spec.vectors) {
      const given = p.vectors[v.name];
      row[vectorColumn(v.name)] = given === undefined ? null : Array.from(v.distance === 'cosine' ? normalized(toFloat32(given)) : toFloat32(given));
    }
    for (const f of c.spec.lexicalFields ?? []) row[textColumn(f)] = p.text?.[f] ?? null;
    for (const [field, type] of c.indexes) Object.assign(row, promotedValues(p.payload, field, type));
    return row;
  }

  async upsert(collection: string, points: Point[]): Promise<void> {
    const c = await this.get(collection);
    validatePoints(c.spec, points);
    if (points.length === 0) return;
    // The last write of an id in one call wins, as in Qdrant.
    const rows = [...new Map(points.map((p) => [p.id, this.toRow(c, p)])).values()];
    await serial(c, async () => {
      await c.table.mergeInsert('id').whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(rows);
      mirrorUpsert(c, rows);
      c.writesSinceIndex += rows.length;
      c.commitsSinceCompact++;
    });
    // Writes alone must also trigger maintenance: every merge-insert commits its own fragment, and an ingestion
    // with no searches in between would otherwise slow down as fragments pile up (measured: 0.9 docs/s after 5k
    // single-document writes, flat with compaction every 256 writes).
    if (c.writesSinceIndex >= COMPACT_AFTER_WRITES || c.commitsSinceCompact >= COMPACT_AFTER_WRITES) maintain(c, this.opts);
  }

  async retrieve(collection: string, ids: string[], opts: { withVectors?: boolean } = {}): Promise<ScoredPoint[]> {
    const c = await this.get(collection);
    const rows = await this.rowsById(c, [...new Set(ids)], opts.withVectors ?? false);
    const byId = new Map(rows.map((r) => [r.id, r]));
    return [...new Set(ids)].filter((id) => byId.has(id)).map((id) => this.render(c, byId.get(id)!, 1, true, opts.withVectors ?? false));
  }

  async delete(collection: string, ids: string[]): Promise<void> {
    const c = await this.get(collection);
    if (ids.length === 0) return;
    await serial(c, async () => {
      await c.table.delete(`id IN (${ids.map(sqlString).join(', ')})`);
      c.mirror?.delete(ids);
      c.commitsSinceCompact++;
    });
    if (c.commitsSinceCompact >= COMPACT_AFTER_WRITES) maintain(c, this.opts);
  }

  async deleteByFilter(collection: string, filter: FilterNode): Promise<void> {
    const c = await this.get(collection);
    const f = compileFilter(filter);
    await serial(c, async () => {
      const where = await this.where(c, f);
      if (where !== 'false') {
        const gone = c.mirror ? (await this.scan(c, where, ['id'])).map((r) => r.id) : [];
        await c.table.delete(where);
        c.mirror?.delete(gone);
        c.commitsSinceCompact++;
      }
    });
    if (c.commitsSinceCompact >= COMPACT_AFTER_WRITES) maintain(c, this.opts);
  }

  async count(collection: string, filter?: FilterNode): Promise<number> {
    const c = await this.get(collection);
    const where = await this.where(c, compileFilter(filter));
    if (where === 'false') return 0;
    return where === 'true' ? c.table.countRows() : c.table.countRows(where);
  }

  /**
   * Pages ordered by id (stable under concurrent writes). LanceDB has no ORDER BY, so each page reads the ids
   * after the cursor and sorts them: O(rows) per page, fine for the export/maintenance jobs scroll serves.
   */
  async scroll(collection: string, req: ScrollRequest): Promise<ScrollPage> {
    const c = await this.get(collection);
    if (!Number.isInteger(req.limit) || req.limit < 1) throw badRequest('scroll limit must be a positive integer', { field: 'limit' });
    const after = decodeCursor(req.cursor);
    const where = await this.where(c, compileFilter(req.filter));
    if (where === 'false') return { points: [] };
    const clause = after === undefined ? where : `(${where}) AND id > ${sqlString(after)}`;
    const ids = (await this.scan(c, clause, ['id'])).map((r) => r.id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const page = ids.slice(0, req.limit);
    const rows = new Map((await this.rowsById(c, page, req.withVectors ?? false)).map((r) => [r.id, r]));
    const points = page.filter((id) => rows.has(id)).map((id) => this.render(c, rows.get(id)!, 1, req.withPayload ?? true, req.withVectors ?? false));
    return ids.length > req.limit && points.length ? { points, nextCursor: encodeCursor(page[page.length - 1]!) } : { points };
  }

  // ---------- search ----------

  async search(collection: string, req: SearchRequest): Promise<ScoredPoint[]> {
    const c = await this.get(collection);
    const offset = req.offset ?? 0;
    // Without payloads the payload column is not read at all (a random read per hit; measured ~0.5 ms per search).
    const hits = await this.rank(c, req, compileFilter(req.filter), offset + req.limit, req.withVectors ?? false, req.withPayload ?? true);
    return hits.slice(offset, offset + req.limit).map((h) => this.render(c, h.row, h.score, req.withPayload ?? true, req.withVectors ?? false));
  }

  async fuse(collection: string, req: FusionRequest): Promise<ScoredPoint[]> {
    const c = await this.get(collection);
    const { fused, rows } = await this.fuseAll(c, req, req.withVectors ?? false);
    const offset = req.offset ?? 0;
    return fused.slice(offset, offset + req.limit).map((h) => this.render(c, rows.get(h.id)!, h.score, req.withPayload ?? true, req.withVectors ?? false));
  }

  async searchGroups(collection: string, req: GroupRequest): Promise<PointGroup[]> {
    const c = await this.get(collection);
    validateGroupRequest(req);
    const withPayload = req.search.withPayload ?? true;
    const withVectors = req.search.withVectors ?? false;
    const total = await c.table.countRows();
    // Widen the candidate list until every group is full or the collection is exhausted: then the groups and
    // their hits are exactly those of a full ranking.
    for (let k = Math.max(req.limit * req.groupSize * 2, 32); ; k *= 4) {
      let hits: { id: string; score: number; row: Row }[];
      if ('searches' in req.search) {
        const { fused, rows } = await this.fuseAll(c, { ...req.search, searches: req.search.searches.map((s) => ({ ...s, limit: Math.max(s.limit, k) })) }, withVectors);
        hits = fused.slice(0, k).map((h) => ({ id: h.id, score: h.score, row: rows.get(h.id)! }));
      } else {
        hits = (await this.rank(c, req.search, compileFilter(req.search.filter), k, withVectors)).map((h) => ({ id: h.row.id, score: h.score, row: h.row }));
      }
      const groups = groupHits(hits.map((h) => ({ id: h.id, score: h.score, payload: JSON.parse(h.row.payload) as Record<string, unknown> })), req.groupBy, req.groupSize, req.limit);
      const complete = groups.length === req.limit && groups.every((g) => g.hits.length === req.groupSize);
      if (complete || k >= total || hits.length < k) {
        const rows = new Map(hits.map((h) => [h.id, h.row]));
        return groups.map((g) => ({ key: g.key, hits: g.hits.map((h) => this.render(c, rows.get(h.id)!, h.score, withPayload, withVectors)) }));
      }
    }
  }

  async facet(collection: string, key: string, opts: { filter?: FilterNode; limit?: number } = {}): Promise<FacetHit[]> {
    const c = await this.get(collection);
    const where = await this.where(c, compileFilter(opts.filter));
    const counts = new Map<string, FacetHit>();
    if (where !== 'false') {
      for (const row of await this.scan(c, where, ['payload'])) {
        const seen = new Set<string>();
        for (const v of fieldValues(JSON.parse(row.payload), key)) {
          if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
          const k = `${typeof v}:${String(v)}`;
          if (seen.has(k)) continue;
          seen.add(k);
          const hit = counts.get(k);
          if (hit) hit.count++;
          else counts.set(k, { value: v, count: 1 });
        }
      }
    }
    return sortFacets([...counts.values()]).slice(0, opts.limit ?? 10);
  }

  async close(): Promise<void> {
    await this.connection.settled();
    for (const p of this.collections.values()) {
      const c = await p.catch(() => undefined);
      if (c) await release(c);
    }
    this.collections.clear();
    await this.connection.close();
  }

  // ---------- internals ----------

  /**
   * The SQL prefilter for a compiled filter: pushed down when the promoted columns answer it, otherwise the
   * ids of the rows whose JSON payload matches ('false' when none do).
   */
  private async where(c: Collection, f: FilterExpr): Promise<string> {
    const sql = filterToSql(f, c.indexes);
    if (sql !== undefined) return sql;
    const candidates = await this.scan(c, narrowingSql(f, c.indexes), ['id', 'payload']);
    const ids = candidates.filter((r) => matchesFilter(f, JSON.parse(r.payload))).map((r) => r.id);
    return ids.length === 0 ? 'false' : `id IN (${ids.map(sqlString).join(', ')})`;
  }

  private async scan(c: Collection, where: string, columns: string[]): Promise<Row[]> {
    const out: Row[] = [];
    let q = c.table.query().select(columns);
    if (where !== 'true') q = q.where(where);
    for await (const batch of q) for (const r of batch.toArray()) out.push(r as unknown as Row);
    return out;
  }

  private async rowsById(c: Collection, ids: string[], withVectors: boolean): Promise<Row[]> {
    if (ids.length === 0) return [];
    return this.scan(c, `id IN (${ids.map(sqlString).join(', ')})`, this.columns(c, withVectors));
  }

  private columns(c: Collection, withVectors: boolean, withPayload = true): string[] {
    return ['id', ...(withPayload ? ['payload'] : []), ...(withVectors ? c.spec.vectors.map((v) => vectorColumn(v.name)) : [])];
  }

  /** The best `k` rows for one search, best first. */
  private async rank(
    c: Collection,
    req: Omit<SearchRequest, 'offset' | 'limit' | 'withPayload' | 'withVectors'> & { limit: number },
    filter: FilterExpr,
    k: number,
    withVectors: boolean,
    withPayload = true,
  ): Promise<{ row: Row; score: number }[]> {
    const mode = validateSearch(c.spec, { ...req, limit: k });
    if (k === 0) return [];
    const fromMemory =
      mode.kind === 'dense'
        ? mirrorSearch(c, mode.vector.name, mode.vector.distance === 'cosine' ? normalized(mode.query) : mode.query, k, filter, withVectors)
        : mirrorTextSearch(c, mode.field, mode.text, k, filter, withVectors);
    if (fromMemory) return this.ranked(mode.kind === 'dense' ? mode.vector.distance : 'bm25', fromMemory, req.scoreThreshold, k);
    if (mode.kind === 'dense') wantAnnFor(c, filter);
    const where = await this.where(c, filter);
    if (where === 'false') return [];
    const columns = this.columns(c, withVectors, withPayload);
    if (mode.kind === 'lexical') {
      const col = textColumn(mode.field);
      maintain(c, this.opts);
      await ensureFts(c, col);
      // A MatchQuery, not the string: LanceDB parses a string, and one wrapped in double quotes became a phrase
      // query that failed (the index keeps no positions), a 500 for a user's quoted title (the soak bench, round 8).
      // The words are matched as words, as the other stores do.
      let q = c.table.query().fullTextSearch(new MatchQuery(mode.text, col)).select([...columns, '_score']).limit(k);
      if (where !== 'true') q = q.where(where);
      const rows = (await q.toArray()) as (Row & { _score: number })[];
      return this.ranked('bm25', rows.filter((r) => r._score > 0).map((r) => ({ row: r, score: r._score })), req.scoreThreshold, k);
    }
    const { vector, query } = mode;
    const col = vectorColumn(vector.name);
    maintain(c, this.opts);
    const qv = Array.from(vector.distance === 'cosine' ? normalized(query) : query);
    const search = (limit: number, refineFactor: number) => {
      const q = c.table
        .vectorSearch(qv)
        .column(col)
        .distanceType(LANCE_DISTANCE[vector.distance])
        .select([...columns, '_distance'])
        .limit(limit)
        .ef(Math.max(this.opts.ef, limit * Math.max(1, refineFactor)));
      return refineFactor > 0 ? q.refineFactor(refineFactor) : q;
    };
    let rows: (Row & { _distance: number })[] | undefined;
    if (where !== 'true') {
      const plan = await planFilter(c, where, k);
      if (plan.mode === 'postfilter') {
        // Refine about as many rows as an unfiltered search does (the refinement reads each full vector).
        const refine = this.opts.refineFactor && Math.max(1, Math.ceil((k * this.opts.refineFactor) / plan.fetch));
        const got = (await search(plan.fetch, refine).where(where).postfilter().toArray()) as (Row & { _distance: number })[];
        if (got.length >= k) rows = got;
      }
    }
    rows ??= (await (where === 'true' ? search(k, this.opts.refineFactor) : search(k, this.opts.refineFactor).where(where)).toArray()) as (Row & { _distance: number })[];
    return this.ranked(vector.distance, rows.map((r) => ({ row: r, score: toScore(vector.distance, r._distance) })), req.scoreThreshold, k);
  }

  /** A search's hits past the score threshold, best first (ties by id), at most `k`. */
  private ranked(distance: Distance | 'bm25', hits: { row: Row; score: number }[], threshold: number | undefined, k: number): { row: Row; score: number }[] {
    const asc = distance !== 'bm25' && smallerIsBetter(distance);
    return hits
      .filter((h) => passesThreshold(distance, h.score, threshold))
      .sort((a, b) => (asc ? a.score - b.score : b.score - a.score) || (a.row.id < b.row.id ? -1 : 1))
      .slice(0, k);
  }

  private async fuseAll(c: Collection, req: FusionRequest, withVectors: boolean): Promise<{ fused: ScoredPoint[]; rows: Map<string, Row> }> {
    if (!Array.isArray(req.searches) || req.searches.length === 0) throw badRequest('fusion needs at least one search', { field: 'searches' });
    const outer = compileFilter(req.filter);
    const rows = new Map<string, Row>();
    const lists = [];
    for (const s of req.searches) {
      const hits = await this.rank(c, s, { kind: 'and', items: [outer, compileFilter(s.filter)] }, s.limit, withVectors);
      for (const h of hits) rows.set(h.row.id, h.row);
      const mode = validateSearch(c.spec, s);
      lists.push({ hits: hits.map((h) => ({ id: h.row.id, score: h.score })), smallerIsBetter: mode.kind === 'dense' && smallerIsBetter(mode.vector.distance) });
    }
    return { fused: fuseLists(lists, req.fusion), rows };
  }

  /**
   * Makes every written row searchable at full speed now (waits for running maintenance first). Without the
   * in-memory index: builds missing indexes and folds every written row into them, compacting the table. With it:
   * waits for the in-memory graph to catch up, and runs LanceDB's upkeep only when due. Ingestion calls this after
   * every batch, and a compaction rewrites every fragment below a million rows, so compacting after each batch cost
   * a rewrite of the whole table every few seconds, more as the collection grew (the soak's drift).
   */
  async optimize(collection: string): Promise<void> {
    const c = await this.get(collection);
    while (c.maintenance) await c.maintenance;
    const run = refreshIndexes(c, this.opts, !this.opts.memoryIndex);
    c.maintenance = run.catch(() => undefined).finally(() => (c.maintenance = undefined));
    await run;
    await mirrorState(c);
  }

  /**
   * The table's version: LanceDB commits a new version on every write (upsert, delete, schema change,
   * compaction), so an unchanged version means unchanged contents. Cheap (no scan). Only this process writes an
   * embedded store's tables, and this process's table handle sees its own commits, so the version is exact.
   */
  async version(collection: string): Promise<string> {
    const c = await this.get(collection);
    return String(await c.table.version());
  }

  /** Names of the vectors that currently have an ANN index (the rest are searched exhaustively). */
  async annIndexedVectors(collection: string): Promise<string[]> {
    return annIndexed(await this.get(collection));
  }

  /** The in-memory index once built and caught up (LanceStoreOptions.memoryIndex; see mirrorState). */
  async memoryIndexState(collection: string): Promise<MirrorState | undefined> {
    return mirrorState(await this.get(collection));
  }

  /** For each ANN-indexed vector, the number of rows its index was trained on (see RETRAIN_GROWTH). */
  async annTrainedRows(collection: string): Promise<Record<string, number>> {
    const have = await (await this.get(collection)).table.listIndices();
    return Object.fromEntries(have.filter((i) => i.name.includes('_ann_n')).map((i) => [i.columns[0]!, trainedRows(i.name)]));
  }

  private render(c: Collection, row: Row, score: number, withPayload: boolean, withVectors: boolean): ScoredPoint {
    const out: ScoredPoint = { id: row.id, score };
    if (withPayload) out.payload = JSON.parse(row.payload) as Record<string, unknown>;
    if (withVectors) {
      out.vectors = {};
      for (const v of c.spec.vectors) {
        const f = asFloat32(row[vectorColumn(v.name)]);
        if (f) out.vectors[v.name] = f;
      }
    }
    return out;
  }
}
