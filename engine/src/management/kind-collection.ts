// Management API Collection kind (reference §1.5, §1.7): source, extractor, schedule and taxonomy applications in, status-derived vector indexes out.
import { parseFeatureUri } from '../extractors/feature-uri.ts';
import { getExtractor } from '../extractors/registry.ts';
import type { Bucket, Collection, Retriever } from '../resources/generated/types.ts';
import { displayName } from './identifiers.ts';
import { as, defined, idOf, isObj, KINDS, lifecycle, type BodyReader } from './common.ts';
import { extractorId, copy, snakeOut, ref, refs, namesOf, idsOf, withTypes } from './kind-fields.ts';
import type { FieldContext, KindApi } from './kind-fields.ts';

// ---------------------------------------------------------------------------------------------------------------
// Collection (reference §1.5, §1.7)

export async function sourceIn(v: unknown, ctx: FieldContext): Promise<Record<string, unknown> | undefined> {
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

export function extractorConfigIn(v: unknown, r: BodyReader): Record<string, unknown> | undefined {
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

export function scheduleIn(v: unknown, r: BodyReader): Record<string, unknown> | undefined {
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

export async function taxonomyAppsIn(v: unknown, ctx: FieldContext): Promise<Record<string, unknown>[] | undefined> {
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

export const NOT_ENRICHMENT = (what: string) => `${what} are not supported by Quarry collections: remove them (taxonomy_applications are)`;

export const collectionApi: KindApi = {
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
export function declaredVectorIndexes(fx: Collection['spec']['featureExtractor']): NonNullable<NonNullable<Collection['status']>['vectorIndexes']> {
  const def = fx?.name ? getExtractor(fx.name, fx.version ?? 'v1') : undefined;
  return def ? def.vectors(fx.params ?? {}).map((v) => ({ name: v.name, featureUri: v.featureUri, dimensions: v.dimensions, distance: v.distance, type: 'dense', purpose: v.purpose })) : [];
}

/** status.vectorIndexes[] → VectorIndexDefinition (reference §1.5): the URI's output segment is the short name. */
export function vectorIndexOut(v: NonNullable<NonNullable<Collection['status']>['vectorIndexes']>[number]): Record<string, unknown> {
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
