/** 5,000 random malformed execute bodies through fastify's inject: every answer is a 4xx with the error shape. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '#engine/http/app.ts';
import { mulberry32 } from '#engine/retriever/stages/reduce/sample.ts';
import { URI, seed } from './fixtures.ts';

const N = 5000;

test(`fuzz: ${N} malformed execute bodies give 4xx with the documented error shape`, async () => {
  const s = await seed();
  const app = await buildApp(s.deps);
  const rnd = mulberry32(20261123);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const junk = (): unknown => pick<() => unknown>([
    () => null, () => 42, () => -1, () => 1e308, () => 'x', () => '', () => '{{', () => '{{ INPUT.q | nope }}', () => '{% for %}', () => true,
    () => [], () => [1, 'a'], () => ({}), () => ({ __proto__: { polluted: 1 } }), () => ({ constructor: { prototype: {} } }),
    () => '{{ "".constructor.constructor("return process")() }}', () => 'a'.repeat(2000), () => ({ field: 'x', operator: 'nope', value: 1 }),
    () => ({ AND: 'x' }), () => ({ method: 'cursor', cursor: 'zzz' }),
  ])();
  const validStage = () => ({ stage_name: 's', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'vector', value: [1, 0, 0, 0] } }] } } });
  const mutate = (): { url: string; payload: string; contentType: string } => {
    const kind = Math.floor(rnd() * 10);
    const base: Record<string, unknown> = { collection_identifiers: ['products'], stages: [validStage()], inputs: {} };
    switch (kind) {
      case 0:
        return { url: '/v1/retrievers/execute', payload: JSON.stringify(base).slice(0, Math.floor(rnd() * 60)), contentType: 'application/json' };
      case 1:
        return { url: '/v1/retrievers/execute', payload: JSON.stringify(junk()), contentType: pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded']) };
      case 2:
        base.stages = junk();
        break;
      case 3:
        base.stages = [{ stage_name: junk(), config: { stage_id: pick(['feature_search', 'limit', 'mmr', 'llm_filter', 'nope', 'sample', 'aggregate', 'api_call']), parameters: junk() } }];
        break;
      case 4:
        base.stages = [{ stage_name: 's', config: { stage_id: pick(['limit', 'sample', 'mmr', 'rerank', 'deduplicate', 'unwind', 'aggregate']), parameters: { [pick(['limit', 'count', 'top_k', 'field', 'fields', 'aggregations', 'lambda'])]: junk() } } }];
        break;
      case 5:
        base.pagination = junk();
        base.stages = [validStage()];
        if (rnd() < 0.5) base.pagination = { method: pick(['offset', 'cursor', 'keyset', 'scroll', 'bogus']), [pick(['page_size', 'limit', 'cursor', 'after', 'page_number', 'scroll_id'])]: junk() };
        break;
      case 6:
        base.input_schema = { q: { type: pick(['text', 'number', 'bogus']), required: true } };
        base.inputs = pick([{ q: junk() }, junk()]);
        if (rnd() < 0.5 && base.inputs && typeof base.inputs === 'object') (base.inputs as Record<string, unknown>).q = undefined;
        break;
      case 7:
        base.filters = junk();
        if (rnd() < 0.5) base.filters = { field: 'metadata.price', operator: pick(['gt', 'in', 'regex', 'text', 'zz']), value: junk() };
        break;
      case 8:
        base.stages = [{ stage_name: 's', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: pick([URI, 'bad', 'quarry://image_extractor@v1/x', junk()]), query: pick([{ input_mode: 'vector', value: junk() }, { input_mode: 'document', value: junk() }, { input_mode: 'content', value: 'https://x' }, junk()]) }], fusion: pick(['rrf', 'zz', junk()]), final_top_k: pick([0, 501, junk()]) } } }];
        break;
      default:
        base[pick(['collection_identifiers', 'input_schema', 'budget_limits', 'cache_config', 'return_vectors', 'stream', 'limit', 'offset', 'settings'])] = junk();
        if (rnd() < 0.3) base.stages = [];
    }
    return { url: pick(['/v1/retrievers/execute', '/v1/retrievers/execute', '/v1/retrievers/missing/execute', '/v1/retrievers/x/execute/batch']), payload: JSON.stringify(base), contentType: 'application/json' };
  };
  const statuses = new Map<number, number>();
  for (let i = 0; i < N; i++) {
    const m = mutate();
    const r = await app.inject({ method: 'POST', url: m.url, payload: m.payload, headers: { 'content-type': m.contentType } });
    statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    if (r.statusCode === 200) continue; // a mutation can still be valid
    assert.ok(r.statusCode >= 400 && r.statusCode < 500, `case ${i}: ${r.statusCode} for ${m.payload.slice(0, 300)}: ${r.body.slice(0, 300)}`);
    const body = r.json() as { success: boolean; status: number; error: { type: string; message: string } };
    assert.equal(body.success, false);
    assert.equal(body.status, r.statusCode);
    assert.equal(typeof body.error.type, 'string');
    assert.ok(body.error.message.length > 0);
  }
  assert.ok((statuses.get(400) ?? 0) > N / 4, `mostly 400s: ${JSON.stringify([...statuses])}`);
  await app.close();
});
