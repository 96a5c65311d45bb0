/**
 * The tenancy suite's attacks, one entry per API route (`METHOD /pattern`, as Fastify registered it): requests
 * with the read-only (RK) and read-write (WK) keys of namespace A (`alpha`) against namespace V (`victim`): V's
 * resources by name, by id, by `<k8s-namespace>/<name>`, A's containers holding V's item ids, V's ids inside
 * bodies (references, nested retriever configs, filters, manifests), history, tasks and presigned URLs.
 *
 * What a case expects:
 *   deny    403 or 404
 *   refuse  any 4xx but 401 (a body reference refused as invalid, a missing header)
 *   noleak  anything but a 5xx (the request acts on A, or on nothing)
 * and always: the response does not contain V's secret marker (tenancy.test.ts checks that, and that V's data is
 * unchanged after each route).
 */
import type { Json, World } from './world.ts';
import { MODEL_CASES } from './tenancy-model-cases.ts';
import { MCP_CASES } from './tenancy-mcp-cases.ts';
import { publishCases } from './tenancy-publish-cases.ts';
import { allDocs, both, executeAttacks, keysOf, manifestAttacks, presignAttacks, sendsToken, stage, vHeaders } from './tenancy-attacks.ts';

export type Expect = 'deny' | 'refuse' | 'noleak';

export interface Case {
  what: string;
  key: string | undefined;
  method: string;
  url: string;
  ns?: string;
  body?: unknown;
  raw?: string;
  contentType?: string;
  expect: Expect;
  /** Strings the response must not contain besides V's secret (e.g. V's namespace name where the request never named it). */
  forbidden?: string[];
  /** Runs after the request when it succeeded (2xx): a follow-up that must not leak either (e.g. execute what was stored). */
  then?: (w: World, reply: { status: number; body: Json }) => Case[];
}

type Gen = (w: World) => Case[];


type ParamSet = Record<string, string>;

/** V's path values by name (containers) plus V's item ids. */
function vByName(w: World): ParamSet {
  return {
    bucket: w.v.bucket,
    collection: w.v.collection,
    id: w.v.retriever,
    namespace_identifier: w.v.ns,
    taxonomy_identifier: w.v.taxonomy,
    objectId: w.v.objectIds[0]!,
    uploadId: w.v.uploadId,
    batchId: w.v.openBatchId,
    taskId: w.v.taskId,
    documentId: w.v.documentIds[0]!,
    execution_id: w.v.namedExecutionId,
    interaction_id: w.v.interactionId,
  };
}

/** V's containers by their documented ids. */
function vById(w: World): ParamSet {
  return { ...vByName(w), bucket: w.v.bucketId, collection: w.v.collectionId, id: w.v.retrieverId, namespace_identifier: w.v.nsId, taxonomy_identifier: w.v.taxonomyId };
}

/** A's containers with V's item ids inside (a bucket of A, an object of V). */
function mixed(w: World): ParamSet {
  return { ...vByName(w), bucket: w.a.bucket, collection: w.a.collection, id: w.a.retriever, namespace_identifier: w.a.ns, taxonomy_identifier: w.a.taxonomy };
}

const ITEM_PARAMS = ['objectId', 'uploadId', 'batchId', 'taskId', 'documentId', 'execution_id', 'interaction_id'];

function fill(pattern: string, p: ParamSet): string {
  return pattern.replace(/:([A-Za-z_]+)/g, (_m, name: string) => {
    const v = p[name];
    if (v === undefined) throw new Error(`no value for :${name} in ${pattern}`);
    return encodeURIComponent(v);
  });
}

interface DataOpts {
  body?: (w: World) => unknown;
  raw?: (w: World) => { raw: string; contentType: string };
  /** Extra cases for this route (references in bodies, …). */
  extra?: Gen;
  /** Without X-Namespace the route answers for V's item by its id alone (tasks): deny, not refuse. */
  noHeader?: Expect;
}

/**
 * The standard attacks on a route that acts in the X-Namespace's namespace: V's namespace in the header (every
 * spelling), A's namespace with V's path values by name and by id, A's containers with V's items, no header.
 */
function data(method: string, pattern: string, o: DataOpts = {}): [string, Gen] {
  const gen: Gen = (w) => {
    const out: Case[] = [];
    const body = o.body?.(w);
    const raw = o.raw?.(w);
    const payload = { ...(body !== undefined ? { body } : {}), ...(raw ? raw : {}) };
    const hasItem = ITEM_PARAMS.some((p) => pattern.includes(`:${p}`));
    const hasParams = pattern.includes(':');
    for (const [k, key] of keysOf(w)) {
      for (const ns of vHeaders(w)) out.push({ what: `${k}, X-Namespace ${ns}, V's path values`, key, method, url: fill(pattern, vByName(w)), ns, ...payload, expect: 'deny' });
      if (hasParams) out.push({ what: `${k}, X-Namespace alpha, V's path values by name`, key, method, url: fill(pattern, vByName(w)), ns: w.a.ns, ...payload, expect: 'deny' });
      if (hasParams) out.push({ what: `${k}, X-Namespace alpha, V's path values by id`, key, method, url: fill(pattern, vById(w)), ns: w.a.ns, ...payload, expect: 'deny' });
      if (hasItem) out.push({ what: `${k}, X-Namespace alpha, A's container with V's item`, key, method, url: fill(pattern, mixed(w)), ns: w.a.ns, ...payload, expect: 'deny' });
      out.push({ what: `${k}, no X-Namespace, V's path values`, key, method, url: fill(pattern, vByName(w)), ...payload, expect: o.noHeader ?? 'refuse' });
      out.push({ what: `${k}, no X-Namespace, V's path values by id`, key, method, url: fill(pattern, vById(w)), ...payload, expect: o.noHeader ?? 'refuse' });
    }
    return [...out, ...(o.extra?.(w) ?? [])];
  };
  return [`${method} ${pattern}`, gen];
}

/** A valid object body for V's bucket schema. */
const objectBody = () => ({ metadata: { title: 'pwned' }, blobs: [{ property: 'body', type: 'text', data: 'pwned' }] });


const CASES: [string, Gen][] = [
  ...MODEL_CASES,
  ...MCP_CASES,
  ...publishCases(data),
  // ---- API keys: admin scoped to * only ----------------------------------------------------------------------
  ...['/v1/organizations/api-keys', '/v1/organizations/users/:user_email/api-keys'].flatMap((base): [string, Gen][] => {
    const u = (p: string, w: World) => p.replace(':user_email', 'someone%40example.com').replace(':key_id', w.vk.slice(3, 15).toLowerCase());
    return [
      [`POST ${base}`, (w) => both(w, { what: 'create a key for V', method: 'POST', url: u(base, w), body: { name: 'x', namespaces: [w.v.ns] }, expect: 'deny' })],
      [`GET ${base}`, (w) => both(w, { what: 'list keys', method: 'GET', url: u(base, w), expect: 'deny' })],
      [`GET ${base}/:key_id`, (w) => both(w, { what: "V's key", method: 'GET', url: u(`${base}/:key_id`, w), expect: 'deny' })],
      [`DELETE ${base}/:key_id`, (w) => both(w, { what: "revoke V's key", method: 'DELETE', url: u(`${base}/:key_id`, w), expect: 'deny' })],
    ];
  }),

  // ---- public and global routes: nothing of V ------------------------------------------------------------------
  ...['/v1/health', '/v1/health/liveness', '/v1/health/beat'].map((url): [string, Gen] => [`GET ${url}`, (w) => both(w, { what: 'health', method: 'GET', url, ns: w.v.ns, expect: 'noleak' })]),
  ['GET /v1/retrievers/stages', (w) => both(w, { what: 'stages', method: 'GET', url: '/v1/retrievers/stages', expect: 'noleak' })],
  ['GET /v1/discovery/stages', (w) => both(w, { what: 'stages', method: 'GET', url: '/v1/discovery/stages', expect: 'noleak' })],

  // ---- objects ---------------------------------------------------------------------------------------------------
  data('POST', '/v1/buckets/:bucket/objects', { body: objectBody }),
  data('POST', '/v1/buckets/:bucket/objects/batch', { body: () => ({ objects: [objectBody()] }) }),
  data('GET', '/v1/buckets/:bucket/objects/:objectId'),
  data('GET', '/v1/buckets/:bucket/objects'),
  data('POST', '/v1/buckets/:bucket/objects/list', {
    body: () => ({}),
    extra: (w) => both(w, { what: "A's bucket, filter on V's object ids", method: 'POST', url: `/v1/buckets/${w.a.bucket}/objects/list`, ns: w.a.ns, body: { filters: { field: 'object_id', operator: 'in', value: w.v.objectIds } }, expect: 'noleak' }),
  }),
  data('PATCH', '/v1/buckets/:bucket/objects/:objectId', { body: () => ({ metadata: { title: 'pwned' } }) }),
  data('DELETE', '/v1/buckets/:bucket/objects/:objectId'),

  // ---- uploads -----------------------------------------------------------------------------------------------------
  data('POST', '/v1/buckets/:bucket/uploads', { body: () => ({ filename: 'x.txt', content_type: 'text/plain', object_metadata: { title: 'pwned' } }) }),
  data('POST', '/v1/buckets/:bucket/uploads/batch', { body: () => ({ uploads: [{ filename: 'x.txt', content_type: 'text/plain', object_metadata: { title: 'pwned' } }] }) }),
  data('POST', '/v1/buckets/:bucket/uploads/:uploadId/confirm', { body: () => ({}) }),
  data('POST', '/v1/buckets/:bucket/uploads/confirm/batch', {
    body: (w) => ({ confirmations: [{ upload_id: w.v.uploadId }] }),
    extra: (w) => both(w, { what: "A's bucket confirming V's upload id", method: 'POST', url: `/v1/buckets/${w.a.bucket}/uploads/confirm/batch`, ns: w.a.ns, body: { confirmations: [{ upload_id: w.v.uploadId }] }, expect: 'noleak' }),
  }),
  data('POST', '/v1/buckets/:bucket/uploads/list', { body: () => ({}) }),
  data('GET', '/v1/buckets/:bucket/uploads/:uploadId'),
  data('DELETE', '/v1/buckets/:bucket/uploads/:uploadId'),
  data('POST', '/v1/buckets/:bucket/uploads/direct', {
    raw: () => ({ raw: '--b\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\nContent-Type: text/plain\r\n\r\npwned\r\n--b--\r\n', contentType: 'multipart/form-data; boundary=b' }),
  }),

  // ---- batches and tasks ---------------------------------------------------------------------------------------
  data('POST', '/v1/buckets/:bucket/batches', {
    body: (w) => ({ object_ids: [w.v.objectIds[0]] }),
    extra: (w) => both(w, { what: "A's bucket, a batch of V's object ids", method: 'POST', url: `/v1/buckets/${w.a.bucket}/batches`, ns: w.a.ns, body: { object_ids: w.v.objectIds }, expect: 'refuse' }),
  }),
  data('POST', '/v1/buckets/:bucket/batches/list', { body: () => ({}) }),
  data('GET', '/v1/buckets/:bucket/batches/:batchId'),
  data('GET', '/v1/buckets/:bucket/batches/:batchId/audit'),
  data('POST', '/v1/buckets/:bucket/batches/:batchId/objects', {
    body: (w) => ({ object_ids: [w.v.objectIds[1]] }),
    extra: (w) => both(w, { what: "A's open batch, V's object ids", method: 'POST', url: `/v1/buckets/${w.a.bucket}/batches/${w.a.openBatchId}/objects`, ns: w.a.ns, body: { object_ids: w.v.objectIds }, expect: 'refuse' }),
  }),
  data('POST', '/v1/buckets/:bucket/batches/:batchId/submit', { body: () => ({}) }),
  data('POST', '/v1/buckets/:bucket/batches/:batchId/cancel', { body: () => ({}) }),
  data('POST', '/v1/buckets/:bucket/batches/:batchId/retry', { body: () => ({ retry_mode: 'all' }) }),
  data('GET', '/v1/tasks/:taskId'),
  // Without X-Namespace (the SDK's TasksApi) the list reads only the namespaces the key may see: A's tasks, never V's.
  data('POST', '/v1/tasks/list', { body: () => ({}), noHeader: 'noleak' }),
  data('DELETE', '/v1/tasks/:taskId'),
  // The SDK's BatchesApi names no bucket and sends no X-Namespace: a batch is looked for among the key's namespaces only.
  data('GET', '/v1/batches/:batchId', { noHeader: 'deny' }),
  [
    'POST /v1/batches/list',
    (w) => [
      ...vHeaders(w).flatMap((ns) => both(w, { what: `X-Namespace ${ns}`, method: 'POST', url: '/v1/batches/list', ns, body: {}, expect: 'deny' })),
      ...both(w, { what: 'X-Namespace alpha', method: 'POST', url: '/v1/batches/list', ns: w.a.ns, body: {}, expect: 'noleak', forbidden: [w.v.openBatchId] }),
      ...both(w, { what: 'no X-Namespace (the key sees only A)', method: 'POST', url: '/v1/batches/list', body: {}, expect: 'noleak', forbidden: [w.v.openBatchId] }),
      ...[w.v.ns, w.v.nsId].flatMap((id) => both(w, { what: `no X-Namespace, body namespace_id ${id}`, method: 'POST', url: '/v1/batches/list', body: { namespace_id: id }, expect: 'noleak', forbidden: [w.v.openBatchId] })),
    ],
  ],
  data('POST', '/v1/collections/:collection/trigger', {
    body: () => ({}),
    extra: (w) => both(w, { what: "A's collection triggered with V's bucket", method: 'POST', url: `/v1/collections/${w.a.collection}/trigger`, ns: w.a.ns, body: { include_buckets: [w.v.bucketId] }, expect: 'refuse' }),
  }),

  // ---- documents -----------------------------------------------------------------------------------------------
  data('POST', '/v1/collections/:collection/documents/list', {
    body: () => ({ limit: 100 }),
    extra: (w) => [
      ...both(w, { what: "A's collection, filter on V's object ids", method: 'POST', url: `/v1/collections/${w.a.collection}/documents/list`, ns: w.a.ns, body: { filters: { field: 'root_object_id', operator: 'in', value: w.v.objectIds } }, expect: 'noleak' }),
      ...both(w, { what: "A's collection, filter naming V's collection id", method: 'POST', url: `/v1/collections/${w.a.collection}/documents/list`, ns: w.a.ns, body: { filters: { field: 'collection_id', operator: 'eq', value: w.v.collection } }, expect: 'noleak' }),
    ],
  }),
  data('GET', '/v1/collections/:collection/documents/:documentId'),
  data('GET', '/v1/collections/:collection/documents'),
  data('DELETE', '/v1/collections/:collection/documents/:documentId'),

  // ---- retrievers: execution -----------------------------------------------------------------------------------
  [
    'POST /v1/retrievers/execute',
    (w) => [
      ...vHeaders(w).flatMap((ns) => both(w, { what: `X-Namespace ${ns}`, method: 'POST', url: '/v1/retrievers/execute', ns, body: { collection_identifiers: [w.v.collection], stages: [allDocs] }, expect: 'deny' })),
      ...executeAttacks(w).flatMap((a) => [
        ...both(w, { what: `X-Namespace alpha, ${a.what}`, method: 'POST', url: '/v1/retrievers/execute', ns: w.a.ns, body: a.body, expect: 'noleak' as Expect }),
        ...both(w, { what: `no X-Namespace, ${a.what}`, method: 'POST', url: '/v1/retrievers/execute', body: a.body, expect: 'noleak' as Expect }),
      ]),
      // V's namespace secret is never reachable from A: the name does not resolve in alpha (400), nor without a namespace.
      ...both(w, { what: "{{SECRET.token}}, a secret only V holds, in an api_call header", method: 'POST', url: '/v1/retrievers/execute', ns: w.a.ns, body: { collection_identifiers: [w.a.collection], stages: [allDocs, sendsToken] }, expect: 'refuse' }),
      ...both(w, { what: '{{SECRET.token}} without X-Namespace', method: 'POST', url: '/v1/retrievers/execute', body: { collection_identifiers: [w.a.collection], stages: [allDocs, sendsToken] }, expect: 'refuse' }),
      ...both(w, {
        what: "template reading V's data through a nested retriever input",
        method: 'POST',
        url: '/v1/retrievers/execute',
        ns: w.a.ns,
        body: { collection_identifiers: [w.a.collection], stages: [allDocs, stage('document_enrich', { retriever_config: { namespace: '{{ INPUT.ns }}', collection_identifiers: ['{{ INPUT.col }}'], input_schema: {}, stages: [allDocs] }, strategy: 'append', output_field: 'stolen' })], inputs: { ns: w.v.ns, col: w.v.collectionId } },
        expect: 'noleak',
      }),
    ],
  ],
  data('POST', '/v1/retrievers/:id/execute', { body: () => ({ inputs: {} }), noHeader: 'deny' }),
  data('POST', '/v1/retrievers/:id/explain', { body: () => ({ inputs: {} }), noHeader: 'deny' }),
  data('POST', '/v1/retrievers/:id/execute/explain', { body: () => ({ inputs: {} }), noHeader: 'deny' }),
  data('POST', '/v1/retrievers/:id/execute/batch', { body: () => ({ queries: [{ inputs: {} }] }), noHeader: 'deny' }),

  // ---- search interactions (per namespace) -------------------------------------------------------------------
  data('POST', '/v1/retrievers/interactions', { body: (w) => ({ feature_id: w.v.documentIds[0], interaction_type: ['click'], position: 0 }) }),
  data('POST', '/v1/retrievers/interactions/batch', { body: (w) => ({ interactions: [{ feature_id: w.v.documentIds[0], interaction_type: ['purchase'], position: 0 }] }) }),
  data('POST', '/v1/retrievers/interactions/list', { body: () => ({}) }),
  data('GET', '/v1/retrievers/interactions/:interaction_id'),
  data('DELETE', '/v1/retrievers/interactions/:interaction_id'),

  // ---- execution history (issue 14 #13) ------------------------------------------------------------------------
  [
    'POST /v1/retrievers/executions/list',
    (w) => [
      ...vHeaders(w).flatMap((ns) => both(w, { what: `X-Namespace ${ns}`, method: 'POST', url: '/v1/retrievers/executions/list', ns, body: {}, expect: 'deny' })),
      ...both(w, { what: 'X-Namespace alpha', method: 'POST', url: '/v1/retrievers/executions/list', ns: w.a.ns, body: {}, expect: 'noleak' }),
      ...both(w, { what: 'no X-Namespace (runs kept under no namespace)', method: 'POST', url: '/v1/retrievers/executions/list?limit=1000', body: {}, expect: 'noleak' }),
      ...both(w, { what: 'no X-Namespace, failed runs', method: 'POST', url: '/v1/retrievers/executions/list?limit=1000', body: { status: 'failed' }, expect: 'noleak' }),
    ],
  ],
  [
    'GET /v1/retrievers/executions/:execution_id',
    (w) => [
      ...vHeaders(w).flatMap((ns) => both(w, { what: `X-Namespace ${ns}`, method: 'GET', url: `/v1/retrievers/executions/${w.v.executionId}`, ns, expect: 'deny' })),
      ...both(w, { what: "X-Namespace alpha, V's execution id", method: 'GET', url: `/v1/retrievers/executions/${w.v.executionId}`, ns: w.a.ns, expect: 'deny' }),
      ...both(w, { what: "no X-Namespace, V's execution id", method: 'GET', url: `/v1/retrievers/executions/${w.v.executionId}`, expect: 'refuse' }),
      ...(w.v.failedNoHeaderExecution
        ? both(w, { what: "no X-Namespace, V's failed run without a namespace", method: 'GET', url: `/v1/retrievers/executions/${w.v.failedNoHeaderExecution}`, expect: 'deny' })
        : []),
    ],
  ],
  data('POST', '/v1/retrievers/:id/executions/list', { body: () => ({}), noHeader: 'deny' }),
  data('GET', '/v1/retrievers/:id/executions/:execution_id', { noHeader: 'deny' }),

  // ---- management ------------------------------------------------------------------------------------------------
  [
    'POST /v1/namespaces',
    (w) => [
      ...both(w, { what: "create a namespace with V's name", method: 'POST', url: '/v1/namespaces', body: { namespace_name: w.v.ns, feature_extractors: [{ feature_extractor_name: 'passthrough_extractor', version: 'v1' }] }, expect: 'deny' }),
      ...both(w, { what: 'create a namespace outside the scope', method: 'POST', url: '/v1/namespaces', body: { namespace_name: 'elsewhere', feature_extractors: [{ feature_extractor_name: 'passthrough_extractor', version: 'v1' }] }, expect: 'deny' }),
    ],
  ],
  ...(['GET', 'PATCH', 'PUT', 'DELETE'] as const).map((method): [string, Gen] => [
    `${method} /v1/namespaces/:namespace_identifier`,
    (w) => {
      const body = method === 'PATCH' || method === 'PUT' ? { description: 'pwned', feature_extractors: [{ feature_extractor_name: 'passthrough_extractor', version: 'v1' }] } : undefined;
      return [w.v.ns, w.v.nsId, `local/${w.v.ns}`, `local/${w.v.nsId}`].flatMap((id) => [
        ...both(w, { what: `V as ${id}`, method, url: `/v1/namespaces/${encodeURIComponent(id)}`, ...(body ? { body } : {}), expect: 'deny' }),
        ...both(w, { what: `V as ${id}, X-Namespace alpha`, method, url: `/v1/namespaces/${encodeURIComponent(id)}`, ns: w.a.ns, ...(body ? { body } : {}), expect: 'deny' }),
      ]);
    },
  ]),
  ['GET /v1/namespaces', (w) => [...both(w, { what: 'list (only A)', method: 'GET', url: '/v1/namespaces', expect: 'noleak' }), ...both(w, { what: "search for V's name", method: 'GET', url: `/v1/namespaces?search=${w.v.ns}`, expect: 'noleak' })]],
  [
    'POST /v1/namespaces/list',
    (w) => [
      ...both(w, { what: 'list (only A)', method: 'POST', url: '/v1/namespaces/list', body: {}, expect: 'noleak' }),
      ...both(w, { what: "search for V's name", method: 'POST', url: '/v1/namespaces/list', body: { search: w.v.ns }, expect: 'noleak' }),
      ...both(w, { what: "filter on V's id", method: 'POST', url: '/v1/namespaces/list', body: { filters: { field: 'namespace_id', operator: 'eq', value: w.v.nsId } }, expect: 'noleak' }),
    ],
  ],
  ...managementKind('buckets', 'bucket', (w) => ({
    create: { bucket_name: 'stolen', bucket_schema: { properties: { title: { type: 'string' } } } },
    patch: { description: 'pwned' },
    put: { bucket_name: w.v.bucket, description: 'pwned', bucket_schema: { properties: { title: { type: 'string', required: true }, body: { type: 'text' } } } },
    // issue 14 #3: a bucket of A on V's storage (object count disclosed, emptied on delete).
    refs: [
      { what: "A's bucket on V's storage (issue 14 #3)", body: { bucket_name: 'on-v-storage', bucket_schema: { properties: { title: { type: 'string' } } }, storage: { existing_bucket_name: w.v.storageBucket, prefix: w.v.storagePrefix ?? '' } } },
      { what: "A's bucket on V's storage, object prefix", body: { bucket_name: 'on-v-objects', bucket_schema: { properties: { title: { type: 'string' } } }, storage: { existing_bucket_name: w.v.storageBucket, prefix: w.v.objectIds[0] } } },
    ],
  })),
  ...managementKind('collections', 'collection', (w) => ({
    create: { collection_name: 'stolen', source: { type: 'bucket', bucket_ids: [w.v.bucketId] }, feature_extractor: { feature_extractor_name: 'passthrough_extractor', version: 'v1' } },
    patch: { description: 'pwned' },
    refs: [
      { what: "A's collection reading V's bucket by id", body: { collection_name: 'from-v', source: { type: 'bucket', bucket_ids: [w.v.bucketId] }, feature_extractor: { feature_extractor_name: 'passthrough_extractor', version: 'v1' } } },
      { what: "A's collection reading V's bucket by name", body: { collection_name: 'from-v2', source: { type: 'bucket', bucket_ids: [w.v.bucket] }, feature_extractor: { feature_extractor_name: 'passthrough_extractor', version: 'v1' } } },
      { what: "A's collection reading V's collection", body: { collection_name: 'from-v3', source: { type: 'collection', collection_id: w.v.collectionId }, feature_extractor: { feature_extractor_name: 'passthrough_extractor', version: 'v1' } } },
    ],
  })),
  ...managementKind('retrievers', 'id', (w) => ({
    create: { retriever_name: 'stolen', collection_identifiers: [w.v.collectionId], stages: [allDocs] },
    patch: { description: 'pwned' },
    refs: [
      { what: "A's retriever over V's collection id", body: { retriever_name: 'over-v', collection_identifiers: [w.v.collectionId], stages: [allDocs] } },
      { what: "A's retriever over V's collection name", body: { retriever_name: 'over-v2', collection_identifiers: [w.v.collection], stages: [allDocs] } },
    ],
    // issue 14 #1 through a stored retriever: whatever is stored, executing it must not read V.
    stored: [
      {
        what: 'stored retriever with a nested retriever_config in namespace V (issue 14 #1)',
        body: {
          retriever_name: 'nested-v',
          collection_identifiers: [w.a.collection],
          stages: [allDocs, stage('document_enrich', { retriever_config: { namespace: w.v.ns, collection_identifiers: [w.v.collection], input_schema: {}, stages: [allDocs] }, retriever_inputs: {}, strategy: 'append', output_field: 'stolen' })],
        },
        execute: 'nested-v',
      },
      {
        what: "stored retriever with a nested retriever_id of V's retriever",
        body: { retriever_name: 'nested-v-id', collection_identifiers: [w.a.collection], stages: [allDocs, stage('document_enrich', { retriever_id: w.v.retrieverId, retriever_inputs: {}, strategy: 'append', output_field: 'stolen' })] },
        execute: 'nested-v-id',
      },
    ],
  })),
  ...managementKind('taxonomies', 'taxonomy_identifier', (w) => ({
    create: { taxonomy_name: 'stolen', config: { taxonomy_type: 'flat', retriever_id: w.v.retrieverId, input_mappings: [{ input_key: 'q', source_type: 'payload', path: 'title' }], source_collection: { collection_id: w.v.collectionId } } },
    patch: { description: 'pwned' },
    refs: [
      {
        what: "A's taxonomy with V's retriever and collection",
        body: { taxonomy_name: 'over-v', config: { taxonomy_type: 'flat', retriever_id: w.v.retrieverId, input_mappings: [{ input_key: 'q', source_type: 'payload', path: 'title' }], source_collection: { collection_id: w.v.collectionId } } },
      },
    ],
  })),

  // On-demand taxonomy execution on sample documents (both spellings the SDK calls).
  data('POST', '/v1/taxonomies/:taxonomy_identifier/execute', { body: () => ({ source_documents: [{ title: 'pwned', text: 'pwned' }] }) }),
  data('POST', '/v1/taxonomies/execute/:taxonomy_identifier', { body: () => ({ source_documents: [{ title: 'pwned', text: 'pwned' }] }) }),

  // ---- manifests ---------------------------------------------------------------------------------------------------
  ...(['validate', 'diff', 'apply'] as const).map((op): [string, Gen] => [`POST /v1/manifest/${op}`, (w) => manifestAttacks(w, op)]),
  [
    'GET /v1/manifest/export',
    (w) => [
      ...[w.v.ns, w.v.nsId, `local/${w.v.ns}`].flatMap((n) => both(w, { what: `namespace=${n}`, method: 'GET', url: `/v1/manifest/export?namespace=${encodeURIComponent(n)}`, expect: 'deny' })),
      ...both(w, { what: 'everything the key may see (only A)', method: 'GET', url: '/v1/manifest/export', expect: 'noleak' }),
      ...both(w, { what: 'format mixpeek (only A)', method: 'GET', url: '/v1/manifest/export?format=mixpeek', expect: 'noleak' }),
    ],
  ],
  [
    'POST /v1/manifest/export',
    (w) => [
      ...both(w, { what: 'namespaces [V]', method: 'POST', url: '/v1/manifest/export', body: { namespaces: [w.v.ns] }, expect: 'deny' }),
      ...both(w, { what: 'namespace_ids [V]', method: 'POST', url: '/v1/manifest/export', body: { namespace_ids: [w.v.nsId] }, expect: 'deny' }),
      ...both(w, { what: 'namespaces [A, V]', method: 'POST', url: '/v1/manifest/export', body: { namespaces: [w.a.ns, w.v.ns] }, expect: 'deny' }),
      ...both(w, { what: 'no selection (only A)', method: 'POST', url: '/v1/manifest/export', body: {}, expect: 'noleak' }),
    ],
  ],

  // ---- the local store's presigned URLs (public: the signature is the authority) --------------------------------
  ['GET /v1/_objects/*', (w) => presignAttacks(w, 'GET')],
  ['PUT /v1/_objects/*', (w) => presignAttacks(w, 'PUT')],
];

interface KindBodies {
  create: Json;
  patch: Json;
  put?: Json;
  /** Create bodies in A that reference V's resources: refused. */
  refs: { what: string; body: Json }[];
  /** Create bodies in A that may be stored, then executed: the run must not read V. */
  stored?: { what: string; body: Json; execute: string }[];
}

/** A management kind's routes: create/get/list/patch/put/delete of V's resources, and A's resources referencing V's. */
function managementKind(plural: string, param: string, bodies: (w: World) => KindBodies): [string, Gen][] {
  const item = `/v1/${plural}/:${param}`;
  const out: [string, Gen][] = [
    [
      `POST /v1/${plural}`,
      (w) => {
        const b = bodies(w);
        return [
          ...vHeaders(w).flatMap((ns) => both(w, { what: `create in X-Namespace ${ns}`, method: 'POST', url: `/v1/${plural}`, ns, body: b.create, expect: 'deny' })),
          ...b.refs.flatMap((r) => both(w, { what: r.what, method: 'POST', url: `/v1/${plural}`, ns: w.a.ns, body: r.body, expect: 'refuse' })),
          ...(b.stored ?? []).flatMap((s) =>
            both(w, {
              what: s.what,
              method: 'POST',
              url: `/v1/${plural}`,
              ns: w.a.ns,
              body: s.body,
              expect: 'noleak',
              then: (w2, reply) =>
                reply.status < 300
                  ? both(w2, { what: `execute ${s.execute}`, method: 'POST', url: `/v1/retrievers/${s.execute}/execute`, ns: w2.a.ns, body: { inputs: {} }, expect: 'noleak' })
                  : [],
            }),
          ),
        ];
      },
    ],
    data('GET', item),
    [
      `POST /v1/${plural}/list`,
      (w) => [
        ...vHeaders(w).flatMap((ns) => both(w, { what: `X-Namespace ${ns}`, method: 'POST', url: `/v1/${plural}/list`, ns, body: {}, expect: 'deny' })),
        ...both(w, { what: "X-Namespace alpha, search V's name", method: 'POST', url: `/v1/${plural}/list`, ns: w.a.ns, body: { search: 'v-' }, expect: 'noleak' }),
        ...both(w, { what: "X-Namespace alpha, filter on V's namespace", method: 'POST', url: `/v1/${plural}/list`, ns: w.a.ns, body: { filters: { field: 'namespace_id', operator: 'eq', value: w.v.nsId } }, expect: 'noleak' }),
        ...both(w, { what: 'no X-Namespace', method: 'POST', url: `/v1/${plural}/list`, body: {}, expect: 'refuse' }),
      ],
    ],
    [
      `GET /v1/${plural}`,
      (w) => [
        ...vHeaders(w).flatMap((ns) => both(w, { what: `X-Namespace ${ns}`, method: 'GET', url: `/v1/${plural}`, ns, expect: 'deny' })),
        ...both(w, { what: "X-Namespace alpha, search V's name", method: 'GET', url: `/v1/${plural}?search=v-`, ns: w.a.ns, expect: 'noleak' }),
        ...both(w, { what: 'no X-Namespace', method: 'GET', url: `/v1/${plural}`, expect: 'refuse' }),
      ],
    ],
    data('PATCH', item, { body: (w) => bodies(w).patch }),
    data('DELETE', item),
  ];
  if (plural === 'collections') out.push(data('GET', `${item}/features`));
  if (plural === 'buckets') out.push(data('PUT', item, { body: (w) => bodies(w).put }));
  return out;
}

/**
 * The order routes are attacked in: as registered, except that a successful attack on the routes listed here
 * would change who V is for every later route (the manifest takeover), so they go last.
 */
const LAST = ['POST /v1/manifest/apply'];
export function attackOrder(routes: string[]): string[] {
  return [...routes.filter((r) => !LAST.includes(r)), ...LAST.filter((r) => routes.includes(r))];
}

/** `METHOD /pattern` → the cases of that route. HEAD routes take their GET route's cases. */
export const ROUTE_CASES: ReadonlyMap<string, Gen> = new Map(CASES);

export function casesFor(route: string): Gen | undefined {
  const direct = ROUTE_CASES.get(route);
  if (direct) return direct;
  if (route.startsWith('HEAD ')) {
    const get = ROUTE_CASES.get(`GET ${route.slice(5)}`);
    return get && ((w) => get(w).map((c) => ({ ...c, method: 'HEAD', what: `HEAD: ${c.what}` })));
  }
  return undefined;
}
