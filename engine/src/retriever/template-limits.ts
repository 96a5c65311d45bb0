/**
 * The budgets of one template render (template.ts), shared with the sandboxed filters (template-filters.ts).
 * Renders are synchronous, so one render runs at a time and its budgets are module state set by `beginRender`:
 * - time: a deadline, checked on every lookup, method and filter call;
 * - items: `range()` draws from an item budget; arrays built by methods and filters are at most MAX_ITEMS long;
 * - size: every string a template builds (method and filter results, the output, a whole-expression value) is at
 *   most `sizeLimit` characters: MAX_OUTPUT plus the longest string the template was given (an input or document
 *   field passes through whole, but a template cannot amplify a small request into a large one), and all the strings
 *   methods and filters build in one render add up to at most ALLOC_FACTOR × sizeLimit.
 * Amplifying calls (padStart, center, indent, join, replace…) are checked before they allocate.
 */

export const DEFAULT_TIMEOUT_MS = 250;
export const RANGE_BUDGET = 100_000;
export const MAX_OUTPUT = 1_000_000;
export const MAX_ITEMS = 100_000;
const ALLOC_FACTOR = 8;

/** A template exceeded a budget (time, items or size): a 400 naming the stage and parameter. */
export class TemplateLimitError extends Error {
  override name = 'TemplateLimitError';
}

let deadline = 0;
let rangeLeft = 0;
let sizeLimit = MAX_OUTPUT;
let allocLeft = 0;

export function beginRender(timeoutMs: number, largestGiven: number): void {
  deadline = performance.now() + timeoutMs;
  rangeLeft = RANGE_BUDGET;
  sizeLimit = MAX_OUTPUT + largestGiven;
  allocLeft = ALLOC_FACTOR * sizeLimit;
}

export function endRender(): void {
  deadline = 0;
}

export function currentSizeLimit(): number {
  return sizeLimit;
}

export function checkTime(): void {
  if (deadline && performance.now() > deadline) throw new TemplateLimitError('template took too long');
}

export function takeRangeItem(): void {
  if (--rangeLeft < 0) throw new TemplateLimitError(`range() produced too many items (limit ${RANGE_BUDGET})`);
}

/** Refuses to build a string of `chars` characters (checked before allocating it) and counts it. */
export function reserveChars(chars: number, what: string): void {
  if (!(chars <= sizeLimit)) throw new TemplateLimitError(`${what} would build a string of ${Number.isFinite(chars) ? chars : 'unbounded'} characters (limit ${sizeLimit})`);
  allocLeft -= chars;
  if (allocLeft < 0) throw new TemplateLimitError(`the template built more than ${ALLOC_FACTOR * sizeLimit} characters of strings in total`);
}

export function checkItems(n: number, what: string): void {
  if (!(n <= MAX_ITEMS)) throw new TemplateLimitError(`${what} would build ${Number.isFinite(n) ? n : 'unbounded'} items (limit ${MAX_ITEMS})`);
}

/** Checks a value a method or filter returned: strings within the size limit (counted), arrays within MAX_ITEMS. */
export function checkResult<T>(v: T, what: string): T {
  if (typeof v === 'string') reserveChars(v.length, what);
  else if (Array.isArray(v)) checkItems(v.length, what);
  return v;
}

/** Length of `String(v)` without building it (arrays join with ',', as String does); bounded work. */
export function stringLength(v: unknown, depth = 0): number {
  if (v === null || v === undefined) return depth === 0 ? String(v).length : 0;
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) {
    if (depth > 20) return Infinity;
    checkItems(v.length, 'an array');
    let n = Math.max(0, v.length - 1);
    for (const x of v) n += stringLength(x, depth + 1);
    return n;
  }
  if (typeof v === 'object') return (v as { length?: unknown }).length !== undefined && typeof (v as { val?: unknown }).val === 'string' ? (v as { val: string }).val.length : 15;
  return String(v).length;
}

/** Longest string inside a value (inputs, a document), remembered per object: what a template may pass through. */
const largest = new WeakMap<object, number>();
export function longestString(v: unknown, depth = 0): number {
  if (typeof v === 'string') return v.length;
  if (typeof v !== 'object' || v === null || depth > 64) return 0;
  const known = largest.get(v);
  if (known !== undefined) return known;
  let n = 0;
  for (const x of Array.isArray(v) ? v : Object.values(v)) n = Math.max(n, longestString(x, depth + 1));
  largest.set(v, n);
  return n;
}

/** Functions a template can hold (method wrappers, globals, macros) never show their source when stringified. */
export function opaque<F extends (...args: never[]) => unknown>(fn: F): F {
  Object.defineProperty(fn, 'toString', { value: () => '[function]', enumerable: false });
  return fn;
}

/** Refuses function and regular-expression arguments to methods and filters (they would run or print code). */
export function checkArgs(args: unknown[], what: string): void {
  for (const a of args) {
    if (typeof a === 'function') throw new TemplateLimitError(`${what} does not take a function argument`);
    if (a instanceof RegExp) throw new TemplateLimitError(`${what} does not take a regular expression`);
  }
}
