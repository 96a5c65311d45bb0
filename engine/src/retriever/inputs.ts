/** Validates request inputs against a retriever's input_schema (reference §3.3) before any stage runs. */
import { QuarryError } from '../lib/errors.ts';
import type { InputField } from './types.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case 'number':
    case 'float':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'object':
      return isObj(v);
    case 'array':
      return Array.isArray(v);
    case 'document_reference':
      return isObj(v) || typeof v === 'string';
    case 'date':
    case 'datetime':
      return typeof v === 'string' && !Number.isNaN(Date.parse(v));
    default:
      // string, text and media inputs (URL, data URI or base64 text).
      return typeof v === 'string';
  }
}

const invalid = (name: string, message: string) =>
  new QuarryError('ValidationError', `input '${name}' ${message}`, { field: `inputs.${name}` });

export function validateInputs(schema: Record<string, InputField>, raw: unknown): Record<string, unknown> {
  if (raw !== undefined && raw !== null && !isObj(raw)) {
    throw new QuarryError('ValidationError', 'inputs must be an object mapping input names to values', { field: 'inputs' });
  }
  const given = (raw ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = { ...given };
  for (const [name, f] of Object.entries(schema)) {
    let v = given[name];
    if (v === undefined || v === null) {
      if (f.default !== undefined) v = structuredClone(f.default);
      else if (f.required) throw invalid(name, `is required (type ${f.type}); send it in inputs.${name}`);
      else continue;
    }
    if (!typeOk(f.type, v)) throw invalid(name, `must be of type ${f.type}, got ${Array.isArray(v) ? 'array' : typeof v}`);
    if (f.enum && !f.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) throw invalid(name, `must be one of ${JSON.stringify(f.enum)}`);
    out[name] = v;
  }
  return out;
}
