/**
 * Template syntax (reference §3.8): every string holding `{{ }}` or `{% %}` must compile as a Jinja-style template.
 * nunjucks is the engine's template library, so what passes here renders there.
 */
import nunjucks from 'nunjucks';
import { child, type FieldError } from './field-error.ts';

const env = new nunjucks.Environment([], { autoescape: false });
const TEMPLATE_MARK = /\{\{|\{%/;
const INPUT_REF = /\b(?:INPUT|inputs|input)\.([A-Za-z_][A-Za-z0-9_]*)/g;
/** Defaults of some stages hold placeholders the user must replace (reference §3.8). */
const PLACEHOLDERS = ['{{TAXONOMY_ID}}', '{{COLLECTION_ID}}'];

export function isTemplate(s: string): boolean {
  return TEMPLATE_MARK.test(s);
}

/** Compiles one template; returns the syntax error text, or undefined when it compiles. */
export function templateError(src: string): string | undefined {
  try {
    new nunjucks.Template(src, env, 'template', true);
    return undefined;
  } catch (e) {
    return (e as Error).message.replace(/^\(template\)\s*/, '').replace(/\s+/g, ' ').trim();
  }
}

export interface TemplateScan {
  errors: FieldError[];
  /** Input names referenced as {{INPUT.<name>}}, with the first field using each. */
  inputs: Map<string, string>;
}

/** Walks any JSON value, compiling every templated string and collecting the INPUT names it reads. */
export function scanTemplates(value: unknown, path: string, scan: TemplateScan = { errors: [], inputs: new Map() }): TemplateScan {
  if (typeof value === 'string') {
    if (!isTemplate(value)) return scan;
    if (PLACEHOLDERS.includes(value.trim())) {
      scan.errors.push({ field: path, message: `${value.trim()} is a placeholder: replace it with the name of the resource to use` });
      return scan;
    }
    const err = templateError(value);
    if (err) scan.errors.push({ field: path, message: `template syntax error: ${err} (templates use {{ expression }} and {% if %}...{% endif %})` });
    for (const m of value.matchAll(INPUT_REF)) if (!scan.inputs.has(m[1]!)) scan.inputs.set(m[1]!, path);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => scanTemplates(v, child(path, i), scan));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) scanTemplates(v, child(path, k), scan);
  }
  return scan;
}

/** A string holding a template (same test as isTemplate), as a JSON schema. */
export const TEMPLATE_STRING_SCHEMA = { type: 'string', pattern: '\\{\\{|\\{%' } as const;

type JsonSchema = Record<string, unknown>;
const isSchemaObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);
const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];
const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const SCHEMA_SINGLES = ['additionalProperties', 'items', 'contains', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems'];

/** True when every string passes this node on its own (a templated string needs no exemption there). */
function acceptsAnyString(s: JsonSchema): boolean {
  const keys = Object.keys(s).filter((k) => !['description', 'default', 'title', 'examples', '$comment', 'minLength', 'maxLength'].includes(k));
  if (keys.length === 0) return true;
  return keys.every((k) => k === 'type') && (s.type === 'string' || (Array.isArray(s.type) && s.type.includes('string')));
}

/**
 * The stage parameter schema as checked before rendering (reference §3.8): any parameter value may be a template
 * (`limit: "{{INPUT.n}}"`), whose type is only known once rendered, so every node that would refuse such a string
 * becomes `{if: <template string>, then: true, else: <node>}` — a templated value passes, every other value meets
 * the original node. The engine checks the rendered parameters against the original schema at execution.
 * `if` was chosen over anyOf because a failing `if` adds no errors: a wrong literal value reports exactly the
 * original node's errors (plus one "must match else schema" summary that validate.ts drops).
 */
export function templateTolerantSchema(schema: JsonSchema): JsonSchema {
  const walk = (node: unknown, wrap: boolean): unknown => {
    if (!isSchemaObject(node)) return node;
    const out: JsonSchema = { ...node };
    for (const k of SCHEMA_MAPS) {
      if (isSchemaObject(out[k])) out[k] = Object.fromEntries(Object.entries(out[k]).map(([n, v]) => [n, walk(v, k === 'properties' || k === 'patternProperties')]));
    }
    // Branches are not wrapped themselves (the node holding them is), their contents are.
    for (const k of SCHEMA_LISTS) if (Array.isArray(out[k])) out[k] = (out[k] as unknown[]).map((v) => walk(v, k === 'prefixItems'));
    for (const k of SCHEMA_SINGLES) if (isSchemaObject(out[k])) out[k] = walk(out[k], k === 'additionalProperties' || k === 'items' || k === 'unevaluatedProperties' || k === 'unevaluatedItems');
    if (!wrap || acceptsAnyString(out)) return out;
    const { description, default: dflt, ...rest } = out;
    return { ...(description !== undefined ? { description } : {}), ...(dflt !== undefined ? { default: dflt } : {}), if: TEMPLATE_STRING_SCHEMA, then: true, else: rest };
  };
  return walk(schema, false) as JsonSchema;
}
