// Management API Taxonomy kind (reference §1.8): input mappings, enrichment fields and hierarchy config in and out.
import type { EnrichmentField, QuarryKind, Taxonomy } from '../resources/generated/types.ts';
import { displayName } from './identifiers.ts';
import { as, defined, idOf, KINDS, lifecycle, type BodyReader } from './common.ts';
import { copy, ref } from './kind-fields.ts';
import type { FieldContext, KindApi } from './kind-fields.ts';

// ---------------------------------------------------------------------------------------------------------------
// Taxonomy (reference §1.8)

export async function mappingsIn(v: unknown, at: string, r: BodyReader): Promise<Record<string, unknown>[] | undefined> {
  const list = r.arr(v, at);
  if (!list) return undefined;
  return list.map((x, i) => {
    const o = r.obj(x, `${at}[${i}]`) ?? {};
    r.only(o, ['input_key', 'source_type', 'path', 'override'], `${at}[${i}]`);
    return defined({ inputKey: o.input_key, sourceType: o.source_type, path: o.path, override: o.override });
  });
}

export function enrichmentIn(v: unknown, at: string, r: BodyReader): Record<string, unknown>[] | undefined {
  const list = r.arr(v, at);
  if (!list) return undefined;
  return list.map((x, i) => {
    const o = r.obj(x, `${at}[${i}]`) ?? {};
    r.only(o, ['field_path', 'target_field', 'merge_mode'], `${at}[${i}]`);
    return defined({ fieldPath: o.field_path, targetField: o.target_field, mergeMode: o.merge_mode });
  });
}

export const NOT_INFERRED = 'inferred hierarchies are not supported: list the nodes in hierarchical_nodes';

export async function taxonomyConfigIn(v: unknown, ctx: FieldContext): Promise<Record<string, unknown>> {
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

export const mappingsOut = (l: Taxonomy['spec']['inputMappings']) =>
  l?.map((m) => defined({ input_key: m.inputKey, source_type: m.sourceType ?? 'payload', path: m.path, override: m.override }));
export const enrichmentOut = (l: EnrichmentField[] | undefined) =>
  l?.map((f) => defined({ field_path: f.fieldPath, target_field: f.targetField, merge_mode: f.mergeMode ?? 'replace' }));

export const taxonomyApi: KindApi = {
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
