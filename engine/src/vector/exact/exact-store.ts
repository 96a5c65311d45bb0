/**
 * The exact VectorStore: brute force in TypeScript, in memory. It is the oracle the contract suite and the
 * recall measurements compare the other adapters against, and the store for tests and tiny local setups.
 * Every operation follows Qdrant's semantics (see filter-compile.ts, fusion.ts, groups.ts).
 */
import { badRequest } from '../../lib/errors.ts';
import type {
  CollectionSpec,
  FacetHit,
  FusionRequest,
  GroupRequest,
  Point,
  PointGroup,
  ScoredPoint,
  ScrollPage,
  ScrollRequest,
  SearchRequest,
  VectorStore,
} from '../../ports/vector-store.ts';
import type { FilterNode } from '../../ports/filter.ts';
import { Bm25Index } from '../bm25.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { compileFilter, fieldValues, matchesFilter, type FilterExpr } from '../filter-compile.ts';
import { fuseLists } from '../fusion.ts';
import { groupHits } from '../groups.ts';
import {
  mergeSpecs,
  normalized,
  normalizeSpec,
  passesThreshold,
  requireCollection,
  similarity,
  smallerIsBetter,
  toFloat32,
  validatePoints,
  validateSearch,
} from '../spec.ts';

interface StoredPoint {
  id: string;
  vectors: Record<string, Float32Array>;
  payload: Record<string, unknown>;
}

interface ExactCollection {
  spec: CollectionSpec;
  points: Map<string, StoredPoint>;
  lexical: Map<string, Bm25Index>;
}

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class ExactVectorStore implements VectorStore {
  readonly kind = 'exact';
  private readonly collections = new Map<string, ExactCollection>();

  private get(name: string): ExactCollection {
    return requireCollection(this.collections.get(name), name);
  }

  async ensureCollection(spec: CollectionSpec): Promise<void> {
    const s = normalizeSpec(spec);
    const existing = this.collections.get(s.name);
    if (!existing) {
      this.collections.set(s.name, { spec: s, points: new Map(), lexical: new Map((s.lexicalFields ?? []).map((f) => [f, new Bm25Index()])) });
      return;
    }
    const { spec: merged, added } = mergeSpecs(existing.spec, s);
    existing.spec = merged;
    for (const f of added.lexicalFields) existing.lexical.set(f, new Bm25Index());
  }

  async describeCollection(name: string): Promise<CollectionSpec | undefined> {
    const c = this.collections.get(name);
    return c ? structuredClone(c.spec) : undefined;
  }

  async dropCollection(name: string): Promise<void> {
    this.collections.delete(name);
  }

  async listCollections(): Promise<string[]> {
    return [...this.collections.keys()].sort();
  }

  async upsert(collection: string, points: Point[]): Promise<void> {
    const c = this.get(collection);
    validatePoints(c.spec, points);
    for (const p of points) {
      const vectors: Record<string, Float32Array> = {};
      for (const [name, v] of Object.entries(p.vectors)) {
        const vs = c.spec.vectors.find((x) => x.name === name)!;
        vectors[name] = vs.distance === 'cosine' ? normalized(toFloat32(v)) : Float32Array.from(v);
      }
      c.points.set(p.id, { id: p.id, vectors, payload: structuredClone(p.payload) });
      for (const [field, index] of c.lexical) {
        const text = p.text?.[field];
        if (text === undefined) index.remove(p.id);
        else index.add(p.id, text);
      }
    }
  }

  async retrieve(collection: string, ids: string[], opts: { withVectors?: boolean } = {}): Promise<ScoredPoint[]> {
    const c = this.get(collection);
    const out: ScoredPoint[] = [];
    for (const id of new Set(ids)) {
      const p = c.points.get(id);
      if (p) out.push(this.render(p, 1, true, opts.withVectors ?? false));
    }
    return out;
  }

  async delete(collection: string, ids: string[]): Promise<void> {
    const c = this.get(collection);
    for (const id of ids) this.remove(c, id);
  }

  async deleteByFilter(collection: string, filter: FilterNode): Promise<void> {
    const c = this.get(collection);
    const f = compileFilter(filter);
    for (const p of [...c.points.values()]) if (matchesFilter(f, p.payload)) this.remove(c, p.id);
  }

  async count(collection: string, filter?: FilterNode): Promise<number> {
    const c = this.get(collection);
    const f = compileFilter(filter);
    let n = 0;
    for (const p of c.points.values()) if (matchesFilter(f, p.payload)) n++;
    return n;
  }

  async scroll(collection: string, req: ScrollRequest): Promise<ScrollPage> {
    const c = this.get(collection);
    if (!Number.isInteger(req.limit) || req.limit < 1) throw badRequest('scroll limit must be a positive integer', { field: 'limit' });
    const after = decodeCursor(req.cursor);
    const f = compileFilter(req.filter);
    const ids = [...c.points.keys()].filter((id) => after === undefined || id > after).sort(byId);
    const points: ScoredPoint[] = [];
    let more = false;
    for (const id of ids) {
      const p = c.points.get(id)!;
      if (!matchesFilter(f, p.payload)) continue;
      if (points.length === req.limit) {
        more = true;
        break;
      }
      points.push(this.render(p, 1, req.withPayload ?? true, req.withVectors ?? false));
    }
    return more ? { points, nextCursor: encodeCursor(points[points.length - 1]!.id) } : { points };
  }

  async search(collection: string, req: SearchRequest): Promise<ScoredPoint[]> {
    const c = this.get(collection);
    const offset = req.offset ?? 0;
    const hits = this.rank(c, req, compileFilter(req.filter), offset + req.limit);
    return hits.slice(offset, offset + req.limit).map(({ p, score }) => this.render(p, score, req.withPayload ?? true, req.withVectors ?? false));
  }

  async fuse(collection: string, req: FusionRequest): Promise<ScoredPoint[]> {
    const c = this.get(collection);
    const fused = this.fuseAll(c, req);
    const offset = req.offset ?? 0;
    return fused.slice(offset, offset + req.limit).map((h) => this.render(c.points.get(h.id)!, h.score, req.withPayload ?? true, req.withVectors ?? false));
  }

  async searchGroups(collection: string, req: GroupRequest): Promise<PointGroup[]> {
    const c = this.get(collection);
    validateGroupRequest(req);
    const all = 'searches' in req.search
      ? this.fuseAll(c, req.search).map((h) => ({ ...h, payload: c.points.get(h.id)!.payload }))
      : this.rank(c, { ...req.search, limit: c.points.size }, compileFilter(req.search.filter)).map(({ p, score }) => ({ id: p.id, score, payload: p.payload }));
    const withPayload = req.search.withPayload ?? true;
    const withVectors = req.search.withVectors ?? false;
    return groupHits(all, req.groupBy, req.groupSize, req.limit).map((g) => ({
      key: g.key,
      hits: g.hits.map((h) => this.render(c.points.get(h.id)!, h.score, withPayload, withVectors)),
    }));
  }

  async facet(collection: string, key: string, opts: { filter?: FilterNode; limit?: number } = {}): Promise<FacetHit[]> {
    const c = this.get(collection);
    const f = compileFilter(opts.filter);
    const counts = new Map<string, FacetHit>();
    for (const p of c.points.values()) {
      if (!matchesFilter(f, p.payload)) continue;
      const seen = new Set<string>();
      for (const v of fieldValues(p.payload, key)) {
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
        const k = `${typeof v}:${String(v)}`;
        if (seen.has(k)) continue;
        seen.add(k);
        const hit = counts.get(k);
        if (hit) hit.count++;
        else counts.set(k, { value: v, count: 1 });
      }
    }
    return sortFacets([...counts.values()]).slice(0, opts.limit ?? 10);
  }

  async close(): Promise<void> {}

  private remove(c: ExactCollection, id: string): void {
    c.points.delete(id);
    for (const index of c.lexical.values()) index.remove(id);
  }

  private fuseAll(c: ExactCollection, req: FusionRequest): ScoredPoint[] {
    if (!Array.isArray(req.searches) || req.searches.length === 0) throw badRequest('fusion needs at least one search', { field: 'searches' });
    const outer = compileFilter(req.filter);
    const lists = req.searches.map((s) => {
      const inner = compileFilter(s.filter);
      const hits = this.rank(c, s, { kind: 'and', items: [outer, inner] }, s.limit);
      const mode = validateSearch(c.spec, s);
      return {
        hits: hits.slice(0, s.limit).map(({ p, score }) => ({ id: p.id, score })),
        smallerIsBetter: mode.kind === 'dense' && smallerIsBetter(mode.vector.distance),
      };
    });
    return fuseLists(lists, req.fusion);
  }

  /** Every point passing the filter and threshold, best first (ties by id); only the best `keep` when given. */
  private rank(c: ExactCollection, req: Omit<SearchRequest, 'offset'> & { offset?: number }, filter: FilterExpr, keep = Infinity): { p: StoredPoint; score: number }[] {
    const mode = validateSearch(c.spec, req);
    const out: { p: StoredPoint; score: number }[] = [];
    if (mode.kind === 'lexical') {
      const scores = c.lexical.get(mode.field)!.score(mode.text);
      for (const [id, score] of scores) {
        const p = c.points.get(id)!;
        if (score > 0 && passesThreshold('bm25', score, req.scoreThreshold) && matchesFilter(filter, p.payload)) out.push({ p, score });
      }
      return out.sort((a, b) => b.score - a.score || byId(a.p.id, b.p.id));
    }
    const { vector, query } = mode;
    const q = vector.distance === 'cosine' ? normalized(query) : query;
    const asc = smallerIsBetter(vector.distance);
    const order = (a: { p: StoredPoint; score: number }, b: { p: StoredPoint; score: number }) => (asc ? a.score - b.score : b.score - a.score) || byId(a.p.id, b.p.id);
    const unfiltered = filter.kind === 'all';
    // bounded: keep candidates, sort and cut now and then; after a cut, skip points worse than the kept worst
    let worst = asc ? Infinity : -Infinity;
    for (const p of c.points.values()) {
      const v = p.vectors[vector.name];
      if (!v || (!unfiltered && !matchesFilter(filter, p.payload))) continue;
      const score = similarity(vector.distance, q, v);
      if (asc ? score > worst : score < worst) continue;
      if (!passesThreshold(vector.distance, score, req.scoreThreshold)) continue;
      out.push({ p, score });
      if (out.length >= 2 * keep + 64) {
        out.sort(order).length = keep;
        worst = out[keep - 1]!.score;
      }
    }
    out.sort(order);
    if (out.length > keep) out.length = keep;
    return out;
  }

  private render(p: StoredPoint, score: number, withPayload: boolean, withVectors: boolean): ScoredPoint {
    const out: ScoredPoint = { id: p.id, score };
    if (withPayload) out.payload = structuredClone(p.payload);
    if (withVectors) out.vectors = Object.fromEntries(Object.entries(p.vectors).map(([k, v]) => [k, Float32Array.from(v)]));
    return out;
  }
}

export function validateGroupRequest(req: GroupRequest): void {
  if (typeof req.groupBy !== 'string' || req.groupBy === '') throw badRequest('groupBy must name a payload field', { field: 'groupBy' });
  if (!Number.isInteger(req.groupSize) || req.groupSize < 1) throw badRequest('groupSize must be a positive integer', { field: 'groupSize' });
  if (!Number.isInteger(req.limit) || req.limit < 1) throw badRequest('limit (number of groups) must be a positive integer', { field: 'limit' });
}

/** Facet order: count descending, then value ascending (numbers before strings before booleans). */
export function sortFacets(hits: FacetHit[]): FacetHit[] {
  const rank = (v: unknown) => (typeof v === 'number' ? 0 : typeof v === 'string' ? 1 : 2);
  return hits.sort((a, b) => b.count - a.count || rank(a.value) - rank(b.value) || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
}
