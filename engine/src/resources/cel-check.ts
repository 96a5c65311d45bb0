/**
 * Runs the CRDs' own CEL rules (`x-kubernetes-validations`) outside the apiserver, so validate.ts enforces the same
 * cross-field and immutability rules for objects that never went through admission (engine API input, offline
 * checks, tests). Transition rules (those reading oldSelf) run only when the previous object is given. Also checks
 * list-map key uniqueness, which the apiserver enforces for `x-kubernetes-list-type: map`.
 * CEL evaluation is @marcbachmann/cel-js; Kubernetes' CEL library extensions beyond standard CEL are not used by
 * our rules (the drift and corpus tests evaluate every rule against real objects).
 */
import { parse } from '@marcbachmann/cel-js';
import { child, type FieldError } from './field-error.ts';
import type { CelRule, Schema } from './schema-builder.ts';

type Program = (ctx: Record<string, unknown>) => unknown;
const programs = new Map<string, Program>();

function program(rule: string): Program {
  let p = programs.get(rule);
  if (!p) {
    p = parse(rule) as unknown as Program;
    programs.set(rule, p);
  }
  return p;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function fieldOf(path: string, rule: CelRule): string {
  if (!rule.fieldPath) return path;
  return `${path}${rule.fieldPath.startsWith('.') ? '' : '.'}${rule.fieldPath}`;
}

function listKey(item: unknown, keys: readonly string[]): string {
  return keys.map((k) => `${k}=${JSON.stringify(isObject(item) ? item[k] : undefined)}`).join(',');
}

/** Evaluates every CEL rule of `schema` and its descendants against `value` (and `old` for transition rules). */
export function checkCelRules(schema: Schema, value: unknown, path: string, old?: unknown, errors: FieldError[] = []): FieldError[] {
  if (value === undefined) return errors;
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    const transition = /\boldSelf\b/.test(rule.rule);
    if (transition && old === undefined) continue;
    let ok: unknown;
    try {
      ok = program(rule.rule)({ self: value, ...(transition ? { oldSelf: old } : {}) });
    } catch (e) {
      ok = `error: ${(e as Error).message}`;
    }
    if (ok !== true) errors.push({ field: fieldOf(path, rule), message: rule.message });
  }
  if (schema.properties && isObject(value)) {
    for (const [name, sub] of Object.entries(schema.properties)) {
      checkCelRules(sub, value[name], child(path, name), isObject(old) ? old[name] : undefined, errors);
    }
  }
  if (schema.additionalProperties && isObject(value)) {
    for (const [name, v] of Object.entries(value)) {
      checkCelRules(schema.additionalProperties, v, child(path, name), isObject(old) ? old[name] : undefined, errors);
    }
  }
  if (schema.items && Array.isArray(value)) {
    const keys = schema['x-kubernetes-list-map-keys'];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      let oldItem: unknown;
      if (keys) {
        const key = listKey(item, keys);
        if (seen.has(key)) errors.push({ field: child(path, i), message: `duplicate entries for key [${key}]: list entries must be unique by ${keys.join(', ')}` });
        seen.add(key);
        // Like the apiserver, transition rules of map-list items compare the item with the same key.
        if (Array.isArray(old)) oldItem = old.find((o) => listKey(o, keys) === key);
      }
      checkCelRules(schema.items!, item, child(path, i), oldItem, errors);
    });
  }
  return errors;
}
