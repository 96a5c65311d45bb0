/** Dot-path helpers over documents (`metadata.price`, `scores.rerank`). */
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const UNSAFE = new Set(['__proto__', 'constructor', 'prototype']);

export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (Array.isArray(cur) && /^\d+$/.test(part)) cur = cur[Number(part)];
    else if (isObj(cur) && Object.prototype.hasOwnProperty.call(cur, part)) cur = cur[part];
    else return undefined;
  }
  return cur;
}

/** Sets a value at a dot path, creating objects on the way; returns the (mutated) object. */
export function setPath<T extends Record<string, unknown>>(obj: T, path: string, value: unknown): T {
  const parts = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i]!;
    if (UNSAFE.has(p)) return obj;
    if (!isObj(cur[p])) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1]!;
  if (!UNSAFE.has(last)) cur[last] = value;
  return obj;
}

/** Shallow copy of a document with a fresh copy of every object on `path`, so setPath does not touch the input. */
export function withPath<T extends Record<string, unknown>>(doc: T, path: string, value: unknown): T {
  const copy: Record<string, unknown> = { ...doc };
  const parts = path.split('.');
  let cur = copy;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i]!;
    if (UNSAFE.has(p)) return copy as T;
    cur[p] = isObj(cur[p]) ? { ...(cur[p] as Record<string, unknown>) } : {};
    cur = cur[p] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1]!;
  if (!UNSAFE.has(last)) cur[last] = value;
  return copy as T;
}

export const numeric = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
