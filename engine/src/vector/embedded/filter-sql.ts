/**
 * Translates a compiled filter into a LanceDB (DataFusion SQL) predicate over the promoted payload-index
 * columns. Conditions the promoted columns cannot answer exactly (unindexed fields, string matching, regex,
 * exists/is_null, text) are not translated; the caller then evaluates the whole filter on the stored JSON
 * payloads and pre-filters by id instead. Every emitted expression is NULL-free (COALESCE), so NOT behaves
 * as in Qdrant (a missing field makes `eq` false and `ne` true).
 */
import type { PayloadIndexType } from '../../ports/vector-store.ts';
import type { Condition, FilterExpr, Scalar } from '../filter-compile.ts';
import { hasRange, hiColumn, loColumn, payloadColumn } from './columns.ts';

export const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

function literal(v: Scalar, type: PayloadIndexType): string | undefined {
  if ((type === 'keyword' || type === 'text') && typeof v === 'string') return sqlString(v);
  if (type === 'bool' && typeof v === 'boolean') return v ? 'true' : 'false';
  if ((type === 'integer' || type === 'float') && typeof v === 'number' && Number.isFinite(v)) return `CAST(${v} AS DOUBLE)`;
  return undefined;
}

function condition(c: Condition, indexes: Map<string, PayloadIndexType>): string | undefined {
  const type = indexes.get(c.field);
  if (!type || type === 'text') return undefined;
  const col = payloadColumn(c.field);
  switch (c.op) {
    case 'eq':
    case 'ne': {
      const lit = literal(c.value, type);
      if (lit === undefined) return undefined;
      const has = `COALESCE(array_has(${col}, ${lit}), false)`;
      return c.op === 'eq' ? has : `NOT ${has}`;
    }
    case 'in':
    case 'nin': {
      const lits = c.value.map((v) => literal(v, type));
      if (lits.some((l) => l === undefined)) return undefined;
      const any = lits.length === 0 ? 'false' : `COALESCE(array_has_any(${col}, make_array(${lits.join(', ')})), false)`;
      return c.op === 'in' ? any : `NOT ${any}`;
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (!hasRange(type) || c.datetime !== (type === 'datetime')) return undefined;
      const sym = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[c.op];
      const bound = c.op === 'gt' || c.op === 'gte' ? hiColumn(c.field) : loColumn(c.field);
      return `COALESCE(${bound} ${sym} CAST(${c.value} AS DOUBLE), false)`;
    }
    default:
      return undefined;
  }
}

/** SQL for the whole filter, or undefined when some part needs evaluation on the JSON payload. */
export function filterToSql(e: FilterExpr, indexes: Map<string, PayloadIndexType>): string | undefined {
  switch (e.kind) {
    case 'all':
      return 'true';
    case 'cond':
      return condition(e, indexes);
    case 'not': {
      const inner = filterToSql(e.item, indexes);
      return inner === undefined ? undefined : `NOT (${inner})`;
    }
    case 'and':
    case 'or': {
      const parts = e.items.map((i) => filterToSql(i, indexes));
      if (parts.some((p) => p === undefined)) return undefined;
      if (parts.length === 0) return e.kind === 'and' ? 'true' : 'false';
      return parts.map((p) => `(${p})`).join(e.kind === 'and' ? ' AND ' : ' OR ');
    }
  }
}

/**
 * A SQL predicate implied by the filter (a superset of its matches), used to narrow the JSON scan when the full
 * filter cannot be pushed down: the translatable conjuncts of a top-level AND.
 */
export function narrowingSql(e: FilterExpr, indexes: Map<string, PayloadIndexType>): string {
  if (e.kind !== 'and') return filterToSql(e, indexes) ?? 'true';
  const parts = e.items.map((i) => filterToSql(i, indexes)).filter((p): p is string => p !== undefined);
  return parts.length ? parts.map((p) => `(${p})`).join(' AND ') : 'true';
}
