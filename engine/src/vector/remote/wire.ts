/**
 * The wire format of the served vector store (server.ts serves any VectorStore, client.ts is the VectorStore over it):
 * one route per port method, `POST /v1/vector-store/<method>`, with a JSON body of named arguments and a JSON answer
 * `{ result }`. Typed arrays travel as JSON arrays (`toJson`); the vectors of returned points are turned back into
 * Float32Arrays by the client (`pointsFromWire`). Errors travel in the documented error shape
 * (`{ success: false, status, error: { type, message, details } }`) and are rebuilt as the same QuarryError.
 */
import type { ScoredPoint } from '../../ports/vector-store.ts';

export const API_PREFIX = '/v1/vector-store';

/** The header the client sends its bearer token in. */
export const AUTH_HEADER = 'authorization';

const collection = { type: 'string', minLength: 1 } as const;
const object = { type: 'object' } as const;
const ids = { type: 'array', items: { type: 'string' } } as const;
const point = {
  type: 'object',
  required: ['id', 'vectors', 'payload'],
  properties: { id: { type: 'string' }, vectors: object, payload: object, text: { type: 'object', additionalProperties: { type: 'string' } } },
} as const;

/**
 * Each method's named arguments (in call order; `?`: may be left out) and their JSON schema. Only the shapes are checked here (a 422 naming
 * the field): what the values mean (sizes, distances, filters, cursors) is checked by the store itself, which answers
 * the same 400s whichever adapter is behind the server.
 */
export const METHODS = {
  ensureCollection: { args: ['spec'], props: { spec: object }, write: true },
  describeCollection: { args: ['collection'], props: { collection }, write: false },
  dropCollection: { args: ['collection'], props: { collection }, write: true },
  listCollections: { args: [], props: {}, write: false },
  upsert: { args: ['collection', 'points'], props: { collection, points: { type: 'array', items: point } }, write: true },
  retrieve: { args: ['collection', 'ids', 'opts?'], props: { collection, ids, opts: object }, write: false },
  delete: { args: ['collection', 'ids'], props: { collection, ids }, write: true },
  deleteByFilter: { args: ['collection', 'filter'], props: { collection, filter: object }, write: true },
  count: { args: ['collection', 'filter?'], props: { collection, filter: object }, write: false },
  scroll: { args: ['collection', 'req'], props: { collection, req: object }, write: false },
  search: { args: ['collection', 'req'], props: { collection, req: object }, write: false },
  fuse: { args: ['collection', 'req'], props: { collection, req: object }, write: false },
  searchGroups: { args: ['collection', 'req'], props: { collection, req: object }, write: false },
  facet: { args: ['collection', 'key', 'opts?'], props: { collection, key: { type: 'string', minLength: 1 }, opts: object }, write: false },
  optimize: { args: ['collection'], props: { collection }, write: true },
  version: { args: ['collection'], props: { collection }, write: false },
} as const satisfies Record<string, { args: readonly string[]; props: Record<string, unknown>; write: boolean }>;

export type MethodName = keyof typeof METHODS;

/** A method's argument names in call order. */
export const argNames = (method: MethodName): string[] => (METHODS[method].args as readonly string[]).map((a) => a.replace(/\?$/, ''));

/** The JSON schema of one method's body: its named arguments, the optional ones excepted, required; nothing else. */
export function bodySchema(method: MethodName): Record<string, unknown> {
  const required = (METHODS[method].args as readonly string[]).filter((a) => !a.endsWith('?'));
  return { type: 'object', additionalProperties: false, required, properties: METHODS[method].props };
}

/** JSON text of a body, typed arrays (Float32Array vectors) as plain arrays. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : v));
}

/** Returned points with their vectors as Float32Arrays again, as the port promises. */
export function pointsFromWire(points: ScoredPoint[]): ScoredPoint[] {
  for (const p of points) {
    if (!p.vectors) continue;
    for (const [name, v] of Object.entries(p.vectors)) p.vectors[name] = Float32Array.from(v as unknown as number[]);
  }
  return points;
}
