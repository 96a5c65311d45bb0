/**
 * Guards for values parsed from requests (JSON bodies, YAML manifests): keys that can reach an object's prototype
 * (`__proto__`, `constructor`, `prototype`) and nesting deep enough to overflow the stack of the recursive code that
 * later copies, validates or serializes the value. Both are judged by one iterative walk (a recursive one would
 * itself overflow on the input it is meant to refuse); hand-written because the parsers check only the JSON
 * `__proto__` case (secure-json-parse) and nothing checks depth.
 */

/** Keys that name or reach a prototype: never accepted in a parsed request value. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Default deepest nesting of objects and arrays a request value may have (QUARRY_MAX_BODY_DEPTH overrides). */
export const DEFAULT_MAX_DEPTH = 64;

export function maxBodyDepth(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.QUARRY_MAX_BODY_DEPTH);
  return Number.isInteger(v) && v > 0 ? v : DEFAULT_MAX_DEPTH;
}

export interface UnsafeValue {
  /** Where, as a field path (`spec.metadata.__proto__`, `items[3]`). */
  path: string;
  problem: 'forbidden-key' | 'too-deep';
  message: string;
}

const join = (path: string, key: string | number) => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);

/** The first forbidden key or over-deep nesting in `value`, or undefined when it is safe. */
export function unsafeValue(value: unknown, opts: { maxDepth?: number; root?: string } = {}): UnsafeValue | undefined {
  const maxDepth = opts.maxDepth ?? maxBodyDepth();
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: opts.root ?? '', depth: 0 }];
  const seen = new Set<object>();
  while (stack.length) {
    const { v, path, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (depth >= maxDepth) {
      return { path: path || '(body)', problem: 'too-deep', message: `nested more than ${maxDepth} levels deep: flatten it (the limit is QUARRY_MAX_BODY_DEPTH)` };
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, path: join(path, i), depth: depth + 1 }));
      continue;
    }
    for (const k of Object.keys(v)) {
      if (FORBIDDEN_KEYS.has(k)) return { path: join(path, k), problem: 'forbidden-key', message: `the key '${k}' is not allowed (it can reach an object's prototype): rename it` };
      stack.push({ v: (v as Record<string, unknown>)[k], path: join(path, k), depth: depth + 1 });
    }
  }
  return undefined;
}
