/**
 * The Mixpeek manifest format (reference §6.1: `version`, `metadata.name`, lists of namespaces / buckets /
 * collections / taxonomies / clusters / retrievers referring to each other by name) ⇄ Quarry custom resources.
 *
 * The per-type keys of that format are not published (§6.1): each item is read as the create-request body of its
 * resource with `name` in place of `<resource>_name` and names in place of ids, accepting the variants the sources
 * disagree on (§11: `schema`/`bucket_schema`, `feature_extractor`/`feature_extractors[0]`, flat or nested stages,
 * `collection_identifiers`/`collection_ids`, flat or `{properties}` input schemas). Export writes the SDK forms.
 *
 * Names become Kubernetes object names (`video_search` → `video-search`); the original is kept in the
 * `quarry.dev/source-name` annotation so export gives it back. What Quarry has no counterpart for (clusters,
 * bucket sync connections, namespace infrastructure, retriever visibility) is reported as a warning, never
 * silently dropped; malformed items are errors located by their path in the manifest (e.g. `buckets[1].schema`).
 */
import { getExtractor } from '../extractors/registry.ts';
import { parseFeatureUri } from '../extractors/feature-uri.ts';
import { EXTRACTOR_ALIASES, resolveSecrets, isObj, pick, extrasIn, extraKeys, firstOf, CATEGORIES, FEATURE_URI_KEYS, enrichmentFieldIn, displayConfigIn } from './mixpeek-common.ts';
import type { ConvertedManifest, ConvertOptions, Obj } from './mixpeek-common.ts';
import { ManifestReader } from './mixpeek-reader.ts';
export { toMixpeekManifest } from './mixpeek-export.ts';
export type { ExportableResource } from './mixpeek-export.ts';
export { toObjectName } from './mixpeek-common.ts';
export { SOURCE_NAME_ANNOTATION, MANIFEST_FORMAT_VERSION, EXTRACTOR_ALIASES, manifestLabelValue, resolveSecrets } from './mixpeek-common.ts';
export type { ManifestIssue, ManifestResource, ConvertedManifest, ConvertOptions } from './mixpeek-common.ts';

class Converter extends ManifestReader {
  namespaces(list: unknown) {
    this.each(list, 'namespaces', (item, at) => {
      this.ignoreUnknown(item, at, ['name', 'namespace_name', 'description', 'feature_extractors', 'payload_indexes', 'auto_create_indexes', 'namespace_type', ...extraKeys('QuarryNamespace')], {
        infrastructure: 'dedicated infrastructure is configured on the Quarry deployment, not per namespace',
        template: 'templates are not supported',
        template_config: 'templates are not supported',
      });
      const rawName = firstOf(item, 'name', 'namespace_name');
      const spec: Obj = { ...pick(item, { description: 'description', auto_create_indexes: 'autoCreateIndexes' }), ...extrasIn('QuarryNamespace', item) };
      const fxs: { name: string; version: string; params?: unknown }[] = [];
      if (Array.isArray(item.feature_extractors)) {
        item.feature_extractors.forEach((fx, i) => {
          const fat = `${at}.feature_extractors[${i}]`;
          if (!isObj(fx)) return this.error(fat, 'must be an object {name, version, params?}');
          const version = typeof fx.version === 'string' ? fx.version : 'v1';
          const name = this.extractorName(firstOf(fx, 'name', 'feature_extractor_name'), version, `${fat}.name`);
          if (!name) return;
          fxs.push({ name, version, ...(fx.params !== undefined ? { params: fx.params } : {}) });
        });
      } else this.error(`${at}.feature_extractors`, 'required: list the feature extractors this namespace enables, e.g. [{name: text_extractor, version: v1}]');
      spec.featureExtractors = fxs;
      if (Array.isArray(item.payload_indexes)) {
        spec.payloadIndexes = item.payload_indexes.map((p, i) => {
          if (!isObj(p)) {
            this.error(`${at}.payload_indexes[${i}]`, 'must be an object {field_name, type}');
            return {};
          }
          if (p.field_schema !== undefined) this.warn(`${at}.payload_indexes[${i}].field_schema`, 'not supported by Quarry, ignored');
          return pick(p, { field_name: 'field', field: 'field', type: 'type', is_protected: 'isProtected' });
        });
      }
      if (typeof rawName === 'string') {
        this.nsExtractors.set(rawName, fxs);
        this.nsBuckets.set(this.nameFor('QuarryNamespace', '', rawName), []);
      }
      this.push('QuarryNamespace', rawName, at, spec);
    });
  }

  buckets(list: unknown) {
    this.each(list, 'buckets', (item, at) => {
      this.ignoreUnknown(item, at, ['name', 'bucket_name', 'namespace', 'namespace_name', 'namespace_id', 'description', 'schema', 'bucket_schema', 'unique_key', 'metadata', ...extraKeys('Bucket')], {
        sync: 'storage connections and syncs are not supported; upload objects through the API or point spec.storage at an existing S3 bucket',
      });
      const ns = this.namespaceOf(item, at);
      const schema = firstOf(item, 'bucket_schema', 'schema');
      if (!isObj(schema)) this.error(`${at}.schema`, 'required: the object schema {properties: {name: {type: ...}}}');
      const spec: Obj = { ...(ns ? { namespaceRef: ns } : {}), ...pick(item, { description: 'description', metadata: 'metadata' }) };
      if (isObj(schema)) spec.schema = { properties: schema.properties };
      if (isObj(item.unique_key)) spec.uniqueKey = pick(item.unique_key, { fields: 'fields', default_policy: 'defaultPolicy' });
      Object.assign(spec, extrasIn('Bucket', item));
      const rawName = firstOf(item, 'name', 'bucket_name');
      if (ns && typeof rawName === 'string') this.nsBuckets.get(ns)?.push(this.nameFor('Bucket', ns, rawName));
      this.push('Bucket', rawName, at, spec);
    });
  }

  collections(list: unknown) {
    this.each(list, 'collections', (item, at) => {
      this.ignoreUnknown(
        item,
        at,
        ['name', 'collection_name', 'namespace', 'namespace_name', 'namespace_id', 'description', 'source', 'feature_extractor', 'feature_extractors', 'enabled', 'metadata', 'schedule', 'taxonomy_applications', ...extraKeys('Collection')],
        {
          input_schema: 'Quarry derives the input schema from the source buckets or collections',
          cluster_applications: 'clusters are not supported',
          alert_applications: 'alerts are not supported',
          retriever_enrichments: 'retriever enrichments are not supported',
        },
      );
      const ns = this.namespaceOf(item, at);
      const spec: Obj = { ...(ns ? { namespaceRef: ns } : {}), ...pick(item, { description: 'description', enabled: 'enabled', metadata: 'metadata' }) };
      spec.source = this.source(item.source, `${at}.source`, ns);
      const fx = this.collectionExtractor(item, at, ns);
      if (fx) spec.featureExtractor = fx;
      if (item.schedule !== undefined) spec.schedule = this.schedule(item.schedule, `${at}.schedule`);
      Object.assign(spec, extrasIn('Collection', item));
      if (Array.isArray(item.taxonomy_applications)) {
        spec.taxonomyApplications = item.taxonomy_applications.map((t, i) => {
          const tat = `${at}.taxonomy_applications[${i}]`;
          if (!isObj(t)) {
            this.error(tat, 'must be an object {taxonomy_id, ...}');
            return {};
          }
          const out: Obj = pick(t, { execution_mode: 'executionMode', scroll_filters: 'scrollFilters', priority: 'priority', hierarchical_enrichment_style: 'hierarchicalEnrichmentStyle' });
          const tax = this.objName(firstOf(t, 'taxonomy', 'taxonomy_name', 'taxonomy_id'), `${tat}.taxonomy_id`, 'Taxonomy', ns);
          if (tax) out.taxonomyRef = tax;
          const target = firstOf(t, 'target_collection', 'target_collection_id');
          if (target !== undefined) {
            const n = this.objName(target, `${tat}.target_collection_id`, 'Collection', ns);
            if (n) out.targetCollectionRef = n;
          }
          return out;
        });
      }
      this.push('Collection', firstOf(item, 'name', 'collection_name'), at, spec);
    });
  }

  source(raw: unknown, at: string, ns: string | undefined): Obj {
    if (raw === undefined) {
      // Not given: every bucket of the namespace declared in this manifest (reference §6.1 shows such a collection).
      const buckets = ns ? (this.nsBuckets.get(ns) ?? []) : [];
      if (buckets.length > 0) {
        this.warn(at, `not given: the collection reads every bucket of namespace ${ns} in this manifest (${buckets.join(', ')})`);
        return { bucketRefs: buckets };
      }
      this.error(at, 'required: {type: bucket, bucket_ids: [names]} or {type: collection, collection_ids: [names]}');
      return {};
    }
    if (!isObj(raw)) {
      this.error(at, 'must be an object {type, bucket_ids | collection_ids}');
      return {};
    }
    this.ignoreUnknown(raw, at, ['type', 'bucket_ids', 'buckets', 'bucket_names', 'bucket', 'collection_id', 'collection_ids', 'collections', 'collection', 'source_filters', 'filters', 'inherited_bucket_ids'], {
      source_namespace_id: 'cross-namespace sources are not supported',
    });
    const out: Obj = {};
    const type = raw.type ?? (firstOf(raw, 'collection_id', 'collection_ids', 'collections', 'collection') !== undefined ? 'collection' : 'bucket');
    if (type === 'bucket') {
      const refs = this.refList(firstOf(raw, 'bucket_ids', 'buckets', 'bucket_names', 'bucket'), `${at}.bucket_ids`, 'Bucket', ns);
      if (refs) out.bucketRefs = refs;
      else this.error(`${at}.bucket_ids`, 'required for a bucket source: list the bucket names');
    } else if (type === 'collection') {
      const refs = this.refList(firstOf(raw, 'collection_ids', 'collections', 'collection_id', 'collection'), `${at}.collection_ids`, 'Collection', ns);
      if (refs) out.collectionRefs = refs;
      else this.error(`${at}.collection_ids`, 'required for a collection source: list the collection names');
    } else this.error(`${at}.type`, `unsupported source type ${JSON.stringify(type)}: use bucket or collection`);
    const filters = isObj(raw.source_filters) ? (raw.source_filters.filters ?? raw.source_filters) : raw.filters;
    if (filters !== undefined) out.filters = filters;
    return out;
  }

  collectionExtractor(item: Obj, at: string, ns: string | undefined): Obj | undefined {
    let raw = item.feature_extractor;
    let fat = `${at}.feature_extractor`;
    if (raw === undefined && Array.isArray(item.feature_extractors)) {
      // §11 #1: EXT quickstarts send a one-element array.
      fat = `${at}.feature_extractors[0]`;
      if (item.feature_extractors.length !== 1) this.error(`${at}.feature_extractors`, 'a collection runs exactly one feature extractor: give one');
      raw = item.feature_extractors[0];
    }
    if (raw === undefined) {
      const nsName = [...this.nsExtractors.keys()].find((n) => this.nameFor('QuarryNamespace', '', n) === ns);
      const fxs = nsName ? this.nsExtractors.get(nsName)! : [];
      if (fxs.length === 1) {
        this.warn(fat, `not given: the collection runs the namespace's only extractor ${fxs[0]!.name}@${fxs[0]!.version}`);
        return { name: fxs[0]!.name, version: fxs[0]!.version, ...(fxs[0]!.params !== undefined ? { params: fxs[0]!.params } : {}) };
      }
      this.error(fat, 'required: {feature_extractor_name, version, input_mappings?, parameters?}');
      return undefined;
    }
    if (!isObj(raw)) {
      this.error(fat, 'must be an object {feature_extractor_name, version, ...}');
      return undefined;
    }
    this.ignoreUnknown(raw, fat, ['feature_extractor_name', 'name', 'version', 'params', 'parameters', 'input_mappings', 'field_passthrough', 'include_all_source_fields']);
    const version = typeof raw.version === 'string' ? raw.version : 'v1';
    const srcName = firstOf(raw, 'feature_extractor_name', 'name');
    const name = this.extractorName(srcName, version, `${fat}.feature_extractor_name`);
    if (!name) return undefined;
    const out: Obj = { name, version, ...pick(raw, { params: 'params', input_mappings: 'inputMappings', include_all_source_fields: 'includeAllSourceFields' }) };
    if (isObj(raw.parameters)) {
      const p = { ...raw.parameters };
      if (p.extractor_type !== undefined && p.extractor_type !== name) p.extractor_type = name;
      out.parameters = p;
    } else if (raw.parameters !== undefined) out.parameters = raw.parameters;
    if (Array.isArray(raw.field_passthrough)) {
      out.fieldPassthrough = raw.field_passthrough.map((f) =>
        typeof f === 'string' ? { sourcePath: f } : isObj(f) ? pick(f, { source_path: 'sourcePath', target_path: 'targetPath', default: 'default', required: 'required' }) : f,
      );
    }
    return out;
  }

  schedule(raw: unknown, at: string): Obj {
    if (!isObj(raw)) {
      this.error(at, 'must be an object {trigger_type, schedule_config}');
      return {};
    }
    const cfg = isObj(raw.schedule_config) ? raw.schedule_config : raw;
    const out: Obj = pick(cfg, { cron_expression: 'cron', timezone: 'timeZone', interval_seconds: 'intervalSeconds', start_immediately: 'startImmediately' });
    if (raw.trigger_type !== undefined && raw.trigger_type !== 'cron' && raw.trigger_type !== 'interval') {
      this.error(`${at}.trigger_type`, `unsupported trigger type ${JSON.stringify(raw.trigger_type)}: use cron or interval`);
    }
    return out;
  }

  retrievers(list: unknown) {
    this.each(list, 'retrievers', (item, at) => {
      this.ignoreUnknown(
        item,
        at,
        ['name', 'retriever_name', 'namespace', 'namespace_name', 'namespace_id', 'description', 'collection_identifiers', 'collection_ids', 'collections', 'input_schema', 'stages', 'cache_config', 'budget_limits', 'tags', 'display_config', 'publish'],
        {
          visibility: 'publishing is not supported; retrievers are private to their namespace',
          marketplace_listing_id: 'the marketplace is not supported',
          requires_subscription: 'the marketplace is not supported',
        },
      );
      const ns = this.namespaceOf(item, at);
      const spec: Obj = { ...(ns ? { namespaceRef: ns } : {}), ...pick(item, { description: 'description', tags: 'tags' }) };
      const refs = this.refList(firstOf(item, 'collection_identifiers', 'collection_ids', 'collections'), `${at}.collection_identifiers`, 'Collection', ns);
      if (refs) spec.collectionRefs = refs;
      if (item.input_schema !== undefined) {
        // §11 #4: flat {name: field} (SDK) or {properties: {...}} (DOCS).
        const s = item.input_schema;
        spec.inputSchema = isObj(s) && isObj(s.properties) && !('type' in s.properties && typeof s.properties.type === 'string') ? s.properties : s;
      }
      if (Array.isArray(item.stages)) spec.stages = item.stages.map((s, i) => this.stage(s, `${at}.stages[${i}]`));
      else this.error(`${at}.stages`, 'required: the retriever pipeline (at least one stage)');
      if (isObj(item.cache_config)) spec.cacheConfig = pick(item.cache_config, { enabled: 'enabled', ttl_seconds: 'ttlSeconds', cache_stage_names: 'cacheStageNames', exclude_fields: 'excludeFields' });
      if (isObj(item.budget_limits)) spec.budgetLimits = pick(item.budget_limits, { max_credits: 'maxCredits', max_time_ms: 'maxTimeMs' });
      if (isObj(item.display_config)) spec.displayConfig = displayConfigIn(item.display_config);
      // Quarry's publication (a Quarry addition to the format): {public_name, password_hash, rate_limit_config}.
      if (isObj(item.publish)) spec.publish = { ...pick(item.publish, { public_name: 'slug', password_hash: 'passwordHash' }), ...(isObj(item.publish.rate_limit_config) ? pick(item.publish.rate_limit_config, { requests_per_minute: 'rateLimitPerMinute', max_results_per_query: 'maxResultsPerQuery' }) : {}) };
      this.push('Retriever', firstOf(item, 'name', 'retriever_name'), at, spec);
    });
  }

  stage(raw: unknown, at: string): Obj {
    if (!isObj(raw)) {
      this.error(at, 'must be an object {stage_name, stage_type, config: {stage_id, parameters}}');
      return {};
    }
    // §11 #5: nested {stage_name, stage_type, config: {stage_id, parameters, pre_filters, post_filters}} or flat.
    const cfg = isObj(raw.config) ? raw.config : raw;
    const stageId = firstOf(cfg, 'stage_id') ?? (typeof raw.stage_type === 'string' && !CATEGORIES.has(raw.stage_type) ? raw.stage_type : undefined);
    const config: Obj = { ...(stageId !== undefined ? { stageId } : {}), ...pick(cfg, { parameters: 'parameters', pre_filters: 'preFilters', post_filters: 'postFilters' }) };
    if (stageId === undefined) this.error(`${at}.config.stage_id`, 'required: the stage id, e.g. feature_search');
    if (isObj(config.parameters)) config.parameters = this.rewriteFeatureUris(config.parameters, `${at}.config.parameters`) as Obj;
    const out: Obj = { stageName: raw.stage_name ?? (typeof stageId === 'string' ? stageId : 'stage'), config };
    if (typeof raw.stage_type === 'string' && CATEGORIES.has(raw.stage_type)) out.stageType = raw.stage_type;
    Object.assign(out, pick(raw, { description: 'description', batch_size: 'batchSize' }));
    return out;
  }

  /**
   * Feature URIs of aliased extractors, or naming another model than Quarry's, point at the Quarry extractor's
   * vector when it has exactly one (the output segment is the model name, §1.7).
   */
  rewriteFeatureUris(v: unknown, at: string): unknown {
    if (Array.isArray(v)) return v.map((x, i) => this.rewriteFeatureUris(x, `${at}[${i}]`));
    if (!isObj(v)) return v;
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) {
      if (FEATURE_URI_KEYS.has(k) && typeof x === 'string' && !x.includes('{{')) out[k] = this.rewriteUri(x, `${at}.${k}`);
      else if (k === 'feature_uris' && Array.isArray(x)) out[k] = x.map((u, i) => (typeof u === 'string' ? this.rewriteUri(u, `${at}.${k}[${i}]`) : u));
      else out[k] = this.rewriteFeatureUris(x, `${at}.${k}`);
    }
    return out;
  }

  rewriteUri(uri: string, at: string): string {
    let addr;
    try {
      addr = parseFeatureUri(uri);
    } catch {
      return uri; // validation reports it
    }
    const name = getExtractor(addr.extractor, addr.version) ? addr.extractor : EXTRACTOR_ALIASES[addr.extractor]?.name;
    const def = name ? getExtractor(name, addr.version) : undefined;
    if (!def) return uri;
    const vectors = def.vectors({});
    if (addr.output === 'bm25' || vectors.some((x) => x.output === addr.output)) {
      return name === addr.extractor ? uri : `quarry://${name}@${addr.version}/${addr.output ?? ''}`.replace(/\/$/, '');
    }
    if (vectors.length !== 1) return uri;
    const to = vectors[0]!.featureUri;
    this.warn(at, `${uri} is converted to ${to}: Quarry's ${def.id} produces that vector`);
    return to;
  }

  taxonomies(list: unknown) {
    this.each(list, 'taxonomies', (item, at) => {
      this.ignoreUnknown(item, at, ['name', 'taxonomy_name', 'namespace', 'namespace_name', 'namespace_id', 'description', 'config', 'taxonomy_type', 'retriever_id', 'retriever', 'input_mappings', 'source_collection', 'hierarchical_nodes', 'nodes', 'top_k', 'min_score']);
      const ns = this.namespaceOf(item, at);
      // SDK: {taxonomy_name, description, config: {taxonomy_type, ...}}; DOCS: the same keys at the top level (§11 #20).
      const cfg = isObj(item.config) ? item.config : item;
      const cat = isObj(item.config) ? `${at}.config` : at;
      const spec: Obj = { ...(ns ? { namespaceRef: ns } : {}), ...pick(item, { description: 'description' }), ...pick(cfg, { top_k: 'topK', min_score: 'minScore' }) };
      const type = firstOf(cfg, 'taxonomy_type', 'type');
      if (type !== undefined) spec.type = type;
      const ret = firstOf(cfg, 'retriever_id', 'retriever');
      if (ret !== undefined) {
        const n = this.objName(ret, `${cat}.retriever_id`, 'Retriever', ns);
        if (n) spec.retrieverRef = n;
      }
      if (cfg.input_mappings !== undefined) spec.inputMappings = this.inputMappings(cfg.input_mappings, `${cat}.input_mappings`);
      if (isObj(cfg.source_collection)) {
        const sc = cfg.source_collection;
        const n = this.objName(firstOf(sc, 'collection_id', 'collection', 'name'), `${cat}.source_collection.collection_id`, 'Collection', ns);
        spec.sourceCollection = { ...(n ? { collectionRef: n } : {}), ...(Array.isArray(sc.enrichment_fields) ? { enrichmentFields: sc.enrichment_fields.map(enrichmentFieldIn) } : {}) };
      }
      const nodes = firstOf(cfg, 'hierarchical_nodes', 'nodes');
      if (Array.isArray(nodes)) {
        spec.nodes = nodes.map((node, i) => {
          const nat = `${cat}.hierarchical_nodes[${i}]`;
          if (!isObj(node)) {
            this.error(nat, 'must be an object {collection_id, parent_collection_id?, ...}');
            return {};
          }
          const out: Obj = pick(node, { label: 'label', summary: 'summary', keywords: 'keywords' });
          const c = this.objName(node.collection_id ?? node.collection, `${nat}.collection_id`, 'Collection', ns);
          if (c) out.collectionRef = c;
          if (node.parent_collection_id != null) {
            const p = this.objName(node.parent_collection_id, `${nat}.parent_collection_id`, 'Collection', ns);
            if (p) out.parentCollectionRef = p;
          }
          if (node.retriever_id !== undefined) {
            const r = this.objName(node.retriever_id, `${nat}.retriever_id`, 'Retriever', ns);
            if (r) out.retrieverRef = r;
          }
          if (node.input_mappings !== undefined) out.inputMappings = this.inputMappings(node.input_mappings, `${nat}.input_mappings`);
          if (Array.isArray(node.enrichment_fields)) out.enrichmentFields = node.enrichment_fields.map(enrichmentFieldIn);
          return out;
        });
      }
      for (const k of ['inference_strategy', 'inference_collections', 'llm_provider', 'llm_model', 'llm_prompt_template', 'cluster_ids', 'step_analytics']) {
        if (cfg[k] !== undefined) this.warn(`${cat}.${k}`, 'not supported by Quarry, ignored: hierarchical taxonomies list their nodes explicitly');
      }
      this.push('Taxonomy', firstOf(item, 'name', 'taxonomy_name'), at, spec);
    });
  }

  inputMappings(raw: unknown, at: string): unknown[] {
    // SDK: [{input_key, source_type, path, override}]; DOCS: {input_key: path}.
    if (isObj(raw)) return Object.entries(raw).map(([k, v]) => ({ inputKey: k, sourceType: 'payload', path: v }));
    if (!Array.isArray(raw)) {
      this.error(at, 'must be a list of {input_key, source_type, path | override}');
      return [];
    }
    return raw.map((m) => (isObj(m) ? pick(m, { input_key: 'inputKey', source_type: 'sourceType', path: 'path', override: 'override' }) : m));
  }
}

/** True when a parsed document looks like a Mixpeek manifest (no apiVersion/kind; the documented top-level keys). */
export function isMixpeekManifest(doc: unknown): doc is Obj {
  if (!isObj(doc) || 'apiVersion' in doc || 'kind' in doc) return false;
  return ['namespaces', 'buckets', 'collections', 'retrievers', 'taxonomies', 'clusters'].some((k) => k in doc) || (isObj(doc.metadata) && 'version' in doc);
}

/** Converts a Mixpeek manifest to Quarry custom resources (not yet validated; see validate.ts). */
export function convertMixpeekManifest(doc: unknown, opts: ConvertOptions = {}): ConvertedManifest {
  const c = new Converter(opts);
  if (!isObj(doc)) {
    c.error('(root)', 'a manifest must be a mapping with version, metadata and resource lists');
    return c.out;
  }
  c.ignoreUnknown(doc, 'manifest', ['version', 'metadata', 'namespaces', 'buckets', 'collections', 'taxonomies', 'retrievers', 'clusters']);
  if (doc.version !== undefined && String(doc.version).split('.')[0] !== '1') {
    c.error('version', `unsupported manifest version ${JSON.stringify(doc.version)}: this server reads version 1.x`);
  }
  if (isObj(doc.metadata) && typeof doc.metadata.name === 'string') c.out.name = doc.metadata.name;
  c.namespaces(doc.namespaces);
  c.buckets(doc.buckets);
  c.collections(doc.collections);
  c.retrievers(doc.retrievers);
  c.taxonomies(doc.taxonomies);
  if (Array.isArray(doc.clusters) && doc.clusters.length > 0) {
    doc.clusters.forEach((_, i) => c.warn(`clusters[${i}]`, 'clusters are not supported by Quarry: skipped'));
  }
  resolveSecrets(c.out, doc, opts.secrets ?? {});
  return c.out;
}

