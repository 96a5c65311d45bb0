// Qdrant wire shapes: request headers, point ids, distances, payload index schemas, collection info as a CollectionSpec, rendered points and scroll cursors.
import { createHash } from 'node:crypto';
import type { Schemas } from '@qdrant/js-client-rest';
import { badRequest } from '../../lib/errors.ts';
import type { CollectionSpec, Distance, PayloadIndexType, ScoredPoint, SearchRequest } from '../../ports/vector-store.ts';
import { bm25QuerySparse } from '../bm25.ts';
import { validateSearch } from '../spec.ts';
import type { QFilter } from './filter.ts';

export const ID_KEY = '__quarry_id';
export const SPARSE_PREFIX = 'bm25__';
export const NONE: QFilter = { must: [{ has_id: [] }] };

/**
 * Asks Qdrant for uncompressed responses. Node's fetch (under the JS client) sends `accept-encoding: gzip, deflate`
 * by default; Qdrant then gzips its answer as a chunked stream, writing the headers and the body separately, and
 * with Nagle's algorithm on its socket the body waits for the client's ACK of the headers, which the client delays
 * by 40 ms: captured on loopback against Qdrant 1.19, a search took 44 ms instead of 2 (issue 24 item 7). Plain
 * responses go out in one write (and in a cluster network gzip only costs CPU on both ends).
 */
export const UNCOMPRESSED = { 'accept-encoding': 'identity' };

export const TO_QDRANT: Record<Distance, Schemas['Distance']> = { cosine: 'Cosine', dot: 'Dot', euclid: 'Euclid' };
export const FROM_QDRANT: Partial<Record<Schemas['Distance'], Distance>> = { Cosine: 'cosine', Dot: 'dot', Euclid: 'euclid' };

/** Deterministic name-based UUID (RFC 4122 version 5 layout over SHA-1) for a string id. */
export function pointUuid(id: string): string {
  const h = createHash('sha1').update('quarry.dev/point/').update(id).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function indexSchema(type: PayloadIndexType): Schemas['PayloadFieldSchema'] {
  if (type === 'text') return { type: 'text', tokenizer: 'word', lowercase: true };
  return type;
}

/** Qdrant's own not-found answer (`{"status":{"error":"Not found: Collection `x` doesn't exist!"}}`). */
export function isQdrantNotFound(e: unknown): boolean {
  const data = (e as { data?: { status?: { error?: unknown } } })?.data;
  const text = typeof data?.status?.error === 'string' ? data.status.error : String((e as Error)?.message ?? '');
  return /not found|doesn't exist|does not exist/i.test(text) && /collection/i.test(text);
}

export function statusOf(e: unknown): number | undefined {
  const s = (e as { status?: unknown })?.status;
  if (typeof s === 'number') return s;
  const m = /Unexpected Response: (\d{3})/.exec(String((e as Error)?.message ?? ''));
  return m ? Number(m[1]) : undefined;
}

export type QPoint = { id: string | number; score?: number; payload?: Record<string, unknown> | null; vector?: unknown };

/** The create-collection request for a spec: named dense vectors, one idf sparse vector per lexical field. */
export function createCollectionBody(spec: CollectionSpec, indexingThresholdKb: number | undefined): Schemas['CreateCollection'] {
  return {
    vectors: Object.fromEntries(spec.vectors.map((v) => [v.name, { size: v.size, distance: TO_QDRANT[v.distance], ...(spec.onDisk ? { on_disk: true } : {}) }])),
    sparse_vectors: Object.fromEntries((spec.lexicalFields ?? []).map((f) => [`${SPARSE_PREFIX}${f}`, { modifier: 'idf' as const }])),
    ...(spec.shards ? { shard_number: spec.shards } : {}),
    ...(spec.replicationFactor ? { replication_factor: spec.replicationFactor } : {}),
    ...(spec.onDisk ? { on_disk_payload: true } : {}),
    ...(indexingThresholdKb !== undefined ? { optimizers_config: { indexing_threshold: indexingThresholdKb } } : {}),
  };
}

/** The CollectionSpec a Qdrant collection's info describes (named dense vectors, bm25 sparse vectors, payload indexes). */
export function specFromInfo(name: string, info: Schemas['CollectionInfo']): CollectionSpec {
  const vectors = info.config.params.vectors;
  const named = vectors && !('size' in vectors) ? (vectors as Record<string, Schemas['VectorParams']>) : {};
  const spec: CollectionSpec = {
    name,
    vectors: Object.entries(named).map(([vname, p]) => ({ name: vname, size: p.size, distance: FROM_QDRANT[p.distance] ?? 'cosine' })),
    lexicalFields: Object.keys(info.config.params.sparse_vectors ?? {})
      .filter((k) => k.startsWith(SPARSE_PREFIX))
      .map((k) => k.slice(SPARSE_PREFIX.length)),
    payloadIndexes: Object.entries(info.payload_schema ?? {})
      .filter(([field, s]) => field !== ID_KEY && s !== undefined && ['keyword', 'integer', 'float', 'bool', 'datetime', 'text'].includes(s.data_type))
      .map(([field, s]) => ({ field, type: s!.data_type as PayloadIndexType })),
  };
  if (info.config.params.shard_number) spec.shards = info.config.params.shard_number;
  if (info.config.params.replication_factor) spec.replicationFactor = info.config.params.replication_factor;
  return spec;
}

export function withPayloadOf(want: boolean): Schemas['WithPayloadInterface'] {
  return want ? true : { include: [ID_KEY] };
}

export function withVectorOf(spec: CollectionSpec, want: boolean | undefined): Schemas['WithVector'] {
  return want ? spec.vectors.map((v) => v.name) : false;
}

export function renderPoint(p: QPoint, score: number, withPayload: boolean, withVectors: boolean): ScoredPoint {
  const payload = { ...(p.payload ?? {}) };
  const id = typeof payload[ID_KEY] === 'string' ? (payload[ID_KEY] as string) : String(p.id);
  delete payload[ID_KEY];
  const out: ScoredPoint = { id, score };
  if (withPayload) out.payload = payload;
  if (withVectors && p.vector && typeof p.vector === 'object' && !Array.isArray(p.vector)) {
    out.vectors = {};
    for (const [k, v] of Object.entries(p.vector as Record<string, unknown>)) {
      if (Array.isArray(v) && !k.startsWith(SPARSE_PREFIX)) out.vectors[k] = Float32Array.from(v as number[]);
    }
  }
  return out;
}

export function queryFor(spec: CollectionSpec, s: Pick<SearchRequest, 'using' | 'vector' | 'text' | 'limit' | 'offset'>): { query: Schemas['QueryInterface']; using: string } | undefined {
  const mode = validateSearch(spec, s);
  if (mode.kind === 'lexical') {
    const sparse = bm25QuerySparse(mode.text);
    return sparse.indices.length ? { query: sparse, using: `${SPARSE_PREFIX}${mode.field}` } : undefined;
  }
  return { query: Array.from(mode.query), using: s.using };
}

export function decodeQdrantCursor(cursor: string | undefined): string | number | undefined {
  if (cursor === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { from?: unknown };
    if (typeof v.from === 'string' || typeof v.from === 'number') return v.from;
  } catch {
    /* fall through */
  }
  throw badRequest('invalid scroll cursor: pass back the nextCursor of the previous page unchanged', { field: 'cursor' });
}
