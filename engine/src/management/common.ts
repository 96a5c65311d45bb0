/**
 * Shared pieces of the management API: ids, body reading with field errors, the documented 422, status → the
 * documented lifecycle fields, and the per-request lookup context (the scope's resources, resolved by name or id).
 */
import { QuarryError } from '../lib/errors.ts';
import type { ObjectKey, Resource, ResourceStore } from '../ports/resource-store.ts';
import type { FieldError } from '../resources/field-error.ts';
import { DISPLAY_NAME_ANNOTATION, displayName, displayNameProblem, findByIdentifier, idOf } from './identifiers.ts';
import { API_VERSION, type ObjectMeta as QuarryMeta, type QuarryKind, type QuarryNamespace } from '../resources/generated/types.ts';

/** Any stored object, store-shaped or typed with the generated kinds. */
export interface AnyResource {
  kind: string;
  metadata: QuarryMeta & { managedFields?: unknown };
  spec?: unknown;
  status?: unknown;
}

/** A stored object seen as one of the generated kinds (the store is untyped). */
export const as = <T>(r: Resource): T => r as unknown as T;

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The five kinds in API terms: route plural, id prefix (reference §0.1), and the name/id fields of the body. */
/** The kinds the management API of the reference serves; Model has its own routes (engine/src/models/custom/routes.ts). */
export type ApiKind = Exclude<QuarryKind, 'Model'>;

export interface KindInfo {
  kind: ApiKind;
  /** Singular word used in messages and field names: namespace, bucket, collection, retriever, taxonomy. */
  word: string;
  plural: string;
  idPrefix: string;
  nameField: string;
  idField: string;
}

export const KINDS: Record<ApiKind, KindInfo> = {
  QuarryNamespace: { kind: 'QuarryNamespace', word: 'namespace', plural: 'namespaces', idPrefix: 'ns_', nameField: 'namespace_name', idField: 'namespace_id' },
  Bucket: { kind: 'Bucket', word: 'bucket', plural: 'buckets', idPrefix: 'bkt_', nameField: 'bucket_name', idField: 'bucket_id' },
  Collection: { kind: 'Collection', word: 'collection', plural: 'collections', idPrefix: 'col_', nameField: 'collection_name', idField: 'collection_id' },
  Retriever: { kind: 'Retriever', word: 'retriever', plural: 'retrievers', idPrefix: 'ret_', nameField: 'retriever_name', idField: 'retriever_id' },
  Taxonomy: { kind: 'Taxonomy', word: 'taxonomy', plural: 'taxonomies', idPrefix: 'tax_', nameField: 'taxonomy_name', idField: 'taxonomy_id' },
};

export { idOf } from './identifiers.ts';

/**
 * API names are display names (identifiers.ts): 1-100 characters, `_` and capitals allowed; the object name is
 * derived from them when they are not DNS labels.
 */
export function checkName(kind: QuarryKind, field: string, value: unknown): FieldError[] {
  if (typeof value !== 'string' || value === '') return [{ field, message: 'required: give the resource a name' }];
  const problem = displayNameProblem(kind, value);
  return problem ? [{ field, message: `'${value.length > 120 ? `${value.slice(0, 120)}…` : value}' is not a valid name: it ${problem}` }] : [];
}

/** The documented 422: envelope with `details.validation_errors` (and `field` for the FastAPI-style `detail`). */
/** A field error named in API terms, with the resource field it came from when translated. */
export interface ApiFieldError extends FieldError {
  spec_field?: string;
}

export function unprocessable(errors: ApiFieldError[]): QuarryError {
  const message = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return new QuarryError('ValidationError', message, {
    field: errors[0]?.field ?? 'body',
    validation_errors: errors.map((e) => ({
      type: 'value_error',
      location: e.field.split(/[.[\]]+/).filter(Boolean),
      field: e.field,
      message: e.message,
      // The resource field the validator named, when the API field was translated from it.
      ...(e.spec_field ? { spec_field: e.spec_field } : {}),
    })),
  });
}

/**
 * Collects field errors while a request body is read. Readers return undefined for missing or null values, so
 * translations can copy only what was sent; type problems of copied values are left to the resource validator.
 */
export class BodyReader {
  readonly errors: FieldError[] = [];

  fail(field: string, message: string): undefined {
    this.errors.push({ field, message });
    return undefined;
  }

  /** Unknown keys are errors (like the CRDs' structural schema), naming the supported ones. */
  only(obj: Record<string, unknown>, allowed: readonly string[], path: string, unsupported: Record<string, string> = {}): void {
    for (const [k, v] of Object.entries(obj)) {
      const at = path ? `${path}.${k}` : k;
      if (k in unsupported) {
        if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && v !== false) this.fail(at, unsupported[k]!);
      } else if (!allowed.includes(k)) {
        this.fail(at, `unknown field: remove it or fix its spelling (supported: ${allowed.join(', ')})`);
      }
    }
  }

  obj(v: unknown, field: string, required = false): Record<string, unknown> | undefined {
    if (v === undefined || v === null) return required ? this.fail(field, 'required field is missing: add it') : undefined;
    if (!isObj(v)) return this.fail(field, 'must be an object');
    return v;
  }

  arr(v: unknown, field: string, required = false): unknown[] | undefined {
    if (v === undefined || v === null) return required ? this.fail(field, 'required field is missing: add it') : undefined;
    if (!Array.isArray(v)) return this.fail(field, 'must be an array');
    return v;
  }

  str(v: unknown, field: string, required = false): string | undefined {
    if (v === undefined || v === null) return required ? this.fail(field, 'required field is missing: add it') : undefined;
    if (typeof v !== 'string') return this.fail(field, 'must be a string');
    return v;
  }

  throwIfAny(): void {
    if (this.errors.length > 0) throw unprocessable(this.errors);
  }
}

/** Copies the defined (non-null) entries of `pairs` into a new object. */
export function defined(pairs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(pairs)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

export const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
export const snake = (s: string): string => s.replace(/([A-Z])/g, (_m, c: string) => `_${c.toLowerCase()}`);

/** Renames the keys of a plain JSON tree (objects inside arrays too); values that are not containers are kept. */
export function renameKeys(v: unknown, fn: (k: string) => string, skip: ReadonlySet<string> = new Set()): unknown {
  if (Array.isArray(v)) return v.map((x) => renameKeys(x, fn, skip));
  if (!isObj(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null || x === undefined) continue;
    out[fn(k)] = skip.has(k) ? x : renameKeys(x, fn, skip);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Status → documented fields

interface Cond {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

function conditions(r: AnyResource): Cond[] {
  const c = (r.status as { conditions?: unknown } | undefined)?.conditions;
  return Array.isArray(c) ? (c as Cond[]) : [];
}

export const isReady = (r: AnyResource): boolean => conditions(r).some((c) => c.type === 'Ready' && c.status === 'True');

/**
 * TaskStatusEnum value of a resource (reference §1.4): ACTIVE when Ready, FAILED when Stalled (an error only a
 * spec change fixes), IN_PROGRESS while finalizers clean up after a delete, PENDING until the operator is done.
 */
export function taskStatus(r: AnyResource): 'ACTIVE' | 'FAILED' | 'IN_PROGRESS' | 'PENDING' {
  if (r.metadata.deletionTimestamp) return 'IN_PROGRESS';
  if (isReady(r)) return 'ACTIVE';
  if (conditions(r).some((c) => c.type === 'Stalled' && c.status === 'True')) return 'FAILED';
  return 'PENDING';
}

/** Lifecycle fields every response carries: timestamps, status, the operator's conditions and its message. */
export function lifecycle(r: AnyResource): Record<string, unknown> {
  const conds = conditions(r);
  const times = [r.metadata.creationTimestamp, ...conds.map((c) => c.lastTransitionTime)];
  const mf = r.metadata.managedFields;
  if (Array.isArray(mf)) for (const m of mf) times.push((m as { time?: string }).time);
  const updated = times.filter((t): t is string => typeof t === 'string').sort().at(-1);
  const ready = conds.find((c) => c.type === 'Ready');
  return {
    status: taskStatus(r),
    ready: isReady(r),
    status_message: ready?.message ?? (r.metadata.deletionTimestamp ? 'deletion in progress' : 'not reconciled yet'),
    conditions: conds,
    created_at: r.metadata.creationTimestamp ?? null,
    updated_at: updated ?? r.metadata.creationTimestamp ?? null,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Lookup context

/**
 * One request's view of the store: every kind listed at most once, then resolved by name or id. Scoped requests
 * (buckets, collections, retrievers, taxonomies) see only objects whose spec.namespaceRef is the X-Namespace.
 */
export class Scope {
  readonly store: ResourceStore;
  readonly k8sNamespace: string;
  /** The QuarryNamespace of X-Namespace (undefined for the /v1/namespaces routes). */
  readonly ns: QuarryNamespace | undefined;
  /** Every Kubernetes namespace the engine serves (undefined: all), for checks that look beyond this one. */
  readonly served: readonly string[] | undefined;
  private readonly cache = new Map<string, Promise<Resource[]>>();

  constructor(store: ResourceStore, k8sNamespace: string, ns?: QuarryNamespace, served?: readonly string[]) {
    this.store = store;
    this.k8sNamespace = k8sNamespace;
    this.ns = ns;
    this.served = served;
  }

  key(name: string): ObjectKey {
    return { namespace: this.k8sNamespace, name };
  }

  /** All objects of a kind in the Kubernetes namespace (unscoped). */
  all<T extends Resource = Resource>(kind: QuarryKind): Promise<T[]> {
    let p = this.cache.get(kind);
    if (!p) {
      p = this.store.list(kind, { namespace: this.k8sNamespace });
      this.cache.set(kind, p);
    }
    return p as Promise<T[]>;
  }

  /** Objects of a kind in the X-Namespace (all namespaces for QuarryNamespace). */
  async list<T extends Resource = Resource>(kind: QuarryKind): Promise<T[]> {
    const items = await this.all<T>(kind);
    if (kind === 'QuarryNamespace' || !this.ns) return items;
    const ns = this.ns.metadata.name;
    return items.filter((r) => (r.spec as { namespaceRef?: string } | undefined)?.namespaceRef === ns);
  }

  /** By documented id or name, within the scope (the shared resolver, identifiers.ts). */
  async resolve<T extends Resource = Resource>(kind: QuarryKind, identifier: string): Promise<T | undefined> {
    return findByIdentifier(await this.list<T>(kind), identifier);
  }

  /** The display name of the object of `kind` whose object name is `name` in the scope (`name` when there is none). */
  async nameOf(kind: QuarryKind, name: string): Promise<string> {
    const r = (await this.list(kind)).find((x) => x.metadata.name === name);
    return r ? displayName(r) : name;
  }

  /** The documented id of the object of `kind` named `name` in the scope (the name when there is none). */
  async idByName(kind: QuarryKind, name: string): Promise<string> {
    const r = (await this.list(kind)).find((x) => x.metadata.name === name);
    return r ? idOf(r) : name;
  }
}

/** The object the API applies; `display` is kept in the annotation when it is not the object name. */
export function intent(kind: QuarryKind, name: string, k8sNamespace: string, spec: Record<string, unknown>, display = name) {
  const metadata: { name: string; namespace: string; annotations?: Record<string, string> } = { name, namespace: k8sNamespace };
  if (display !== name) metadata.annotations = { [DISPLAY_NAME_ANNOTATION]: display };
  return { apiVersion: API_VERSION, kind, metadata, spec };
}
