/**
 * The filters templates may use, sandboxed. nunjucks' builtins read attributes with plain `obj[name]` (so
 * `[""] | sum("constructor")` printed native function source), build strings without bounds (`center(1e9)`,
 * `replace("", big)`) and a few run quadratic regular expressions (`striptags`). Here:
 * - only an allow-list of builtins is kept (Jinja's common filters); `striptags` and `urlize` are removed;
 * - the filters that take an attribute name (sum, join, sort, groupby, selectattr, rejectattr) are re-implemented on
 *   `attribute()`, which reads own data properties only, never functions or prototype names;
 * - every filter call checks the deadline, refuses function and regular-expression arguments, is checked before it
 *   builds a large string (center, indent, replace, join, batch, slice, dump) and has its result measured.
 */
import nunjucks from 'nunjucks';
import { checkArgs, checkItems, checkResult, checkTime, currentSizeLimit, reserveChars, stringLength } from './template-limits.ts';

type Filter = (this: unknown, ...args: unknown[]) => unknown;
type Runtime = { makeMacro: (argNames: string[], kwargNames: string[], fn: Filter) => Filter; SafeString: new (s: string) => unknown };
const runtime = (nunjucks as unknown as { runtime: Runtime }).runtime;

/** Names no template lookup may read (they lead to constructors and prototypes). */
export const BLOCKED = new Set(['constructor', '__proto__', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);

/** `a.b.c` read through own data properties only (functions and prototype names read as undefined). */
export function attribute(obj: unknown, path: unknown): unknown {
  let cur = obj;
  for (const part of String(path).split('.')) {
    if (cur === null || cur === undefined || BLOCKED.has(part)) return undefined;
    if (typeof cur === 'string' || Array.isArray(cur)) {
      if (part === 'length') cur = cur.length;
      else if (/^\d+$/.test(part)) cur = (cur as ArrayLike<unknown>)[Number(part)];
      else return undefined;
    } else if (typeof cur === 'object' && Object.prototype.hasOwnProperty.call(cur, part)) cur = (cur as Record<string, unknown>)[part];
    else return undefined;
    if (typeof cur === 'function') return undefined;
  }
  return cur;
}

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : typeof v === 'string' ? [...v] : []);

const KEPT = [
  'abs', 'batch', 'capitalize', 'center', 'default', 'd', 'dictsort', 'escape', 'e', 'safe', 'first', 'float', 'forceescape',
  'indent', 'int', 'last', 'length', 'list', 'lower', 'nl2br', 'random', 'reject', 'select', 'reverse', 'round', 'slice',
  'string', 'title', 'trim', 'truncate', 'upper', 'urlencode', 'wordcount',
];

const replacements: Record<string, Filter> = {
  sum(arr, attr, start = 0) {
    const items = asArray(arr).map((v) => (attr ? attribute(v, attr) : v));
    return items.reduce((a: unknown, b) => (a as number) + (b as number), start);
  },
  join(arr, del = '', attr) {
    const items = asArray(arr).map((v) => (attr ? attribute(v, attr) : v));
    reserveChars(stringLength(items) - Math.max(0, items.length - 1) + String(del ?? '').length * Math.max(0, items.length - 1), 'join');
    return items.join(String(del ?? ''));
  },
  selectattr(arr, attr) {
    return asArray(arr).filter((v) => !!attribute(v, attr));
  },
  rejectattr(arr, attr) {
    return asArray(arr).filter((v) => !attribute(v, attr));
  },
  groupby(arr, attr) {
    const out: Record<string, unknown[]> = Object.create(null) as Record<string, unknown[]>;
    for (const v of asArray(arr)) {
      const k = String(attribute(v, attr));
      (out[k] ??= []).push(v);
    }
    return out;
  },
  sort: runtime.makeMacro(['value', 'reverse', 'case_sensitive', 'attribute'], [], (arr, reversed, caseSens, attr) => {
    const key = (v: unknown) => {
      const x = attr ? attribute(v, attr) : v;
      return !caseSens && typeof x === 'string' ? x.toLowerCase() : x;
    };
    return [...asArray(arr)].sort((a, b) => {
      const x = key(a) as string | number;
      const y = key(b) as string | number;
      return x < y ? (reversed ? 1 : -1) : x > y ? (reversed ? -1 : 1) : 0;
    });
  }),
  replace(str, old, new_, maxCount) {
    if (typeof str !== 'string' && !(str instanceof runtime.SafeString)) return str;
    const s = String(str);
    const from = typeof old === 'number' ? String(old) : old;
    if (typeof from !== 'string') return str;
    const to = String(new_ ?? '');
    const max = typeof maxCount === 'number' && maxCount >= 0 ? maxCount : Infinity;
    // nunjucks replaces every position for an empty `old` (Python's rule), else up to maxCount occurrences.
    let count = 0;
    if (from === '') count = s.length + 1;
    else for (let i = s.indexOf(from); i !== -1 && count < max; i = s.indexOf(from, i + from.length)) count++;
    reserveChars(s.length + count * to.length, 'replace');
    return nunjucksFilters.replace!.call(this, s, from, to, maxCount);
  },
  dump(obj, spaces) {
    const compact = JSON.stringify(obj) ?? '';
    const n = Math.min(10, Math.max(0, Number(spaces) || 0));
    // Indentation adds at most depth × spaces characters per line, and there are at most compact.length lines.
    if (n > 0) reserveChars(compact.length * (1 + n * depthOf(obj)), 'dump');
    return n > 0 ? JSON.stringify(obj, null, n) : compact;
  },
};

function depthOf(v: unknown, d = 0): number {
  if (typeof v !== 'object' || v === null || d > 64) return d;
  let m = d + 1;
  for (const x of Array.isArray(v) ? v : Object.values(v)) m = Math.max(m, depthOf(x, d + 1));
  return m;
}

/** Checks before the builtins that build strings or arrays from a number argument. */
function precheck(name: string, args: unknown[]): void {
  const [value, a1] = args;
  const n = Number(a1);
  if (name === 'center') reserveChars(Math.max(stringLength(value), n || 80), 'center');
  else if (name === 'indent') reserveChars(stringLength(value) + ((String(value ?? '').match(/\n/g)?.length ?? 0) + 1) * (n || 4), 'indent');
  else if (name === 'batch' || name === 'slice') checkItems(n, name);
  else if (name === 'truncate' && !(n <= currentSizeLimit())) reserveChars(n, 'truncate');
}

let nunjucksFilters: Record<string, Filter> = {};

/** Replaces the environment's filters with the sandboxed set (builtins kept by name, re-implementations, own). */
export function installSafeFilters(env: nunjucks.Environment, own: Record<string, Filter>): void {
  const filters = (env as unknown as { filters: Record<string, Filter> }).filters;
  nunjucksFilters = { ...filters };
  for (const name of Object.keys(filters)) delete filters[name];
  const all: Record<string, Filter> = { ...Object.fromEntries(KEPT.filter((k) => nunjucksFilters[k]).map((k) => [k, nunjucksFilters[k]!])), ...replacements, ...own };
  for (const [name, fn] of Object.entries(all)) {
    env.addFilter(name, function guarded(this: unknown, ...args: unknown[]) {
      checkTime();
      if (name !== '__capture') checkArgs(args, `filter '${name}'`);
      precheck(name, args);
      const out = fn.apply(this, args);
      if (out instanceof runtime.SafeString) reserveChars(String(out).length, `filter '${name}'`);
      return checkResult(out, `filter '${name}'`);
    });
  }
}
