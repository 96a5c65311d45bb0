// Management API contract, part two: retrievers, taxonomies, auth, namespace deletion and display names (run after part one, sharing its ids).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModeSetup } from './suite.ts';

export type Json = Record<string, unknown> & { [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

export const URI = 'quarry://text_extractor@v1/all_minilm_l6_v2';
export const TEXT_FX = { feature_extractor_name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };

/** What part two sees of the suite: its request helpers, the ids part one created, and the mode's setup once `before` ran. */
export interface SuiteContext {
  call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, opts?: { body?: unknown; ns?: string; key?: string | null }): Promise<{ status: number; body: Json }>;
  assertError(res: { status: number; body: Json }, status: number, type: string, field?: string): void;
  ids: Record<string, string>;
  readonly env: ModeSetup;
  readonly scopedKey: string;
}

/** Registers part two's tests inside managementSuite's describe, in their order. */
export function managementSuitePartTwo(ctx: SuiteContext): void {
  const { call, assertError, ids } = ctx;
  const retrieverBody = (name: string, collections = ['docs-text']) => ({
    retriever_name: name,
    description: 'text search',
    collection_identifiers: collections,
    input_schema: { query: { type: 'text', required: true } },
    stages: [
      {
        stage_name: 'search',
        stage_type: 'filter',
        config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 50 }], final_top_k: 10 } },
      },
      { stage_name: 'top', stage_id: 'limit', parameters: { limit: 5 } },
    ],
    tags: ['a'],
  });

  test('retrievers: create answers the flat retriever (PATCH wraps {retriever}); 409/422; get by name and id; routes shared with the retriever API', async () => {
    const res = await call('POST', '/v1/retrievers', { ns: 'alpha', body: retrieverBody('docs-search') });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const r = res.body;
    assert.match(r.retriever_id, /^ret_[0-9a-f]{32}$/);
    assert.deepEqual(r.collection_ids, [ids.docsText]);
    assert.deepEqual(r.collection_identifiers, ['docs-text']);
    assert.equal(r.stages.length, 2);
    assert.equal(r.stages[1].config.stage_id, 'limit', 'flat stage form normalised to the nested envelope');
    assert.deepEqual(r.input_schema, { query: { type: 'text', required: true } });
    assert.equal(r.version, 1);
    assert.equal(r.status, 'draft');
    ids.search = r.retriever_id;
    assert.ok(await ctx.env.engineOwns('Retriever', 'docs-search'));

    assertError(await call('POST', '/v1/retrievers', { ns: 'alpha', body: retrieverBody('docs-search') }), 409, 'AlreadyExistsError');
    const badStage = retrieverBody('bad-one');
    badStage.stages[0]!.config!.stage_id = 'teleport';
    assertError(await call('POST', '/v1/retrievers', { ns: 'alpha', body: badStage }), 422, 'ValidationError', 'stages[0].config.stage_id');
    const undeclared = retrieverBody('bad-two');
    undeclared.input_schema = {} as typeof undeclared.input_schema;
    const und = await call('POST', '/v1/retrievers', { ns: 'alpha', body: undeclared });
    assertError(und, 422, 'ValidationError');
    assert.match(und.body.error.message, /INPUT\.query/);
    assertError(await call('POST', '/v1/retrievers', { ns: 'alpha', body: { ...retrieverBody('bad-three'), collection_identifiers: ['nope'] } }), 422, 'ValidationError', 'collection_identifiers[0]');
    assertError(await call('POST', '/v1/retrievers', { ns: 'alpha', body: { ...retrieverBody('bad-four'), visibility: 'public' } }), 422, 'ValidationError', 'visibility');
    // The collection publishes only all_minilm_l6_v2: a URI it does not expose is named with the fix.
    const wrongUri = retrieverBody('bad-five');
    (wrongUri.stages[0]!.config!.parameters as Json).searches[0].feature_uri = 'quarry://image_extractor@v1';
    assertError(await call('POST', '/v1/retrievers', { ns: 'alpha', body: wrongUri }), 422, 'ValidationError');

    assert.equal((await call('GET', '/v1/retrievers/docs-search', { ns: 'alpha' })).body.retriever_id, ids.search);
    assert.equal((await call('GET', `/v1/retrievers/${ids.search}`, { ns: 'alpha' })).body.retriever_name, 'docs-search');
    assertError(await call('GET', '/v1/retrievers/docs-search', { ns: 'beta' }), 404, 'NotFoundError');

    // Static segments of the retriever API still win over :id.
    const stages = await call('GET', '/v1/retrievers/stages');
    assert.equal(stages.status, 200);
    assert.ok(Array.isArray(stages.body) && (stages.body as unknown as Json[]).some((s) => s.stage_id === 'feature_search'));
    // And the ingestion API still owns /v1/buckets/:bucket/objects (its namespace lookup answers).
    const objects = await call('POST', '/v1/buckets/docs/objects', { ns: 'alpha', body: { blobs: [] } });
    assert.equal(objects.status, 404);
    assert.match(objects.body.error.message, /namespace 'alpha' not found/);
  });

  test('retrievers: list, patch (version, {retriever}), delete', async () => {
    const second = await call('POST', '/v1/retrievers', { ns: 'alpha', body: { ...retrieverBody('docs-search-b'), description: 'another one', tags: ['b'] } });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const list = await call('POST', '/v1/retrievers/list', { ns: 'alpha', body: { sorts: [{ field: 'retriever_name', direction: 'asc' }] } });
    assert.deepEqual(list.body.results.map((r: Json) => r.retriever_name), ['docs-search', 'docs-search-b']);
    assert.equal(list.body.total, 2);
    const filtered = await call('POST', '/v1/retrievers/list', { ns: 'alpha', body: { filters: { AND: [{ field: 'tags', operator: 'in', value: ['b'] }] } } });
    assert.deepEqual(filtered.body.results.map((r: Json) => r.retriever_name), ['docs-search-b']);
    const paged = await call('POST', '/v1/retrievers/list?limit=1&offset=1', { ns: 'alpha', body: { sort: { field: 'retriever_name' } } });
    assert.deepEqual(paged.body.results.map((r: Json) => r.retriever_name), ['docs-search-b']);

    const patched = await call('PATCH', '/v1/retrievers/docs-search', { ns: 'alpha', body: { description: 'patched', tags: ['x', 'y'], budget_limits: { max_time_ms: 2000 } } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.retriever.description, 'patched');
    assert.deepEqual(patched.body.retriever.tags, ['x', 'y']);
    assert.deepEqual(patched.body.retriever.budget_limits, { max_time_ms: 2000 });
    assert.equal(patched.body.retriever.stages.length, 2, 'stages kept');
    assertError(await call('PATCH', '/v1/retrievers/docs-search', { ns: 'alpha', body: { retriever_name: 'renamed' } }), 422, 'ValidationError', 'retriever_name');
    assertError(await call('PATCH', '/v1/retrievers/docs-search', { ns: 'alpha', body: { stages: [] } }), 422, 'ValidationError', 'stages');

    const del = await call('DELETE', `/v1/retrievers/${second.body.retriever_id}`, { ns: 'alpha' });
    assert.equal(del.status, 200);
    assert.equal(del.body.retriever_name, 'docs-search-b');
    assertError(await call('GET', '/v1/retrievers/docs-search-b', { ns: 'alpha' }), 404, 'NotFoundError');
  });

  // -------------------------------------------------------------------------------------------------------
  const flat = (retriever: string, collection: string) => ({
    taxonomy_type: 'flat',
    retriever_id: retriever,
    input_mappings: [{ input_key: 'query', source_type: 'payload', path: 'text' }],
    source_collection: { collection_id: collection, enrichment_fields: [{ field_path: 'category', target_field: 'label' }] },
  });

  test('taxonomies: create by ids, 409/422, get, list, patch, delete', async () => {
    const res = await call('POST', '/v1/taxonomies', { ns: 'alpha', body: { taxonomy_name: 'topics', description: 'topic labels', config: flat(ids.search!, ids.docsText!) } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.body.taxonomy_id, /^tax_[0-9a-f]{32}$/);
    assert.equal(res.body.config.retriever_id, ids.search);
    assert.equal(res.body.config.source_collection.collection_id, ids.docsText);
    assert.deepEqual(res.body.config.source_collection.enrichment_fields, [{ field_path: 'category', target_field: 'label', merge_mode: 'replace' }]);
    assert.equal(res.body.version, 1);
    assert.equal(res.body.ready, false);
    assert.ok(await ctx.env.engineOwns('Taxonomy', 'topics'));
    const stored = (await ctx.env.store.get('Taxonomy', { namespace: ctx.env.k8sNamespace, name: 'topics' })) as { spec: Json };
    assert.equal(stored.spec.retrieverRef, 'docs-search');
    assert.equal(stored.spec.sourceCollection.collectionRef, 'docs-text');
    const second = await call('POST', '/v1/taxonomies', { ns: 'alpha', body: { taxonomy_name: 'topics-b', config: flat('docs-search', 'docs-text') } });
    assert.equal(second.status, 200);

    assertError(await call('POST', '/v1/taxonomies', { ns: 'alpha', body: { taxonomy_name: 'topics', config: flat('docs-search', 'docs-text') } }), 409, 'AlreadyExistsError');
    const noRetriever = { ...flat('docs-search', 'docs-text'), retriever_id: undefined };
    assertError(await call('POST', '/v1/taxonomies', { ns: 'alpha', body: { taxonomy_name: 'bad', config: noRetriever } }), 422, 'ValidationError', 'config.retriever_id');
    assertError(await call('POST', '/v1/taxonomies', { ns: 'alpha', body: { taxonomy_name: 'bad', config: { ...flat('docs-search', 'docs-text'), llm_model: 'gpt' } } }), 422, 'ValidationError', 'config.llm_model');
    assertError(await call('POST', '/v1/taxonomies', { ns: 'alpha', body: { taxonomy_name: 'bad' } }), 422, 'ValidationError', 'config');

    assert.equal((await call('GET', `/v1/taxonomies/${res.body.taxonomy_id}`, { ns: 'alpha' })).body.taxonomy_name, 'topics');
    assert.equal((await call('GET', '/v1/taxonomies/topics', { ns: 'alpha' })).body.taxonomy_id, res.body.taxonomy_id);
    assertError(await call('GET', '/v1/taxonomies/topics', { ns: 'beta' }), 404, 'NotFoundError');
    const list = await call('POST', '/v1/taxonomies/list', { ns: 'alpha', body: { search: 'topic labels' } });
    assert.deepEqual(list.body.results.map((r: Json) => r.taxonomy_name), ['topics']);
    const all = await call('POST', '/v1/taxonomies/list?limit=1', { ns: 'alpha', body: { sort: { field: 'taxonomy_name', direction: 'desc' } } });
    assert.deepEqual(all.body.results.map((r: Json) => r.taxonomy_name), ['topics-b']);
    assert.equal(all.body.pagination.total_pages, 2);

    const patched = await call('PATCH', '/v1/taxonomies/topics', { ns: 'alpha', body: { description: 'patched', config: { ...flat('docs-search', 'docs-text'), top_k: 3 } } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.description, 'patched');
    assert.equal(patched.body.config.top_k, 3);
    assertError(await call('PATCH', '/v1/taxonomies/topics', { ns: 'alpha', body: { taxonomy_name: 'x' } }), 422, 'ValidationError', 'taxonomy_name');

    assert.equal((await call('DELETE', '/v1/taxonomies/topics-b', { ns: 'alpha' })).status, 200);
    assertError(await call('GET', '/v1/taxonomies/topics-b', { ns: 'alpha' }), 404, 'NotFoundError');
  });

  // -------------------------------------------------------------------------------------------------------
  test('auth: 401 without or with an invalid key, 403 outside the key’s namespaces', async () => {
    assertError(await call('POST', '/v1/namespaces/list', { key: null, body: {} }), 401, 'UnauthorizedError');
    assertError(await call('GET', '/v1/buckets/docs', { key: 'sk_invalid', ns: 'alpha' }), 401, 'UnauthorizedError');
    assertError(await call('POST', '/v1/buckets/list', { key: ctx.scopedKey, ns: 'beta', body: {} }), 403, 'ForbiddenError');
    assertError(await call('GET', '/v1/namespaces/beta', { key: ctx.scopedKey }), 403, 'ForbiddenError');
    assertError(await call('PATCH', `/v1/namespaces/${ids.beta}`, { key: ctx.scopedKey, body: { description: 'x' } }), 403, 'ForbiddenError');
    assertError(await call('DELETE', '/v1/namespaces/beta', { key: ctx.scopedKey }), 403, 'ForbiddenError');
    assertError(await call('POST', '/v1/namespaces', { key: ctx.scopedKey, body: { namespace_name: 'epsilon', feature_extractors: [TEXT_FX] } }), 403, 'ForbiddenError');
    // In scope: allowed, and lists show only the key's namespaces.
    assert.equal((await call('GET', '/v1/buckets/docs', { key: ctx.scopedKey, ns: 'alpha' })).status, 200);
    assert.equal((await call('GET', `/v1/namespaces/${ids.alpha}`, { key: ctx.scopedKey })).status, 200);
    const visible = await call('POST', '/v1/namespaces/list', { key: ctx.scopedKey, body: {} });
    assert.deepEqual(visible.body.results.map((r: Json) => r.namespace_name), ['alpha']);
  });

  // -------------------------------------------------------------------------------------------------------
  test('namespace delete removes its buckets, collections, retrievers and taxonomies; others untouched', async () => {
    const del = await call('DELETE', `/v1/namespaces/${ids.alpha}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.equal(del.body.namespace_id, ids.alpha);
    for (const [kind, name] of [['QuarryNamespace', 'alpha'], ['Bucket', 'docs'], ['Bucket', 'images'], ['Collection', 'docs-text'], ['Retriever', 'docs-search'], ['Taxonomy', 'topics']] as const) {
      assert.equal(await ctx.env.store.get(kind, { namespace: ctx.env.k8sNamespace, name }), undefined, `${kind} ${name} deleted`);
    }
    assertError(await call('GET', '/v1/namespaces/alpha'), 404, 'NotFoundError');
    assert.equal((await call('GET', '/v1/buckets/beta-docs', { ns: 'beta' })).status, 200);
    assert.equal((await call('GET', '/v1/namespaces/beta')).status, 200);
  });

  // -------------------------------------------------------------------------------------------------------
  test('display names: the reference’s names, unique per Quarry namespace, resolved everywhere; kubectl CRs unchanged', async () => {
    const stored = async (kind: string, annotated: string, nsRef?: string) =>
      (await ctx.env.store.list(kind, { namespace: ctx.env.k8sNamespace })).find(
        (r) => r.metadata.annotations?.['quarry.dev/source-name'] === annotated && (nsRef === undefined || (r.spec as { namespaceRef?: string }).namespaceRef === nsRef),
      );
    const research = await call('POST', '/v1/namespaces', { body: { namespace_name: 'Research_Team', feature_extractors: [TEXT_FX] } });
    assert.equal(research.status, 200, JSON.stringify(research.body));
    assert.equal(research.body.namespace_name, 'Research_Team');
    const researchObj = await stored('QuarryNamespace', 'Research_Team');
    assert.match(researchObj?.metadata.name ?? '', /^research-team-[0-9a-f]{8}$/, 'object name derived, display name in the annotation');
    const catalog = await call('POST', '/v1/namespaces', { body: { namespace_name: 'catalog', feature_extractors: [TEXT_FX] } });
    assert.equal(catalog.status, 200, JSON.stringify(catalog.body));
    assert.equal((await call('GET', '/v1/namespaces/Research_Team')).body.namespace_id, research.body.namespace_id);
    assertError(await call('POST', '/v1/namespaces', { body: { namespace_name: 'Research_Team', feature_extractors: [TEXT_FX] } }), 409, 'AlreadyExistsError');

    // The same bucket name in two Quarry namespaces: two buckets, and neither 409 nor any answer shows the other.
    const schema = { properties: { body: { type: 'text' } } };
    const inCatalog = await call('POST', '/v1/buckets', { ns: 'catalog', body: { bucket_name: 'products', bucket_schema: schema } });
    assert.equal(inCatalog.status, 200, JSON.stringify(inCatalog.body));
    assert.ok(await ctx.env.store.get('Bucket', { namespace: ctx.env.k8sNamespace, name: 'products' }), 'a free DNS label is its own object name');
    const inResearch = await call('POST', '/v1/buckets', { ns: 'Research_Team', body: { bucket_name: 'products', bucket_schema: schema } });
    assert.equal(inResearch.status, 200, JSON.stringify(inResearch.body));
    assert.equal(inResearch.body.bucket_name, 'products');
    assert.equal(inResearch.body.namespace_name, 'Research_Team');
    assert.notEqual(inResearch.body.bucket_id, inCatalog.body.bucket_id);
    const researchBucket = await stored('Bucket', 'products', researchObj!.metadata.name);
    assert.match(researchBucket?.metadata.name ?? '', /^products-[0-9a-f]{8}$/);
    for (const [ns, mine, theirs] of [['Research_Team', inResearch, inCatalog], ['catalog', inCatalog, inResearch]] as const) {
      const dup = await call('POST', '/v1/buckets', { ns, body: { bucket_name: 'products', bucket_schema: schema } });
      assertError(dup, 409, 'AlreadyExistsError');
      assert.equal(dup.body.error.details.id, mine.body.bucket_id);
      assert.ok(!JSON.stringify(dup.body).includes(theirs.body.bucket_id), 'the 409 never shows another namespace’s bucket');
      assert.ok(!JSON.stringify(dup.body).includes(theirs.body.namespace_name), JSON.stringify(dup.body));
      assert.equal((await call('GET', '/v1/buckets/products', { ns })).body.bucket_id, mine.body.bucket_id);
    }
    assertError(await call('GET', `/v1/buckets/${inCatalog.body.bucket_id}`, { ns: 'Research_Team' }), 404, 'NotFoundError');

    // Reference §12.1 names, references in bodies by display name, a 100-character collection name.
    const col = await call('POST', '/v1/collections', { ns: research.body.namespace_id, body: { collection_name: 'docs_text', source: { type: 'bucket', bucket_ids: ['products'] }, feature_extractor: { ...TEXT_FX, input_mappings: { text: 'body' } } } });
    assert.equal(col.status, 200, JSON.stringify(col.body));
    assert.equal(col.body.collection_name, 'docs_text');
    assert.deepEqual(col.body.source.bucket_ids, [inResearch.body.bucket_id], 'the display name resolved in this namespace, not catalog’s products');
    assert.deepEqual(col.body.source.bucket_names, ['products']);
    const colObj = await stored('Collection', 'docs_text');
    assert.deepEqual((colObj?.spec as { source: { bucketRefs: string[] } }).source.bucketRefs, [researchBucket!.metadata.name]);
    const long = `Long_${'x'.repeat(95)}`;
    const longCol = await call('POST', '/v1/collections', { ns: 'Research_Team', body: { collection_name: long, source: { type: 'bucket', bucket_ids: ['products'] }, feature_extractor: { ...TEXT_FX, input_mappings: { text: 'body' } } } });
    assert.equal(longCol.status, 200, JSON.stringify(longCol.body));
    assert.equal(longCol.body.collection_name, long);
    assert.ok((await stored('Collection', long))!.metadata.name.length <= 63);
    assertError(await call('POST', '/v1/collections', { ns: 'Research_Team', body: { collection_name: `${long}y`, source: { type: 'bucket', bucket_ids: ['products'] }, feature_extractor: TEXT_FX } }), 422, 'ValidationError', 'collection_name');

    const ret = await call('POST', '/v1/retrievers', { ns: 'Research_Team', body: retrieverBody('docs_search', ['docs_text']) });
    assert.equal(ret.status, 200, JSON.stringify(ret.body));
    assert.equal(ret.body.retriever_name, 'docs_search');
    assert.deepEqual(ret.body.collection_identifiers, ['docs_text']);
    assert.deepEqual(ret.body.collection_ids, [col.body.collection_id]);
    const tax = await call('POST', '/v1/taxonomies', { ns: 'Research_Team', body: { taxonomy_name: 'Topics_1', config: flat('docs_search', 'docs_text') } });
    assert.equal(tax.status, 200, JSON.stringify(tax.body));
    assert.equal(tax.body.config.retriever_id, ret.body.retriever_id);
    assert.equal(tax.body.config.source_collection.collection_id, col.body.collection_id);

    // get, list, patch, put and delete by display name; the annotation survives updates.
    assert.equal((await call('GET', '/v1/retrievers/docs_search', { ns: 'Research_Team' })).body.retriever_id, ret.body.retriever_id);
    assert.equal((await call('GET', '/v1/taxonomies/Topics_1', { ns: 'Research_Team' })).body.taxonomy_name, 'Topics_1');
    const listed = await call('POST', '/v1/collections/list', { ns: 'Research_Team', body: { search: 'docs_' } });
    assert.deepEqual(listed.body.results.map((r: Json) => r.collection_name), ['docs_text']);
    const patched = await call('PATCH', '/v1/collections/docs_text', { ns: 'Research_Team', body: { collection_name: 'docs_text', description: 'patched' } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.collection_name, 'docs_text');
    assert.equal((await stored('Collection', 'docs_text'))?.metadata.name, colObj!.metadata.name, 'PATCH keeps the display name');
    assertError(await call('PATCH', '/v1/collections/docs_text', { ns: 'Research_Team', body: { collection_name: 'other_name' } }), 422, 'ValidationError', 'collection_name');
    const put = await call('PUT', '/v1/buckets/products', { ns: 'Research_Team', body: { bucket_name: 'products', description: 'put', bucket_schema: schema } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.bucket_name, 'products');
    assert.equal((await stored('Bucket', 'products', researchObj!.metadata.name))?.metadata.name, researchBucket!.metadata.name, 'PUT keeps the display name');
    const putNs = await call('PATCH', '/v1/namespaces/Research_Team', { body: { description: 'patched' } });
    assert.equal(putNs.body.namespace_name, 'Research_Team');

    // API keys scope namespaces by name: by name or id in X-Namespace alike, and not the other namespace.
    const key = await call('POST', '/v1/organizations/api-keys', { body: { name: 'research', namespaces: ['Research_Team'] } });
    assert.equal(key.status, 200, JSON.stringify(key.body));
    for (const ns of ['Research_Team', research.body.namespace_id]) assert.equal((await call('GET', '/v1/buckets/products', { key: key.body.key, ns })).status, 200, ns);
    assertError(await call('GET', '/v1/buckets/products', { key: key.body.key, ns: catalog.body.namespace_id }), 403, 'ForbiddenError');
    const visible = await call('POST', '/v1/namespaces/list', { key: key.body.key, body: {} });
    assert.deepEqual(visible.body.results.map((r: Json) => r.namespace_name), ['Research_Team']);

    // A resource applied with kubectl (no annotation): its object name is its name.
    await ctx.env.store.apply({ apiVersion: 'quarry.dev/v1alpha1', kind: 'Bucket', metadata: { name: 'legacy-bkt', namespace: ctx.env.k8sNamespace }, spec: { namespaceRef: 'catalog', schema } });
    const legacy = await call('GET', '/v1/buckets/legacy-bkt', { ns: 'catalog' });
    assert.equal(legacy.status, 200, JSON.stringify(legacy.body));
    assert.equal(legacy.body.bucket_name, 'legacy-bkt');

    const delTax = await call('DELETE', '/v1/taxonomies/Topics_1', { ns: 'Research_Team' });
    assert.equal(delTax.body.taxonomy_name, 'Topics_1');
    assert.equal((await call('DELETE', '/v1/retrievers/docs_search', { ns: 'Research_Team' })).status, 200);
    assert.equal((await call('DELETE', '/v1/namespaces/Research_Team')).status, 200);
    assert.equal(await stored('Bucket', 'products', researchObj!.metadata.name), undefined);
    assert.equal((await call('GET', '/v1/buckets/products', { ns: 'catalog' })).body.bucket_id, inCatalog.body.bucket_id, 'catalog’s products untouched');
  });
}
