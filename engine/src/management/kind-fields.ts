// Management API field translators every kind uses: the KindApi shape, copy/rename helpers, reference resolution (name or id) and display names.
import type { Resource } from '../ports/resource-store.ts';
import type { QuarryKind } from '../resources/generated/types.ts';
import type { ValidateOptions } from '../resources/validate.ts';
import { displayName } from './identifiers.ts';
import { camel, isObj, KINDS, renameKeys, snake, type ApiKind, type BodyReader, type KindInfo, type Scope } from './common.ts';

export interface FieldContext {
  r: BodyReader;
  scope: Scope;
  /** The whole body (some fields read a sibling, e.g. schedule.trigger_type). */
  body: Record<string, unknown>;
}

/** Translates one API field into spec fields; an undefined value removes the spec field (PATCH with null). */
export type FieldFn = (v: unknown, ctx: FieldContext) => Promise<Record<string, unknown>> | Record<string, unknown>;

export interface KindApi {
  info: KindInfo;
  /** Namespaced by X-Namespace (everything but namespaces). */
  scoped: boolean;
  /** API field → translator, for every field a create body may carry besides the name. */
  fields: Record<string, FieldFn>;
  /** API fields a create body must carry (besides the name). */
  required: readonly string[];
  /** API fields a PATCH body may carry (besides the name, which must stay the same). */
  patchable: readonly string[];
  /** Documented aliases accepted for compatibility (reference §11): alias → canonical field. */
  aliases: Readonly<Record<string, string>>;
  /** Documented fields Quarry does not implement: field → why, and what to do instead. */
  unsupported: Readonly<Record<string, string>>;
  /** Top-level spec field → API field, to name API fields in validation errors. */
  specToApi: Readonly<Record<string, string>>;
  /** What the validator should know about the cluster for this spec (extractors, feature URIs). */
  context?(spec: Record<string, unknown>, scope: Scope): Promise<ValidateOptions['context']>;
  respond(r: Resource, scope: Scope): Promise<Record<string, unknown>>;
}

export const copy = (specKey: string): FieldFn => (v) => ({ [specKey]: v ?? undefined });
export const camelCopy = (specKey: string): FieldFn => (v) => ({ [specKey]: v === null || v === undefined ? undefined : renameKeys(v, camel) });
export const snakeOut = (v: unknown, skip: ReadonlySet<string> = new Set()): unknown => (v === undefined ? undefined : renameKeys(v, snake, skip));

/** Resolves a reference (name or id) of `kind` in the scope to its name; unknown ones are field errors. */
export async function ref(kind: ApiKind, v: unknown, field: string, ctx: FieldContext): Promise<string | undefined> {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') return ctx.r.fail(field, `must be the name or id of a ${KINDS[kind].word}`);
  const found = await ctx.scope.resolve(kind, v);
  if (!found) {
    const ns = ctx.scope.ns ? displayName(ctx.scope.ns) : '';
    return ctx.r.fail(field, `no ${KINDS[kind].word} '${v}' in namespace '${ns}': create it first or fix the name or id`);
  }
  return found.metadata.name;
}

export async function refs(kind: ApiKind, v: unknown, field: string, ctx: FieldContext): Promise<string[] | undefined> {
  const list = ctx.r.arr(v, field);
  if (!list) return undefined;
  const out: string[] = [];
  for (const [i, x] of list.entries()) {
    const name = await ref(kind, x, `${field}[${i}]`, ctx);
    if (name) out.push(name);
  }
  return out;
}

/** Object names in a spec (response side) → display names. */
export async function namesOf(kind: QuarryKind, names: readonly string[] | undefined, scope: Scope): Promise<string[]> {
  return Promise.all((names ?? []).map((n) => scope.nameOf(kind, n)));
}

/** The documented `{field, type, ...}` list of names (response side): names → documented ids. */
export async function idsOf(kind: QuarryKind, names: readonly string[] | undefined, scope: Scope): Promise<string[]> {
  return Promise.all((names ?? []).map((n) => scope.idByName(kind, n)));
}

/** The SDK's extractor models require an id: `<name>_<version>`, the extractor's identity in a namespace. */
export const extractorId = (name: string, version: string | undefined): string => `${name}_${version ?? 'v1'}`;

/**
 * Schema properties as the SDK's BucketSchemaField requires them: every property has a `type`. A passthrough field
 * copies a value whose type the collection does not declare; it is shown as `string`, the common case (metadata).
 */
export function withTypes(props: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, isObj(v) && typeof v.type !== 'string' ? { type: 'string', ...v } : v]));
}

export const UNSUPPORTED_INFRA = 'dedicated infrastructure is not configurable per namespace in Quarry (the cluster is the infrastructure): remove it; vector collection settings go in vector_store';
