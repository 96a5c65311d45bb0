/**
 * The management API contract, run against each ResourceStore adapter (cluster: KubeResourceStore on the test
 * apiserver; local: LocalResourceStore). Every resource × verb (create, get by name, get by id, list with
 * filter/sort/search/pagination, patch, delete), the documented error cases (400/401/403/404/409/422), status
 * mapped into the documented fields, PUT of namespaces and buckets, and the routes sharing prefixes with the ingestion and retriever APIs.
 * The app is the real engine app (engine/src/app/engine-app.ts) with API-key auth on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { FileApiKeyStore, createApiKey } from '#engine/auth/index.ts';
import { notFound } from '#core/lib/errors.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import type { ResourceStore } from '#core/ports/resource-store.ts';
import type { RetrieverEngine } from '#engine/retriever/executor.ts';
import { managementSuitePartTwo, TEXT_FX, URI, type Json } from './suite-part-two.ts';

export interface ModeSetup {
  store: ResourceStore;
  k8sNamespace: string;
  /** Whether the field manager quarry-engine owns the object's spec (what the API applied). */
  engineOwns(kind: string, name: string): Promise<boolean>;
  cleanup(): Promise<void>;
}

export function managementSuite(mode: string, setup: () => Promise<ModeSetup>): void {
  describe(`management API (${mode})`, () => {
    let env: ModeSetup;
    let app: FastifyInstance;
    let dir: string;
    let admin: string;
    let scopedKey: string;

    before(async () => {
      env = await setup();
      dir = mkdtempSync(path.join(tmpdir(), 'quarry-mgmt-'));
      const keys = new FileApiKeyStore(dir);
      admin = (await createApiKey(keys, { name: 'admin', namespaces: '*' })).key;
      scopedKey = (await createApiKey(keys, { name: 'only-alpha', namespaces: ['alpha'] })).key;
      app = await buildEngineApp({
        objects: new LocalObjectStore({ root: path.join(dir, 'objects') }),
        namespace: async (n) => {
          throw notFound('namespace', n);
        },
        // Only the routes are needed (the stage registry answers without an engine).
        retrievers: { deps: {} } as unknown as RetrieverEngine,
        resources: env.store,
        k8sNamespace: env.k8sNamespace,
        auth: { keys },
      });
      await app.ready();
    });

    after(async () => {
      await app?.close();
      await env?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const call = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, opts: { body?: unknown; ns?: string; key?: string | null } = {}) => {
      const headers: Record<string, string> = {};
      const key = opts.key === undefined ? admin : opts.key;
      if (key) headers.authorization = `Bearer ${key}`;
      if (opts.ns) headers['x-namespace'] = opts.ns;
      const res = await app.inject({ method, url, headers, ...(opts.body !== undefined ? { payload: opts.body as object } : {}) });
      return { status: res.statusCode, body: (res.body ? res.json() : {}) as Json };
    };

    /** The documented error envelope, with the field named when given. */
    const assertError = (res: { status: number; body: Json }, status: number, type: string, field?: string) => {
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.success, false);
      assert.equal(res.body.status, status);
      assert.equal(res.body.error.type, type);
      if (field) {
        const fields = (res.body.error.details?.validation_errors ?? []).map((e: { field: string }) => e.field);
        assert.ok(fields.includes(field) || res.body.error.details?.field === field, `expected field ${field} in ${JSON.stringify(res.body.error)}`);
      }
    };

    const ids: Record<string, string> = {};

    // -------------------------------------------------------------------------------------------------------
    test('namespaces: create (SSA as quarry-engine), duplicates, invalid bodies', async () => {
      const res = await call('POST', '/v1/namespaces', {
        body: { namespace_name: 'alpha', description: 'alpha tenant', feature_extractors: [TEXT_FX], payload_indexes: [{ field_name: 'category', type: 'keyword' }], auto_create_indexes: false },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(res.body.namespace_id, /^ns_[0-9a-f]{32}$/);
      assert.equal(res.body.namespace_name, 'alpha');
      assert.equal(res.body.namespace_type, 'standard');
      assert.deepEqual(res.body.feature_extractors, [{ ...TEXT_FX, feature_extractor_id: 'text_extractor_v1' }]);
      assert.deepEqual(res.body.payload_indexes, [{ field_name: 'category', type: 'keyword', is_protected: false }]);
      assert.equal(res.body.bucket_count, 0);
      assert.equal(res.body.status, 'PENDING', 'no operator has reconciled it yet');
      ids.alpha = res.body.namespace_id;
      assert.ok(await env.engineOwns('QuarryNamespace', 'alpha'), 'the custom resource is applied by field manager quarry-engine');

      const beta = await call('POST', '/v1/namespaces', { body: { namespace_name: 'beta', description: 'beta tenant', feature_extractors: [TEXT_FX], vector_store: { shards: 2 } } });
      assert.equal(beta.status, 200, JSON.stringify(beta.body));
      assert.equal(beta.body.vector_store.shards, 2);
      ids.beta = beta.body.namespace_id;
      const gamma = await call('POST', '/v1/namespaces', { body: { namespace_name: 'gamma-search', feature_extractors: [TEXT_FX] } });
      assert.equal(gamma.status, 200);

      assertError(await call('POST', '/v1/namespaces', { body: { namespace_name: 'alpha', feature_extractors: [TEXT_FX] } }), 409, 'AlreadyExistsError');
      // Display names may hold '_' and capitals (reference §12.1), not '/' (they are path segments), nor pass 100 characters.
      assertError(await call('POST', '/v1/namespaces', { body: { namespace_name: 'bad/name', feature_extractors: [TEXT_FX] } }), 422, 'ValidationError', 'namespace_name');
      assertError(await call('POST', '/v1/namespaces', { body: { namespace_name: 'n'.repeat(101), feature_extractors: [TEXT_FX] } }), 422, 'ValidationError', 'namespace_name');
      assertError(await call('POST', '/v1/namespaces', { body: { namespace_name: 'delta' } }), 422, 'ValidationError', 'feature_extractors');
      const unknownFx = await call('POST', '/v1/namespaces', { body: { namespace_name: 'delta', feature_extractors: [{ feature_extractor_name: 'nope_extractor', version: 'v1' }] } });
      assertError(unknownFx, 422, 'ValidationError', 'feature_extractors[0].feature_extractor_name');
      assert.ok(Array.isArray(unknownFx.body.detail), 'FastAPI-style detail for client compatibility');
      assertError(await call('POST', '/v1/namespaces', { body: { namespace_name: 'delta', feature_extractors: [TEXT_FX], colour: 'red' } }), 422, 'ValidationError', 'colour');
      assertError(await call('POST', '/v1/namespaces', { body: { namespace_name: 'delta', feature_extractors: [TEXT_FX], namespace_type: 'marketplace' } }), 422, 'ValidationError', 'namespace_type');
      assertError(await call('POST', '/v1/namespaces', { body: [1, 2] }), 422, 'ValidationError', 'body');
      assert.equal(await env.store.get('QuarryNamespace', { namespace: env.k8sNamespace, name: 'delta' }), undefined, 'nothing written for rejected bodies');
    });

    test('namespaces: get by name and id, 404', async () => {
      const byName = await call('GET', '/v1/namespaces/alpha');
      assert.equal(byName.status, 200);
      assert.equal(byName.body.namespace_id, ids.alpha);
      const byId = await call('GET', `/v1/namespaces/${ids.alpha}`);
      assert.equal(byId.status, 200);
      assert.equal(byId.body.namespace_name, 'alpha');
      assert.equal(byId.body.description, 'alpha tenant');
      assertError(await call('GET', '/v1/namespaces/nope'), 404, 'NotFoundError');
      assertError(await call('GET', '/v1/namespaces/ns_00000000000000000000000000000000'), 404, 'NotFoundError');
    });

    test('namespaces: list with search, filters, sort, offset and cursor pagination', async () => {
      const all = await call('POST', '/v1/namespaces/list', { body: {} });
      assert.equal(all.status, 200);
      assert.equal(all.body.pagination.total, 3);
      const search = await call('POST', '/v1/namespaces/list', { body: { search: 'TENANT' } });
      assert.deepEqual(search.body.results.map((r: Json) => r.namespace_name).sort(), ['alpha', 'beta'], 'search is case-insensitive over name/description');
      const cs = await call('POST', '/v1/namespaces/list', { body: { search: 'TENANT', case_sensitive: true } });
      assert.equal(cs.body.results.length, 0);
      const byId = await call('POST', '/v1/namespaces/list', { body: { search: ids.beta } });
      assert.deepEqual(byId.body.results.map((r: Json) => r.namespace_name), ['beta']);
      const filtered = await call('POST', '/v1/namespaces/list', { body: { filters: { AND: [{ field: 'vector_store.shards', operator: 'eq', value: 2 }] } } });
      assert.deepEqual(filtered.body.results.map((r: Json) => r.namespace_name), ['beta']);
      const dict = await call('POST', '/v1/namespaces/list', { body: { filters: { namespace_name: 'gamma-search' } } });
      assert.deepEqual(dict.body.results.map((r: Json) => r.namespace_name), ['gamma-search']);
      const sorted = await call('POST', '/v1/namespaces/list', { body: { sort: { field: 'namespace_name', direction: 'desc' } } });
      assert.deepEqual(sorted.body.results.map((r: Json) => r.namespace_name), ['gamma-search', 'beta', 'alpha']);

      const p1 = await call('POST', '/v1/namespaces/list?limit=2&include_total=true', { body: { sorts: [{ field: 'namespace_name', direction: 'asc' }] } });
      assert.deepEqual(p1.body.results.map((r: Json) => r.namespace_name), ['alpha', 'beta']);
      assert.equal(p1.body.total_count, 3);
      assert.deepEqual({ ...p1.body.pagination, next_cursor: undefined }, { total: 3, page: 1, page_size: 2, total_pages: 2, next_page: 2, previous_page: null, next_cursor: undefined });
      assert.equal(typeof p1.body.pagination.next_cursor, 'string');
      const p2 = await call('POST', `/v1/namespaces/list?limit=2&cursor=${p1.body.pagination.next_cursor}`, { body: { sorts: [{ field: 'namespace_name', direction: 'asc' }] } });
      assert.deepEqual(p2.body.results.map((r: Json) => r.namespace_name), ['gamma-search']);
      assert.equal(p2.body.pagination.next_cursor, null);
      const off = await call('POST', '/v1/namespaces/list?limit=1&offset=1', { body: { sort: { field: 'namespace_name' } } });
      assert.deepEqual(off.body.results.map((r: Json) => r.namespace_name), ['beta']);
      assert.equal(off.body.pagination.previous_page, 1);

      assertError(await call('POST', '/v1/namespaces/list?limit=0', { body: {} }), 422, 'ValidationError', 'limit');
      assertError(await call('POST', '/v1/namespaces/list?cursor=garbage', { body: {} }), 422, 'ValidationError', 'cursor');
      assertError(await call('POST', '/v1/namespaces/list', { body: { filters: { AND: [{ field: 'x', operator: 'near', value: 1 }] } } }), 422, 'ValidationError', 'filters');
    });

    test('namespaces: patch mutable fields; immutables and renames are 422 naming the field', async () => {
      const res = await call('PATCH', '/v1/namespaces/alpha', { body: { description: 'alpha, renamed description', auto_create_indexes: true } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.description, 'alpha, renamed description');
      assert.equal(res.body.auto_create_indexes, true);
      assert.equal(res.body.namespace_id, ids.alpha, 'same object');
      const stored = await env.store.get<{ spec: { description: string }; metadata: { uid?: string } } & Parameters<ResourceStore['apply']>[0]>('QuarryNamespace', { namespace: env.k8sNamespace, name: 'alpha' });
      assert.equal(stored?.spec.description, 'alpha, renamed description');

      assertError(await call('PATCH', '/v1/namespaces/alpha', { body: { namespace_name: 'alpha2' } }), 422, 'ValidationError', 'namespace_name');
      // Existing extractor entries are immutable (they fix the vector dimensions).
      assertError(
        await call('PATCH', '/v1/namespaces/alpha', { body: { feature_extractors: [{ ...TEXT_FX, params: { embedding_model: 'multilingual_e5_small' } }] } }),
        422,
        'ValidationError',
      );
      assertError(await call('PATCH', `/v1/namespaces/${ids.beta}`, { body: { vector_store: { shards: 3 } } }), 422, 'ValidationError', 'vector_store.shards');
      assertError(await call('PATCH', '/v1/namespaces/alpha', { body: { infrastructure: { qdrant_collection: 'x' } } }), 422, 'ValidationError', 'infrastructure');
      assertError(await call('PATCH', '/v1/namespaces/nope', { body: { description: 'x' } }), 404, 'NotFoundError');

      // PUT: a whole create body replaces the spec (fields left out go away); immutables still hold.
      const put = await call('PUT', '/v1/namespaces/beta', { body: { description: 'beta, replaced', feature_extractors: [TEXT_FX], vector_store: { shards: 2 }, payload_indexes: [{ field_name: 'year', type: 'integer' }] } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.description, 'beta, replaced');
      assert.deepEqual(put.body.payload_indexes, [{ field_name: 'year', type: 'integer', is_protected: false }]);
      assert.equal(put.body.namespace_id, ids.beta);
      assertError(await call('PUT', '/v1/namespaces/beta', { body: { feature_extractors: [TEXT_FX], vector_store: { shards: 5 } } }), 422, 'ValidationError', 'vector_store.shards');
      assertError(await call('PUT', '/v1/namespaces/beta', { body: { description: 'no extractors' } }), 422, 'ValidationError', 'feature_extractors');
      assertError(await call('PUT', '/v1/namespaces/beta', { body: { namespace_name: 'other', feature_extractors: [TEXT_FX], vector_store: { shards: 2 } } }), 422, 'ValidationError', 'namespace_name');
    });

    // -------------------------------------------------------------------------------------------------------
    test('buckets: scoped by X-Namespace; create, 409, 422, get by name and id', async () => {
      assertError(await call('POST', '/v1/buckets', { body: { bucket_name: 'docs' } }), 400, 'BadRequestError');
      assertError(await call('POST', '/v1/buckets', { ns: 'nope', body: { bucket_name: 'docs' } }), 404, 'NotFoundError');

      const schema = { properties: { body: { type: 'text', required: true }, category: { type: 'string' } } };
      const res = await call('POST', '/v1/buckets', { ns: 'alpha', body: { bucket_name: 'docs', description: 'alpha documents', bucket_schema: schema, unique_key: { fields: ['category'], default_policy: 'upsert' }, metadata: { team: 'a' } } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(res.body.bucket_id, /^bkt_[0-9a-f]{32}$/);
      assert.equal(res.body.bucket_schema.properties.body.type, 'text');
      assert.equal(res.body.bucket_schema.properties.body.required, true);
      assert.equal(res.body.bucket_schema.properties.category.type, 'string');
      assert.deepEqual(res.body.unique_key, { fields: ['category'], default_policy: 'upsert' });
      assert.equal(res.body.object_count, 0);
      ids.docs = res.body.bucket_id;
      assert.equal(res.body.namespace_id, ids.alpha);
      assert.ok(await env.engineOwns('Bucket', 'docs'));
      const stored = (await env.store.get('Bucket', { namespace: env.k8sNamespace, name: 'docs' })) as { spec: { namespaceRef: string } } | undefined;
      assert.equal(stored?.spec.namespaceRef, 'alpha');

      // The documented alias `schema` (reference §11 #2), X-Namespace given by id.
      const alias = await call('POST', '/v1/buckets', { ns: ids.alpha, body: { bucket_name: 'images', description: 'pictures', schema: { properties: { image: { type: 'image' } } }, storage: { prefix: 'img/' } } });
      assert.equal(alias.status, 200, JSON.stringify(alias.body));
      assert.equal(alias.body.bucket_schema.properties.image.type, 'image');
      const third = await call('POST', '/v1/buckets', { ns: 'alpha', body: { bucket_name: 'notes', bucket_schema: { properties: { text: { type: 'text' } } } } });
      assert.equal(third.status, 200);
      const other = await call('POST', '/v1/buckets', { ns: 'beta', body: { bucket_name: 'beta-docs', bucket_schema: { properties: { text: { type: 'text' } } } } });
      assert.equal(other.status, 200);

      assertError(await call('POST', '/v1/buckets', { ns: 'alpha', body: { bucket_name: 'docs', bucket_schema: schema } }), 409, 'AlreadyExistsError');
      assertError(await call('POST', '/v1/buckets', { ns: 'alpha', body: { bucket_name: 'bad', bucket_schema: { properties: { x: { type: 'blob' } } } } }), 422, 'ValidationError', 'bucket_schema.properties.x.type');
      assertError(await call('POST', '/v1/buckets', { ns: 'alpha', body: { bucket_name: 'bad' } }), 422, 'ValidationError', 'bucket_schema');
      assertError(await call('POST', '/v1/buckets', { ns: 'alpha', body: { bucket_name: 'bad', schema: schema, bucket_schema: schema } }), 422, 'ValidationError', 'schema');
      assertError(
        await call('POST', '/v1/buckets', { ns: 'alpha', body: { bucket_name: 'bad', bucket_schema: schema, unique_key: { fields: ['missing'] } } }),
        422,
        'ValidationError',
      );

      assert.equal((await call('GET', '/v1/buckets/docs', { ns: 'alpha' })).body.bucket_id, ids.docs);
      const byId = await call('GET', `/v1/buckets/${ids.docs}`, { ns: 'alpha' });
      assert.equal(byId.status, 200);
      assert.equal(byId.body.bucket_name, 'docs');
      assertError(await call('GET', '/v1/buckets/docs', { ns: 'beta' }), 404, 'NotFoundError');
      assertError(await call('GET', '/v1/buckets/nope', { ns: 'alpha' }), 404, 'NotFoundError');
    });

    test('buckets: list, patch, immutable storage, delete', async () => {
      const list = await call('POST', '/v1/buckets/list?limit=2', { ns: 'alpha', body: { sort: { field: 'bucket_name', direction: 'asc' } } });
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.results.map((r: Json) => r.bucket_name), ['docs', 'images']);
      assert.equal(list.body.pagination.total, 3, 'only the namespace’s buckets');
      const search = await call('POST', '/v1/buckets/list', { ns: 'alpha', body: { search: 'pict' } });
      assert.deepEqual(search.body.results.map((r: Json) => r.bucket_name), ['images']);
      const filtered = await call('POST', '/v1/buckets/list', { ns: 'alpha', body: { filters: { AND: [{ field: 'metadata.team', operator: 'eq', value: 'a' }] } } });
      assert.deepEqual(filtered.body.results.map((r: Json) => r.bucket_name), ['docs']);

      const before = await call('GET', '/v1/buckets/docs', { ns: 'alpha' });
      // Timestamps have one-second resolution (as managedFields on the apiserver): let one pass before the change.
      await new Promise((r) => setTimeout(r, 1100));
      const patched = await call('PATCH', '/v1/buckets/docs', { ns: 'alpha', body: { description: 'patched', metadata: { team: 'b' } } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.ok(patched.body.updated_at > before.body.updated_at, `updated_at follows the change: ${before.body.updated_at} → ${patched.body.updated_at}`);
      assert.equal(patched.body.created_at, before.body.created_at);
      assert.equal(patched.body.description, 'patched');
      assert.deepEqual(patched.body.metadata, { team: 'b' });
      assert.equal(patched.body.bucket_schema.properties.body.required, true, 'untouched fields kept');
      const nulled = await call('PATCH', `/v1/buckets/${ids.docs}`, { ns: 'alpha', body: { description: null } });
      assert.equal(nulled.body.description, null, 'null removes an optional field');
      assertError(await call('PATCH', '/v1/buckets/docs', { ns: 'alpha', body: { bucket_name: 'docs2' } }), 422, 'ValidationError', 'bucket_name');
      const moved = await call('PATCH', '/v1/buckets/images', { ns: 'alpha', body: { storage: { prefix: 'moved/' } } });
      assertError(moved, 422, 'ValidationError', 'storage.prefix');
      assert.equal(moved.body.error.details.validation_errors[0].spec_field, 'spec.storage.prefix', 'the resource field is kept next to the API field');
      assertError(await call('PATCH', '/v1/buckets/docs', { ns: 'beta', body: { description: 'x' } }), 404, 'NotFoundError');
      const replaced = await call('PUT', '/v1/buckets/docs', { ns: 'alpha', body: { bucket_name: 'docs', bucket_schema: { properties: { body: { type: 'text', required: true }, category: { type: 'string' } } } } });
      assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
      assert.deepEqual(replaced.body.metadata, {}, 'PUT replaces: metadata left out is gone');
      assert.equal(replaced.body.unique_key, null);
      assertError(await call('PUT', '/v1/buckets/docs', { ns: 'alpha', body: { description: 'no schema' } }), 422, 'ValidationError', 'bucket_schema');
      // X-Namespace also in the engine runtime's `<k8s-namespace>/<name>` form.
      assert.equal((await call('GET', '/v1/buckets/docs', { ns: `${env.k8sNamespace}/alpha` })).body.bucket_id, ids.docs);

      const del = await call('DELETE', '/v1/buckets/notes', { ns: 'alpha' });
      assert.equal(del.status, 200);
      assert.equal(del.body.bucket_name, 'notes');
      assert.equal(await env.store.get('Bucket', { namespace: env.k8sNamespace, name: 'notes' }), undefined);
      assertError(await call('GET', '/v1/buckets/notes', { ns: 'alpha' }), 404, 'NotFoundError');
      assertError(await call('DELETE', '/v1/buckets/notes', { ns: 'alpha' }), 404, 'NotFoundError');
    });

    // -------------------------------------------------------------------------------------------------------
    test('collections: create by bucket id, status mapped into output_schema/vector_indexes/counts', async () => {
      const body = {
        collection_name: 'docs-text',
        description: 'chunked text',
        source: { type: 'bucket', bucket_ids: [ids.docs] },
        // The extractor quickstarts' array form (reference §11 #1).
        feature_extractors: [{ ...TEXT_FX, input_mappings: { text: 'body' }, field_passthrough: [{ source_path: 'category' }], parameters: { extractor_type: 'text_extractor', split_by: 'sentences', chunk_size: 3 } }],
      };
      const res = await call('POST', '/v1/collections', { ns: 'alpha', body });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(res.body.collection_id, /^col_[0-9a-f]{32}$/);
      assert.deepEqual(res.body.source.bucket_ids, [ids.docs]);
      assert.equal(res.body.feature_extractor.feature_extractor_name, 'text_extractor');
      assert.equal(res.body.feature_extractor.field_passthrough[0].source_path, 'category');
      assert.deepEqual(Object.keys(res.body.input_schema.properties).sort(), ['body', 'category'], 'input schema from the source bucket');
      assert.equal(res.body.lifecycle_state, 'active');
      ids.docsText = res.body.collection_id;
      assert.ok(await env.engineOwns('Collection', 'docs-text'));
      const stored = (await env.store.get('Collection', { namespace: env.k8sNamespace, name: 'docs-text' })) as unknown as { spec: { source: unknown; featureExtractor: { inputMappings: unknown } } };
      assert.deepEqual(stored.spec.source, { bucketRefs: ['docs'] }, 'references stored by name');
      assert.deepEqual(stored.spec.featureExtractor.inputMappings, { text: 'body' });

      // What the operator publishes, as it would write it.
      await env.store.applyStatus('Collection', { namespace: env.k8sNamespace, name: 'docs-text' }, {
        observedGeneration: 1,
        conditions: [{ type: 'Ready', status: 'True', reason: 'CollectionReady', message: '1 vector index', lastTransitionTime: '2026-01-01T00:00:00Z' }],
        documentCount: 42,
        outputSchema: { text: { type: 'text', description: 'chunk text' }, category: { type: 'string' } },
        vectorIndexes: [{ name: 'text_extractor_v1_embedding', featureUri: URI, dimensions: 384, distance: 'cosine', type: 'dense', purpose: 'text' }],
      });
      const got = await call('GET', '/v1/collections/docs-text', { ns: 'alpha' });
      assert.equal(got.status, 200);
      assert.equal(got.body.document_count, 42);
      assert.equal(got.body.status, 'ACTIVE');
      assert.equal(got.body.ready, true);
      assert.deepEqual(got.body.output_schema, { properties: { text: { type: 'text', description: 'chunk text' }, category: { type: 'string' } } });
      assert.equal(got.body.vector_indexes.length, 1);
      assert.equal(got.body.vector_indexes[0].feature_uri, URI);
      assert.equal(got.body.vector_indexes[0].name, 'all_minilm_l6_v2');
      assert.deepEqual(got.body.vector_indexes[0].index, { name: 'text_extractor_v1_embedding', dimensions: 384, type: 'dense', distance: 'cosine', purpose: 'text' });

      const up = await call('POST', '/v1/collections', {
        ns: 'alpha',
        body: { collection_name: 'docs-summary', source: { type: 'collection', collection_id: 'docs-text' }, feature_extractor: { feature_extractor_name: 'passthrough_extractor', version: 'v1' } },
      });
      // passthrough_extractor is not enabled in alpha: 422 naming the extractor field, with the fix.
      assertError(up, 422, 'ValidationError', 'feature_extractor.feature_extractor_name');
      assert.match(up.body.error.message, /not enabled in QuarryNamespace alpha/);
      const tier2 = await call('POST', '/v1/collections', {
        ns: 'alpha',
        body: { collection_name: 'docs-tier2', source: { type: 'collection', collection_id: ids.docsText }, feature_extractor: { ...TEXT_FX, input_mappings: { text: 'text' } }, enabled: false },
      });
      assert.equal(tier2.status, 200, JSON.stringify(tier2.body));
      assert.deepEqual(tier2.body.source.collection_ids, [ids.docsText]);
      assert.equal(tier2.body.enabled, false);
      assert.deepEqual(Object.keys(tier2.body.input_schema.properties).sort(), ['category', 'text'], 'input schema from the upstream output schema');

      assertError(await call('POST', '/v1/collections', { ns: 'alpha', body: { ...body, feature_extractors: undefined, feature_extractor: TEXT_FX } }), 409, 'AlreadyExistsError');
      assertError(await call('POST', '/v1/collections', { ns: 'alpha', body: { collection_name: 'x-col', source: { type: 'bucket', bucket_ids: ['missing'] }, feature_extractor: TEXT_FX } }), 422, 'ValidationError', 'source.bucket_ids[0]');
      assertError(await call('POST', '/v1/collections', { ns: 'beta', body: { collection_name: 'x-col', source: { type: 'bucket', bucket_ids: ['docs'] }, feature_extractor: TEXT_FX } }), 422, 'ValidationError', 'source.bucket_ids[0]');
      assertError(await call('POST', '/v1/collections', { ns: 'alpha', body: { collection_name: 'x-col', source: { type: 'bucket', bucket_ids: ['docs'] } } }), 422, 'ValidationError', 'feature_extractor');
      assertError(
        await call('POST', '/v1/collections', { ns: 'alpha', body: { collection_name: 'x-col', source: { type: 'bucket', bucket_ids: ['docs'] }, feature_extractor: { ...TEXT_FX, parameters: { chunk_size: 'big' } } } }),
        422,
        'ValidationError',
        'feature_extractor.parameters.chunk_size',
      );
      assertError(
        await call('POST', '/v1/collections', { ns: 'alpha', body: { collection_name: 'x-col', source: { type: 'bucket', bucket_ids: ['docs'] }, feature_extractor: TEXT_FX, alert_applications: [{ alert_id: 'a' }] } }),
        422,
        'ValidationError',
        'alert_applications',
      );
      assertError(await call('GET', `/v1/collections/${ids.docsText}`, { ns: 'beta' }), 404, 'NotFoundError');
      assert.equal((await call('GET', `/v1/collections/${ids.docsText}`, { ns: 'alpha' })).body.collection_name, 'docs-text');
    });

    test('collections: list, patch, immutable source and extractor, delete', async () => {
      const list = await call('POST', '/v1/collections/list', { ns: 'alpha', body: { filters: { AND: [{ field: 'document_count', operator: 'gte', value: 10 }] } } });
      assert.deepEqual(list.body.results.map((r: Json) => r.collection_name), ['docs-text']);
      const sorted = await call('POST', '/v1/collections/list', { ns: 'alpha', body: { sort: { field: 'collection_name', direction: 'desc' } } });
      assert.deepEqual(sorted.body.results.map((r: Json) => r.collection_name), ['docs-tier2', 'docs-text']);
      const search = await call('POST', '/v1/collections/list?limit=1', { ns: 'alpha', body: { search: 'chunked' } });
      assert.equal(search.body.pagination.total, 1);
      assert.equal(search.body.results[0].collection_id, ids.docsText);

      const patched = await call('PATCH', '/v1/collections/docs-tier2', { ns: 'alpha', body: { enabled: true, description: 'now on', schedule: { trigger_type: 'interval', schedule_config: { interval_seconds: 3600 } } } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal(patched.body.enabled, true);
      assert.deepEqual(patched.body.schedule, { trigger_type: 'interval', schedule_config: { interval_seconds: 3600, start_immediately: false } });
      assertError(
        await call('PATCH', '/v1/collections/docs-text', { ns: 'alpha', body: { feature_extractor: { ...TEXT_FX, input_mappings: { text: 'category' } } } }),
        422,
        'ValidationError',
        'feature_extractor',
      );
      assertError(await call('PATCH', '/v1/collections/docs-text', { ns: 'alpha', body: { source: { type: 'bucket', bucket_ids: ['images'] } } }), 422, 'ValidationError', 'source');
      assertError(await call('PATCH', '/v1/collections/docs-text', { ns: 'alpha', body: { collection_name: 'other' } }), 422, 'ValidationError', 'collection_name');

      assert.equal((await call('DELETE', `/v1/collections/${(await call('GET', '/v1/collections/docs-tier2', { ns: 'alpha' })).body.collection_id}`, { ns: 'alpha' })).status, 200);
      assertError(await call('GET', '/v1/collections/docs-tier2', { ns: 'alpha' }), 404, 'NotFoundError');
    });

    // -------------------------------------------------------------------------------------------------------
    managementSuitePartTwo({ call, assertError, ids, get env() { return env; }, get scopedKey() { return scopedKey; } });
  });
}
