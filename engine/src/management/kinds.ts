/**
 * The documented request and response shapes of the five resources (reference §1.1, §1.2, §1.5, §1.8, §1.10,
 * §3.1) and their translation to and from the custom resources' specs (engine/src/resources is the schema).
 * Each API field has one translator used by both create and PATCH, so the two cannot drift; references to other
 * resources are accepted by name or id and stored as names (the CRDs reference by name).
 */
import { parseFeatureUri } from '../extractors/feature-uri.ts';
import { getExtractor } from '../extractors/registry.ts';
import { refuseForeignStorage } from '../objects/storage-guard.ts';
import { QuarryError } from '../lib/errors.ts';
import type { Resource } from '../ports/resource-store.ts';
import { normalizeInputSchema, normalizeStage } from '../retriever/normalize.ts';
import type { FieldError } from '../resources/field-error.ts';
import type {
  Bucket,
  Collection,
  EnrichmentField,
  QuarryKind,
  QuarryNamespace,
  Retriever,
  Taxonomy,
} from '../resources/generated/types.ts';
import type { ValidateOptions } from '../resources/validate.ts';
import { displayName } from './identifiers.ts';
import { as, camel, defined, idOf, isObj, KINDS, lifecycle, renameKeys, snake, type ApiFieldError, type ApiKind, type BodyReader, type KindInfo, type Scope } from './common.ts';

export interface FieldContext {
  r: BodyReader;
  scope: Scope;
  /** The whole body (some fields read a sibling, e.g. schedule.trigger_type). */
  body: Record<string, unknown>;
}

/** Translates one API field into spec fields; an undefined value removes the spec field (PATCH with null). */
type FieldFn = (v: unknown, ctx: FieldContext) => Promise<Record<string, unknown>> | Record<string, unknown>;

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

const copy = (specKey: string): FieldFn => (v) => ({ [specKey]: v ?? undefined });
const camelCopy = (specKey: string): FieldFn => (v) => ({ [specKey]: v === null || v === undefined ? undefined : renameKeys(v, camel) });
const snakeOut = (v: unknown, skip: ReadonlySet<string> = new Set()): unknown => (v === undefined ? undefined : renameKeys(v, snake, skip));

/** Resolves a reference (name or id) of `kind` in the scope to its name; unknown ones are field errors. */
async function ref(kind: ApiKind, v: unknown, field: string, ctx: FieldContext): Promise<string | undefined> {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') return ctx.r.fail(field, `must be the name or id of a ${KINDS[kind].word}`);
  const found = await ctx.scope.resolve(kind, v);
  if (!found) {
    const ns = ctx.scope.ns ? displayName(ctx.scope.ns) : '';
    return ctx.r.fail(field, `no ${KINDS[kind].word} '${v}' in namespace '${ns}': create it first or fix the name or id`);
  }
  return found.metadata.name;
}

async function refs(kind: ApiKind, v: unknown, field: string, ctx: FieldContext): Promise<string[] | undefined> {
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
async function namesOf(kind: QuarryKind, names: readonly string[] | undefined, scope: Scope): Promise<string[]> {
  return Promise.all((names ?? []).map((n) => scope.nameOf(kind, n)));
}

/** The documented `{field, type, ...}` list of names (response side): names → documented ids. */
async function idsOf(kind: QuarryKind, names: readonly string[] | undefined, scope: Scope): Promise<string[]> {
  return Promise.all((names ?? []).map((n) => scope.idByName(kind, n)));
}

/** The SDK's extractor models require an id: `<name>_<version>`, the extractor's identity in a namespace. */
export const extractorId = (name: string, version: string | undefined): string => `${name}_${version ?? 'v1'}`;

/**
 * Schema properties as the SDK's BucketSchemaField requires them: every property has a `type`. A passthrough field
 * copies a value whose type the collection does not declare; it is shown as `string`, the common case (metadata).
 */
function withTypes(props: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, isObj(v) && typeof v.type !== 'string' ? { type: 'string', ...v } : v]));
}

const UNSUPPORTED_INFRA = 'dedicated infrastructure is not configurable per namespace in Quarry (the cluster is the infrastructure): remove it; vector collection settings go in vector_store';

// ---------------------------------------------------------------------------------------------------------------
// Namespace (reference §1.1)

function extractorIn(v: unknown, at: string, r: BodyReader): Record<string, unknown> | undefined {
  const o = r.obj(v, at);
  if (!o) return undefined;
  r.only(o, ['feature_extractor_name', 'name', 'version', 'params'], at);
  const name = o.feature_extractor_name ?? o.name;
  if (name === undefined) r.fail(`${at}.feature_extractor_name`, 'required field is missing: name the extractor, e.g. text_extractor');
  return defined({ name, version: o.version, params: o.params });
}

const namespaceApi: KindApi = {
  info: KINDS.QuarryNamespace,
  scoped: false,
  required: ['feature_extractors'],
  patchable: ['description', 'payload_indexes', 'auto_create_indexes', 'feature_extractors', 'vector_store', 'deletion_policy', 'infrastructure', 'namespace_type'],
  aliases: {},
  unsupported: { infrastructure: UNSUPPORTED_INFRA },
  specToApi: { description: 'description', featureExtractors: 'feature_extractors', payloadIndexes: 'payload_indexes', autoCreateIndexes: 'auto_create_indexes', vectorStore: 'vector_store', deletionPolicy: 'deletion_policy' },
  fields: {
    description: copy('description'),
    // The SDK's CreateNamespaceRequest always sends mode (default managed); standalone (bring-your-own vectors
    // without extractors) is not a Quarry feature.
    mode: (v, { r }) => {
      if (v !== undefined && v !== null && v !== 'managed') r.fail('mode', `'${String(v)}' is not supported: Quarry namespaces are managed (their feature extractors make the vectors); remove mode or send managed`);
      return {};
    },
    namespace_type: (v, { r }) => {
      if (v !== undefined && v !== null && v !== 'standard') r.fail('namespace_type', `'${String(v)}' is not supported: Quarry namespaces are 'standard' (marketplace namespaces do not exist here)`);
      return {};
    },
    feature_extractors: (v, { r }) => {
      const list = r.arr(v, 'feature_extractors');
      if (!list) return { featureExtractors: undefined };
      return { featureExtractors: list.map((x, i) => extractorIn(x, `feature_extractors[${i}]`, r)).filter(Boolean) };
    },
    payload_indexes: (v, { r }) => {
      const list = r.arr(v, 'payload_indexes');
      if (!list) return { payloadIndexes: undefined };
      return {
        payloadIndexes: list.map((x, i) => {
          const at = `payload_indexes[${i}]`;
          const o = r.obj(x, at) ?? {};
          r.only(o, ['field_name', 'field', 'type', 'is_protected'], at, { field_schema: 'field_schema is not supported: the index type alone configures the index; remove it' });
          return defined({ field: o.field_name ?? o.field, type: o.type, isProtected: o.is_protected });
        }),
      };
    },
    auto_create_indexes: copy('autoCreateIndexes'),
    vector_store: camelCopy('vectorStore'),
    deletion_policy: copy('deletionPolicy'),
    infrastructure: () => ({}),
  },
  async respond(r, scope) {
    const ns = as<QuarryNamespace>(r);
    const spec = ns.spec ?? ({} as QuarryNamespace['spec']);
    const st = ns.status ?? {};
    const name = ns.metadata.name;
    const mine = (kind: QuarryKind) => scope.all(kind).then((l) => l.filter((x) => (x.spec as { namespaceRef?: string })?.namespaceRef === name));
    const buckets = (await mine('Bucket')).map((x) => as<Bucket>(x));
    const collections = await mine('Collection');
    const vIdx = st.vectorIndexes ?? [];
    return {
      namespace_id: idOf(ns),
      namespace_name: displayName(ns),
      namespace_type: 'standard',
      description: spec.description ?? null,
      feature_extractors: (spec.featureExtractors ?? []).map((f) => defined({ feature_extractor_name: f.name, version: f.version ?? 'v1', params: f.params, feature_extractor_id: extractorId(f.name, f.version) })),
      payload_indexes: (spec.payloadIndexes ?? []).map((p) => ({ field_name: p.field, type: p.type, is_protected: p.isProtected ?? false })),
      auto_create_indexes: spec.autoCreateIndexes ?? false,
      infrastructure: null,
      cluster_id: null,
      vector_store: snakeOut(spec.vectorStore) ?? null,
      deletion_policy: spec.deletionPolicy ?? 'Delete',
      vector_collection: st.vectorCollection ?? null,
      document_count: st.documentCount ?? 0,
      bucket_count: st.bucketCount ?? buckets.length,
      collection_count: st.collectionCount ?? collections.length,
      object_count: buckets.reduce((n, b) => n + (b.status?.objectCount ?? 0), 0),
      vector_inference_map: Object.fromEntries(vIdx.filter((v) => v.name).map((v) => [v.name!, v.featureUri ?? null])),
      vector_indexes: vIdx.map((v) => defined({ name: v.name, feature_uri: v.featureUri, dimensions: v.dimensions, distance: v.distance })),
      ...lifecycle(ns),
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Bucket (reference §1.2)

const bucketApi: KindApi = {
  info: KINDS.Bucket,
  scoped: true,
  required: ['bucket_schema'],
  patchable: ['description', 'metadata', 'bucket_schema', 'unique_key', 'storage', 'deletion_policy'],
  aliases: { schema: 'bucket_schema' },
  unsupported: {},
  specToApi: { description: 'description', schema: 'bucket_schema', uniqueKey: 'unique_key', storage: 'storage', metadata: 'metadata', deletionPolicy: 'deletion_policy', namespaceRef: 'X-Namespace' },
  fields: {
    description: copy('description'),
    // BucketSchema allows extra keys next to properties; only properties mean anything to a bucket.
    bucket_schema: (v, { r }) => {
      const o = r.obj(v, 'bucket_schema');
      if (!o) return { schema: undefined };
      return { schema: { properties: o.properties } };
    },
    unique_key: (v, { r }) => {
      const o = r.obj(v, 'unique_key');
      if (!o) return { uniqueKey: undefined };
      r.only(o, ['fields', 'default_policy'], 'unique_key');
      return { uniqueKey: defined({ fields: o.fields, defaultPolicy: o.default_policy }) };
    },
    metadata: copy('metadata'),
    storage: async (v, ctx) => {
      const out = camelCopy('storage')(v, ctx) as { storage?: Record<string, unknown> };
      await refuseForeignStorage(out.storage, ctx.scope); // another tenant's storage: 403 (objects/storage-guard.ts)
      return out;
    },
    deletion_policy: copy('deletionPolicy'),
  },
  async respond(r, scope) {
    const b = as<Bucket>(r);
    const spec = b.spec ?? ({} as Bucket['spec']);
    const st = b.status ?? {};
    return {
      bucket_id: idOf(b),
      bucket_name: displayName(b),
      namespace_id: scope.ns ? idOf(scope.ns) : null,
      namespace_name: scope.ns ? displayName(scope.ns) : spec.namespaceRef,
      description: spec.description ?? null,
      bucket_schema: { properties: spec.schema?.properties ?? {} },
      unique_key: spec.uniqueKey ? defined({ fields: spec.uniqueKey.fields, default_policy: spec.uniqueKey.defaultPolicy ?? 'insert' }) : null,
      metadata: spec.metadata ?? {},
      storage: snakeOut(spec.storage) ?? null,
      storage_location: st.storage ?? null,
      deletion_policy: spec.deletionPolicy ?? 'Delete',
      object_count: st.objectCount ?? 0,
      total_size_bytes: st.totalSizeBytes ?? 0,
      last_upload_at: st.lastUploadAt ?? null,
      is_locked: false,
      ...lifecycle(b),
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Collection (reference §1.5, §1.7)

async function sourceIn(v: unknown, ctx: FieldContext): Promise<Record<string, unknown> | undefined> {
  const { r } = ctx;
  const o = r.obj(v, 'source');
  if (!o) return undefined;
  r.only(o, ['type', 'bucket_ids', 'collection_id', 'collection_ids', 'source_filters', 'inherited_bucket_ids'], 'source', {
    source_namespace_id: 'cross-namespace sources are not supported: create the bucket in this namespace',
  });
  const type = o.type ?? (o.bucket_ids ? 'bucket' : 'collection');
  const sf = o.source_filters;
  const filters = isObj(sf) && isObj(sf.filters) ? sf.filters : (sf ?? undefined);
  if (type === 'bucket') {
    if (o.bucket_ids === undefined || o.bucket_ids === null) r.fail('source.bucket_ids', 'required for a bucket source: list the source buckets by name or id');
    return defined({ bucketRefs: await refs('Bucket', o.bucket_ids, 'source.bucket_ids', ctx), filters });
  }
  if (type === 'collection') {
    const list = o.collection_ids ?? (o.collection_id !== undefined && o.collection_id !== null ? [o.collection_id] : undefined);
    if (list === undefined) r.fail('source.collection_id', 'required for a collection source: name the upstream collection (collection_id or collection_ids)');
    return defined({ collectionRefs: await refs('Collection', list, o.collection_ids ? 'source.collection_ids' : 'source.collection_id', ctx), filters });
  }
  return r.fail('source.type', `'${String(type)}' sources are not supported: use bucket or collection`);
}

function extractorConfigIn(v: unknown, r: BodyReader): Record<string, unknown> | undefined {
  const o = r.obj(v, 'feature_extractor');
  if (!o) return undefined;
  r.only(o, ['feature_extractor_name', 'name', 'version', 'params', 'parameters', 'input_mappings', 'field_passthrough', 'include_all_source_fields'], 'feature_extractor');
  const name = o.feature_extractor_name ?? o.name;
  if (name === undefined) r.fail('feature_extractor.feature_extractor_name', 'required field is missing: name the extractor, e.g. text_extractor');
  const passthrough = r.arr(o.field_passthrough, 'feature_extractor.field_passthrough');
  return defined({
    name,
    version: o.version,
    params: o.params,
    parameters: o.parameters,
    inputMappings: o.input_mappings,
    fieldPassthrough: passthrough?.map((p, i) => {
      const at = `feature_extractor.field_passthrough[${i}]`;
      const po = r.obj(p, at) ?? {};
      r.only(po, ['source_path', 'target_path', 'default', 'required'], at);
      return defined({ sourcePath: po.source_path, targetPath: po.target_path, default: po.default, required: po.required });
    }),
    includeAllSourceFields: o.include_all_source_fields,
  });
}

function scheduleIn(v: unknown, r: BodyReader): Record<string, unknown> | undefined {
  const o = r.obj(v, 'schedule');
  if (!o) return undefined;
  r.only(o, ['trigger_type', 'schedule_config', 'description'], 'schedule');
  const c = r.obj(o.schedule_config, 'schedule.schedule_config', true) ?? {};
  if (o.trigger_type === 'cron') {
    r.only(c, ['cron_expression', 'timezone'], 'schedule.schedule_config');
    return defined({ cron: c.cron_expression, timeZone: c.timezone });
  }
  if (o.trigger_type === 'interval') {
    r.only(c, ['interval_seconds', 'start_immediately'], 'schedule.schedule_config');
    return defined({ intervalSeconds: c.interval_seconds, startImmediately: c.start_immediately });
  }
  return r.fail('schedule.trigger_type', 'use cron (schedule_config {cron_expression, timezone}) or interval (schedule_config {interval_seconds, start_immediately})');
}

async function taxonomyAppsIn(v: unknown, ctx: FieldContext): Promise<Record<string, unknown>[] | undefined> {
  const list = ctx.r.arr(v, 'taxonomy_applications');
  if (!list) return undefined;
  const out: Record<string, unknown>[] = [];
  for (const [i, x] of list.entries()) {
    const at = `taxonomy_applications[${i}]`;
    const o = ctx.r.obj(x, at) ?? {};
    ctx.r.only(o, ['taxonomy_id', 'execution_mode', 'target_collection_id', 'scroll_filters', 'execution_phase', 'priority', 'hierarchical_enrichment_style'], at);
    if (o.taxonomy_id === undefined) ctx.r.fail(`${at}.taxonomy_id`, 'required field is missing: name the taxonomy (name or id)');
    out.push(
      defined({
        taxonomyRef: await ref('Taxonomy', o.taxonomy_id, `${at}.taxonomy_id`, ctx),
        executionMode: o.execution_mode,
        targetCollectionRef: await ref('Collection', o.target_collection_id, `${at}.target_collection_id`, ctx),
        scrollFilters: o.scroll_filters,
        priority: o.priority,
        hierarchicalEnrichmentStyle: o.hierarchical_enrichment_style,
      }),
    );
  }
  return out;
}

const NOT_ENRICHMENT = (what: string) => `${what} are not supported by Quarry collections: remove them (taxonomy_applications are)`;

const collectionApi: KindApi = {
  info: KINDS.Collection,
  scoped: true,
  required: ['source', 'feature_extractor'],
  patchable: ['description', 'enabled', 'metadata', 'schedule', 'taxonomy_applications', 'deletion_policy', 'source', 'feature_extractor', 'input_schema'],
  aliases: { feature_extractors: 'feature_extractor' },
  unsupported: {
    cluster_applications: NOT_ENRICHMENT('cluster_applications'),
    alert_applications: NOT_ENRICHMENT('alert_applications'),
    retriever_enrichments: NOT_ENRICHMENT('retriever_enrichments'),
  },
  specToApi: {
    description: 'description', source: 'source', featureExtractor: 'feature_extractor', enabled: 'enabled', schedule: 'schedule',
    taxonomyApplications: 'taxonomy_applications', metadata: 'metadata', deletionPolicy: 'deletion_policy', namespaceRef: 'X-Namespace',
  },
  fields: {
    description: copy('description'),
    source: async (v, ctx) => ({ source: await sourceIn(v, ctx) }),
    // Quarry derives the input schema from the source (bucket schemas or upstream output schemas); the documented
    // field is accepted for compatibility and answered with the derived one.
    input_schema: () => ({}),
    feature_extractor: (v, { r }) => {
      let x = v;
      // The extractor quickstarts post a one-element array (reference §11 #1).
      if (Array.isArray(v)) {
        if (v.length !== 1) r.fail('feature_extractors', 'a collection runs exactly one feature extractor: send feature_extractor (an object) or a one-element array');
        x = v[0];
      }
      return { featureExtractor: extractorConfigIn(x, r) };
    },
    enabled: copy('enabled'),
    metadata: copy('metadata'),
    schedule: (v, { r }) => ({ schedule: scheduleIn(v, r) }),
    taxonomy_applications: async (v, ctx) => ({ taxonomyApplications: await taxonomyAppsIn(v, ctx) }),
    deletion_policy: copy('deletionPolicy'),
  },
  async context(_spec, scope) {
    const fx = scope.ns?.spec.featureExtractors ?? [];
    return { namespaceExtractors: fx.map((f) => `${f.name}@${f.version ?? 'v1'}`) };
  },
  async respond(r, scope) {
    const c = as<Collection>(r);
    const spec = c.spec ?? ({} as Collection['spec']);
    const st = c.status ?? {};
    const fx = spec.featureExtractor ?? ({} as Collection['spec']['featureExtractor']);
    const src = spec.source ?? {};
    const name = c.metadata.name;
    const buckets = (await scope.list('Bucket')).map((x) => as<Bucket>(x));
    const upstream = (await scope.list('Collection')).map((x) => as<Collection>(x));
    const retrievers = (await scope.list('Retriever')).map((x) => as<Retriever>(x));
    // input_schema: what the extractor reads, i.e. the source buckets' schemas or the upstream output schemas.
    const inputProps: Record<string, unknown> = {};
    for (const b of buckets) if (src.bucketRefs?.includes(b.metadata.name)) Object.assign(inputProps, b.spec?.schema?.properties ?? {});
    for (const u of upstream) if (src.collectionRefs?.includes(u.metadata.name)) Object.assign(inputProps, withTypes(u.status?.outputSchema ?? {}));
    const sched = spec.schedule;
    return {
      collection_id: idOf(c),
      collection_name: displayName(c),
      namespace_id: scope.ns ? idOf(scope.ns) : null,
      namespace_name: scope.ns ? displayName(scope.ns) : spec.namespaceRef,
      description: spec.description ?? null,
      source: src.collectionRefs
        ? defined({ type: 'collection', collection_ids: await idsOf('Collection', src.collectionRefs, scope), collection_names: await namesOf('Collection', src.collectionRefs, scope), source_filters: src.filters ? { filters: src.filters } : undefined })
        : defined({ type: 'bucket', bucket_ids: await idsOf('Bucket', src.bucketRefs, scope), bucket_names: await namesOf('Bucket', src.bucketRefs, scope), source_filters: src.filters ? { filters: src.filters } : undefined }),
      input_schema: { properties: inputProps },
      feature_extractor: defined({
        feature_extractor_name: fx.name,
        version: fx.version ?? 'v1',
        feature_extractor_id: extractorId(fx.name, fx.version),
        params: fx.params,
        parameters: fx.parameters,
        input_mappings: fx.inputMappings,
        field_passthrough: fx.fieldPassthrough?.map((p) => defined({ source_path: p.sourcePath, target_path: p.targetPath, default: p.default, required: p.required })),
        include_all_source_fields: fx.includeAllSourceFields ?? false,
      }),
      enabled: spec.enabled ?? true,
      metadata: spec.metadata ?? {},
      schedule: sched
        ? sched.cron
          ? { trigger_type: 'cron', schedule_config: defined({ cron_expression: sched.cron, timezone: sched.timeZone ?? 'UTC' }) }
          : { trigger_type: 'interval', schedule_config: defined({ interval_seconds: sched.intervalSeconds, start_immediately: sched.startImmediately ?? false }) }
        : null,
      taxonomy_applications: await Promise.all(
        (spec.taxonomyApplications ?? []).map(async (t) =>
          defined({
            taxonomy_id: await scope.idByName('Taxonomy', t.taxonomyRef),
            execution_mode: t.executionMode ?? 'materialize',
            target_collection_id: t.targetCollectionRef ? await scope.idByName('Collection', t.targetCollectionRef) : undefined,
            scroll_filters: t.scrollFilters,
            priority: t.priority ?? 0,
            hierarchical_enrichment_style: t.hierarchicalEnrichmentStyle ?? 'combined',
          }),
        ),
      ),
      output_schema: { properties: withTypes(st.outputSchema ?? {}) },
      // Until the operator has written status (a collection created a moment ago), the indexes its extractor declares.
      vector_indexes: (st.vectorIndexes?.length ? st.vectorIndexes : declaredVectorIndexes(fx)).map((v) => vectorIndexOut(v)),
      document_count: st.documentCount ?? 0,
      lifecycle_state: 'active',
      last_batch: st.lastBatch ? snakeOut(st.lastBatch) : null,
      taxonomy_count: spec.taxonomyApplications?.length ?? 0,
      retriever_count: retrievers.filter((x) => x.spec?.collectionRefs?.includes(name)).length,
      deletion_policy: spec.deletionPolicy ?? 'Delete',
      schema_version: 1,
      ...lifecycle(c),
    };
  },
};

/** The vector indexes a collection's extractor writes, from the registry (as the operator's plan puts them in status). */
function declaredVectorIndexes(fx: Collection['spec']['featureExtractor']): NonNullable<NonNullable<Collection['status']>['vectorIndexes']> {
  const def = fx?.name ? getExtractor(fx.name, fx.version ?? 'v1') : undefined;
  return def ? def.vectors(fx.params ?? {}).map((v) => ({ name: v.name, featureUri: v.featureUri, dimensions: v.dimensions, distance: v.distance, type: 'dense', purpose: v.purpose })) : [];
}

/** status.vectorIndexes[] → VectorIndexDefinition (reference §1.5): the URI's output segment is the short name. */
function vectorIndexOut(v: NonNullable<NonNullable<Collection['status']>['vectorIndexes']>[number]): Record<string, unknown> {
  let short = v.name;
  try {
    if (v.featureUri) short = parseFeatureUri(v.featureUri).output ?? v.name;
  } catch {
    /* a URI the registry does not parse: keep the storage name */
  }
  return defined({
    feature_uri: v.featureUri,
    name: short,
    description: `${v.purpose ?? 'vector'} index ${v.name ?? ''}`.trim(),
    type: 'single',
    index: defined({ name: v.name, dimensions: v.dimensions, type: v.type ?? 'dense', distance: v.distance ?? 'cosine', purpose: v.purpose }),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Retriever (reference §1.10, §3.1–§3.3)

/** normalize.ts answers 400s (execute requests); in a resource body the same problems are 422s. */
function asFieldErrors<T>(fn: () => T, r: BodyReader): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof QuarryError && e.status === 400) {
      r.fail(String(e.details?.field ?? 'body'), e.message);
      return undefined;
    }
    throw e;
  }
}

function stagesIn(v: unknown, r: BodyReader): Record<string, unknown>[] | undefined {
  const list = r.arr(v, 'stages');
  if (!list) return undefined;
  return list.map((raw, i) => {
    const s = asFieldErrors(() => normalizeStage(raw, i), r);
    if (!s) return {};
    const o = raw as Record<string, unknown>;
    return defined({
      stageName: s.stage_name,
      stageType: s.stage_type,
      description: o.description,
      batchSize: o.batch_size ?? o.batchSize,
      config: defined({ stageId: s.stage_id, parameters: s.parameters, preFilters: s.pre_filters, postFilters: s.post_filters }),
    });
  });
}

/** display_config inputs carry field_schema, which repeats spec.inputSchema; the CRD keeps only the reference. */
function displayConfigIn(v: unknown, r: BodyReader): unknown {
  const o = r.obj(v, 'display_config');
  if (!o) return undefined;
  const inputs = Array.isArray(o.inputs) ? o.inputs.map((i) => (isObj(i) ? Object.fromEntries(Object.entries(i).filter(([k]) => k !== 'field_schema')) : i)) : o.inputs;
  // field_config and field_mappings are keyed by field paths, which keep their spelling.
  const { field_config: fc, field_mappings: fm, ...rest } = o;
  const out = renameKeys({ ...rest, inputs }, camel, new Set(['theme'])) as Record<string, unknown>;
  if (fc !== undefined && fc !== null) out.fieldConfig = isObj(fc) ? Object.fromEntries(Object.entries(fc).map(([k, x]) => [k, renameKeys(x, camel)])) : fc;
  if (fm !== undefined && fm !== null) out.fieldMappings = fm;
  return out;
}

/**
 * spec.displayConfig → display_config: snake_case, field paths (field_config, field_mappings keys) as written, and
 * each input's field_schema from spec.inputSchema again (the SDK's InputRenderingConfig carries it).
 */
function displayConfigOut(d: Record<string, unknown> | undefined, inputSchema: Record<string, unknown> | undefined): unknown {
  if (!d) return null;
  const { fieldConfig, fieldMappings, ...rest } = d;
  const out = snakeOut(rest, new Set(['theme'])) as Record<string, unknown>;
  if (Array.isArray(out.inputs)) out.inputs = out.inputs.map((i) => (isObj(i) && typeof i.field_name === 'string' && inputSchema?.[i.field_name] ? { ...i, field_schema: inputSchema[i.field_name] } : i));
  if (isObj(fieldConfig)) out.field_config = Object.fromEntries(Object.entries(fieldConfig).map(([k, x]) => [k, snakeOut(x)]));
  if (fieldMappings) out.field_mappings = fieldMappings;
  return out;
}

const VISIBILITY = 'visibility is not set here: publish a search page with POST /v1/retrievers/{id}/publish (the retriever itself stays private to its namespace); remove it or use private';
const MARKETPLACE = 'marketplace listings are not supported by Quarry: publish a search page with POST /v1/retrievers/{id}/publish instead';

const retrieverApi: KindApi = {
  info: KINDS.Retriever,
  scoped: true,
  required: ['stages'],
  // Quarry Retrievers stay editable (every spec change is a new status.revision that invalidates caches), so the
  // pipeline fields the hosted API freezes are patchable here.
  patchable: ['description', 'visibility', 'tags', 'display_config', 'budget_limits', 'cache_config', 'collection_identifiers', 'stages', 'input_schema', 'marketplace_listing_id', 'requires_subscription'],
  aliases: { collection_ids: 'collection_identifiers' },
  unsupported: { marketplace_listing_id: MARKETPLACE, requires_subscription: MARKETPLACE },
  specToApi: {
    description: 'description', collectionRefs: 'collection_identifiers', inputSchema: 'input_schema', stages: 'stages', cacheConfig: 'cache_config',
    budgetLimits: 'budget_limits', tags: 'tags', displayConfig: 'display_config', namespaceRef: 'X-Namespace',
  },
  fields: {
    description: copy('description'),
    visibility: (v, { r }) => {
      if (v !== undefined && v !== null && v !== 'private') r.fail('visibility', VISIBILITY);
      return {};
    },
    collection_identifiers: async (v, ctx) => ({ collectionRefs: await refs('Collection', v, 'collection_identifiers', ctx) }),
    stages: (v, { r }) => ({ stages: stagesIn(v, r) }),
    input_schema: (v, { r }) => {
      if (v === null || v === undefined) return { inputSchema: undefined };
      const flat = asFieldErrors(() => normalizeInputSchema(v), r);
      return { inputSchema: flat };
    },
    budget_limits: camelCopy('budgetLimits'),
    cache_config: camelCopy('cacheConfig'),
    tags: copy('tags'),
    display_config: (v, { r }) => ({ displayConfig: displayConfigIn(v, r) }),
    marketplace_listing_id: () => ({}),
    requires_subscription: () => ({}),
  },
  async context(spec, scope) {
    // Feature URIs are checked against what the referenced collections expose, once the operator published it
    // for all of them (an unreconciled collection would make every URI look unknown).
    const names = (spec.collectionRefs as string[] | undefined) ?? [];
    const cols = (await scope.list('Collection')).map((x) => as<Collection>(x));
    const used = names.map((n) => cols.find((c) => c.metadata.name === n));
    if (names.length === 0 || used.some((c) => !c?.status?.vectorIndexes)) return {};
    return { featureUris: used.flatMap((c) => c!.status!.vectorIndexes!.map((v) => v.featureUri).filter((u): u is string => !!u)) };
  },
  async respond(r, scope) {
    const ret = as<Retriever>(r);
    const spec = ret.spec ?? ({} as Retriever['spec']);
    const st = ret.status ?? {};
    const lc = lifecycle(ret);
    const stalled = lc.status === 'FAILED';
    return {
      retriever_id: idOf(ret),
      retriever_name: displayName(ret),
      namespace_id: scope.ns ? idOf(scope.ns) : null,
      namespace_name: scope.ns ? displayName(scope.ns) : spec.namespaceRef,
      description: spec.description ?? null,
      collection_ids: await idsOf('Collection', spec.collectionRefs, scope),
      collection_identifiers: await namesOf('Collection', spec.collectionRefs, scope),
      stages: (spec.stages ?? []).map((s) =>
        defined({
          stage_name: s.stageName,
          stage_type: s.stageType,
          description: s.description,
          batch_size: s.batchSize,
          // Top level too: the SDK's StageConfigOutput requires `parameters` beside `config`.
          parameters: s.config.parameters ?? {},
          config: defined({ stage_id: s.config.stageId, parameters: s.config.parameters ?? {}, pre_filters: s.config.preFilters, post_filters: s.config.postFilters }),
        }),
      ),
      input_schema: spec.inputSchema ?? {},
      // The SDK's RetrieverConfig requires the key: the first feature_search stage's fusion, else null.
      fusion: ((spec.stages ?? []).map((s) => (s.config.parameters as { fusion?: unknown } | undefined)?.fusion).find((f) => typeof f === 'string') as string | undefined) ?? null,
      budget_limits: snakeOut(spec.budgetLimits) ?? null,
      cache_config: snakeOut(spec.cacheConfig) ?? null,
      feature_dependencies: (st.featureDependencies ?? []).map((u) => {
        try {
          return { ...parseFeatureUri(u), feature_uri: u };
        } catch {
          return { feature_uri: u };
        }
      }),
      tags: spec.tags ?? [],
      display_config: displayConfigOut(spec.displayConfig as Record<string, unknown> | undefined, spec.inputSchema as Record<string, unknown> | undefined),
      visibility: spec.publish ? 'public' : 'private',
      is_published: !!spec.publish,
      public_name: spec.publish?.slug ?? null,
      version: st.revision ?? 1,
      last_executed_at: st.lastExecutedAt ?? null,
      ...lc,
      // Retrievers have their own status enum (reference §1.11).
      status: stalled ? 'error' : lc.ready ? 'active' : 'draft',
      task_status: lc.status,
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Taxonomy (reference §1.8)

async function mappingsIn(v: unknown, at: string, r: BodyReader): Promise<Record<string, unknown>[] | undefined> {
  const list = r.arr(v, at);
  if (!list) return undefined;
  return list.map((x, i) => {
    const o = r.obj(x, `${at}[${i}]`) ?? {};
    r.only(o, ['input_key', 'source_type', 'path', 'override'], `${at}[${i}]`);
    return defined({ inputKey: o.input_key, sourceType: o.source_type, path: o.path, override: o.override });
  });
}

function enrichmentIn(v: unknown, at: string, r: BodyReader): Record<string, unknown>[] | undefined {
  const list = r.arr(v, at);
  if (!list) return undefined;
  return list.map((x, i) => {
    const o = r.obj(x, `${at}[${i}]`) ?? {};
    r.only(o, ['field_path', 'target_field', 'merge_mode'], `${at}[${i}]`);
    return defined({ fieldPath: o.field_path, targetField: o.target_field, mergeMode: o.merge_mode });
  });
}

const NOT_INFERRED = 'inferred hierarchies are not supported: list the nodes in hierarchical_nodes';

async function taxonomyConfigIn(v: unknown, ctx: FieldContext): Promise<Record<string, unknown>> {
  const { r } = ctx;
  const o = r.obj(v, 'config');
  if (!o) return {};
  r.only(o, ['taxonomy_type', 'retriever_id', 'input_mappings', 'source_collection', 'hierarchical_nodes', 'top_k', 'min_score'], 'config', {
    inference_strategy: NOT_INFERRED, inference_collections: NOT_INFERRED, llm_provider: NOT_INFERRED, llm_model: NOT_INFERRED,
    llm_prompt_template: NOT_INFERRED, llm_sample_size: NOT_INFERRED, cluster_ids: NOT_INFERRED, cluster_overlap_threshold: NOT_INFERRED,
    step_analytics: 'step analytics are not supported: remove step_analytics',
  });
  const sc = r.obj(o.source_collection, 'config.source_collection');
  if (sc) r.only(sc, ['collection_id', 'enrichment_fields'], 'config.source_collection');
  const nodesRaw = r.arr(o.hierarchical_nodes, 'config.hierarchical_nodes');
  const nodes = nodesRaw
    ? await Promise.all(
        nodesRaw.map(async (x, i) => {
          const at = `config.hierarchical_nodes[${i}]`;
          const n = r.obj(x, at) ?? {};
          r.only(n, ['collection_id', 'parent_collection_id', 'label', 'summary', 'keywords', 'retriever_id', 'enrichment_fields', 'input_mappings'], at);
          return defined({
            collectionRef: await ref('Collection', n.collection_id, `${at}.collection_id`, ctx),
            parentCollectionRef: await ref('Collection', n.parent_collection_id, `${at}.parent_collection_id`, ctx),
            label: n.label,
            summary: n.summary,
            keywords: n.keywords,
            retrieverRef: await ref('Retriever', n.retriever_id, `${at}.retriever_id`, ctx),
            inputMappings: await mappingsIn(n.input_mappings, `${at}.input_mappings`, r),
            enrichmentFields: enrichmentIn(n.enrichment_fields, `${at}.enrichment_fields`, r),
          });
        }),
      )
    : undefined;
  return {
    type: o.taxonomy_type ?? undefined,
    retrieverRef: await ref('Retriever', o.retriever_id, 'config.retriever_id', ctx),
    inputMappings: await mappingsIn(o.input_mappings, 'config.input_mappings', r),
    sourceCollection: sc
      ? defined({ collectionRef: await ref('Collection', sc.collection_id, 'config.source_collection.collection_id', ctx), enrichmentFields: enrichmentIn(sc.enrichment_fields, 'config.source_collection.enrichment_fields', r) })
      : undefined,
    nodes,
    topK: o.top_k ?? undefined,
    minScore: o.min_score ?? undefined,
  };
}

const mappingsOut = (l: Taxonomy['spec']['inputMappings']) =>
  l?.map((m) => defined({ input_key: m.inputKey, source_type: m.sourceType ?? 'payload', path: m.path, override: m.override }));
const enrichmentOut = (l: EnrichmentField[] | undefined) =>
  l?.map((f) => defined({ field_path: f.fieldPath, target_field: f.targetField, merge_mode: f.mergeMode ?? 'replace' }));

const taxonomyApi: KindApi = {
  info: KINDS.Taxonomy,
  scoped: true,
  required: ['config'],
  patchable: ['description', 'config'],
  aliases: {},
  unsupported: {},
  specToApi: {
    description: 'description', type: 'config.taxonomy_type', retrieverRef: 'config.retriever_id', inputMappings: 'config.input_mappings',
    sourceCollection: 'config.source_collection', nodes: 'config.hierarchical_nodes', topK: 'config.top_k', minScore: 'config.min_score', namespaceRef: 'X-Namespace',
  },
  fields: {
    description: copy('description'),
    // config replaces the whole matching configuration (PATCH too): its parts only make sense together.
    config: async (v, ctx) => {
      const c = await taxonomyConfigIn(v, ctx);
      return { type: c.type, retrieverRef: c.retrieverRef, inputMappings: c.inputMappings, sourceCollection: c.sourceCollection, nodes: c.nodes, topK: c.topK, minScore: c.minScore };
    },
  },
  async respond(r, scope) {
    const t = as<Taxonomy>(r);
    const spec = t.spec ?? ({} as Taxonomy['spec']);
    const st = t.status ?? {};
    const idOrNull = async (kind: QuarryKind, n: string | undefined) => (n ? scope.idByName(kind, n) : undefined);
    return {
      taxonomy_id: idOf(t),
      taxonomy_name: displayName(t),
      namespace_id: scope.ns ? idOf(scope.ns) : null,
      namespace_name: scope.ns ? displayName(scope.ns) : spec.namespaceRef,
      description: spec.description ?? null,
      config: defined({
        taxonomy_type: spec.type ?? 'flat',
        retriever_id: await idOrNull('Retriever', spec.retrieverRef),
        input_mappings: mappingsOut(spec.inputMappings),
        source_collection: spec.sourceCollection
          ? defined({ collection_id: await scope.idByName('Collection', spec.sourceCollection.collectionRef), enrichment_fields: enrichmentOut(spec.sourceCollection.enrichmentFields) })
          : undefined,
        hierarchical_nodes: spec.nodes
          ? await Promise.all(
              spec.nodes.map(async (n) =>
                defined({
                  collection_id: await scope.idByName('Collection', n.collectionRef),
                  parent_collection_id: await idOrNull('Collection', n.parentCollectionRef),
                  label: n.label,
                  summary: n.summary,
                  keywords: n.keywords,
                  retriever_id: await idOrNull('Retriever', n.retrieverRef),
                  input_mappings: mappingsOut(n.inputMappings),
                  enrichment_fields: enrichmentOut(n.enrichmentFields),
                }),
              ),
            )
          : undefined,
        top_k: spec.topK ?? 1,
        min_score: spec.minScore ?? 0,
      }),
      version: st.version ?? 1,
      node_count: st.nodeCount ?? (spec.nodes?.length ?? 1),
      ...lifecycle(t),
    };
  },
};

export const KIND_APIS: Record<ApiKind, KindApi> = {
  QuarryNamespace: namespaceApi,
  Bucket: bucketApi,
  Collection: collectionApi,
  Retriever: retrieverApi,
  Taxonomy: taxonomyApi,
};

const NESTED_RENAMES: Record<string, string> = {
  bucketRefs: 'bucket_ids',
  collectionRefs: 'collection_ids',
  collectionRef: 'collection_id',
  parentCollectionRef: 'parent_collection_id',
  retrieverRef: 'retriever_id',
  taxonomyRef: 'taxonomy_id',
  targetCollectionRef: 'target_collection_id',
  filters: 'source_filters',
  name: 'feature_extractor_name',
  field: 'field_name',
};

/**
 * A validator error on `spec.x.y[0].z` named in API terms (`feature_extractor.field_passthrough[0].default`), the
 * spec path kept in `spec_field` so nothing is lost in translation.
 */
export function toApiErrors(api: KindApi, errors: FieldError[]): ApiFieldError[] {
  return errors.map((e) => {
    const m = /^spec\.([A-Za-z]+)(.*)$/.exec(e.field);
    if (!m) return e;
    const top = api.specToApi[m[1]!] ?? snake(m[1]!);
    const rest = m[2]!.replace(/\.([A-Za-z]+)/g, (_x, k: string) => `.${NESTED_RENAMES[k] ?? snake(k)}`);
    return { field: top + rest, message: e.message, spec_field: e.field };
  });
}
