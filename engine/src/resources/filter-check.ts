/**
 * Well-formedness of filters (reference §5): the recursive grammar a structural schema cannot express.
 *   node      := logical | condition | shorthand
 *   logical   := {AND?: [node], OR?: [node], NOT?: [node] | node, case_sensitive?: bool}
 *   condition := {field: path, operator?: op (default eq), value?: any | {type: dynamic, field}}
 *   shorthand := {"<field path>": scalar, ...}   (equality on each key)
 */
import { compileSafeRegex } from '../lib/safe-regex.ts';
import { FILTER_OPERATORS, type FilterOperator } from '../ports/filter.ts';
import { child, type FieldError } from './field-error.ts';

const MAX_DEPTH = 16;
const LOGICAL = ['AND', 'OR', 'NOT'];
const CONDITION_KEYS = ['field', 'operator', 'value'];
const PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;
const TEMPLATE = /^\s*\{\{.*\}\}\s*$/s;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function checkFilter(node: unknown, path: string, depth = 0): FieldError[] {
  if (depth > MAX_DEPTH) return [{ field: path, message: `filter nests deeper than ${MAX_DEPTH} levels: flatten it` }];
  if (!isObject(node)) return [{ field: path, message: 'a filter must be an object: {AND: [...]}, {OR: [...]}, {NOT: [...]} or {field, operator, value}' }];
  const keys = Object.keys(node);
  if (keys.length === 0) return [{ field: path, message: 'empty filter: remove it or add conditions' }];
  const logical = keys.filter((k) => LOGICAL.includes(k));
  const conditionKeys = keys.filter((k) => CONDITION_KEYS.includes(k));
  if (logical.length > 0) return checkLogical(node, path, depth);
  if (conditionKeys.length > 0 || 'field' in node) return checkCondition(node, path);
  if (keys.some((k) => LOGICAL.includes(k.toUpperCase()))) {
    return [{ field: path, message: `logical operators are upper case: use ${keys.map((k) => k.toUpperCase()).join(', ')}` }];
  }
  // Shorthand: every key a field path, every value a scalar (equality).
  const errors: FieldError[] = [];
  for (const [k, v] of Object.entries(node)) {
    if (k === 'case_sensitive') continue;
    if (!PATH.test(k)) errors.push({ field: child(path, k), message: `'${k}' is neither a filter operator (AND, OR, NOT) nor a field path: write {field: "<path>", operator: "eq", value: ...}` });
    else if (isObject(v) || Array.isArray(v)) errors.push({ field: child(path, k), message: 'shorthand equality needs a scalar value: for lists or operators write {field, operator, value}' });
  }
  return errors;
}

function checkLogical(node: Record<string, unknown>, path: string, depth: number): FieldError[] {
  const errors: FieldError[] = [];
  for (const [k, v] of Object.entries(node)) {
    const p = child(path, k);
    if (k === 'case_sensitive') {
      if (typeof v !== 'boolean') errors.push({ field: p, message: 'case_sensitive must be true or false' });
    } else if (LOGICAL.includes(k)) {
      if (k === 'NOT' && isObject(v)) {
        errors.push(...checkFilter(v, p, depth + 1));
      } else if (!Array.isArray(v)) {
        errors.push({ field: p, message: `${k} takes a list of filters, e.g. ${k}: [{field: metadata.status, operator: eq, value: published}]` });
      } else if (v.length === 0) {
        errors.push({ field: p, message: `${k} is empty: add at least one filter or remove ${k}` });
      } else {
        v.forEach((n, i) => errors.push(...checkFilter(n, child(p, i), depth + 1)));
      }
    } else if (CONDITION_KEYS.includes(k)) {
      errors.push({ field: p, message: `a filter node is either logical (AND/OR/NOT) or a condition (field/operator/value), not both: move ${k} into a condition inside the list` });
    } else {
      errors.push({ field: p, message: `unknown filter key '${k}': use AND, OR, NOT or case_sensitive` });
    }
  }
  return errors;
}

function checkCondition(node: Record<string, unknown>, path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const k of Object.keys(node)) {
    if (!CONDITION_KEYS.includes(k) && k !== 'case_sensitive') errors.push({ field: child(path, k), message: `unknown condition key '${k}': a condition has field, operator and value` });
  }
  const field = node.field;
  if (typeof field !== 'string' || field === '') {
    errors.push({ field: child(path, 'field'), message: 'a condition needs field: the dot path of the payload field, e.g. metadata.category' });
  } else if (!PATH.test(field) && !TEMPLATE.test(field)) {
    errors.push({ field: child(path, 'field'), message: `'${field}' is not a field path: use dot-separated names, e.g. metadata.category` });
  }
  const op = (node.operator ?? 'eq') as FilterOperator;
  if (typeof op !== 'string' || !(FILTER_OPERATORS as readonly string[]).includes(op)) {
    errors.push({ field: child(path, 'operator'), message: `unknown operator ${JSON.stringify(node.operator)}: use one of ${FILTER_OPERATORS.join(', ')}` });
    return errors;
  }
  const value = node.value;
  const dynamic = isObject(value) && value.type === 'dynamic';
  if (dynamic && typeof value.field !== 'string') {
    errors.push({ field: child(path, 'value.field'), message: 'a dynamic value needs field: the request path to read, e.g. inputs.user_id' });
  }
  const templated = typeof value === 'string' && TEMPLATE.test(value);
  if (dynamic || templated) return errors;
  if (!('value' in node)) {
    errors.push({ field: child(path, 'value'), message: `operator ${op} needs a value` });
  } else if ((op === 'in' || op === 'nin') && !Array.isArray(value)) {
    errors.push({ field: child(path, 'value'), message: `operator ${op} takes a list value, e.g. [a, b]` });
  } else if ((op === 'exists' || op === 'is_null') && typeof value !== 'boolean') {
    errors.push({ field: child(path, 'value'), message: `operator ${op} takes true or false` });
  } else if (['gt', 'gte', 'lt', 'lte'].includes(op) && typeof value !== 'number' && typeof value !== 'string') {
    errors.push({ field: child(path, 'value'), message: `operator ${op} compares numbers or dates: give a number or an ISO date string` });
  } else if (op === 'regex' && typeof value === 'string') {
    // The engine's own (linear-time, RE2) compiler: a stored pattern that executes is exactly one accepted here.
    try {
      compileSafeRegex(value, true);
    } catch (e) {
      errors.push({ field: child(path, 'value'), message: `invalid regular expression: ${(e as Error).message}` });
    }
  }
  return errors;
}
