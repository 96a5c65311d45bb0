/**
 * The documented list pattern (reference §0.1): `POST /v1/<resource>/list` with `filters` (the filter language of
 * §5, or a `{field: value}` dict), `sort`/`sorts`, `search` (a `*` wildcard pattern, else a substring, over id, name
 * or description; `case_sensitive`), and `limit`, `offset`, `cursor`, `include_total` (query, or body) →
 * `{results, pagination, total_count?}`.
 * Filters and sorts address the response fields (what the client sees), evaluated by the same compiled filter the
 * vector adapters use. Resource counts per namespace are small, so the list is built in memory.
 */
import { QuarryError } from '../lib/errors.ts';
import type { FilterNode } from '../ports/filter.ts';
import { compileFilter, fieldValue, matchesFilter } from '../vector/filter-compile.ts';
import { isObj, unprocessable, type KindInfo } from './common.ts';

const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 1000;

interface SortKey {
  field: string;
  desc: boolean;
}

function intParam(q: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const raw = q[key];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw unprocessable([{ field: key, message: `must be an integer from ${min} to ${max}` }]);
  return n;
}

/** Opaque cursor: the offset of the next page, base64url JSON (clients only pass it back). */
export function encodeListCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

function decodeListCursor(cursor: string): number {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof v.o === 'number' && Number.isInteger(v.o) && v.o >= 0) return v.o;
  } catch {
    /* fall through */
  }
  throw unprocessable([{ field: 'cursor', message: 'not a cursor this API returned: pass pagination.next_cursor of the previous page unchanged' }]);
}

function sortKeys(body: Record<string, unknown>): SortKey[] {
  const raw = body.sorts ?? body.sort;
  if (raw === undefined || raw === null) return [{ field: 'created_at', desc: true }];
  const list = Array.isArray(raw) ? raw : [raw];
  const field = Array.isArray(raw) || body.sorts !== undefined ? 'sorts' : 'sort';
  return list.map((s, i) => {
    const at = Array.isArray(raw) ? `${field}[${i}]` : field;
    if (typeof s === 'string') return { field: s, desc: false };
    if (!isObj(s) || typeof s.field !== 'string' || s.field === '') throw unprocessable([{ field: at, message: 'a sort is {field, direction: asc|desc}' }]);
    const dir = String(s.direction ?? s.order ?? 'asc').toLowerCase();
    if (!['asc', 'desc', 'ascending', 'descending'].includes(dir)) throw unprocessable([{ field: `${at}.direction`, message: 'use asc or desc' }]);
    return { field: s.field, desc: dir.startsWith('desc') };
  });
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1; // missing values last
  if (b === undefined || b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

const PAGING = ['limit', 'page_size', 'cursor', 'page', 'offset', 'include_total'] as const;

const pick = (o: Record<string, unknown>, keys: readonly string[]) => Object.fromEntries(keys.filter((k) => o[k] !== undefined && o[k] !== null).map((k) => [k, o[k]]));

/** Longest `search` accepted (names are at most 100 characters, descriptions a few thousand). */
export const MAX_SEARCH = 1000;

/**
 * `search`: a wildcard pattern when it has `*` (`cat*` = starts with "cat", matched against the whole value),
 * else a substring. Case-insensitive unless `case_sensitive`.
 * Hand-written instead of a RegExp: `*` → `.*` backtracks exponentially in the number of stars on a value that does
 * not match (`********#` blocked the server for 27 s). With only `*` as a metacharacter, matching the literal parts
 * leftmost-first in order is exact and linear: the first part must start the value, the last must end it, and each
 * part between is found after the previous one.
 */
export function searchMatcher(search: string, caseSensitive: boolean): (value: string) => boolean {
  const fold = (v: string) => (caseSensitive ? v : v.toLowerCase());
  if (!search.includes('*')) {
    const needle = fold(search);
    return (v) => fold(v).includes(needle);
  }
  const parts = fold(search).split('*');
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((p) => p !== '');
  return (raw) => {
    const v = fold(raw);
    if (v.length < first.length + last.length || !v.startsWith(first) || !v.endsWith(last)) return false;
    let at = first.length;
    const end = v.length - last.length;
    for (const p of middle) {
      const i = v.indexOf(p, at);
      if (i === -1 || i + p.length > end) return false;
      at = i + p.length;
    }
    return true;
  };
}

export function listResponse(
  items: Record<string, unknown>[],
  info: Pick<KindInfo, 'idField' | 'nameField'>,
  body: Record<string, unknown>,
  query: Record<string, unknown>,
): Record<string, unknown> {
  let out = items;
  const filters = body.filters;
  if (filters !== undefined && filters !== null) {
    if (!isObj(filters)) throw unprocessable([{ field: 'filters', message: 'filters is an object: {AND|OR|NOT: [{field, operator, value}]} or {field: value}' }]);
    let expr;
    try {
      expr = compileFilter(filters as FilterNode);
    } catch (e) {
      if (e instanceof QuarryError && e.status === 400) throw unprocessable([{ field: 'filters', message: e.message }]);
      throw e;
    }
    out = out.filter((x) => matchesFilter(expr, x));
  }
  if (body.search !== undefined && body.search !== null && body.search !== '') {
    if (typeof body.search !== 'string') throw unprocessable([{ field: 'search', message: 'must be a string (matched against id, name and description; * is a wildcard)' }]);
    if (body.search.length > MAX_SEARCH) throw unprocessable([{ field: 'search', message: `is ${body.search.length} characters long; at most ${MAX_SEARCH} are allowed` }]);
    const matches = searchMatcher(body.search, body.case_sensitive === true);
    out = out.filter((x) => [x[info.idField], x[info.nameField], x.description].some((v) => typeof v === 'string' && matches(v)));
  }
  const keys = [...sortKeys(body), { field: info.nameField, desc: false }];
  out = [...out].sort((a, b) => {
    for (const k of keys) {
      const c = compare(fieldValue(a, k.field), fieldValue(b, k.field));
      if (c !== 0) return k.desc ? -c : c;
    }
    return 0;
  });

  // Paging parameters are documented as query parameters; clients also send them in the body (the query wins).
  const params: Record<string, unknown> = { ...pick(body, PAGING), ...pick(query, PAGING) };
  const limit = intParam(params, 'limit', 1, MAX_LIMIT) ?? intParam(params, 'page_size', 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
  const cursor = typeof params.cursor === 'string' && params.cursor !== '' ? decodeListCursor(params.cursor) : undefined;
  const page = intParam(params, 'page', 1, Number.MAX_SAFE_INTEGER);
  const offset = cursor ?? intParam(params, 'offset', 0, Number.MAX_SAFE_INTEGER) ?? (page ? (page - 1) * limit : 0);
  const total = out.length;
  const results = out.slice(offset, offset + limit);
  const pageNo = Math.floor(offset / limit) + 1;
  const totalPages = Math.ceil(total / limit);
  const more = offset + limit < total;
  return {
    results,
    pagination: {
      total,
      page: pageNo,
      page_size: limit,
      total_pages: totalPages,
      next_page: more ? pageNo + 1 : null,
      previous_page: offset > 0 ? Math.max(1, pageNo - 1) : null,
      next_cursor: more ? encodeListCursor(offset + limit) : null,
    },
    total,
    // Always: the official SDK's list models require total_count (include_total only asked for it).
    total_count: total,
  };
}
