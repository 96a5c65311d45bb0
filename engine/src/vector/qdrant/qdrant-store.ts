/**
 * The production VectorStore on Qdrant, written against Qdrant's documented REST API through
 * @qdrant/js-client-rest:
 * - a collection per namespace collection (optionally prefixed) with named dense vectors, and one sparse
 *   vector `bm25__<field>` per lexical field with the `idf` modifier: the client sends BM25 term weights
 *   (bm25.ts), Qdrant applies IDF from its own statistics;
 * - payload indexes (keyword, integer, float, bool, datetime, text with the word tokenizer, lower-cased);
 * - string ids mapped deterministically to UUIDs (name-based, SHA-1), the original id kept in the payload
 *   under `__quarry_id` and restored on the way out;
 * - search and fusion through the Query API (prefetch + rrf/dbsf fusion), query/groups, facet, scroll.
 */
import { QdrantClient, type Schemas } from '@qdrant/js-client-rest';
import { badRequest, notFound, QuarryError } from '../../lib/errors.ts';
import { logger } from '../../lib/log.ts';
import type { FilterNode } from '../../ports/filter.ts';
import type { CollectionSpec, FacetHit, FusionRequest, GroupRequest, PayloadIndexType, Point, PointGroup, ScoredPoint, ScrollPage, ScrollRequest, SearchRequest, VectorStore } from '../../ports/vector-store.ts';
import { bm25DocumentSparse } from '../bm25.ts';
import { sortFacets, validateGroupRequest } from '../exact/exact-store.ts';
import { compileFilter, fieldValues, matchesFilter, type FilterExpr } from '../filter-compile.ts';
import { groupHits } from '../groups.ts';
import { mergeSpecs, normalizeSpec, validatePoints } from '../spec.ts';
import { narrowingFilter, toQdrantFilter, type QFilter } from './filter.ts';
import { createCollectionBody, ID_KEY, SPARSE_PREFIX, NONE, TO_QDRANT, pointUuid, indexSchema, isQdrantNotFound, statusOf, specFromInfo, withPayloadOf, withVectorOf, renderPoint, queryFor, decodeQdrantCursor, UNCOMPRESSED } from './qdrant-wire.ts';
import type { QPoint } from './qdrant-wire.ts';
export { ID_KEY, pointUuid } from './qdrant-wire.ts';

const log = logger('vector-store.qdrant');

export interface QdrantStoreOptions {
  url: string;
  apiKey?: string;
  /** Prefix of every Qdrant collection this store manages (lets several deployments share one Qdrant). */
  collectionPrefix?: string;
  /** Request timeout in milliseconds. Default 30,000. */
  timeoutMs?: number;
  /** Average document length assumed by the BM25 term weights. Default 256 (Qdrant's fastembed BM25 default). */
  bm25AvgDocLen?: number;
  /** Points per upsert request. Default 256. */
  batchSize?: number;
  /**
   * Qdrant's `optimizers_config.indexing_threshold` (kilobytes of vectors per segment before its HNSW index is built)
   * for collections this store creates. Default: the server's (10,000 KB).
   */
  indexingThresholdKb?: number;
  /** Most candidate points a filter Qdrant cannot run is checked on here before it is refused (400). Default 200,000. */
  maxClientFilterScan?: number;
}

const SPEC_TTL_MS = 30_000;
const CLIENT_FILTER_TTL_MS = 5_000;

export class QdrantVectorStore implements VectorStore {
  readonly kind = 'qdrant';
  private readonly client: QdrantClient;
  private readonly prefix: string;
  private readonly avgDocLen: number;
  private readonly batchSize: number;
  private readonly specs = new Map<string, CollectionSpec>();
  /** When each cached spec was read: older than SPEC_TTL_MS, it is read again (another process may have evolved it). */
  private readonly specAt = new Map<string, number>();
  private readonly url: string;
  private readonly maxClientFilterScan: number;
  private readonly clientFilters = new Map<string, { at: number; filter: QFilter }>();
  private readonly indexingThresholdKb: number | undefined;

  constructor(opts: QdrantStoreOptions) {
    if (!opts?.url) throw badRequest('the Qdrant vector store needs a url (QDRANT_URL)', { field: 'url' });
    this.client = new QdrantClient({
      url: opts.url,
      ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
      timeout: opts.timeoutMs ?? 30_000,
      checkCompatibility: false,
      headers: UNCOMPRESSED,
    });
    this.url = opts.url;
    this.maxClientFilterScan = opts.maxClientFilterScan ?? 200_000;
    this.prefix = opts.collectionPrefix ?? '';
    this.avgDocLen = opts.bm25AvgDocLen ?? 256;
    this.batchSize = opts.batchSize ?? 256;
    this.indexingThresholdKb = opts.indexingThresholdKb;
  }

  private q(name: string): string {
    return `${this.prefix}${name}`;
  }

  /**
   * Runs a Qdrant call, turning its errors into the documented error shape. Credentials Qdrant rejects (401/403)
   * and a 404 that is not Qdrant's "collection not found" (QDRANT_URL pointing at something else) are the server's
   * configuration, not the caller's request: 500 StorageError naming the setting, never a 400 or a 404.
   */
  private async call<T>(collection: string, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof QuarryError) throw e;
      const status = statusOf(e);
      const message = String((e as Error)?.message ?? e).slice(0, 600);
      if (status === 401 || status === 403) {
        log.error({ status, collection, what }, 'qdrant rejected the credentials');
        throw new QuarryError('StorageError', `Qdrant rejected this server's credentials (HTTP ${status}) for ${what} on '${collection}': check QDRANT_API_KEY`, { collection, qdrant_status: status });
      }
      if (status === 404) {
        if (isQdrantNotFound(e)) throw notFound('collection', collection);
        log.error({ status, collection, what, url: this.url }, 'qdrant answered 404 without a Qdrant error body');
        throw new QuarryError('StorageError', `the vector store at ${this.url} answered 404 to ${what} without a Qdrant error: check that QDRANT_URL is Qdrant's REST endpoint (e.g. http://qdrant:6333)`, { collection, qdrant_status: status });
      }
      if (status !== undefined && status >= 400 && status < 500) throw badRequest(`Qdrant refused ${what} on '${collection}': ${message}`, { collection });
      log.error({ err: e, collection, what }, 'qdrant call failed');
      throw new QuarryError('StorageError', `Qdrant ${what} on '${collection}' failed: ${message}`, { collection });
    }
  }

  private async spec(name: string): Promise<CollectionSpec> {
    const cached = this.specs.get(name);
    if (cached && Date.now() - (this.specAt.get(name) ?? 0) < SPEC_TTL_MS) return cached;
    const spec = await this.describeCollection(name);
    if (!spec) throw notFound('collection', name);
    return spec;
  }

  /**
   * Runs `fn` with the collection's spec; when it fails with a 400 or 404 on a cached spec that has since changed
   * (the operator added a named vector, or dropped and recreated the collection with another size, in another
   * process: issue 24), runs it once more with the fresh spec.
   */
  private async withSpec<T>(collection: string, fn: (spec: CollectionSpec) => Promise<T>): Promise<T> {
    const spec = await this.spec(collection);
    try {
      return await fn(spec);
    } catch (e) {
      if (!(e instanceof QuarryError) || (e.status !== 400 && e.status !== 404)) throw e;
      const fresh = await this.describeCollection(collection);
      if (!fresh || JSON.stringify(fresh) === JSON.stringify(spec)) throw e;
      log.info({ collection }, 'collection schema changed elsewhere: retried with the fresh schema');
      return fn(fresh);
    }
  }

  private indexes(spec: CollectionSpec): Map<string, PayloadIndexType> {
    return new Map((spec.payloadIndexes ?? []).map((p) => [p.field, p.type]));
  }

  // ---------- collections ----------

  async ensureCollection(requested: CollectionSpec): Promise<void> {
    const spec = normalizeSpec(requested);
    const name = this.q(spec.name);
    let current = await this.describeCollection(spec.name);
    if (!current) {
      await this.call(spec.name, 'create collection', async () => {
        try {
          await this.client.createCollection(name, createCollectionBody(spec, this.indexingThresholdKb));
        } catch (e) {
          if (statusOf(e) !== 409) throw e; // created concurrently: fall through to the merge below
        }
      });
      current = (await this.describeCollection(spec.name)) ?? { ...spec, payloadIndexes: [] };
    }
    const { spec: merged, added } = mergeSpecs(current, spec);
    for (const v of added.vectors) {
      await this.call(spec.name, `add vector '${v.name}'`, () =>
        this.client.createVectorName(name, v.name, { dense: { size: v.size, distance: TO_QDRANT[v.distance] } }, { wait: true }),
      );
    }
    for (const f of added.lexicalFields) {
      await this.call(spec.name, `add lexical field '${f}'`, () =>
        this.client.createVectorName(name, `${SPARSE_PREFIX}${f}`, { sparse: { modifier: 'idf' } }, { wait: true }),
      );
    }
    for (const p of added.payloadIndexes) {
      await this.call(spec.name, `create payload index '${p.field}'`, () =>
        this.client.createPayloadIndex(name, { field_name: p.field, field_schema: indexSchema(p.type), wait: true }),
      );
    }
    this.specs.set(spec.name, { ...merged, name: spec.name });
    this.specAt.set(spec.name, Date.now());
  }

  async describeCollection(name: string): Promise<CollectionSpec | undefined> {
    let info: Schemas['CollectionInfo'];
    try {
      info = await this.client.getCollection(this.q(name));
    } catch (e) {
      if (statusOf(e) === 404 && isQdrantNotFound(e)) {
        this.specs.delete(name);
        return undefined;
      }
      return this.call(name, 'describe', () => Promise.reject(e));
    }
    const spec = specFromInfo(name, info);
    this.specs.set(name, spec);
    this.specAt.set(name, Date.now());
    return structuredClone(spec);
  }

  async dropCollection(name: string): Promise<void> {
    this.specs.delete(name);
    this.wrote(name);
    this.specAt.delete(name);
    await this.call(name, 'drop', () => this.client.deleteCollection(this.q(name)));
  }

  async listCollections(): Promise<string[]> {
    const res = await this.call('*', 'list collections', () => this.client.getCollections());
    return res.collections
      .map((c) => c.name)
      .filter((n) => n.startsWith(this.prefix))
      .map((n) => n.slice(this.prefix.length))
      .sort();
  }

  // ---------- points ----------

  async upsert(collection: string, points: Point[]): Promise<void> {
    await this.withSpec(collection, (spec) => this.upsertWith(collection, spec, points));
  }

  private async upsertWith(collection: string, spec: CollectionSpec, points: Point[]): Promise<void> {
    validatePoints(spec, points);
    const structs = points.map((p) => {
      const vector: Record<string, number[] | { indices: number[]; values: number[] }> = {};
      for (const [k, v] of Object.entries(p.vectors)) vector[k] = Array.from(v);
      for (const [f, text] of Object.entries(p.text ?? {})) {
        const sparse = bm25DocumentSparse(text, this.avgDocLen);
        if (sparse.indices.length) vector[`${SPARSE_PREFIX}${f}`] = sparse;
      }
      return { id: pointUuid(p.id), vector, payload: { ...p.payload, [ID_KEY]: p.id } };
    });
    for (let i = 0; i < structs.length; i += this.batchSize) {
      const batch = structs.slice(i, i + this.batchSize);
      this.wrote(collection);
      await this.call(collection, 'upsert', () => this.client.upsert(this.q(collection), { wait: true, points: batch }));
      this.wrote(collection);
    }
  }

  async retrieve(collection: string, ids: string[], opts: { withVectors?: boolean } = {}): Promise<ScoredPoint[]> {
    const spec = await this.spec(collection);
    if (ids.length === 0) return [];
    const res = await this.call(collection, 'retrieve', () =>
      this.client.retrieve(this.q(collection), { ids: [...new Set(ids)].map(pointUuid), with_payload: true, with_vector: withVectorOf(spec, opts.withVectors) }),
    );
    const byId = new Map(res.map((p) => [renderPoint(p, 1, true, opts.withVectors ?? false).id, p]));
    return [...new Set(ids)].filter((id) => byId.has(id)).map((id) => renderPoint(byId.get(id)!, 1, true, opts.withVectors ?? false));
  }

  async delete(collection: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.call(collection, 'delete', () => this.client.delete(this.q(collection), { wait: true, points: ids.map(pointUuid) }));
    this.wrote(collection);
  }

  async deleteByFilter(collection: string, filter: FilterNode): Promise<void> {
    const spec = await this.spec(collection);
    const f = await this.filter(collection, spec, compileFilter(filter));
    if (f === NONE) return;
    await this.call(collection, 'delete by filter', () => this.client.delete(this.q(collection), { wait: true, filter: f }));
    this.wrote(collection);
  }

  async count(collection: string, filter?: FilterNode): Promise<number> {
    const spec = await this.spec(collection);
    const f = await this.filter(collection, spec, compileFilter(filter));
    if (f === NONE) return 0;
    const res = await this.call(collection, 'count', () => this.client.count(this.q(collection), { filter: f, exact: true }));
    return res.count;
  }

  async scroll(collection: string, req: ScrollRequest): Promise<ScrollPage> {
    const spec = await this.spec(collection);
    if (!Number.isInteger(req.limit) || req.limit < 1) throw badRequest('scroll limit must be a positive integer', { field: 'limit' });
    const from = decodeQdrantCursor(req.cursor);
    const f = await this.filter(collection, spec, compileFilter(req.filter));
    if (f === NONE) return { points: [] };
    const res = await this.call(collection, 'scroll', () =>
      this.client.scroll(this.q(collection), {
        filter: f,
        limit: req.limit,
        ...(from !== undefined ? { offset: from } : {}),
        with_payload: withPayloadOf(req.withPayload ?? true),
        with_vector: withVectorOf(spec, req.withVectors),
      }),
    );
    const points = res.points.map((p) => renderPoint(p, 1, req.withPayload ?? true, req.withVectors ?? false));
    const next = res.next_page_offset;
    return typeof next !== 'string' && typeof next !== 'number' ? { points } : { points, nextCursor: Buffer.from(JSON.stringify({ from: next })).toString('base64url') };
  }

  // ---------- search ----------

  async search(collection: string, req: SearchRequest): Promise<ScoredPoint[]> {
    return this.withSpec(collection, (spec) => this.searchWith(collection, spec, req));
  }

  private async searchWith(collection: string, spec: CollectionSpec, req: SearchRequest): Promise<ScoredPoint[]> {
    const q = queryFor(spec, req);
    const f = await this.filter(collection, spec, compileFilter(req.filter));
    if (!q || f === NONE || req.limit === 0) return [];
    const res = await this.call(collection, 'query', () =>
      this.client.query(this.q(collection), {
        ...q,
        filter: f,
        limit: req.limit,
        ...(req.offset ? { offset: req.offset } : {}),
        ...(req.scoreThreshold !== undefined ? { score_threshold: req.scoreThreshold } : {}),
        with_payload: withPayloadOf(req.withPayload ?? true),
        with_vector: withVectorOf(spec, req.withVectors),
      }),
    );
    return res.points.map((p) => renderPoint(p, p.score, req.withPayload ?? true, req.withVectors ?? false));
  }

  private async fusionQuery(collection: string, spec: CollectionSpec, req: FusionRequest): Promise<{ prefetch: Schemas['Prefetch'][]; query: Schemas['QueryInterface']; filter: QFilter } | undefined> {
    if (!Array.isArray(req.searches) || req.searches.length === 0) throw badRequest('fusion needs at least one search', { field: 'searches' });
    const outer = compileFilter(req.filter);
    const prefetch: Schemas['Prefetch'][] = [];
    for (const s of req.searches) {
      const q = queryFor(spec, s);
      const f = await this.filter(collection, spec, { kind: 'and', items: [outer, compileFilter(s.filter)] });
      if (!q || f === NONE) continue;
      prefetch.push({ ...q, filter: f, limit: s.limit, ...(s.scoreThreshold !== undefined ? { score_threshold: s.scoreThreshold } : {}) });
    }
    if (prefetch.length === 0) return undefined;
    const query: Schemas['QueryInterface'] =
      req.fusion.method === 'dbsf' ? { fusion: 'dbsf' } : req.fusion.k !== undefined ? { rrf: { k: req.fusion.k } } : { fusion: 'rrf' };
    const filter = await this.filter(collection, spec, outer);
    return { prefetch, query, filter };
  }

  async fuse(collection: string, req: FusionRequest): Promise<ScoredPoint[]> {
    return this.withSpec(collection, (spec) => this.fuseWith(collection, spec, req));
  }

  private async fuseWith(collection: string, spec: CollectionSpec, req: FusionRequest): Promise<ScoredPoint[]> {
    const fq = await this.fusionQuery(collection, spec, req);
    if (!fq || fq.filter === NONE) return [];
    const res = await this.call(collection, 'fusion query', () =>
      this.client.query(this.q(collection), {
        ...fq,
        limit: req.limit,
        ...(req.offset ? { offset: req.offset } : {}),
        with_payload: withPayloadOf(req.withPayload ?? true),
        with_vector: withVectorOf(spec, req.withVectors),
      }),
    );
    return res.points.map((p) => renderPoint(p, p.score, req.withPayload ?? true, req.withVectors ?? false));
  }

  async searchGroups(collection: string, req: GroupRequest): Promise<PointGroup[]> {
    const spec = await this.spec(collection);
    validateGroupRequest(req);
    // Qdrant groups only by keyword and integer values and does not flatten arrays of objects: bool groups came back
    // empty and `items.sku` groups short (issue 24). Those are grouped here, over a widening ranking, as the embedded
    // store does.
    const type = this.indexes(spec).get(req.groupBy);
    if (req.groupBy.includes('.') || (type !== undefined && type !== 'keyword' && type !== 'integer')) return this.groupsHere(collection, req);
    const withPayload = req.search.withPayload ?? true;
    const withVectors = req.search.withVectors ?? false;
    let body: { prefetch?: Schemas['Prefetch'][]; query: Schemas['QueryInterface']; using?: string; filter: QFilter; score_threshold?: number };
    if ('searches' in req.search) {
      const fq = await this.fusionQuery(collection, spec, req.search);
      if (!fq || fq.filter === NONE) return [];
      body = fq;
    } else {
      const q = queryFor(spec, req.search);
      const f = await this.filter(collection, spec, compileFilter(req.search.filter));
      if (!q || f === NONE) return [];
      body = { ...q, filter: f, ...(req.search.scoreThreshold !== undefined ? { score_threshold: req.search.scoreThreshold } : {}) };
    }
    const res = await this.call(collection, 'query groups', () =>
      this.client.queryGroups(this.q(collection), {
        ...body,
        group_by: req.groupBy,
        group_size: req.groupSize,
        limit: req.limit,
        with_payload: withPayloadOf(withPayload),
        with_vector: withVectorOf(spec, withVectors),
      }),
    );
    return res.groups.map((g) => ({ key: g.id, hits: g.hits.map((p) => renderPoint(p, p.score, withPayload, withVectors)) }));
  }

  private async groupsHere(collection: string, req: GroupRequest): Promise<PointGroup[]> {
    const total = await this.count(collection, 'searches' in req.search ? req.search.filter : req.search.filter);
    for (let k = Math.max(req.limit * req.groupSize * 2, 32); ; k *= 4) {
      const hits =
        'searches' in req.search
          ? await this.fuse(collection, { ...req.search, withPayload: true, limit: k, searches: req.search.searches.map((s) => ({ ...s, limit: Math.max(s.limit, k) })) })
          : await this.search(collection, { ...req.search, withPayload: true, limit: k, offset: 0 });
      const groups = groupHits(hits, req.groupBy, req.groupSize, req.limit);
      const complete = groups.length === req.limit && groups.every((g) => g.hits.length === req.groupSize);
      if (complete || k >= total || hits.length < k) {
        if (req.search.withPayload === false) for (const g of groups) for (const h of g.hits) delete h.payload;
        return groups;
      }
    }
  }

  async facet(collection: string, key: string, opts: { filter?: FilterNode; limit?: number } = {}): Promise<FacetHit[]> {
    const spec = await this.spec(collection);
    const f = await this.filter(collection, spec, compileFilter(opts.filter));
    if (f === NONE) return [];
    const limit = opts.limit ?? 10;
    const type = this.indexes(spec).get(key);
    if (!key.includes('.') && (type === 'keyword' || type === 'integer' || type === 'bool')) {
      const res = await this.call(collection, 'facet', () => this.client.facet(this.q(collection), { key, filter: f, limit, exact: true }));
      return sortFacets(res.hits.map((h) => ({ value: h.value, count: h.count })));
    }
    // Qdrant facets need a keyword/integer/bool index; count unindexed fields client-side.
    const counts = new Map<string, FacetHit>();
    for await (const p of this.scan(collection, f, true)) {
      const seen = new Set<string>();
      for (const v of fieldValues(p.payload ?? {}, key)) {
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
        const k = `${typeof v}:${String(v)}`;
        if (seen.has(k)) continue;
        seen.add(k);
        const hit = counts.get(k);
        if (hit) hit.count++;
        else counts.set(k, { value: v, count: 1 });
      }
    }
    return sortFacets([...counts.values()]).slice(0, limit);
  }

  async close(): Promise<void> {
    this.specs.clear();
  }

  // ---------- internals ----------

  /**
   * Qdrant filter for a compiled filter; untranslatable filters are evaluated here and become a has_id list. That
   * scan is bounded (maxClientFilterScan candidate points, else a 400 saying how to narrow it) and its result is
   * reused for CLIENT_FILTER_TTL_MS by the same filter on the same collection (the pages of one scroll, a search and
   * its count), until this store writes to the collection (issue 24 item 3: scroll rescanned on every page).
   */
  private async filter(collection: string, spec: CollectionSpec, e: FilterExpr): Promise<QFilter> {
    const indexes = this.indexes(spec);
    const direct = toQdrantFilter(e, indexes);
    if (direct) return direct;
    const key = `${collection}\u0000${JSON.stringify(e)}`;
    const hit = this.clientFilters.get(key);
    if (hit && Date.now() - hit.at < CLIENT_FILTER_TTL_MS) return hit.filter;
    const ids: string[] = [];
    let scanned = 0;
    for await (const p of this.scan(collection, narrowingFilter(e, indexes), true)) {
      if (++scanned > this.maxClientFilterScan) {
        throw badRequest(
          `this filter has a condition Qdrant cannot run (substring contains, starts_with, ends_with, regex, text or a datetime range without a matching index, or an unindexed nested path) and more than ${this.maxClientFilterScan} points of '${collection}' to check it on; AND it with an indexed condition (eq, in, a range) that narrows the candidates, or declare a payload index on the field`,
          { collection, limit: this.maxClientFilterScan },
        );
      }
      const payload = { ...(p.payload ?? {}) };
      delete payload[ID_KEY];
      if (matchesFilter(e, payload)) ids.push(String(p.id));
    }
    const filter = ids.length === 0 ? NONE : { must: [{ has_id: ids }] };
    if (this.clientFilters.size >= 64) this.clientFilters.delete(this.clientFilters.keys().next().value!);
    this.clientFilters.set(key, { at: Date.now(), filter });
    return filter;
  }

  /** Forgets the client-side filter results of a collection this store just wrote to. */
  private wrote(collection: string): void {
    for (const k of this.clientFilters.keys()) if (k.startsWith(`${collection}\u0000`)) this.clientFilters.delete(k);
  }

  private async *scan(collection: string, filter: QFilter, withPayload: boolean): AsyncGenerator<QPoint> {
    let offset: string | number | undefined;
    do {
      const res = await this.call(collection, 'scroll', () =>
        this.client.scroll(this.q(collection), { filter, limit: 1000, ...(offset !== undefined ? { offset } : {}), with_payload: withPayload, with_vector: false }),
      );
      yield* res.points;
      const next = res.next_page_offset;
      offset = typeof next === 'string' || typeof next === 'number' ? next : undefined;
    } while (offset !== undefined);
  }

  /**
   * Waits until Qdrant has finished optimising (indexing) the collection: status green. A grey collection (optimisations
   * pending but not started, e.g. after a restart) is nudged with an empty optimizers update, as Qdrant documents.
   * Benches and tests call this so they measure the HNSW index rather than segments still being built.
   */
  async optimize(collection: string, timeoutMs = 600_000): Promise<void> {
    const name = this.q(collection);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.call(collection, 'describe', () => this.client.getCollection(name));
      if (info.status === 'green') return;
      if (info.status === 'grey') await this.call(collection, 'trigger optimisation', () => this.client.updateCollection(name, { optimizers_config: {} }));
      if (info.status === 'red') throw new QuarryError('StorageError', `Qdrant collection '${collection}' is red (optimisation failed): ${JSON.stringify(info.optimizer_status)}`, { collection });
      if (Date.now() > deadline) throw new QuarryError('StorageError', `Qdrant collection '${collection}' was still ${info.status} after ${timeoutMs} ms`, { collection });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

