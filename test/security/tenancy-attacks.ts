/**
 * The attacks of the tenancy suite that carry V's identifiers inside request bodies (anonymous execute, manifests)
 * or in URLs of the public presigned-object route, and the helpers tenancy-cases.ts builds its cases with.
 */
import type { Case, Expect } from './tenancy-cases.ts';
import type { Json, World } from './world.ts';

export const keysOf = (w: World) => [
  ['RK', w.rk],
  ['WK', w.wk],
] as const;

/** X-Namespace values naming V: name, id, `<k8s-namespace>/<name>` and `<k8s-namespace>/<id>`. */
export const vHeaders = (w: World) => [w.v.ns, w.v.nsId, `local/${w.v.ns}`, `local/${w.v.nsId}`];

/** Cases with both of A's keys. */
export function both(w: World, c: Omit<Case, 'key' | 'what'> & { what: string }): Case[] {
  return keysOf(w).map(([k, key]) => ({ ...c, what: `${k}, ${c.what}`, key }));
}

export const stage = (id: string, parameters: Json) => ({ stage_id: id, parameters });
export const allDocs = stage('attribute_filter', { field: 'title', operator: 'exists', value: true });
/** An api_call sending the namespace secret `token` (only V holds one) to a documentation address (refused, skipped). */
export const sendsToken = stage('api_call', { url: 'http://192.0.2.1/hook', allowed_domains: ['192.0.2.1'], headers: { 'x-api-key': '{{SECRET.token}}' }, on_error: 'skip', timeout: 1 });

/** Anonymous-execute bodies that reach V's data through references inside them. */
export function executeAttacks(w: World): { what: string; body: Json }[] {
  const nested = (config: Json) => ({
    collection_identifiers: [w.a.collection],
    stages: [allDocs, stage('document_enrich', { retriever_config: config, retriever_inputs: {}, strategy: 'append', output_field: 'stolen' })],
  });
  return [
    { what: "V's collection by name", body: { collection_identifiers: [w.v.collection], stages: [allDocs] } },
    { what: "V's collection by id", body: { collection_identifiers: [w.v.collectionId], stages: [allDocs] } },
    { what: "V's collection as local/victim/…", body: { collection_identifiers: [`local/${w.v.ns}/${w.v.collection}`], stages: [allDocs] } },
    { what: "V's collection id as collection_ids", body: { collection_ids: [w.v.collectionId], stages: [allDocs] } },
    {
      what: 'document_enrich retriever_config in normalised form with namespace V (issue 14 #1)',
      body: nested({ namespace: w.v.ns, collection_identifiers: [w.v.collectionId], input_schema: {}, stages: [allDocs] }),
    },
    {
      what: 'document_enrich retriever_config in normalised form with namespace V, by name',
      body: nested({ namespace: w.v.ns, collection_identifiers: [w.v.collection], input_schema: {}, stages: [allDocs] }),
    },
    { what: 'document_enrich retriever_config with namespace local/victim', body: nested({ namespace: `local/${w.v.ns}`, collection_identifiers: [w.v.collection], input_schema: {}, stages: [allDocs] }) },
    // Without input_schema the normalised form was a 500 (TypeError in validateInputs).
    { what: 'document_enrich retriever_config in normalised form without input_schema', body: nested({ namespace: w.v.ns, collection_identifiers: [w.v.collection], stages: [allDocs] }) },
    { what: "document_enrich retriever_config naming V's collection id", body: nested({ collection_identifiers: [w.v.collectionId], stages: [{ stage_name: 'x', config: { stage_id: 'attribute_filter', parameters: { field: 'title', operator: 'exists', value: true } } }] }) },
    {
      what: "document_enrich retriever_id of V's retriever",
      body: { collection_identifiers: [w.a.collection], stages: [allDocs, stage('document_enrich', { retriever_id: w.v.retrieverId, retriever_inputs: {}, strategy: 'append', output_field: 'stolen' })] },
    },
    {
      what: "document_enrich retriever_id of V's retriever by name",
      body: { collection_identifiers: [w.a.collection], stages: [allDocs, stage('document_enrich', { retriever_id: w.v.retriever, retriever_inputs: {}, strategy: 'append', output_field: 'stolen' })] },
    },
    {
      what: "document_enrich direct join on V's collection id",
      body: { collection_identifiers: [w.a.collection], stages: [allDocs, stage('document_enrich', { target_collection_id: w.v.collectionId, source_field: 'title', target_field: 'title', strategy: 'append', output_field: 'stolen' })] },
    },
    {
      what: "taxonomy_enrich with V's taxonomy id",
      body: { collection_identifiers: [w.a.collection], stages: [allDocs, stage('taxonomy_enrich', { taxonomy_id: w.v.taxonomyId })] },
    },
  ];
}

const yamlDoc = (o: Json) => JSON.stringify(o); // JSON is YAML: one document per manifest item
const manifestOf = (...docs: Json[]) => docs.map(yamlDoc).join('\n---\n');

/** Manifests that name V: directly, by V's object names under A's namespaceRef, and the annotation trick (#2). */
export function manifestAttacks(w: World, op: 'validate' | 'diff' | 'apply'): Case[] {
  const nsDoc = (name: string, annotations?: Record<string, string>) => ({
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'QuarryNamespace',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: { description: 'pwned', featureExtractors: [{ name: 'passthrough_extractor', version: 'v1' }] },
  });
  const bucketDoc = (name: string, namespaceRef: string, annotations?: Record<string, string>) => ({
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Bucket',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: { namespaceRef, description: 'pwned', schema: { properties: { title: { type: 'string', required: true }, body: { type: 'text' } } } },
  });
  const retrieverDoc = (name: string, namespaceRef: string, collectionRefs: string[]) => ({
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Retriever',
    metadata: { name },
    spec: { namespaceRef, collectionRefs, stages: [{ stageName: 'all', config: { stageId: 'attribute_filter', parameters: { field: 'title', operator: 'exists', value: true } } }] },
  });
  const manifests: { what: string; text: string; expect: Expect; forbidden?: string[] }[] = [
    { what: 'QuarryNamespace V', text: manifestOf(nsDoc(w.v.ns)), expect: 'deny' },
    { what: "a Bucket in V", text: manifestOf(bucketDoc('stolen', w.v.ns)), expect: 'deny' },
    { what: "V's Bucket object name under A's namespaceRef", text: manifestOf(bucketDoc(w.v.bucket, w.a.ns)), expect: 'deny' },
    { what: "V's Bucket object name annotated into A", text: manifestOf(bucketDoc(w.v.bucket, w.a.ns, { 'quarry.dev/source-name': 'mine' })), expect: 'deny' },
    // validate and diff report problems in a 200; none may say where V's collection lives.
    { what: "A's Retriever over V's collection", text: manifestOf(retrieverDoc('over-v', w.a.ns, [w.v.collection])), expect: op === 'apply' ? 'refuse' : 'noleak', forbidden: [w.v.ns, w.v.nsId] },
    {
      what: 'Mixpeek-format manifest into V',
      text: JSON.stringify({ version: '1.0', metadata: { name: 'x' }, namespaces: [{ name: w.v.ns, description: 'pwned', feature_extractors: [{ feature_extractor_name: 'passthrough_extractor', version: 'v1' }] }] }),
      expect: 'deny',
    },
    // Last: when it succeeds, V is renamed to A and every later request sees the takeover.
    { what: "V's object name annotated as A (issue 14 #2)", text: manifestOf(nsDoc(w.v.ns, { 'quarry.dev/source-name': w.a.ns })), expect: 'deny' },
  ];
  const extra = (m: (typeof manifests)[number]) => (m.forbidden ? { forbidden: m.forbidden } : {});
  return manifests.flatMap((m) => [
    ...both(w, { what: m.what, method: 'POST', url: `/v1/manifest/${op}`, raw: m.text, contentType: 'application/yaml', expect: m.expect, ...extra(m) }),
    ...both(w, { what: `${m.what}, X-Namespace alpha`, method: 'POST', url: `/v1/manifest/${op}`, ns: w.a.ns, raw: m.text, contentType: 'application/yaml', expect: m.expect, ...extra(m) }),
  ]);
}

/** Presigned URLs of the local store: V's blob reached by editing A's URL, without a signature, or by traversal. */
export function presignAttacks(w: World, method: 'GET' | 'PUT'): Case[] {
  const aUrl = new URL(w.a.presignedUrl!);
  const vUrl = new URL(w.v.presignedUrl);
  const path = (u: URL) => u.pathname;
  const base = path(aUrl).slice(0, path(aUrl).indexOf('/', '/v1/_objects/'.length));
  const urls = [
    { what: "A's signature on V's blob path", url: `${path(vUrl)}${aUrl.search}` },
    { what: "V's blob without a signature", url: path(vUrl) },
    { what: "V's blob with a made-up signature", url: `${path(vUrl)}?X-Quarry-Method=${method}&X-Quarry-Expires=9999999999&X-Quarry-Signature=${'0'.repeat(64)}` },
    { what: "traversal from A's bucket to V's blob", url: `${base}/..%2F${w.v.storageBucket}%2F${encodeURIComponent(w.v.blobKey)}${aUrl.search}` },
    { what: "V's GET URL used with another method", url: `${path(vUrl)}${vUrl.search}`, only: 'PUT' as const },
  ];
  return urls
    .filter((u) => !u.only || u.only === method)
    .map((u) => ({ what: u.what, key: undefined, method, url: u.url, ...(method === 'PUT' ? { raw: 'pwned', contentType: 'text/plain' } : {}), expect: 'deny' as Expect }));
}
