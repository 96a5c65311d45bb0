/** The retriever HTTP API through fastify's inject: shapes, headers, SSE, batch, explain, registry, errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '#engine/http/app.ts';
import { RetrieverEngine } from '#engine/retriever/executor.ts';
import { validateParams } from '#engine/retriever/params.ts';
import { getStage } from '#engine/retriever/registry.ts';
import { URI, seed } from './fixtures.ts';

const named = {
  retriever_id: 'ret_products01',
  retriever_name: 'product_search',
  collection_identifiers: ['products'],
  input_schema: { query: { type: 'text', required: true } },
  stages: [
    { stage_name: 'search', stage_type: 'filter', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 100 }], final_top_k: 20 } } },
  ],
};

async function app() {
  const s = await seed();
  const retrievers = new Map<string, Record<string, unknown>>([['ret_products01', named], ['product_search', named]]);
  const engine = new RetrieverEngine({ ...s.deps, retrievers: { get: async (id) => retrievers.get(id) } });
  return { app: await buildApp({ ...s.deps, engine }), s };
}

const errorShape = (body: Record<string, unknown>, status: number) => {
  assert.equal(body.success, false);
  assert.equal(body.status, status);
  const err = body.error as Record<string, unknown>;
  assert.equal(typeof err.type, 'string');
  assert.equal(typeof err.message, 'string');
};

test('named execute by id and by name: documented response shape, ETag, X-Cache, 304', async () => {
  const { app: a } = await app();
  const r = await a.inject({ method: 'POST', url: '/v1/retrievers/ret_products01/execute', payload: { inputs: { query: 'wireless' }, limit: 2 } });
  assert.equal(r.statusCode, 200);
  const body = r.json();
  assert.match(body.execution_id, /^exec_/);
  assert.equal(body.documents.length, 2);
  for (const k of ['document_id', 'score', 'collection_id']) assert.ok(k in body.documents[0], k);
  assert.equal(body.pagination.has_next, true);
  assert.ok(body.stage_statistics.stages.search.duration_ms >= 0);
  assert.equal(typeof body.budget.credits_used, 'number');
  assert.equal(r.headers['x-cache'], 'MISS');
  const again = await a.inject({ method: 'POST', url: '/v1/retrievers/product_search/execute', payload: { inputs: { query: 'wireless' }, limit: 2 } });
  assert.equal(again.headers['x-cache'], 'HIT');
  const etag = String(again.headers.etag);
  const notModified = await a.inject({ method: 'POST', url: '/v1/retrievers/product_search/execute', headers: { 'if-none-match': etag }, payload: { inputs: { query: 'wireless' }, limit: 2 } });
  assert.equal(notModified.statusCode, 304);
  const missing = await a.inject({ method: 'POST', url: '/v1/retrievers/nope/execute', payload: { inputs: {} } });
  assert.equal(missing.statusCode, 404);
  errorShape(missing.json(), 404);
  const invalid = await a.inject({ method: 'POST', url: '/v1/retrievers/product_search/execute', payload: { inputs: {} } });
  assert.equal(invalid.statusCode, 422);
  errorShape(invalid.json(), 422);
  await a.close();
});

test('anonymous execute: adhoc header, nothing persisted; streaming emits stage events', async () => {
  const { app: a } = await app();
  const { retriever_id: _i, retriever_name: _n, ...anon } = named;
  const r = await a.inject({ method: 'POST', url: '/v1/retrievers/execute', payload: { ...anon, inputs: { query: 'phone case' } } });
  assert.equal(r.statusCode, 200);
  assert.equal(r.headers['x-execution-mode'], 'adhoc');
  assert.equal(r.json().execution_metadata.retriever_persisted, false);
  const sse = await a.inject({ method: 'POST', url: '/v1/retrievers/execute', payload: { ...anon, inputs: { query: 'phone case' }, stream: true } });
  assert.match(String(sse.headers['content-type']), /text\/event-stream/);
  const events = sse.body.split('\n\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  assert.deepEqual(events.map((e) => e.event_type), ['stage_start', 'stage_complete', 'execution_complete']);
  assert.ok(events.every((e) => typeof e.execution_id === 'string'));
  await a.close();
});

test('batch execute: JSON results in order, SSE query_complete and batch_complete events, limits', async () => {
  const { app: a } = await app();
  const queries = [{ inputs: { query: 'wireless' } }, { inputs: {} }, { inputs: { query: 'usb' } }];
  const r = await a.inject({ method: 'POST', url: '/v1/retrievers/ret_products01/execute/batch', payload: { queries, concurrency: 2, settings: { limit: 1 } } });
  assert.equal(r.statusCode, 200);
  const body = r.json();
  assert.equal(body.total_queries, 3);
  assert.equal(body.completed, 2);
  assert.equal(body.failed, 1);
  assert.deepEqual(body.results.map((x: { query_index: number }) => x.query_index), [0, 1, 2]);
  assert.equal(body.results[0].documents.length, 1);
  assert.equal(body.results[1].status, 'failed');
  const sse = await a.inject({ method: 'POST', url: '/v1/retrievers/ret_products01/execute/batch', payload: { queries, stream: true } });
  assert.ok(sse.body.startsWith(': stream-start'));
  const events = sse.body.split('\n\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  assert.equal(events.filter((e) => e.event_type === 'query_complete').length, 3);
  assert.equal(events[events.length - 1].event_type, 'batch_complete');
  const tooMany = await a.inject({ method: 'POST', url: '/v1/retrievers/ret_products01/execute/batch', payload: { queries: Array.from({ length: 51 }, () => ({ inputs: {} })) } });
  assert.equal(tooMany.statusCode, 400);
  errorShape(tooMany.json(), 400);
  await a.close();
});

test('stage registry with category filter; explain; health; unknown route and malformed bodies keep the error shape', async () => {
  const { app: a } = await app();
  const all = (await a.inject({ method: 'GET', url: '/v1/retrievers/stages' })).json();
  assert.ok(all.length >= 30);
  const sort = (await a.inject({ method: 'GET', url: '/v1/retrievers/stages?category=sort' })).json();
  assert.deepEqual(sort.map((s: { stage_id: string }) => s.stage_id).sort(), ['mmr', 'rerank', 'score_normalize', 'sort_attribute', 'sort_relevance']);
  assert.ok(sort.every((s: Record<string, unknown>) => s.parameter_schema && s.icon && s.description));
  const llm = all.find((s: { stage_id: string }) => s.stage_id === 'llm_filter');
  assert.equal(llm.available, true);
  const agent = all.find((s: { stage_id: string }) => s.stage_id === 'code_execution');
  assert.equal(agent.available, false);
  const badCat = await a.inject({ method: 'GET', url: '/v1/retrievers/stages?category=nope' });
  assert.equal(badCat.statusCode, 400);
  const ex = await a.inject({ method: 'POST', url: '/v1/retrievers/ret_products01/explain', payload: {} });
  assert.equal(ex.statusCode, 200);
  assert.equal(ex.json().execution_plan[0].estimated_output, 20);
  assert.equal((await a.inject({ method: 'GET', url: '/v1/health' })).json().status, 'ok');
  const nf = await a.inject({ method: 'GET', url: '/v1/nothing' });
  assert.equal(nf.statusCode, 404);
  errorShape(nf.json(), 404);
  const bad = await a.inject({ method: 'POST', url: '/v1/retrievers/execute', headers: { 'content-type': 'application/json' }, payload: '{"stages": [' });
  assert.equal(bad.statusCode, 400);
  errorShape(bad.json(), 400);
  await a.close();
});

test('explain renders the body inputs (reference §3.1 {inputs?}) into templated parameters: estimates and checks follow them; invalid inputs are a 422', async () => {
  const s = await seed();
  const templated = {
    ...named,
    input_schema: { query: { type: 'text', required: true }, k: { type: 'integer' } },
    stages: [
      { stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.query}}' } }], final_top_k: '{{INPUT.k}}' } } },
      { stage_name: 'lim', config: { stage_id: 'limit', parameters: { limit: '{{INPUT.k}}' } } },
    ],
  };
  const engine = new RetrieverEngine({ ...s.deps, retrievers: { get: async (id) => (id === 'templated' ? templated : undefined) } });
  const a = await buildApp({ ...s.deps, engine });
  const plan = async (payload: Record<string, unknown>) => (await a.inject({ method: 'POST', url: '/v1/retrievers/templated/execute/explain', payload })).json();
  const without = await plan({});
  assert.deepEqual(without.execution_plan.map((p: { estimated_output: number }) => p.estimated_output), [25, 10], 'defaults without inputs');
  assert.deepEqual(without.execution_plan.flatMap((p: { warnings: string[] }) => p.warnings), []);
  const withK = await plan({ inputs: { query: 'x', k: 7 } });
  assert.deepEqual(withK.execution_plan.map((p: { estimated_output: number }) => p.estimated_output), [7, 7]);
  const tooBig = await plan({ inputs: { query: 'x', k: 600 } });
  assert.match(tooBig.execution_plan[0].warnings.join(), /final_top_k/);
  const invalid = await a.inject({ method: 'POST', url: '/v1/retrievers/templated/explain', payload: { inputs: { k: 3 } } });
  assert.equal(invalid.statusCode, 422);
  errorShape(invalid.json(), 422);
  await a.close();
});

test('GET /v1/discovery/stages (reference §3.1, §3.7): registry entries plus example_config that validates, use cases, cost tier, requires_collections', async () => {
  const { app: a } = await app();
  const r = await a.inject({ method: 'GET', url: '/v1/discovery/stages' });
  assert.equal(r.statusCode, 200);
  const all = r.json() as Record<string, unknown>[];
  const registry = (await a.inject({ method: 'GET', url: '/v1/retrievers/stages' })).json() as { stage_id: string }[];
  assert.deepEqual(all.map((s) => s.stage_id), registry.map((s) => s.stage_id));
  for (const s of all) {
    for (const k of ['stage_id', 'description', 'category', 'icon', 'parameter_schema']) assert.ok(k in s, `${String(s.stage_id)} ${k}`);
    assert.ok(['cheap', 'moderate', 'expensive'].includes(s.cost_tier as string));
    assert.equal(typeof s.requires_collections, 'boolean');
    assert.ok(Array.isArray(s.common_use_cases) && (s.common_use_cases as unknown[]).length > 0);
    const ex = s.example_config as { stage_type: string; config: { stage_id: string; parameters: Record<string, unknown> } };
    assert.equal(ex.config.stage_id, s.stage_id);
    assert.equal(ex.stage_type, s.category);
    if (s.available !== false) validateParams(getStage(ex.config.stage_id), String(s.stage_id), ex.config.parameters);
  }
  assert.equal(all.find((s) => s.stage_id === 'feature_search')!.requires_collections, true);
  assert.equal(all.find((s) => s.stage_id === 'limit')!.requires_collections, false);
  const sort = (await a.inject({ method: 'GET', url: '/v1/discovery/stages?category=sort' })).json() as { category: string }[];
  assert.ok(sort.length === 5 && sort.every((s) => s.category === 'sort'));
  assert.equal((await a.inject({ method: 'GET', url: '/v1/discovery/stages?category=nope' })).statusCode, 400);
  await a.close();
});

test('execution history (reference §3.1): …/executions/list and …/executions/{id} for named and anonymous runs', async () => {
  const { app: a } = await app();
  // Executions are kept per namespace (issue 14 #13): runs and reads name it.
  const NS = { 'x-namespace': 'shop' };
  const ok = (await a.inject({ headers: NS, method: 'POST', url: '/v1/retrievers/ret_products01/execute', payload: { inputs: { query: 'wireless' }, limit: 2 } })).json();
  assert.equal((await a.inject({ headers: NS, method: 'POST', url: '/v1/retrievers/product_search/execute', payload: { inputs: {} } })).statusCode, 422);
  const { retriever_id: _i, retriever_name: _n, ...anon } = named;
  const adhoc = (await a.inject({ headers: NS, method: 'POST', url: '/v1/retrievers/execute', payload: { ...anon, inputs: { query: 'usb' } } })).json();

  const list = await a.inject({ headers: NS, method: 'POST', url: '/v1/retrievers/product_search/executions/list', payload: {} });
  assert.equal(list.statusCode, 200);
  const body = list.json();
  assert.equal(body.total, 2);
  assert.deepEqual(body.results.map((r: { status: string }) => r.status), ['failed', 'completed'], 'newest first');
  assert.equal(body.results[1].execution_id, ok.execution_id);
  assert.equal(body.results[1].total_returned, 2);
  assert.equal(body.results[0].error.type, 'ValidationError');
  const failed = (await a.inject({ headers: NS, method: 'POST', url: '/v1/retrievers/ret_products01/executions/list', payload: { status: 'failed' } })).json();
  assert.equal(failed.total, 1);

  const detail = await a.inject({ headers: NS, method: 'GET', url: `/v1/retrievers/ret_products01/executions/${ok.execution_id}` });
  assert.equal(detail.statusCode, 200);
  const d = detail.json();
  assert.equal(d.status, 'completed');
  assert.equal(d.execution_mode, 'named');
  assert.deepEqual(d.inputs, { query: 'wireless' });
  assert.deepEqual(d.stage_statistics.stages, ok.stage_statistics.stages);
  assert.equal(d.budget.credits_used, ok.budget.credits_used);

  const adhocList = (await a.inject({ headers: NS, method: 'POST', url: '/v1/retrievers/executions/list', payload: {} })).json();
  assert.deepEqual(adhocList.results.map((r: { execution_id: string }) => r.execution_id), [adhoc.execution_id]);
  assert.equal((await a.inject({ headers: NS, method: 'GET', url: `/v1/retrievers/executions/${adhoc.execution_id}` })).json().execution_mode, 'adhoc');
  const wrong = await a.inject({ headers: NS, method: 'GET', url: `/v1/retrievers/product_search/executions/${adhoc.execution_id}` });
  assert.equal(wrong.statusCode, 404, 'an anonymous run is not the named retriever\'s');
  errorShape(wrong.json(), 404);
  assert.equal((await a.inject({ headers: NS, method: 'GET', url: '/v1/retrievers/executions/exec_nope' })).statusCode, 404);
  assert.equal((await a.inject({ headers: NS, method: 'POST', url: '/v1/retrievers/product_search/executions/list', payload: { status: 'weird' } })).statusCode, 400);
  // Another namespace, or none, sees nothing of them.
  const other = (await a.inject({ method: 'POST', url: '/v1/retrievers/executions/list', headers: { 'x-namespace': 'other' }, payload: {} })).json();
  assert.equal(other.total, 0);
  assert.equal((await a.inject({ method: 'GET', url: `/v1/retrievers/executions/${adhoc.execution_id}`, headers: { 'x-namespace': 'other' } })).statusCode, 404);
  const none = await a.inject({ method: 'POST', url: '/v1/retrievers/executions/list', payload: {} });
  assert.equal(none.statusCode, 400);
  errorShape(none.json(), 400);
  await a.close();
});
