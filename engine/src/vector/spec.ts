/**
 * Checks shared by every VectorStore adapter: collection specs, points and requests are validated the same way
 * everywhere, so a bad call fails with the same clear error whichever store is configured.
 */
import { badRequest, notFound } from '../lib/errors.ts';
import { parseDatetime } from './datetime.ts';
import { fieldValues } from './filter-compile.ts';
import type {
  CollectionSpec,
  Distance,
  NamedVectorSpec,
  PayloadIndexType,
  Point,
  SearchRequest,
  Vector,
} from '../ports/vector-store.ts';

const DISTANCES: Distance[] = ['cosine', 'dot', 'euclid'];
const INDEX_TYPES: PayloadIndexType[] = ['keyword', 'integer', 'float', 'bool', 'datetime', 'text'];
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const FIELD = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

/** Validates a spec and returns it with every optional list present. */
export function normalizeSpec(spec: CollectionSpec): CollectionSpec {
  if (!spec || typeof spec.name !== 'string' || !NAME.test(spec.name)) {
    throw badRequest(`collection name '${String(spec?.name)}' is invalid: use 1-128 letters, digits, '_', '-', '.'`, { field: 'name' });
  }
  if (!Array.isArray(spec.vectors)) throw badRequest('collection spec needs a vectors array (it may be empty)', { field: 'vectors' });
  const seen = new Set<string>();
  for (const v of spec.vectors) {
    if (!v || !NAME.test(v.name)) throw badRequest(`vector name '${String(v?.name)}' is invalid`, { field: 'vectors[].name' });
    if (seen.has(v.name)) throw badRequest(`vector '${v.name}' is declared twice`, { field: 'vectors[].name' });
    seen.add(v.name);
    if (!Number.isInteger(v.size) || v.size < 1 || v.size > 65536) {
      throw badRequest(`vector '${v.name}' size must be an integer between 1 and 65536`, { field: `vectors.${v.name}.size` });
    }
    if (!DISTANCES.includes(v.distance)) {
      throw badRequest(`vector '${v.name}' distance '${String(v.distance)}' is not one of ${DISTANCES.join(', ')}`, { field: `vectors.${v.name}.distance` });
    }
  }
  const lexicalFields = [...new Set(spec.lexicalFields ?? [])];
  for (const f of lexicalFields) {
    if (typeof f !== 'string' || !NAME.test(f)) throw badRequest(`lexical field '${String(f)}' is invalid`, { field: 'lexicalFields' });
    if (seen.has(f)) throw badRequest(`'${f}' is both a vector and a lexical field; use distinct names`, { field: 'lexicalFields' });
  }
  const idx = new Map<string, PayloadIndexType>();
  for (const p of spec.payloadIndexes ?? []) {
    if (!p || typeof p.field !== 'string' || !FIELD.test(p.field)) throw badRequest(`payload index field '${String(p?.field)}' is invalid`, { field: 'payloadIndexes[].field' });
    if (!INDEX_TYPES.includes(p.type)) {
      throw badRequest(`payload index on '${p.field}' has type '${String(p.type)}'; use one of ${INDEX_TYPES.join(', ')}`, { field: 'payloadIndexes[].type' });
    }
    const prev = idx.get(p.field);
    if (prev && prev !== p.type) throw badRequest(`payload index on '${p.field}' declared as both ${prev} and ${p.type}`, { field: 'payloadIndexes' });
    idx.set(p.field, p.type);
  }
  return {
    ...spec,
    vectors: spec.vectors.map((v) => ({ name: v.name, size: v.size, distance: v.distance })),
    lexicalFields,
    payloadIndexes: [...idx].map(([field, type]) => ({ field, type })),
  };
}

/**
 * Merges a requested spec into an existing one (schema evolution): new vectors, lexical fields and payload
 * indexes are added; changing an existing vector's size or distance is refused (that is a migration).
 */
export function mergeSpecs(current: CollectionSpec, requested: CollectionSpec): { spec: CollectionSpec; added: { vectors: NamedVectorSpec[]; lexicalFields: string[]; payloadIndexes: { field: string; type: PayloadIndexType }[] } } {
  const req = normalizeSpec(requested);
  const vectors = [...current.vectors];
  const added = { vectors: [] as NamedVectorSpec[], lexicalFields: [] as string[], payloadIndexes: [] as { field: string; type: PayloadIndexType }[] };
  for (const v of req.vectors) {
    const have = vectors.find((x) => x.name === v.name);
    if (!have) {
      vectors.push(v);
      added.vectors.push(v);
    } else if (have.size !== v.size || have.distance !== v.distance) {
      throw badRequest(
        `collection '${current.name}' already has vector '${v.name}' (${have.size}-d ${have.distance}); it cannot change to ${v.size}-d ${v.distance} in place: create a new collection and re-index`,
        { field: `vectors.${v.name}` },
      );
    }
  }
  const lexicalFields = [...(current.lexicalFields ?? [])];
  for (const f of req.lexicalFields ?? []) {
    if (lexicalFields.includes(f)) continue;
    lexicalFields.push(f);
    added.lexicalFields.push(f);
  }
  const payloadIndexes = [...(current.payloadIndexes ?? [])];
  for (const p of req.payloadIndexes ?? []) {
    const have = payloadIndexes.find((x) => x.field === p.field);
    if (!have) {
      payloadIndexes.push(p);
      added.payloadIndexes.push(p);
    } else if (have.type !== p.type) {
      throw badRequest(`payload index on '${p.field}' is ${have.type}; it cannot change to ${p.type} in place`, { field: 'payloadIndexes' });
    }
  }
  return { spec: { ...current, vectors, lexicalFields, payloadIndexes }, added };
}

export function requireCollection<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw notFound('collection', name);
  return value;
}

export function toFloat32(v: Vector): Float32Array {
  return v instanceof Float32Array ? v : Float32Array.from(v);
}

function checkVector(spec: CollectionSpec, name: string, v: unknown, where: string): NamedVectorSpec {
  const vs = spec.vectors.find((x) => x.name === name);
  if (!vs) {
    throw badRequest(`${where}: collection '${spec.name}' has no vector named '${name}' (has: ${spec.vectors.map((x) => x.name).join(', ') || 'none'})`, { field: name });
  }
  if (!(v instanceof Float32Array) && !Array.isArray(v)) throw badRequest(`${where}: vector '${name}' must be an array of numbers`, { field: name });
  if (v.length !== vs.size) throw badRequest(`${where}: vector '${name}' has ${v.length} dimensions, the collection expects ${vs.size}`, { field: name });
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw badRequest(`${where}: vector '${name}' has a non-finite value at index ${i}`, { field: name });
  }
  return vs;
}

export function validatePoints(spec: CollectionSpec, points: Point[]): void {
  if (!Array.isArray(points)) throw badRequest('upsert needs an array of points', { field: 'points' });
  for (const p of points) {
    if (!p || typeof p.id !== 'string' || p.id === '') throw badRequest('every point needs a non-empty string id', { field: 'id' });
    const where = `point '${p.id}'`;
    if (!p.vectors || typeof p.vectors !== 'object') throw badRequest(`${where}: vectors must be an object of named vectors`, { field: 'vectors' });
    for (const [name, v] of Object.entries(p.vectors)) checkVector(spec, name, v, where);
    if (!p.payload || typeof p.payload !== 'object' || Array.isArray(p.payload)) {
      throw badRequest(`${where}: payload must be a JSON object`, { field: 'payload' });
    }
    checkIndexedValues(spec, p, where);
    for (const f of Object.keys(p.text ?? {})) {
      if (!(spec.lexicalFields ?? []).includes(f)) {
        throw badRequest(`${where}: text field '${f}' is not a lexical field of '${spec.name}' (has: ${(spec.lexicalFields ?? []).join(', ') || 'none'})`, { field: `text.${f}` });
      }
    }
  }
}

const INDEX_VALUE: Record<PayloadIndexType, { test: (v: unknown) => boolean; what: string }> = {
  keyword: { test: (v) => typeof v === 'string', what: 'a string' },
  text: { test: (v) => typeof v === 'string', what: 'a string' },
  integer: { test: (v) => typeof v === 'number' && Number.isSafeInteger(v), what: 'an integer' },
  float: { test: (v) => typeof v === 'number' && Number.isFinite(v), what: 'a finite number' },
  bool: { test: (v) => typeof v === 'boolean', what: 'true or false' },
  datetime: { test: (v) => typeof v === 'string' && !Number.isNaN(parseDatetime(v)), what: 'an ISO-8601 datetime string' },
};

/**
 * Every value under a declared payload index must have the index's type (null is allowed: it is what is_null
 * matches). Qdrant leaves a mismatched value (2.5 under an integer index) out of its index, so filters and facets
 * silently miss it, while the exact store would match it: the same write is refused by every store instead.
 */
function checkIndexedValues(spec: CollectionSpec, p: Point, where: string): void {
  for (const idx of spec.payloadIndexes ?? []) {
    const rule = INDEX_VALUE[idx.type];
    for (const v of fieldValues(p.payload, idx.field)) {
      if (v === null || v === undefined || rule.test(v)) continue;
      throw badRequest(`${where}: payload field '${idx.field}' is indexed as ${idx.type}, so each of its values must be ${rule.what} (got ${JSON.stringify(v)?.slice(0, 80)}); send it as ${rule.what} or index the field with another type`, { field: `payload.${idx.field}` });
    }
  }
}

export type SearchMode = { kind: 'dense'; vector: NamedVectorSpec; query: Float32Array } | { kind: 'lexical'; field: string; text: string };

/** Checks a search request against the spec and says whether it is a dense or a lexical search. */
export function validateSearch(spec: CollectionSpec, req: Pick<SearchRequest, 'using' | 'vector' | 'text' | 'limit' | 'offset'>): SearchMode {
  if (!Number.isInteger(req.limit) || req.limit < 0) throw badRequest('limit must be a non-negative integer', { field: 'limit' });
  if (req.offset !== undefined && (!Number.isInteger(req.offset) || req.offset < 0)) throw badRequest('offset must be a non-negative integer', { field: 'offset' });
  if ((spec.lexicalFields ?? []).includes(req.using)) {
    if (typeof req.text !== 'string') throw badRequest(`'${req.using}' is a lexical field: pass the query as text`, { field: 'text' });
    return { kind: 'lexical', field: req.using, text: req.text };
  }
  if (req.vector === undefined) {
    throw badRequest(`search on '${req.using}' needs a vector${req.text !== undefined ? ` (text queries need a lexical field: ${(spec.lexicalFields ?? []).join(', ') || 'none declared'})` : ''}`, { field: 'vector' });
  }
  const vs = checkVector(spec, req.using, req.vector, 'search');
  return { kind: 'dense', vector: vs, query: toFloat32(req.vector) };
}

export function normalized(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  if (s === 0) return Float32Array.from(v);
  const inv = 1 / Math.sqrt(s);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * inv;
  return out;
}

/** Score as Qdrant reports it: cosine similarity, dot product, or euclidean distance (smaller is better). */
export function similarity(distance: Distance, a: Float32Array, b: Float32Array): number {
  const n = a.length;
  if (distance === 'euclid') {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const d = a[i]! - b[i]!;
      s += d * d;
    }
    return Math.sqrt(s);
  }
  // cosine vectors are stored normalised, so both are dot products here
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[i]! * b[i]!;
    s1 += a[i + 1]! * b[i + 1]!;
    s2 += a[i + 2]! * b[i + 2]!;
    s3 += a[i + 3]! * b[i + 3]!;
  }
  for (; i < n; i++) s0 += a[i]! * b[i]!;
  return s0 + s1 + (s2 + s3);
}

export const smallerIsBetter = (d: Distance) => d === 'euclid';

/** Qdrant's score_threshold: a lower bound on similarity, an upper bound on euclidean distance. */
export function passesThreshold(distance: Distance | 'bm25', score: number, threshold: number | undefined): boolean {
  if (threshold === undefined) return true;
  return distance === 'euclid' ? score <= threshold : score >= threshold;
}
