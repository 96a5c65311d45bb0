/**
 * One test per JSON example of the Retrievers seed document (shared/seeds/003_762fa22fc5d40b03.txt) that needs
 * only implemented stages, run as anonymous (or named) retrievers over the seeded collection through the HTTP API,
 * checking the documented output shape. Examples calling external hosts (api.stripe.com, api.github.com,
 * api.example.com) run with DNS failing fast, so on_error's documented default (skip) keeps the documents.
 * Examples of stages that need a service Quarry is not configured with (external_web_search) must fail with a clear error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '#engine/http/app.ts';
import { RetrieverEngine } from '#engine/retriever/executor.ts';
import { seed } from './fixtures.ts';

const E5 = 'mixpeek://text_extractor@v1/multilingual_e5_large_instruct_v1';
type Body = { documents: Record<string, unknown>[]; [k: string]: unknown };

async function harness() {
  const s = await seed({ lookup: async () => { throw new Error('no network in tests'); } });
  const named = new Map<string, Record<string, unknown>>();
  named.set('ret_find_similar_products', {
    collection_identifiers: ['catalog'],
    input_schema: { query: { type: 'text', required: true }, category: { type: 'string' } },
    stages: [
      { stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: E5, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 10 }], final_top_k: 2 } } },
    ],
  });
  const engine = new RetrieverEngine({ ...s.deps, retrievers: { get: async (id) => named.get(id) } });
  const app = await buildApp({ ...s.deps, engine });
  const anon = async (def: Record<string, unknown>, req: Record<string, unknown> = {}) => {
    const r = await app.inject({ method: 'POST', url: '/v1/retrievers/execute', payload: { collection_identifiers: ['products'], input_schema: {}, inputs: {}, ...def, ...req } });
    return { status: r.statusCode, body: r.json() as Body, headers: r.headers };
  };
  return { app, anon, named };
}

const search = (final = 20) => ({
  stage_name: 'search',
  stage_type: 'filter',
  config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: E5, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 100 }], final_top_k: final } },
});

function documentedShape(body: Body) {
  assert.match(String(body.execution_id), /^exec_/);
  assert.ok(Array.isArray(body.documents));
  assert.ok(body.stage_statistics && typeof body.stage_statistics === 'object');
  const budget = body.budget as Record<string, unknown>;
  for (const k of ['credits_used', 'time_elapsed_ms']) assert.equal(typeof budget[k], 'number', k);
  assert.ok(body.pagination);
}

test('seed: anatomy of a retriever (document_enrich → api_call → json_transform, cache_config)', async () => {
  const { anon, app } = await harness();
  const r = await anon({
    retriever_name: 'product_search_v2',
    description: 'Product search with enrichment and transformation',
    collection_identifiers: ['products'],
    input_schema: { query_text: { type: 'text', required: true }, max_price: { type: 'number' } },
    stages: [
      { stage_name: 'seed_docs', stage_type: 'filter', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: E5, query: { input_mode: 'text', value: '{{INPUT.query_text}}' } }], final_top_k: 3 } } },
      { stage_name: 'enrich_catalog', stage_type: 'enrich', config: { stage_id: 'document_enrich', parameters: { target_collection_id: 'catalog', source_field: 'metadata.product_id', target_field: 'product_id', fields_to_merge: ['name', 'price', 'category'], output_field: 'catalog_data' } } },
      { stage_name: 'fetch_billing', stage_type: 'apply', config: { stage_id: 'api_call', parameters: { url: 'https://api.stripe.com/v1/customers/{{DOC.metadata.customer_id}}', method: 'GET', allowed_domains: ['api.stripe.com'], auth: { type: 'bearer', secret_ref: 'stripe_api_key' }, output_field: 'metadata.billing', on_error: 'skip' } } },
      { stage_name: 'reshape', stage_type: 'apply', config: { stage_id: 'json_transform', parameters: { template: '{"id": "{{DOC.document_id}}", "title": "{{DOC.metadata.title}}", "price": {{DOC.catalog_data.price}}}', fail_on_error: false } } },
    ],
    cache_config: { enabled: true, ttl_seconds: 300 },
  }, { inputs: { query_text: 'wireless earbuds' } });
  assert.equal(r.status, 200);
  documentedShape(r.body);
  assert.equal(r.body.documents.length, 3);
  for (const d of r.body.documents) assert.deepEqual(Object.keys(d).sort(), ['id', 'price', 'title']);
  assert.equal(typeof r.body.documents[0]!.price, 'number');
  assert.match(String(r.headers['cache-control']), /max-age=300/);
  await app.close();
});

test('seed: minimal working example (feature_search, named) executed with {"inputs", "limit": 10}', async () => {
  const { app, named } = await harness();
  named.set('basic_search', { retriever_name: 'basic_search', collection_identifiers: ['products'], input_schema: { query: { type: 'text', required: true } }, stages: [search(20)] });
  const r = await app.inject({ method: 'POST', url: '/v1/retrievers/basic_search/execute', payload: { inputs: { query: 'search terms here' }, limit: 10 } });
  assert.equal(r.statusCode, 200);
  const body = r.json() as Body;
  documentedShape(body);
  assert.ok(body.documents.length <= 10 && body.documents.length > 0);
  assert.equal(typeof body.documents[0]!.score, 'number');
  await app.close();
});

test('seed: document_enrich direct field join', async () => {
  const { anon, app } = await harness();
  const r = await anon({ input_schema: { query: { type: 'text', required: true } }, stages: [search(3), { stage_name: 'document_enrich', stage_type: 'enrich', config: { stage_id: 'document_enrich', parameters: { target_collection_id: 'catalog', source_field: 'metadata.product_id', target_field: 'product_id', fields_to_merge: ['name', 'price', 'category'], output_field: 'product_data' } } }] }, { inputs: { query: 'usb' } });
  assert.equal(r.status, 200);
  for (const d of r.body.documents) assert.deepEqual(Object.keys(d.product_data as object).sort(), ['category', 'name', 'price']);
  await app.close();
});

test('seed: document_enrich retriever-based enrichment (append)', async () => {
  const { anon, app } = await harness();
  const r = await anon({ input_schema: { query: { type: 'text', required: true } }, stages: [search(2), { stage_name: 'document_enrich', stage_type: 'enrich', config: { stage_id: 'document_enrich', parameters: { target_collection_id: 'col_similar_items', retriever_id: 'ret_find_similar_products', retriever_inputs: { query: '{{DOC.title}}', category: '{{DOC.metadata.category}}' }, fields_to_merge: ['name', 'price', 'image_url'], output_field: 'similar_products', strategy: 'append' } } }] }, { inputs: { query: 'watch' } });
  assert.equal(r.status, 200);
  for (const d of r.body.documents) {
    const similar = d.similar_products as Record<string, unknown>[];
    assert.ok(Array.isArray(similar) && similar.length === 2);
    assert.ok('name' in similar[0]! && 'price' in similar[0]!);
  }
  await app.close();
});

test('seed: document_enrich conditional enrichment (when)', async () => {
  const { anon, app } = await harness();
  const r = await anon({ input_schema: { query: { type: 'text', required: true } }, stages: [search(6), { stage_name: 'document_enrich', stage_type: 'enrich', config: { stage_id: 'document_enrich', parameters: { target_collection_id: 'catalog', source_field: 'metadata.product_id', target_field: 'product_id', fields_to_merge: ['warranty'], output_field: 'metadata.technical_details', when: { field: 'metadata.category', operator: 'eq', value: 'audio' } } } }] }, { inputs: { query: 'wireless' } });
  assert.equal(r.status, 200);
  for (const d of r.body.documents) {
    const md = d.metadata as Record<string, unknown>;
    assert.equal('technical_details' in md, md.category === 'audio');
  }
  await app.close();
});

for (const [name, params] of [
  ['Stripe customer lookup', { url: 'https://api.stripe.com/v1/customers/{DOC.metadata.stripe_id}', method: 'GET', allowed_domains: ['api.stripe.com'], auth: { type: 'bearer', secret_ref: 'stripe_api_key' }, output_field: 'metadata.stripe_data', timeout: 10, on_error: 'skip' }],
  ['GitHub API (public)', { url: 'https://api.github.com/repos/{INPUT.owner}/{INPUT.repo}', method: 'GET', allowed_domains: ['api.github.com'], output_field: 'metadata.github_info', response_path: '$.stargazers_count' }],
  ['POST with API key', { url: 'https://api.example.com/v1/analyze', method: 'POST', allowed_domains: ['api.example.com'], auth: { type: 'api_key', key: 'X-API-Key', location: 'header', secret_ref: 'example_api_key' }, headers: { 'Content-Type': 'application/json' }, body: { text: '{DOC.text}', language: 'en' }, output_field: 'metadata.analysis' }],
] as const) {
  test(`seed: api_call ${name} (no network: on_error skip keeps the documents, errors recorded)`, async () => {
    const { anon, app } = await harness();
    const r = await anon({ input_schema: { query: { type: 'text', required: true }, owner: { type: 'string' }, repo: { type: 'string' } }, stages: [search(2), { stage_name: 'api_call', stage_type: 'apply', config: { stage_id: 'api_call', parameters: params } }] }, { inputs: { query: 'usb', owner: 'o', repo: 'r' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.documents.length, 2);
    const stats = (r.body.stage_statistics as { stages: Record<string, { metadata?: { errors?: unknown[] } }> }).stages.api_call!;
    assert.equal(stats.metadata?.errors?.length, 2);
    await app.close();
  });
}

const jsonTransformExamples: [string, string, (d: Record<string, unknown>) => void][] = [
  ['field selection', '{"id": "{{ DOC.document_id }}", "content": "{{ DOC.text }}", "score": {{ DOC.score }}}', (d) => assert.deepEqual(Object.keys(d).sort(), ['content', 'id', 'score'])],
  ['conditional fields', '{"workflow_name": "process-asset", "inputs": [{"name": "id", "value": "{{ DOC.id }}"}{% if DOC.asset_type == "VIDEO" %}, {"name": "video", "value": {"src": "{{ DOC.url }}"}}{% endif %}]}', (d) => {
    assert.equal(d.workflow_name, 'process-asset');
    assert.equal((d.inputs as unknown[]).length, 1);
  }],
  ['array iteration', '{"title": "{{ DOC.title }}", "tags": [{% for tag in DOC.tags %}"{{ tag }}"{% if not loop.last %}, {% endif %}{% endfor %}]}', (d) => assert.ok(Array.isArray(d.tags))],
  ['JSON escaping', '{"user_id": "{{ DOC.metadata.user_id }}", "raw_data": {{ DOC.metadata.raw | tojson }}}', (d) => assert.deepEqual(Object.keys(d).sort(), ['raw_data', 'user_id'])],
];
for (const [name, template, check] of jsonTransformExamples) {
  test(`seed: json_transform ${name}`, async () => {
    const { anon, app } = await harness();
    const r = await anon({ input_schema: { query: { type: 'text', required: true } }, stages: [search(3), { stage_name: 'json_transform', stage_type: 'apply', config: { stage_id: 'json_transform', parameters: { template } } }] }, { inputs: { query: 'wireless' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.documents.length, 3);
    r.body.documents.forEach(check);
    await app.close();
  });
}

test('seed: execute with filters, limit, return_urls, return_vectors, session_id', async () => {
  const { anon, app } = await harness();
  const r = await anon({ input_schema: { query_text: { type: 'text', required: true }, max_price: { type: 'number' } }, stages: [{ ...search(20), config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: E5, query: { input_mode: 'text', value: '{{INPUT.query_text}}' } }], final_top_k: 20 }, pre_filters: { field: 'metadata.price', operator: 'lte', value: '{{INPUT.max_price}}' } } }] }, {
    inputs: { query_text: 'wireless earbuds', max_price: 150 },
    filters: { field: 'metadata.category', operator: 'eq', value: 'audio' },
    limit: 10,
    return_urls: true,
    return_vectors: false,
    session_id: 'sess_123',
  });
  assert.equal(r.status, 200);
  documentedShape(r.body);
  assert.deepEqual(r.body.documents.map((d) => d.document_id), ['p1']);
  assert.ok(!('_vectors' in r.body.documents[0]!));
  await app.close();
});

test('seed: batch execution (JSON and SSE stream) with the documented response and events', async () => {
  const { app, named } = await harness();
  named.set('ret_abc123', { retriever_id: 'ret_abc123', collection_identifiers: ['products'], input_schema: { query: { type: 'text', required: true } }, stages: [search(5)] });
  const queries = [{ inputs: { query: 'earbuds' } }, { inputs: { query: 'cable' } }, { inputs: { query: 'watch' } }];
  const r = await app.inject({ method: 'POST', url: '/v1/retrievers/ret_abc123/execute/batch', payload: { queries, concurrency: 5 } });
  const body = r.json();
  assert.equal(body.retriever_id, 'ret_abc123');
  assert.deepEqual([body.total_queries, body.completed, body.failed], [3, 3, 0]);
  assert.deepEqual(Object.keys(body.results[0]).filter((k) => ['query_index', 'status', 'documents', 'execution_id'].includes(k)).sort(), ['documents', 'execution_id', 'query_index', 'status']);
  assert.equal(typeof body.total_duration_ms, 'number');
  const sse = await app.inject({ method: 'POST', url: '/v1/retrievers/ret_abc123/execute/batch', payload: { queries: queries.slice(0, 2), concurrency: 5, stream: true } });
  const events = sse.body.split('\n\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  assert.deepEqual(events.map((e) => e.event_type), ['query_complete', 'query_complete', 'batch_complete']);
  assert.deepEqual(Object.keys(events[2]).sort(), ['batch_complete', 'completed', 'failed', 'retriever_id', 'total_duration_ms', 'total_queries'].map((k) => (k === 'batch_complete' ? 'event_type' : k)).sort());
  await app.close();
});

test('seed: anonymous retriever (feature_search → rerank with BAAI__bge_reranker_v2_m3)', async () => {
  const { anon, app } = await harness();
  const r = await anon({
    collection_identifiers: ['products'],
    input_schema: { query_text: { type: 'text', required: true } },
    stages: [
      { stage_name: 'search', stage_type: 'filter', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: E5, query: { input_mode: 'text', value: '{{INPUT.query_text}}' }, top_k: 50 }], final_top_k: 50 } } },
      { stage_name: 'rerank', stage_type: 'sort', config: { stage_id: 'rerank', parameters: { inference_name: 'BAAI__bge_reranker_v2_m3' } } },
    ],
  }, { inputs: { query_text: 'noise cancelling headphones' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-execution-mode'], 'adhoc');
  documentedShape(r.body);
  assert.equal(r.body.documents[0]!.document_id, 'p3');
  assert.equal(typeof (r.body.documents[0]!.scores as Record<string, unknown>).rerank, 'number');
  await app.close();
});

test('seed: stage registry listing has stage_id, description, category, icon', async () => {
  const { app } = await harness();
  const list = (await app.inject({ method: 'GET', url: '/v1/retrievers/stages' })).json() as Record<string, unknown>[];
  for (const id of ['api_call', 'json_transform', 'external_web_search', 'document_enrich', 'cross_compare']) {
    const e = list.find((s) => s.stage_id === id)!;
    for (const k of ['stage_id', 'description', 'category', 'icon']) assert.ok(e[k], `${id}.${k}`);
  }
  await app.close();
});

test('seed: the cross_compare example runs (no input documents: no findings)', async () => {
  const { anon, app } = await harness();
  const params = { reference_collection_id: 'col_documentation', source_field: 'content', match_tiers: ['exact', 'fuzzy'] };
  const r = await anon({ input_schema: { query: { type: 'text' } }, stages: [{ stage_name: 'cross_compare', stage_type: 'apply', config: { stage_id: 'cross_compare', parameters: params } }] }, { inputs: { query: 'x' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.documents, []);
  await app.close();
});

test('seed: the external_web_search example, with no search service configured, fails with a clear not-configured error', async () => {
  const { anon, app } = await harness();
  for (const [id, params] of [
    ['external_web_search', { query: '{INPUT.query}', num_results: 10, include_text: true, use_autoprompt: true }],
  ] as const) {
    const r = await anon({ input_schema: { query: { type: 'text' } }, stages: [{ stage_name: id, stage_type: 'apply', config: { stage_id: id, parameters: params } }] }, { inputs: { query: 'x' } });
    assert.equal(r.status, 403);
    assert.equal((r.body.error as unknown as Record<string, unknown>).type, 'NotEnabledError');
    assert.match(String((r.body.error as unknown as Record<string, unknown>).message), new RegExp(`${id}.*none is configured: set spec.webSearch.*QUARRY_WEB_SEARCH_URL`));
  }
  await app.close();
});
