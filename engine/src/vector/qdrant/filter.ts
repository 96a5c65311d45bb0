/**
 * Compiled filter -> Qdrant filter JSON (https://qdrant.tech/documentation/concepts/filtering/).
 * AND/OR/NOT become must/should/must_not; eq/in become `match` value/any; ranges `range` (numbers, or RFC 3339
 * strings for datetime indexes); exists/is_null become is_empty/is_null (see hasValue); `text` becomes a full-text `match`
 * on fields with a text index.
 * Not translated (returns undefined, the adapter then evaluates the filter on scrolled payloads and filters by
 * has_id): substring contains, starts_with, ends_with, regex (Qdrant has no such conditions), `text` without a
 * text index (Qdrant would fall back to substring matching), and dotted paths that are not declared indexes.
 * Qdrant walks arrays of objects only where a key says `[]`, while our paths flatten arrays implicitly: a declared
 * dotted path is asked under every spelling (`items.sku` or `items[].sku`, see pathVariants).
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

/**
 * The Qdrant keys one dot path can mean: Qdrant walks an array of objects only where the key says `[]`
 * (`items[].sku`), while our paths flatten arrays implicitly, so `a.b.c` is asked as every spelling with and without
 * `[]` after each inner segment (at most 3 inner segments: 8 keys). Undefined for deeper paths (evaluated here).
 */
export function pathVariants(field: string): string[] | undefined {
  const parts = field.split('.');
  if (parts.length === 1) return [field];
  if (parts.length > 4) return undefined;
  let out = [parts[0]!];
  for (const part of parts.slice(1)) out = out.flatMap((prefix) => [`${prefix}.${part}`, `${prefix}[].${part}`]);
  return out;
}

/** `make(key)` for every spelling of the path: any of them holds (a point's values are found under one of them). */
function anyVariant(field: string, make: (key: string) => QCondition): QCondition | undefined {
  const keys = pathVariants(field);
  if (!keys) return undefined;
  return keys.length === 1 ? make(keys[0]!) : { should: keys.map(make) };
}

function condition(c: Condition, indexes: Map<string, PayloadIndexType>): QCondition | undefined {
  const type = indexes.get(c.field);
  if (c.field.includes('.') && !type) return undefined;
  if (c.field.includes('.') && c.op !== 'is_null') {
    // Dotted paths: the positive condition over every spelling, negations wrapped around that.
    const positive = (op: Condition): QCondition | undefined => {
      if (single(op, type) === undefined) return undefined;
      return anyVariant(c.field, (key) => single({ ...op, field: key } as Condition, type)!);
    };
    switch (c.op) {
      case 'ne':
        return wrapNot(positive({ ...c, op: 'eq' }));
      case 'nin':
        return wrapNot(positive({ ...c, op: 'in' }));
      case 'exists': {
        const some = anyVariant(c.field, hasValue);
        return c.value ? some : wrapNot(some);
      }
      default:
        return positive(c);
    }
  }
  return single(c, type);
}

/** One condition on one Qdrant key. */
function single(c: Condition, type: PayloadIndexType | undefined): QCondition | undefined {
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
      return c.value ? hasValue(c.field) : { must_not: [hasValue(c.field)] };
    case 'is_null':
      return c.value ? { is_null: { key: c.field } } : { must_not: [{ is_null: { key: c.field } }] };
    case 'text':
      return type === 'text' ? { key: c.field, match: { text: c.value } } : undefined;
    default:
      return undefined;
  }
}

/**
 * A non-null value under `key` (our `exists`). Qdrant 1.19 counts `[null]` as non-empty (1.18 did not), so besides
 * `is_empty` the key's flattened array (`key[]`) must not be empty of values and null at once, which only an array
 * of nulls is (a scalar is empty under `key[]` but not null there).
 */
function hasValue(key: string): QCondition {
  return { must_not: [{ is_empty: { key } }, { must: [{ is_empty: { key: `${key}[]` } }, { is_null: { key: `${key}[]` } }] }] };
}

function wrapNot(c: QCondition | undefined): QCondition | undefined {
  return c && { must_not: [c] };
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
