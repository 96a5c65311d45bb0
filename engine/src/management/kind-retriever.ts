// Management API Retriever kind (reference §1.10, §3.1–§3.3): stages, input schema and display config in and out.
import { parseFeatureUri } from '../extractors/feature-uri.ts';
import { QuarryError } from '../lib/errors.ts';
import { normalizeInputSchema, normalizeStage } from '../retriever/normalize.ts';
import type { Collection, Retriever } from '../resources/generated/types.ts';
import { displayName } from './identifiers.ts';
import { as, camel, defined, idOf, isObj, KINDS, lifecycle, renameKeys, type BodyReader } from './common.ts';
import { copy, camelCopy, snakeOut, refs, namesOf, idsOf } from './kind-fields.ts';
import type { KindApi } from './kind-fields.ts';

// ---------------------------------------------------------------------------------------------------------------
// Retriever (reference §1.10, §3.1–§3.3)

/** normalize.ts answers 400s (execute requests); in a resource body the same problems are 422s. */
export function asFieldErrors<T>(fn: () => T, r: BodyReader): T | undefined {
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

export function stagesIn(v: unknown, r: BodyReader): Record<string, unknown>[] | undefined {
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
export function displayConfigIn(v: unknown, r: BodyReader): unknown {
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

export const VISIBILITY = 'visibility is not set here: publish a search page with POST /v1/retrievers/{id}/publish (the retriever itself stays private to its namespace); remove it or use private';
const MARKETPLACE = 'marketplace listings are not supported by Quarry: publish a search page with POST /v1/retrievers/{id}/publish instead';

export const retrieverApi: KindApi = {
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
