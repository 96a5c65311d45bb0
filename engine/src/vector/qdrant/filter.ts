/**
 * Compiled filter -> Qdrant filter JSON (https://qdrant.tech/documentation/concepts/filtering/).
 * AND/OR/NOT become must/should/must_not; eq/in become `match` value/any; ranges `range` (numbers, or RFC 3339
 * strings for datetime indexes); exists/is_null become is_empty/is_null; `text` becomes a full-text `match`
 * on fields with a text index.
 * Not translated (returns undefined, the adapter then evaluates the filter on scrolled payloads and filters by
 * has_id): substring contains, starts_with, ends_with, regex (Qdrant has no such conditions), `text` without a
 * text index (Qdrant would fall back to substring matching), and dotted paths that are not declared indexes
 * (Qdrant only walks arrays of objects with an explicit `[]`, while our paths flatten arrays implicitly).
 */
import type { Schemas } from '@qdrant/js-client-rest';
import type { PayloadIndexType } from '../../ports/vector-store.ts';
import type { Condition, FilterExpr, Scalar } from '../filter-compile.ts';

export type QFilter = Schemas['Filter'];
type QCondition = Schemas['Condition'];

const isInt = (v: Scalar) => typeof v === 'number' && Number.isInteger(v);

function eq(field: string, v: Scalar, type: PayloadIndexType | undefined): QCondition {
  if (typeof v === 'number' && (!Number.isInteger(v) || type === 'float')) return { key: field, range: { gte: v, lte: v } };
  return { key: field, match: { value: v as string | number | boolean } };
}

function anyOf(field: string, values: Scalar[], type: PayloadIndexType | undefined): QCondition {
  if (values.length === 0) return { has_id: [] };
  if (type !== 'float' && (values.every((v) => typeof v === 'string') || values.every(isInt))) {
    return { key: field, match: { any: values as string[] | number[] } };
  }
  return { should: values.map((v) => eq(field, v, type)) };
}

function condition(c: Condition, indexes: Map<string, PayloadIndexType>): QCondition | undefined {
  const type = indexes.get(c.field);
  if (c.field.includes('.') && !type) return undefined;
  switch (c.op) {
    case 'eq':
      return eq(c.field, c.value, type);
    case 'ne':
      return { must_not: [eq(c.field, c.value, type)] };
    case 'in':
      return anyOf(c.field, c.value, type);
    case 'nin':
      return { must_not: [anyOf(c.field, c.value, type)] };
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      if (c.datetime) {
        if (type !== 'datetime') return undefined;
        return { key: c.field, range: { [c.op]: new Date(c.value).toISOString() } };
      }
      return { key: c.field, range: { [c.op]: c.value } };
    case 'contains':
      return typeof c.value === 'string' ? undefined : eq(c.field, c.value, type);
    case 'exists':
      return c.value ? { must_not: [{ is_empty: { key: c.field } }] } : { is_empty: { key: c.field } };
    case 'is_null':
      return c.value ? { is_null: { key: c.field } } : { must_not: [{ is_null: { key: c.field } }] };
    case 'text':
      return type === 'text' ? { key: c.field, match: { text: c.value } } : undefined;
    default:
      return undefined;
  }
}

function node(e: FilterExpr, indexes: Map<string, PayloadIndexType>): QCondition | undefined {
  switch (e.kind) {
    case 'all':
      return { must: [] };
    case 'cond':
      return condition(e, indexes);
    case 'not': {
      const inner = node(e.item, indexes);
      return inner && { must_not: [inner] };
    }
    case 'and':
    case 'or': {
      const parts = e.items.map((i) => node(i, indexes));
      if (parts.some((p) => p === undefined)) return undefined;
      if (e.kind === 'or' && parts.length === 0) return { has_id: [] };
      return e.kind === 'and' ? { must: parts as QCondition[] } : { should: parts as QCondition[] };
    }
  }
}

/** The whole filter in Qdrant's language, or undefined when part of it needs client-side evaluation. */
export function toQdrantFilter(e: FilterExpr, indexes: Map<string, PayloadIndexType>): QFilter | undefined {
  if (e.kind === 'all') return { must: [] };
  const c = node(e, indexes);
  if (!c) return undefined;
  return 'must' in c || 'should' in c || 'must_not' in c ? (c as QFilter) : { must: [c] };
}

/** A Qdrant filter implied by `e` (translatable top-level conjuncts), to narrow the client-side scan. */
export function narrowingFilter(e: FilterExpr, indexes: Map<string, PayloadIndexType>): QFilter {
  if (e.kind !== 'and') return toQdrantFilter(e, indexes) ?? { must: [] };
  return { must: e.items.map((i) => node(i, indexes)).filter((c): c is QCondition => c !== undefined) };
}
