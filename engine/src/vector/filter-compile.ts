/**
 * Validates and normalises the documented filter syntax (reference §5) once, into a small expression tree that
 * every adapter translates into its own language (Qdrant filter JSON, LanceDB SQL) or evaluates directly
 * (the exact store, and any adapter's fallback for operators its store cannot express).
 *
 * Semantics (Qdrant's, because Qdrant is the production store):
 * - a field is a dot path into the payload; arrays met on the way are flattened, and a condition on a
 *   multi-valued field holds when ANY value satisfies it (so `ne`/`nin` are the negation of `eq`/`in`:
 *   true when no value matches, including when the field is missing);
 * - eq / ne / in / nin compare exactly (keyword semantics); `case_sensitive` (default false, inherited by
 *   nested nodes) governs contains / starts_with / ends_with / regex; `text` is a token match (every query
 *   token present, lower-cased);
 * - gt / gte / lt / lte take a number or an ISO-8601 datetime string;
 * - `contains` holds when a value equals the operand (array membership) or, for strings, contains it;
 * - regex uses RE2 syntax (JavaScript's without lookaround and backreferences) and runs in linear time
 *   (lib/safe-regex.ts);
 * - `exists: true` = at least one non-null value; `is_null: true` = the value at the path is JSON null;
 * - NOT holds when every listed node is false; an array and a single object are both accepted.
 */
import { badRequest } from '../lib/errors.ts';
import { RegexPatternError, compileSafeRegex, type SafeRegex } from '../lib/safe-regex.ts';
import { FILTER_OPERATORS, type FilterNode, type FilterOperator } from '../ports/filter.ts';
import { parseDatetime } from './datetime.ts';
import { tokenize } from './text-analysis.ts';

export type Scalar = string | number | boolean;

export type FilterExpr =
  | { kind: 'all' }
  | { kind: 'and'; items: FilterExpr[] }
  | { kind: 'or'; items: FilterExpr[] }
  | { kind: 'not'; item: FilterExpr }
  | Condition;

export type Condition =
  | { kind: 'cond'; field: string; op: 'eq' | 'ne'; value: Scalar }
  | { kind: 'cond'; field: string; op: 'gt' | 'gte' | 'lt' | 'lte'; value: number; datetime: boolean }
  | { kind: 'cond'; field: string; op: 'in' | 'nin'; value: Scalar[] }
  | { kind: 'cond'; field: string; op: 'contains'; value: Scalar; caseSensitive: boolean }
  | { kind: 'cond'; field: string; op: 'starts_with' | 'ends_with'; value: string; caseSensitive: boolean }
  | { kind: 'cond'; field: string; op: 'regex'; value: string; regex: SafeRegex; caseSensitive: boolean }
  | { kind: 'cond'; field: string; op: 'exists' | 'is_null'; value: boolean }
  | { kind: 'cond'; field: string; op: 'text'; value: string; tokens: string[] };

const MAX_DEPTH = 32;
const RESERVED = new Set(['AND', 'OR', 'NOT', 'case_sensitive']);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;

const fail = (path: string, message: string, details: Record<string, unknown> = {}) =>
  badRequest(`invalid filter at ${path}: ${message}`, { path, ...details });

const isScalar = (v: unknown): v is Scalar => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Compiles a filter (or nothing) into a validated expression; throws a BadRequestError naming the bad part. */
export function compileFilter(node: FilterNode | undefined | null): FilterExpr {
  if (node === undefined || node === null) return { kind: 'all' };
  return simplify(compileNode(node, 'filter', false, 0));
}

function compileNode(node: unknown, path: string, caseSensitive: boolean, depth: number): FilterExpr {
  if (depth > MAX_DEPTH) throw fail(path, `filters nest deeper than ${MAX_DEPTH} levels; flatten the AND/OR/NOT tree`);
  if (!isPlainObject(node)) throw fail(path, 'expected an object: {field, operator, value} or {AND|OR|NOT: [...]}');
  if ('field' in node) return compileCondition(node, path, caseSensitive);
  let cs = caseSensitive;
  if ('case_sensitive' in node) {
    if (typeof node.case_sensitive !== 'boolean') throw fail(`${path}.case_sensitive`, 'must be true or false');
    cs = node.case_sensitive;
  }
  const items: FilterExpr[] = [];
  for (const key of ['AND', 'OR'] as const) {
    if (!(key in node)) continue;
    const list = node[key];
    if (!Array.isArray(list)) throw fail(`${path}.${key}`, `${key} must be an array of filter nodes`);
    const children = list.map((c, i) => compileNode(c, `${path}.${key}[${i}]`, cs, depth + 1));
    items.push(key === 'AND' ? { kind: 'and', items: children } : { kind: 'or', items: children });
  }
  if ('NOT' in node) {
    const raw = node.NOT;
    const list = Array.isArray(raw) ? raw : [raw];
    const children = list.map((c, i) =>
      compileNode(c, Array.isArray(raw) ? `${path}.NOT[${i}]` : `${path}.NOT`, cs, depth + 1),
    );
    // NOT = every listed node is false = NOT(OR(children)).
    items.push({ kind: 'not', item: { kind: 'or', items: children } });
  }
  // Shorthand: other keys are field names meaning equality ({"metadata.title": "value"}).
  for (const [key, value] of Object.entries(node)) {
    if (RESERVED.has(key)) continue;
    items.push(compileCondition({ field: key, operator: 'eq', value }, `${path}.${key}`, cs));
  }
  return { kind: 'and', items };
}

function compileCondition(node: Record<string, unknown>, path: string, caseSensitive: boolean): Condition {
  const field = node.field;
  if (typeof field !== 'string' || field.trim() === '') throw fail(`${path}.field`, 'field must be a non-empty dot path such as "metadata.status"');
  const rawOp = node.operator ?? 'eq';
  if (typeof rawOp !== 'string' || !(FILTER_OPERATORS as readonly string[]).includes(rawOp)) {
    throw fail(`${path}.operator`, `unsupported operator '${String(rawOp)}'; supported: ${FILTER_OPERATORS.join(', ')}`, {
      operator: rawOp,
      supported: [...FILTER_OPERATORS],
    });
  }
  const op = rawOp as FilterOperator;
  const value = node.value;
  const vpath = `${path}.value`;
  if (isPlainObject(value) && value.type === 'dynamic') {
    throw fail(vpath, `dynamic value for '${field}' was not resolved; resolve {"type":"dynamic"} values from the request before querying the store`);
  }
  switch (op) {
    case 'eq':
    case 'ne':
      if (!isScalar(value)) {
        throw fail(vpath, `operator '${op}' on '${field}' needs a string, number or boolean${value === null ? "; use operator 'is_null' to match null" : ''}`);
      }
      return { kind: 'cond', field, op, value };
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (typeof value === 'number' && Number.isFinite(value)) return { kind: 'cond', field, op, value, datetime: false };
      if (typeof value === 'string' && ISO_DATE.test(value) && !Number.isNaN(parseDatetime(value))) {
        return { kind: 'cond', field, op, value: parseDatetime(value), datetime: true };
      }
      throw fail(vpath, `operator '${op}' on '${field}' needs a finite number or an ISO-8601 datetime string`);
    }
    case 'in':
    case 'nin':
      if (!Array.isArray(value) || !value.every(isScalar)) {
        throw fail(vpath, `operator '${op}' on '${field}' needs an array of strings, numbers or booleans`);
      }
      return { kind: 'cond', field, op, value: [...value] };
    case 'contains':
      if (!isScalar(value) || value === '') throw fail(vpath, `operator 'contains' on '${field}' needs a non-empty string, a number or a boolean`);
      return { kind: 'cond', field, op, value, caseSensitive };
    case 'starts_with':
    case 'ends_with':
      if (typeof value !== 'string' || value === '') throw fail(vpath, `operator '${op}' on '${field}' needs a non-empty string`);
      return { kind: 'cond', field, op, value, caseSensitive };
    case 'regex': {
      if (typeof value !== 'string' || value === '') throw fail(vpath, `operator 'regex' on '${field}' needs a non-empty pattern string`);
      // Linear-time matching (RE2): a caller's pattern cannot backtrack for hours on a short value.
      let regex: SafeRegex;
      try {
        regex = compileSafeRegex(value, caseSensitive);
      } catch (e) {
        if (!(e instanceof RegexPatternError)) throw e;
        throw fail(vpath, `operator 'regex' on '${field}': ${e.message}`);
      }
      return { kind: 'cond', field, op, value, regex, caseSensitive };
    }
    case 'exists':
    case 'is_null':
      if (typeof value !== 'boolean') throw fail(vpath, `operator '${op}' on '${field}' needs true or false`);
      return { kind: 'cond', field, op, value };
    case 'text': {
      const tokens = typeof value === 'string' ? tokenize(value) : [];
      if (tokens.length === 0) throw fail(vpath, `operator 'text' on '${field}' needs a string with at least one word`);
      return { kind: 'cond', field, op, value: value as string, tokens };
    }
  }
}

/** Removes trivial nodes: AND of one, empty AND (= all), nested ANDs. */
function simplify(e: FilterExpr): FilterExpr {
  if (e.kind === 'and' || e.kind === 'or') {
    const items = e.items.map(simplify).flatMap((i) => (i.kind === e.kind ? (i as { items: FilterExpr[] }).items : [i]));
    if (e.kind === 'and') {
      const rest = items.filter((i) => i.kind !== 'all');
      if (rest.length === 0) return { kind: 'all' };
      if (rest.length === 1) return rest[0]!;
      return { kind: 'and', items: rest };
    }
    if (items.some((i) => i.kind === 'all')) return { kind: 'all' };
    if (items.length === 1) return items[0]!;
    return { kind: 'or', items };
  }
  if (e.kind === 'not') return { kind: 'not', item: simplify(e.item) };
  return e;
}

/** Every field path the expression reads. */
export function filterFields(e: FilterExpr, out = new Set<string>()): Set<string> {
  if (e.kind === 'cond') out.add(e.field);
  else if (e.kind === 'and' || e.kind === 'or') e.items.forEach((i) => filterFields(i, out));
  else if (e.kind === 'not') filterFields(e.item, out);
  return out;
}

const NO_VALUES: readonly unknown[] = Object.freeze([]);

/**
 * All values at a dot path, with arrays flattened (Qdrant's rule for multi-valued fields). The result is read-only:
 * for a top-level field it may be the payload's own array (filters evaluate this per document per search).
 */
export function fieldValues(payload: unknown, path: string): unknown[] {
  if (!path.includes('.')) {
    if (!isPlainObject(payload) || !(path in payload)) return NO_VALUES as unknown[];
    const v = payload[path];
    return Array.isArray(v) ? v : [v];
  }
  let current: unknown[] = [payload];
  for (const part of path.split('.')) {
    const next: unknown[] = [];
    for (const c of current) {
      const items = Array.isArray(c) ? c : [c];
      for (const item of items) {
        if (isPlainObject(item) && part in item) next.push(item[part]);
      }
    }
    current = next;
  }
  return current.flatMap((v) => (Array.isArray(v) ? v : [v]));
}

/** The raw value at a dot path (no flattening), undefined when absent. */
export function fieldValue(payload: unknown, path: string): unknown {
  let cur: unknown = payload;
  for (const part of path.split('.')) {
    if (!isPlainObject(cur) || !(part in cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

const fold = (s: string, cs: boolean) => (cs ? s : s.toLowerCase());

function toNumber(v: unknown, datetime: boolean): number | undefined {
  if (typeof v === 'number') return datetime ? undefined : v;
  if (datetime && typeof v === 'string' && ISO_DATE.test(v)) {
    const t = parseDatetime(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

function evalCondition(c: Condition, payload: Record<string, unknown>): boolean {
  const values = fieldValues(payload, c.field);
  switch (c.op) {
    case 'eq':
      return values.some((v) => v === c.value);
    case 'ne':
      return !values.some((v) => v === c.value);
    case 'in':
      return values.some((v) => c.value.includes(v as Scalar));
    case 'nin':
      return !values.some((v) => c.value.includes(v as Scalar));
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return values.some((v) => {
        const n = toNumber(v, c.datetime);
        if (n === undefined) return false;
        return c.op === 'gt' ? n > c.value : c.op === 'gte' ? n >= c.value : c.op === 'lt' ? n < c.value : n <= c.value;
      });
    case 'contains': {
      const needle = typeof c.value === 'string' ? fold(c.value, c.caseSensitive) : undefined;
      return values.some((v) => v === c.value || (needle !== undefined && typeof v === 'string' && fold(v, c.caseSensitive).includes(needle)));
    }
    case 'starts_with':
    case 'ends_with': {
      const needle = fold(c.value, c.caseSensitive);
      return values.some(
        (v) => typeof v === 'string' && (c.op === 'starts_with' ? fold(v, c.caseSensitive).startsWith(needle) : fold(v, c.caseSensitive).endsWith(needle)),
      );
    }
    case 'regex':
      return values.some((v) => typeof v === 'string' && c.regex.test(v));
    case 'exists':
      return values.some((v) => v !== null && v !== undefined) === c.value;
    case 'is_null':
      return (fieldValue(payload, c.field) === null) === c.value;
    case 'text':
      return values.some((v) => {
        if (typeof v !== 'string') return false;
        const have = new Set(tokenize(v));
        return c.tokens.every((t) => have.has(t));
      });
  }
}

/** Evaluates a compiled filter against one payload. */
export function matchesFilter(e: FilterExpr, payload: Record<string, unknown>): boolean {
  switch (e.kind) {
    case 'all':
      return true;
    case 'and':
      return e.items.every((i) => matchesFilter(i, payload));
    case 'or':
      return e.items.some((i) => matchesFilter(i, payload));
    case 'not':
      return !matchesFilter(e.item, payload);
    case 'cond':
      return evalCondition(e, payload);
  }
}
