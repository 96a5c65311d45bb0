/**
 * Field passthrough (reference §1.5): copy source fields into every document of an object.
 * `{source_path, target_path? (default: last path segment), default?, required=false}`, or
 * `include_all_source_fields` to copy every top-level source field.
 */
import { ExtractionError, type StoredObject } from './types.ts';

export interface FieldPassthrough {
  source_path: string;
  target_path?: string;
  default?: unknown;
  required?: boolean;
}

const RESERVED = new Set(['blobs', 'object_id', 'bucket', 'key_prefix']);

function get(obj: unknown, dotPath: string): unknown {
  return dotPath.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

/** A source field by dot path: bucket-schema fields may arrive at the object's top level or inside its metadata. */
export function sourceValue(object: StoredObject, dotPath: string): unknown {
  return get(object, dotPath) ?? get(object.metadata, dotPath);
}

function set(obj: Record<string, unknown>, dotPath: string, value: unknown) {
  const keys = dotPath.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    if (!cur[k] || typeof cur[k] !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

export function passthroughFields(object: StoredObject, rules: FieldPassthrough[] = [], includeAll = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (includeAll) {
    for (const [k, v] of Object.entries(object)) if (!RESERVED.has(k)) out[k] = v;
  }
  for (const rule of rules) {
    let value = sourceValue(object, rule.source_path);
    if (value === undefined) value = rule.default;
    if (value === undefined) {
      if (rule.required) {
        throw new ExtractionError('missing_field', `required passthrough field '${rule.source_path}' is missing on object ${object.object_id}`);
      }
      continue;
    }
    set(out, rule.target_path ?? rule.source_path.split('.').pop()!, value);
  }
  return out;
}
