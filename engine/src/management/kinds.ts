/**
 * The documented request and response shapes of the five resources (reference §1.1, §1.2, §1.5, §1.8, §1.10,
 * §3.1) and their translation to and from the custom resources' specs (engine/src/resources is the schema).
 * Each API field has one translator used by both create and PATCH, so the two cannot drift; references to other
 * resources are accepted by name or id and stored as names (the CRDs reference by name).
 */
import { refuseForeignStorage } from '../objects/storage-guard.ts';
import type { FieldError } from '../resources/field-error.ts';
import type { Bucket, QuarryKind, QuarryNamespace } from '../resources/generated/types.ts';
import { displayName } from './identifiers.ts';
import { as, defined, idOf, KINDS, lifecycle, snake, type ApiFieldError, type ApiKind, type BodyReader } from './common.ts';
import { extractorId, copy, camelCopy, snakeOut, UNSUPPORTED_INFRA } from './kind-fields.ts';
import type { KindApi } from './kind-fields.ts';
import { collectionApi } from './kind-collection.ts';
import { retrieverApi } from './kind-retriever.ts';
import { taxonomyApi } from './kind-taxonomy.ts';
export { extractorId } from './kind-fields.ts';
export type { FieldContext, KindApi } from './kind-fields.ts';

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
