/**
 * Tiny builders for the structural OpenAPI v3 schemas of our CRDs. Every builder takes the field's description
 * first, so a field without documentation cannot be written (`kubectl explain` prints these texts).
 * Hand-written rather than a library: no maintained TS library emits Kubernetes structural schemas with
 * x-kubernetes-* extensions and CEL rules; the subset we need is small.
 */

/** A CEL rule (`x-kubernetes-validations` entry). The message must name the field and say how to fix it. */
export interface CelRule {
  rule: string;
  message: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

/** The JSONSchemaProps subset the generator understands (and emits into crds/). */
export interface Schema {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema;
  items?: Schema;
  enum?: (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: CelRule[];
}

type Extra = Omit<Schema, 'description' | 'type' | 'properties' | 'items' | 'additionalProperties'>;

/** Scalar defaults are spelled out in the description, so `kubectl explain` shows them. */
function describe(description: string, dflt: unknown): string {
  if (dflt === undefined || (typeof dflt === 'object' && dflt !== null)) return description;
  return `${description} Defaults to ${String(dflt)}.`;
}

function withRules(s: Schema, rules?: CelRule[]): Schema {
  return rules && rules.length > 0 ? { ...s, 'x-kubernetes-validations': rules } : s;
}

export function str(description: string, extra: Extra & { rules?: CelRule[] } = {}): Schema {
  const { rules, ...rest } = extra;
  if (rest.maxLength === undefined && rest.enum === undefined) {
    throw new Error(`internal: string field "${description}" needs maxLength or enum (CEL cost budget)`);
  }
  return withRules({ description: describe(description, rest.default), type: 'string', ...rest }, rules);
}

export function enumOf<T extends string>(description: string, values: readonly T[], extra: Extra & { rules?: CelRule[] } = {}): Schema {
  return str(description, { ...extra, enum: [...values] });
}

export function int(description: string, extra: Extra & { rules?: CelRule[] } = {}): Schema {
  const { rules, ...rest } = extra;
  return withRules({ description: describe(description, rest.default), type: 'integer', ...rest }, rules);
}

export function int64(description: string, extra: Extra = {}): Schema {
  return { description, type: 'integer', format: 'int64', ...extra };
}

export function num(description: string, extra: Extra = {}): Schema {
  return { description: describe(description, extra.default), type: 'number', ...extra };
}

export function bool(description: string, extra: Extra = {}): Schema {
  return { description: describe(description, extra.default), type: 'boolean', ...extra };
}

export interface ObjOpts {
  required?: string[];
  rules?: CelRule[];
  default?: unknown;
  minProperties?: number;
}

export function obj(description: string, properties: Record<string, Schema>, opts: ObjOpts = {}): Schema {
  const s: Schema = { description, type: 'object', properties };
  if (opts.required && opts.required.length > 0) {
    for (const r of opts.required) {
      if (!(r in properties)) throw new Error(`internal: required field ${r} is not a property of "${description}"`);
    }
    s.required = [...opts.required];
  }
  if (opts.default !== undefined) s.default = opts.default;
  if (opts.minProperties !== undefined) s.minProperties = opts.minProperties;
  return withRules(s, opts.rules);
}

export interface ArrOpts {
  maxItems: number;
  minItems?: number;
  listType?: 'atomic' | 'set' | 'map';
  mapKeys?: string[];
  rules?: CelRule[];
  default?: unknown;
}

export function arr(description: string, items: Schema, opts: ArrOpts): Schema {
  const s: Schema = { description, type: 'array', items, maxItems: opts.maxItems };
  if (opts.minItems !== undefined) s.minItems = opts.minItems;
  if (opts.listType) s['x-kubernetes-list-type'] = opts.listType;
  if (opts.mapKeys) s['x-kubernetes-list-map-keys'] = opts.mapKeys;
  if (opts.default !== undefined) s.default = opts.default;
  return withRules(s, opts.rules);
}

/** A string-keyed map (`additionalProperties`). */
export function mapOf(description: string, values: Schema, opts: { maxProperties: number; rules?: CelRule[] }): Schema {
  return withRules({ description, type: 'object', additionalProperties: values, maxProperties: opts.maxProperties }, opts.rules);
}

/**
 * A free-form JSON object kept as written (stage parameters, extractor parameters, filters). Its shape is checked
 * by validate.ts against the JSON schema that owns it (a stage's parameter schema, the filter grammar, ...).
 */
export function freeObject(description: string, rules?: CelRule[]): Schema {
  return withRules({ description, type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, rules);
}

/** Any JSON value (a default, a literal): no type, kept as written. */
export function anyValue(description: string): Schema {
  return { description, 'x-kubernetes-preserve-unknown-fields': true };
}

const typeNames = new WeakMap<Schema, string>();

/** Gives a schema node a name in the generated TypeScript types (an exported type instead of an inline one). */
export function named<S extends Schema>(name: string, schema: S): S {
  typeNames.set(schema, name);
  return schema;
}

export function typeNameOf(schema: Schema): string | undefined {
  return typeNames.get(schema);
}

export const rule = (r: string, message: string, extra: Omit<CelRule, 'rule' | 'message'> = {}): CelRule => ({ rule: r, message, ...extra });

/** A transition rule making the node immutable once set. */
export const immutable = (field: string, why: string): CelRule =>
  rule('self == oldSelf', `${field} is immutable: ${why}`);
