/** Retriever → MCP tool: a stable MCP-valid tool name from namespace + retriever name, and the input JSON Schema. */
import { createHash } from 'node:crypto';

/** MCP tool names (SEP-986): 1–128 of letters, digits, `_`, `-`, `.`. */
export const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
/** Separates namespace and retriever in a tool name; the generic tools never contain it. */
const SEP = '__';
/** A name part used verbatim: MCP-valid characters and no `__` (the separator) nor a leading/trailing `_`. */
const CLEAN = /^[A-Za-z0-9.-]+(_[A-Za-z0-9.-]+)*$/;

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);

function part(s: string, max: number): string {
  if (CLEAN.test(s) && s.length <= max) return s;
  const safe = s.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, max - 9) || 'x';
  return `${safe}-${hash(s)}`;
}

/**
 * The tool name of retriever `retriever` in namespace `namespace`: `<namespace>__<retriever>` when both are plain
 * names, else each odd part sanitised with a hash of the original (stable across restarts, distinct per pair).
 */
export function toolName(namespace: string, retriever: string): string {
  return `${part(namespace, 60)}${SEP}${part(retriever, 60)}`;
}

export type JsonSchema = Record<string, unknown>;

const MEDIA = new Set(['image', 'audio', 'video', 'pdf', 'excel']);

/** One input field of a retriever's input_schema (`{type, description, required, default, enum, items, properties}`). */
function fieldSchema(f: Record<string, unknown>): JsonSchema {
  const type = typeof f.type === 'string' ? f.type : 'string';
  let out: JsonSchema;
  if (type === 'number' || type === 'float') out = { type: 'number' };
  else if (type === 'integer') out = { type: 'integer' };
  else if (type === 'boolean') out = { type: 'boolean' };
  else if (type === 'object') out = { type: 'object', ...(isObj(f.properties) ? { properties: objectProperties(f.properties) } : {}) };
  else if (type === 'array') out = { type: 'array', ...(isObj(f.items) ? { items: fieldSchema(f.items) } : {}) };
  else if (type === 'date') out = { type: 'string', format: 'date' };
  else if (type === 'datetime') out = { type: 'string', format: 'date-time' };
  else if (type === 'url') out = { type: 'string', format: 'uri' };
  else if (MEDIA.has(type)) out = { type: 'string', description: `the ${type}: a URL (https://, s3://) or base64 data` };
  else out = { type: 'string' };
  const desc = [typeof f.description === 'string' ? f.description : undefined, out.description as string | undefined].filter(Boolean).join(' — ');
  if (desc) out.description = desc;
  if (Array.isArray(f.enum)) out.enum = f.enum;
  if (f.default !== undefined) out.default = f.default;
  return out;
}

function objectProperties(props: Record<string, unknown>): Record<string, JsonSchema> {
  return Object.fromEntries(Object.entries(props).filter(([, f]) => isObj(f)).map(([k, f]) => [k, fieldSchema(f as Record<string, unknown>)]));
}

/**
 * A retriever's `input_schema` (the flat `{name: {type, required}}` form, or `{properties: {...}}`) as the tool's
 * JSON Schema: an object of the inputs, the required ones listed in `required`.
 */
export function inputJsonSchema(inputSchema: unknown): JsonSchema {
  const raw = isObj(inputSchema) ? inputSchema : {};
  const flat = isObj(raw.properties) && !('type' in raw.properties) ? raw.properties : raw;
  const fields = Object.entries(flat).filter((e): e is [string, Record<string, unknown>] => isObj(e[1]));
  const required = fields.filter(([, f]) => f.required === true).map(([k]) => k);
  return {
    type: 'object',
    properties: Object.fromEntries(fields.map(([k, f]) => [k, fieldSchema(f)])),
    ...(required.length ? { required } : {}),
  };
}

export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
