// Mixpeek manifest export: custom resources → one Mixpeek manifest (SDK field names; names as they were imported when known).
import { SOURCE_NAME_ANNOTATION, MANIFEST_FORMAT_VERSION, isObj, extrasOut, snake } from './mixpeek-common.ts';
import type { Obj } from './mixpeek-common.ts';

// ---------------------------------------------------------------------------------------------------------------
// Export: custom resources → Mixpeek manifest (SDK field names; names as they were imported when known).

export const sourceName = (r: { metadata: { name: string; annotations?: Record<string, string> } }): string => r.metadata.annotations?.[SOURCE_NAME_ANNOTATION] ?? r.metadata.name;

export function unpick(src: Obj | undefined, keys: Record<string, string>): Obj {
  const out: Obj = {};
  if (!src) return out;
  for (const [to, from] of Object.entries(keys)) if (src[from] !== undefined) out[to] = src[from];
  return out;
}

export interface ExportableResource {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

/** Converts custom resources to one Mixpeek manifest. References become the referenced resources' names. */
export function toMixpeekManifest(resources: readonly ExportableResource[], opts: { name?: string } = {}): Obj {
  const byKindName = new Map(resources.map((r) => [`${r.kind}/${r.metadata.name}`, r]));
  const nameOf = (kind: string, objName: unknown): unknown => {
    if (typeof objName !== 'string') return objName;
    const r = byKindName.get(`${kind}/${objName}`);
    return r ? sourceName(r) : objName;
  };
  const names = (kind: string, list: unknown) => (Array.isArray(list) ? list.map((n) => nameOf(kind, n)) : list);
  const of = (kind: string) => resources.filter((r) => r.kind === kind);
  const ns = (spec: Obj) => nameOf('QuarryNamespace', spec.namespaceRef);

  const manifest: Obj = { version: MANIFEST_FORMAT_VERSION, metadata: { name: opts.name ?? 'exported-manifest' } };
  manifest.namespaces = of('QuarryNamespace').map((r) => {
    const s = r.spec ?? {};
    return {
      name: sourceName(r),
      ...unpick(s, { description: 'description', auto_create_indexes: 'autoCreateIndexes' }),
      feature_extractors: ((s.featureExtractors as Obj[] | undefined) ?? []).map((fx) => unpick(fx, { name: 'name', version: 'version', params: 'params' })),
      ...(Array.isArray(s.payloadIndexes) ? { payload_indexes: (s.payloadIndexes as Obj[]).map((p) => unpick(p, { field_name: 'field', type: 'type', is_protected: 'isProtected' })) } : {}),
      ...extrasOut('QuarryNamespace', s),
    };
  });
  manifest.buckets = of('Bucket').map((r) => {
    const s = r.spec ?? {};
    return {
      name: sourceName(r),
      namespace: ns(s),
      ...unpick(s, { description: 'description' }),
      schema: s.schema,
      ...(isObj(s.uniqueKey) ? { unique_key: unpick(s.uniqueKey, { fields: 'fields', default_policy: 'defaultPolicy' }) } : {}),
      ...unpick(s, { metadata: 'metadata' }),
      ...extrasOut('Bucket', s),
    };
  });
  manifest.collections = of('Collection').map((r) => {
    const s = r.spec ?? {};
    const src = (s.source ?? {}) as Obj;
    const fx = (s.featureExtractor ?? {}) as Obj;
    const source: Obj = src.collectionRefs
      ? { type: 'collection', collection_ids: names('Collection', src.collectionRefs) }
      : { type: 'bucket', bucket_ids: names('Bucket', src.bucketRefs) };
    if (src.filters !== undefined) source.source_filters = { filters: src.filters };
    const out: Obj = {
      name: sourceName(r),
      namespace: ns(s),
      ...unpick(s, { description: 'description' }),
      source,
      feature_extractor: {
        feature_extractor_name: fx.name,
        ...unpick(fx, { version: 'version', params: 'params', parameters: 'parameters', input_mappings: 'inputMappings', include_all_source_fields: 'includeAllSourceFields' }),
        ...(Array.isArray(fx.fieldPassthrough)
          ? { field_passthrough: (fx.fieldPassthrough as Obj[]).map((f) => unpick(f, { source_path: 'sourcePath', target_path: 'targetPath', default: 'default', required: 'required' })) }
          : {}),
      },
      ...unpick(s, { enabled: 'enabled', metadata: 'metadata' }),
      ...extrasOut('Collection', s),
    };
    if (isObj(s.schedule)) {
      const sc = s.schedule;
      out.schedule = sc.cron
        ? { trigger_type: 'cron', schedule_config: unpick(sc, { cron_expression: 'cron', timezone: 'timeZone' }) }
        : { trigger_type: 'interval', schedule_config: unpick(sc, { interval_seconds: 'intervalSeconds', start_immediately: 'startImmediately' }) };
    }
    if (Array.isArray(s.taxonomyApplications)) {
      out.taxonomy_applications = (s.taxonomyApplications as Obj[]).map((t) => ({
        taxonomy_id: nameOf('Taxonomy', t.taxonomyRef),
        ...unpick(t, { execution_mode: 'executionMode', scroll_filters: 'scrollFilters', priority: 'priority', hierarchical_enrichment_style: 'hierarchicalEnrichmentStyle' }),
        ...(t.targetCollectionRef !== undefined ? { target_collection_id: nameOf('Collection', t.targetCollectionRef) } : {}),
      }));
    }
    return out;
  });
  manifest.retrievers = of('Retriever').map((r) => {
    const s = r.spec ?? {};
    const out: Obj = {
      name: sourceName(r),
      namespace: ns(s),
      ...unpick(s, { description: 'description' }),
      collection_identifiers: names('Collection', s.collectionRefs ?? []),
      ...unpick(s, { input_schema: 'inputSchema' }),
      stages: ((s.stages as Obj[] | undefined) ?? []).map((st) => {
        const c = (st.config ?? {}) as Obj;
        return {
          stage_name: st.stageName,
          ...unpick(st, { stage_type: 'stageType', description: 'description', batch_size: 'batchSize' }),
          config: { stage_id: c.stageId, ...unpick(c, { parameters: 'parameters', pre_filters: 'preFilters', post_filters: 'postFilters' }) },
        };
      }),
      ...unpick(s, { tags: 'tags' }),
    };
    if (isObj(s.cacheConfig)) out.cache_config = unpick(s.cacheConfig, { enabled: 'enabled', ttl_seconds: 'ttlSeconds', cache_stage_names: 'cacheStageNames', exclude_fields: 'excludeFields' });
    if (isObj(s.budgetLimits)) out.budget_limits = unpick(s.budgetLimits, { max_credits: 'maxCredits', max_time_ms: 'maxTimeMs' });
    if (isObj(s.displayConfig)) {
      const d = s.displayConfig;
      out.display_config = {
        ...unpick(d, { title: 'title', description: 'description', logo_url: 'logoUrl', template_type: 'templateType', exposed_fields: 'exposedFields', theme: 'theme' }),
        ...(Array.isArray(d.inputs)
          ? { inputs: (d.inputs as Obj[]).map((i) => unpick(i, { field_name: 'fieldName', label: 'label', input_type: 'inputType', placeholder: 'placeholder', helper_text: 'helperText', required: 'required', order: 'order', suggestions: 'suggestions' })) }
          : {}),
        ...(isObj(d.layout) ? { layout: unpick(d.layout, { mode: 'mode', results_layout: 'resultsLayout', columns: 'columns', gap: 'gap', full_width: 'fullWidth', page_size: 'pageSize' }) } : {}),
        ...(isObj(d.fieldConfig)
          ? { field_config: Object.fromEntries(Object.entries(d.fieldConfig).map(([k, v]) => [k, isObj(v) ? { ...unpick(v, { format: 'format' }), ...(isObj(v.formatOptions) ? { format_options: Object.fromEntries(Object.entries(v.formatOptions).map(([o, x]) => [snake(o), x])) } : {}) } : v])) }
          : {}),
        ...(isObj(d.fieldMappings) ? { field_mappings: d.fieldMappings } : {}),
      };
    }
    if (isObj(s.publish)) {
      const p = s.publish;
      const limits = unpick(p, { requests_per_minute: 'rateLimitPerMinute', max_results_per_query: 'maxResultsPerQuery' });
      out.publish = { ...unpick(p, { public_name: 'slug', password_hash: 'passwordHash' }), ...(Object.keys(limits).length ? { rate_limit_config: limits } : {}) };
    }
    return out;
  });
  manifest.taxonomies = of('Taxonomy').map((r) => {
    const s = r.spec ?? {};
    const mappings = (list: unknown) => (Array.isArray(list) ? (list as Obj[]).map((m) => unpick(m, { input_key: 'inputKey', source_type: 'sourceType', path: 'path', override: 'override' })) : undefined);
    const fields = (list: unknown) => (Array.isArray(list) ? (list as Obj[]).map((f) => unpick(f, { field_path: 'fieldPath', target_field: 'targetField', merge_mode: 'mergeMode' })) : undefined);
    const config: Obj = { taxonomy_type: s.type ?? 'flat' };
    if (s.retrieverRef !== undefined) config.retriever_id = nameOf('Retriever', s.retrieverRef);
    if (s.inputMappings !== undefined) config.input_mappings = mappings(s.inputMappings);
    if (isObj(s.sourceCollection)) {
      const sc = s.sourceCollection;
      config.source_collection = { collection_id: nameOf('Collection', sc.collectionRef), ...(sc.enrichmentFields ? { enrichment_fields: fields(sc.enrichmentFields) } : {}) };
    }
    if (Array.isArray(s.nodes)) {
      config.hierarchical_nodes = (s.nodes as Obj[]).map((n) => ({
        collection_id: nameOf('Collection', n.collectionRef),
        ...(n.parentCollectionRef !== undefined ? { parent_collection_id: nameOf('Collection', n.parentCollectionRef) } : {}),
        ...unpick(n, { label: 'label', summary: 'summary', keywords: 'keywords' }),
        ...(n.retrieverRef !== undefined ? { retriever_id: nameOf('Retriever', n.retrieverRef) } : {}),
        ...(n.inputMappings ? { input_mappings: mappings(n.inputMappings) } : {}),
        ...(n.enrichmentFields ? { enrichment_fields: fields(n.enrichmentFields) } : {}),
      }));
    }
    Object.assign(config, unpick(s, { top_k: 'topK', min_score: 'minScore' }));
    return { name: sourceName(r), namespace: ns(s), ...unpick(s, { description: 'description' }), config };
  });
  for (const k of ['namespaces', 'buckets', 'collections', 'retrievers', 'taxonomies']) if ((manifest[k] as unknown[]).length === 0) delete manifest[k];
  return manifest;
}
