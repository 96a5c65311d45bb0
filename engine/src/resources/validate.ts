/**
 * Validation of Quarry resources, shared by the operator (reports into status: Stalled, reason, message) and the
 * engine (rejects bad input with a 422). Two layers:
 *  1. structure: the standalone ajv validators generated from the same schema source as the CRDs (types, bounds,
 *     enums, patterns, required fields, unknown fields) — the apiserver already enforced these for stored objects,
 *     the engine needs them for objects that never went through it; then the CRDs' own CEL rules (cel-check.ts),
 *     including immutability when the previous object is given;
 *  2. semantics the schema cannot express: stage parameters against the stage's JSON schema, template syntax,
 *     filter grammar, feature URIs and extractors that exist, extractor parameters, taxonomy trees without cycles.
 * Every error names the field (kubectl-style path) and the fix.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { getExtractor, listExtractors } from '../extractors/registry.ts';
import { BUILTIN_EMBEDDERS, isCustomModelName, modelParamOf } from '../extractors/model-choice.ts';
import { parseFeatureUri, sameFeature } from '../extractors/feature-uri.ts';
import { validationError } from '../lib/errors.ts';
import { foreignSecretRefErrors } from '../lib/secret-refs.ts';
import { API_VERSION, PATTERN_HINTS } from './common.ts';
import { child, type FieldError } from './field-error.ts';
import { checkFilter } from './filter-check.ts';
import type { Bucket, Collection, QuarryKind, QuarryNamespace, QuarryResource, Retriever, Taxonomy } from './generated/types.ts';
import { stageValidators } from './generated/stage-validators.js';
import * as generated from './generated/validators.js';
import type { Validator } from './generated/validators.js';
import { KIND_DEFINITIONS, kindDefinition } from './kinds.ts';
import { checkCelRules } from './cel-check.ts';
import { canonicalStageId, stageSchema } from './stage-ids.ts';
import { scanTemplates, templateTolerantSchema } from './template-check.ts';

export type { FieldError } from './field-error.ts';

export interface ValidationResult {
  valid: boolean;
  errors: FieldError[];
  /** The object with schema defaults applied (a copy; the input is not modified). Present when structurally valid. */
  value?: QuarryResource;
}

const VALIDATORS: Record<QuarryKind, Validator> = {
  QuarryNamespace: generated.validateQuarryNamespace,
  Bucket: generated.validateBucket,
  Collection: generated.validateCollection,
  Retriever: generated.validateRetriever,
  Taxonomy: generated.validateTaxonomy,
  Model: generated.validateModel,
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ValidateOptions {
  /** The stored object this one replaces: enables the CRDs' immutability (transition) rules. */
  old?: unknown;
  /**
   * What the cluster offers, when the caller knows it (the operator does, from the referenced objects):
   * extractors enabled in the QuarryNamespace (`name@version`) and the feature URIs the referenced Collections
   * expose (their status.vectorIndexes[].featureUri). Without them only the built-in registry is consulted.
   */
  context?: { namespaceExtractors?: readonly string[]; featureUris?: readonly string[] };
}

/**
 * Validates one Quarry object: structure (generated ajv validator), the CRDs' CEL rules, then semantics.
 * Never throws for bad input.
 */
export function validateResource(obj: unknown, opts: ValidateOptions = {}): ValidationResult {
  if (!isObject(obj)) return fail([{ field: '(root)', message: 'a Quarry resource must be an object with apiVersion, kind, metadata and spec' }]);
  if (obj.apiVersion !== API_VERSION) {
    return fail([{ field: 'apiVersion', message: `apiVersion must be ${API_VERSION} (got ${JSON.stringify(obj.apiVersion)})` }]);
  }
  const kind = obj.kind as QuarryKind;
  const validator = typeof kind === 'string' ? VALIDATORS[kind] : undefined;
  if (!validator) {
    return fail([{ field: 'kind', message: `unknown kind ${JSON.stringify(obj.kind)}: use one of ${KIND_DEFINITIONS.map((k) => k.kind).join(', ')}` }]);
  }
  const copy = structuredClone(obj);
  if (!validator(copy)) return fail(structuralErrors(validator.errors ?? []));
  const value = copy as unknown as QuarryResource;
  const def = kindDefinition(kind)!;
  let old: unknown;
  if (isObject(opts.old) && isObject(opts.old.spec)) {
    const oldCopy = structuredClone(opts.old);
    validator(oldCopy); // applies the defaults the stored object has
    old = oldCopy.spec;
  }
  const errors = [...checkCelRules(def.spec, value.spec, 'spec', old), ...semanticErrors(value, opts.context ?? {})];
  return errors.length > 0 ? fail(errors) : { valid: true, errors: [], value };
}

/** validateResource, throwing a QuarryError (ValidationError, 422) listing every field error. */
export function assertValidResource(obj: unknown, opts: ValidateOptions = {}): QuarryResource {
  const r = validateResource(obj, opts);
  if (!r.valid) throw validationError(formatErrors(r.errors), { errors: r.errors });
  return r.value!;
}

/** Longest message a metav1.Condition accepts. */
export const CONDITION_MESSAGE_MAX = 32768;

/**
 * "field: message; field: message" — the text the operator puts into the Stalled condition. Cut at whole errors to
 * fit `maxLength` (a condition message), saying how many were left out.
 */
export function formatErrors(errors: FieldError[], maxLength = CONDITION_MESSAGE_MAX): string {
  let text = '';
  for (const [i, e] of errors.entries()) {
    const part = `${i > 0 ? '; ' : ''}${e.field}: ${e.message}`;
    const rest = errors.length - i;
    if (text.length + part.length > maxLength - 40) return `${text}; ... and ${rest} more error${rest === 1 ? '' : 's'}`;
    text += part;
  }
  return text;
}

/** The kstatus Stalled condition (metav1.Condition fields) the operator writes for an invalid spec. */
export function invalidSpecCondition(errors: FieldError[]): { type: 'Stalled'; status: 'True'; reason: 'InvalidSpec'; message: string } {
  return { type: 'Stalled', status: 'True', reason: 'InvalidSpec', message: formatErrors(errors) };
}

function fail(errors: FieldError[]): ValidationResult {
  return { valid: false, errors };
}

/** ajv's instancePath (/spec/stages/0/config) → spec.stages[0].config */
function fieldOf(instancePath: string): string {
  let out = '';
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out = /^\d+$/.test(seg) ? child(out, Number(seg)) : child(out, seg);
  }
  return out || '(root)';
}

export function structuralErrors(errors: readonly ErrorObject[]): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const at = fieldOf(e.instancePath);
    let fe: FieldError;
    const p = e.params as Record<string, unknown>;
    // The summary of a template-tolerant wrapper (templateTolerantSchema): the wrapped node's own errors say it all.
    if (e.keyword === 'if') continue;
    switch (e.keyword) {
      case 'required':
        fe = { field: child(at === '(root)' ? '' : at, String(p.missingProperty)), message: 'required field is missing: add it' };
        break;
      case 'additionalProperties':
        fe = { field: child(at === '(root)' ? '' : at, String(p.additionalProperty)), message: 'unknown field: remove it or fix its spelling' };
        break;
      case 'enum':
        fe = { field: at, message: `unsupported value: use one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
        break;
      case 'const':
        fe = { field: at, message: `must be ${JSON.stringify(p.allowedValue)}` };
        break;
      case 'type':
        fe = { field: at, message: `must be of type ${String(p.type)}` };
        break;
      case 'pattern': {
        const hint = PATTERN_HINTS[String(p.pattern)];
        fe = { field: at, message: hint ? `invalid format: must be ${hint}` : `invalid format: must match ${String(p.pattern)}` };
        break;
      }
      case 'maxLength':
      case 'minLength':
      case 'maxItems':
      case 'minItems':
      case 'maxProperties':
      case 'minProperties':
      case 'maximum':
      case 'minimum':
        fe = { field: at, message: `${e.message ?? 'out of bounds'}: adjust the value` };
        break;
      default:
        fe = { field: at, message: e.message ?? `fails ${e.keyword}` };
    }
    const key = `${fe.field}|${fe.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(fe);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Semantic checks

type Context = NonNullable<ValidateOptions['context']>;

function semanticErrors(r: QuarryResource, ctx: Context): FieldError[] {
  return [...secretRefErrors(r), ...kindErrors(r, ctx)];
}

/**
 * Secret references naming another QuarryNamespace's `quarry-secrets-*` (the part of the tenant rule of
 * lib/secret-refs.ts known without reading the Secret; the rest is judged where the Secret is read).
 */
function secretRefErrors(r: QuarryResource): FieldError[] {
  switch (r.kind) {
    case 'QuarryNamespace':
      return foreignSecretRefErrors([r.metadata.name], [
        ['spec.llm.apiKeySecretRef.name', r.spec.llm?.apiKeySecretRef?.name],
        ['spec.webSearch.apiKeySecretRef.name', r.spec.webSearch?.apiKeySecretRef?.name],
        ...(r.spec.sqlConnections ?? []).map((c, i): [string, string] => [`spec.sqlConnections[${i}].urlSecretRef.name`, c.urlSecretRef.name]),
      ]);
    case 'Bucket':
      return foreignSecretRefErrors([r.spec.namespaceRef], [['spec.storage.credentialsSecretRef.name', r.spec.storage?.credentialsSecretRef?.name]]);
    case 'Model':
      return foreignSecretRefErrors(r.spec.namespaceRefs ?? [], [['spec.source.s3.credentialsSecretRef.name', r.spec.source.s3?.credentialsSecretRef?.name]]);
    default:
      return [];
  }
}

function kindErrors(r: QuarryResource, ctx: Context): FieldError[] {
  switch (r.kind) {
    case 'QuarryNamespace':
      return checkQuarryNamespace(r);
    case 'Bucket':
      return checkBucket(r);
    case 'Collection':
      return checkCollection(r, ctx);
    case 'Retriever':
      return checkRetriever(r, ctx);
    case 'Taxonomy':
      return checkTaxonomy(r);
    case 'Model':
      return [];
  }
}

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false });
const compiled = new WeakMap<object, ValidateFunction>();

/** Validates `value` against a runtime JSON schema (extractor or stage parameters), errors prefixed with `path`. */
export function checkAgainstSchema(schema: Record<string, unknown>, value: unknown, path: string): FieldError[] {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  if (fn(value)) return [];
  return prefixed(structuralErrors(fn.errors ?? []), path);
}

function prefixed(errors: FieldError[], path: string): FieldError[] {
  return errors.map((e) => ({
    field: e.field === '(root)' ? path : `${path}${e.field.startsWith('[') ? '' : '.'}${e.field}`,
    message: e.message,
  }));
}

function checkExtractor(name: string, version: string, path: string): FieldError[] {
  if (getExtractor(name, version)) return [];
  const known = listExtractors().map((x) => x.id).join(', ');
  return [{ field: `${path}.name`, message: `unknown feature extractor ${name}@${version}: use one of ${known}` }];
}

function checkQuarryNamespace(r: QuarryNamespace): FieldError[] {
  const errors: FieldError[] = [];
  r.spec.featureExtractors.forEach((fx, i) => {
    const path = `spec.featureExtractors[${i}]`;
    const version = fx.version ?? 'v1';
    const found = checkExtractor(fx.name, version, path);
    errors.push(...found);
    const def = getExtractor(fx.name, version);
    if (def && fx.params) errors.push(...checkAgainstSchema(def.parameterSchema, fx.params, `${path}.params`));
  });
  return errors;
}

function checkBucket(r: Bucket): FieldError[] {
  const errors: FieldError[] = [];
  for (const [name, field] of Object.entries(r.spec.schema.properties)) {
    if (field.required && field.default !== undefined) {
      errors.push({ field: `${child('spec.schema.properties', name)}.default`, message: 'a required property cannot have a default: remove default or set required: false' });
    }
  }
  return errors;
}

function checkCollection(r: Collection, ctx: Context): FieldError[] {
  const errors: FieldError[] = [];
  const fx = r.spec.featureExtractor;
  const version = fx.version ?? 'v1';
  errors.push(...checkExtractor(fx.name, version, 'spec.featureExtractor'));
  if (ctx.namespaceExtractors && !ctx.namespaceExtractors.includes(`${fx.name}@${version}`)) {
    errors.push({
      field: 'spec.featureExtractor.name',
      message: `${fx.name}@${version} is not enabled in QuarryNamespace ${r.spec.namespaceRef} (enabled: ${ctx.namespaceExtractors.join(', ') || 'none'}): add it to its spec.featureExtractors or use an enabled extractor`,
    });
  }
  const def = getExtractor(fx.name, version);
  if (def) {
    if (fx.params) errors.push(...checkAgainstSchema(def.parameterSchema, fx.params, 'spec.featureExtractor.params'));
    if (fx.parameters) errors.push(...checkAgainstSchema(def.parameterSchema, fx.parameters, 'spec.featureExtractor.parameters'));
  }
  (fx.fieldPassthrough ?? []).forEach((f, i) => {
    if (f.required && f.default !== undefined) {
      errors.push({ field: `spec.featureExtractor.fieldPassthrough[${i}].default`, message: 'a required passthrough field cannot have a default: remove default or set required: false' });
    }
  });
  if (r.spec.source.filters) errors.push(...checkFilter(r.spec.source.filters, 'spec.source.filters'));
  (r.spec.taxonomyApplications ?? []).forEach((t, i) => {
    if (t.scrollFilters) errors.push(...checkFilter(t.scrollFilters, `spec.taxonomyApplications[${i}].scrollFilters`));
  });
  return errors;
}

/** URI output naming the BM25 index of an extractor's lexical fields (hybrid search). */
export const LEXICAL_OUTPUT = 'bm25';

const FEATURE_URI_KEYS = new Set(['feature_uri', 'feature_address', 'diversity_feature_uri']);

/** Feature URIs in stage parameters must parse and name a vector output of a known extractor. */
function checkFeatureUris(value: unknown, path: string, errors: FieldError[], available?: readonly string[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkFeatureUris(v, child(path, i), errors, available));
    return;
  }
  if (!isObject(value)) return;
  for (const [k, v] of Object.entries(value)) {
    const p = child(path, k);
    if (FEATURE_URI_KEYS.has(k) && typeof v === 'string' && !v.includes('{{')) {
      const found = checkFeatureUri(v, p);
      errors.push(...found);
      if (found.length === 0 && available && !isLexical(v) && !available.some((a) => sameFeatureSafe(a, v))) {
        errors.push({ field: p, message: `no referenced collection exposes ${v} (available: ${available.join(', ') || 'none'}): fix the URI or add a collection that produces it to spec.collectionRefs` });
      }
    } else {
      checkFeatureUris(v, p, errors, available);
    }
  }
}

function isLexical(uri: string): boolean {
  try {
    return parseFeatureUri(uri).output === LEXICAL_OUTPUT;
  } catch {
    return false;
  }
}

function sameFeatureSafe(a: string, b: string): boolean {
  try {
    return sameFeature(a, b);
  } catch {
    return false;
  }
}

export function checkFeatureUri(uri: string, path: string): FieldError[] {
  let addr;
  try {
    addr = parseFeatureUri(uri);
  } catch (e) {
    return [{ field: path, message: (e as Error).message }];
  }
  const def = getExtractor(addr.extractor, addr.version);
  if (!def) {
    return [{ field: path, message: `feature URI ${uri} names unknown extractor ${addr.extractor}@${addr.version}: use one of ${listExtractors().map((x) => x.id).join(', ')}` }];
  }
  // The lexical (BM25) leg of an extractor that indexes text for it is addressed as <extractor>@<version>/bm25.
  if (addr.output === LEXICAL_OUTPUT) {
    return def.lexicalFields.length > 0 ? [] : [{ field: path, message: `${def.id} indexes no text for BM25, so ${uri} does not exist: use a vector feature or a text extractor` }];
  }
  const vectors = def.vectors({});
  if (vectors.length === 0) return [{ field: path, message: `${def.id} produces no vectors, so ${uri} cannot be searched: use a feature of an embedding extractor` }];
  if (addr.output === undefined) {
    return vectors.length === 1 ? [] : [{ field: path, message: `${def.id} has several vector outputs: add one of ${vectors.map((v) => v.output).join(', ')} to the URI` }];
  }
  if (vectors.some((v) => v.output === addr.output)) return [];
  // An extractor whose model is a parameter has a feature per model, a tenant's Model resources among them: the
  // Retriever's readiness (the feature URIs of its Collections) and the search check those.
  const param = modelParamOf(def.parameterSchema);
  if (param && isCustomModelName(addr.output)) return [];
  // A built-in model of the parameter's kind (a non-default one: all_minilm_l6_v2_int8, a video's clip_vit_b32).
  if (param && BUILTIN_EMBEDDERS[addr.output] && def.vectors({ [param]: addr.output }).some((v) => v.output === addr.output && (v.purpose === 'text') === (BUILTIN_EMBEDDERS[addr.output]!.kind === 'text'))) return [];
  return [{ field: path, message: `${def.id} has no vector output '${addr.output}': use ${vectors.map((v) => v.featureUri).join(' or ')}` }];
}

const tolerantSchemas = new WeakMap<object, Record<string, unknown>>();

function checkRetriever(r: Retriever, ctx: Context): FieldError[] {
  const errors: FieldError[] = [];
  const inputs = r.spec.inputSchema ?? {};
  for (const [name, field] of Object.entries(inputs)) {
    const path = child('spec.inputSchema', name);
    if (field.required && field.default !== undefined) errors.push({ field: `${path}.default`, message: 'a required input cannot have a default: remove default or set required: false' });
  }
  r.spec.stages.forEach((stage, i) => {
    const path = `spec.stages[${i}]`;
    const id = canonicalStageId(stage.config.stageId);
    if (!id) {
      errors.push({ field: `${path}.config.stageId`, message: `unknown stage id '${stage.config.stageId}'` });
      return;
    }
    // Prefer the schema registered in this process (the retriever engine's current one); else the generated validator.
    // Both accept a template string wherever a parameter is typed (checked again after rendering, at execution).
    const schema = stageSchema(id);
    const params = stage.config.parameters ?? {};
    if (schema) {
      let tolerant = tolerantSchemas.get(schema);
      if (!tolerant) {
        tolerant = templateTolerantSchema(schema);
        tolerantSchemas.set(schema, tolerant);
      }
      errors.push(...checkAgainstSchema(tolerant, params, `${path}.config.parameters`));
    } else if (stageValidators[id]) {
      const v = stageValidators[id]!;
      if (!v(params)) errors.push(...prefixed(structuralErrors(v.errors ?? []), `${path}.config.parameters`));
    }
    if (stage.config.preFilters) errors.push(...checkFilter(stage.config.preFilters, `${path}.config.preFilters`));
    if (stage.config.postFilters) errors.push(...checkFilter(stage.config.postFilters, `${path}.config.postFilters`));
    if (stage.config.parameters) checkFeatureUris(stage.config.parameters, `${path}.config.parameters`, errors, ctx.featureUris);
  });
  const scan = scanTemplates(r.spec.stages, 'spec.stages');
  errors.push(...scan.errors);
  for (const [name, at] of scan.inputs) {
    if (!(name in inputs)) {
      errors.push({ field: at, message: `template reads INPUT.${name} but spec.inputSchema declares no input '${name}': declare it (e.g. ${name}: {type: text, required: true})` });
    }
  }
  return errors;
}

function checkTaxonomy(r: Taxonomy): FieldError[] {
  const errors: FieldError[] = [];
  const mappings = (list: Taxonomy['spec']['inputMappings'], path: string) =>
    (list ?? []).forEach((m, i) => {
      if (m.sourceType === 'literal' && m.override === undefined) {
        errors.push({ field: `${path}[${i}].override`, message: 'a literal input mapping needs override: the fixed value to pass' });
      }
    });
  mappings(r.spec.inputMappings, 'spec.inputMappings');
  const nodes = r.spec.nodes ?? [];
  nodes.forEach((n, i) => mappings(n.inputMappings, `spec.nodes[${i}].inputMappings`));
  // Cycle detection: follow parents from every node; a walk longer than the node count loops.
  const parent = new Map(nodes.map((n) => [n.collectionRef, n.parentCollectionRef]));
  nodes.forEach((n, i) => {
    let at: string | undefined = n.collectionRef;
    for (let steps = 0; at !== undefined; steps++) {
      if (steps > nodes.length) {
        errors.push({ field: `spec.nodes[${i}].parentCollectionRef`, message: `the parent chain of ${n.collectionRef} loops: a taxonomy tree cannot have cycles; fix parentCollectionRef` });
        break;
      }
      at = parent.get(at);
    }
  });
  return errors;
}
