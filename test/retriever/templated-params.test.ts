/**
 * Templated stage parameters (`limit: "{{INPUT.n}}"`) pass validation before rendering — through the generated
 * standalone stage validators (what the operator uses) and through schemas registered in-process (the engine) —
 * while wrong literal values still fail with the original, field-named errors; after rendering the engine checks
 * the real value against the original schema.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stageValidators } from '#core/resources/generated/stage-validators.js';
import { stageSchema } from '#core/resources/stage-ids.ts';
import { templateTolerantSchema } from '#core/resources/template-check.ts';
import { validateResource } from '#core/resources/validate.ts';
import { QuarryError } from '#core/lib/errors.ts';

const URI = 'quarry://text_extractor@v1/all_minilm_l6_v2';

const retriever = (stages: { stageId: string; parameters: Record<string, unknown> }[], inputs: Record<string, unknown> = { n: { type: 'integer' }, k: { type: 'integer' }, f: { type: 'string' }, q: { type: 'text' } }) => ({
  apiVersion: 'quarry.dev/v1alpha1',
  kind: 'Retriever',
  metadata: { name: 'r' },
  spec: { namespaceRef: 'shop', inputSchema: inputs, stages: stages.map((s, i) => ({ stageName: `s${i}`, config: s })) },
});

const search = (extra: Record<string, unknown> = {}, searchExtra: Record<string, unknown> = {}) => ({
  stageId: 'feature_search',
  parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.q}}' }, top_k: '{{INPUT.k}}', ...searchExtra }], final_top_k: '{{ INPUT.n * 2 }}', fusion: '{{INPUT.f}}', ...extra },
});

const templated = retriever([search({ facets: [{ key: 'metadata.brand', limit: '{{INPUT.n}}' }] }), { stageId: 'limit', parameters: { limit: '{{INPUT.n}}', offset: '{% if INPUT.n > 5 %}1{% else %}0{% endif %}' } }]);
const wrongLiteral = retriever([search({ final_top_k: 'ten' }), { stageId: 'limit', parameters: { limit: 0 } }]);

function checkOutcomes(label: string) {
  const ok = validateResource(templated);
  assert.deepEqual(ok.errors, [], `${label}: templated numbers, enums and oneOf members pass`);
  const bad = validateResource(wrongLiteral);
  assert.equal(bad.valid, false);
  const fields = bad.errors.map((e) => e.field).sort();
  assert.deepEqual(fields, ['spec.stages[0].config.parameters.final_top_k', 'spec.stages[1].config.parameters.limit'], `${label}: exactly the wrong literals are reported`);
  assert.ok(bad.errors.every((e) => !/else/.test(e.message)), `${label}: no wrapper noise in messages`);
  assert.match(bad.errors.find((e) => e.field.endsWith('final_top_k'))!.message, /integer/);
}

test('generated stage validators (no schema registered in this process) accept templated parameters', () => {
  assert.equal(stageSchema('limit'), undefined, 'this part runs before the engine registers its schemas');
  const v = stageValidators.limit!;
  assert.equal(v({ limit: '{{INPUT.n}}' }), true);
  assert.equal(v({ limit: 'ten' }), false);
  assert.equal(v({ limit: 0 }), false);
  assert.equal(v({ limit: 5 }), true);
  checkOutcomes('generated');
});

test('schemas registered by the engine behave the same', async () => {
  await import('#engine/retriever/stage-schemas.ts');
  assert.ok(stageSchema('limit'), 'the engine registered its stage schemas');
  checkOutcomes('registered');
});

test('templateTolerantSchema leaves string-typed nodes and non-template values alone', () => {
  const s = templateTolerantSchema({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'integer', description: 'd', default: 3 }, c: { oneOf: [{ type: 'string' }, { type: 'object', properties: { n: { type: 'number' } } }] } } });
  const props = s.properties as Record<string, Record<string, unknown>>;
  assert.deepEqual(props.a, { type: 'string' });
  assert.deepEqual(props.b, { description: 'd', default: 3, if: { type: 'string', pattern: '\\{\\{|\\{%' }, then: true, else: { type: 'integer' } });
  const branches = (props.c!.else as Record<string, unknown>).oneOf as Record<string, Record<string, unknown>>[];
  assert.deepEqual(branches[0], { type: 'string' }, 'oneOf branches are not wrapped themselves');
  assert.ok('if' in (branches[1]!.properties as Record<string, Record<string, unknown>>).n!, 'their properties are');
});

test('execution renders the template and checks the rendered value against the original schema', async () => {
  const { seed, vectorSearch } = await import('./fixtures.ts');
  const { normalizeDefinition } = await import('#engine/retriever/normalize.ts');
  const s = await seed();
  const def = normalizeDefinition({
    collection_identifiers: ['products'],
    input_schema: { n: { type: 'integer', required: true }, raw: { type: 'string' } },
    stages: [vectorSearch([1, 0, 0, 0]), { stage_name: 'cut', config: { stage_id: 'limit', parameters: { limit: '{{INPUT.n}}' } } }],
  });
  const r = await s.engine.execute(def, { inputs: { n: 2 } });
  assert.equal((r.body.documents as unknown[]).length, 2);
  const bad = normalizeDefinition({
    collection_identifiers: ['products'],
    input_schema: { raw: { type: 'string', required: true } },
    stages: [vectorSearch([1, 0, 0, 0]), { stage_name: 'cut', config: { stage_id: 'limit', parameters: { limit: '{{INPUT.raw}}' } } }],
  });
  await assert.rejects(s.engine.execute(bad, { inputs: { raw: 'ten' } }), (e: unknown) => e instanceof QuarryError && e.status === 400 && /limit/.test(e.message));
});
