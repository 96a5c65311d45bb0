/** The template sandbox and namespaces (reference §3.8). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderString, renderValue, singleBraces } from '#engine/retriever/template.ts';
import type { QuarryError } from '#core/lib/errors.ts';

const where = { stage: 'st', parameter: 'p' };
const scope = { inputs: { q: 'Hello World', n: 3, tags: ['a', 'b'] }, doc: { title: 'T', price: 10, media_type: 'image' }, context: { budget_remaining: 80 }, stage: { search: { count: 7, top_score: 0.9 } } };

test('namespaces in upper and lower case, native values for whole expressions', () => {
  assert.equal(renderString('{{INPUT.q}}', scope, where), 'Hello World');
  assert.equal(renderString('{{ inputs.n }}', scope, where), 3);
  assert.equal(renderString('{{ input.n * 20 }}', scope, where), 60);
  assert.equal(renderString('{{doc.title}}-{{DOC.price}}', scope, where), 'T-10');
  assert.equal(renderString('{{ CONTEXT.budget_remaining > 50 ? 200 : 50 }}', scope, where), 200);
  assert.equal(renderString("{{ DOC.media_type == 'image' ? 'image_url' : 'video_url' }}", scope, where), 'image_url');
  assert.equal(renderString('{{ stage.search.count }}/{{ STAGE.search.top_score }}', scope, where), '7/0.9');
  assert.equal(renderString('{{ INPUT.q | slugify }}', scope, where), 'hello-world');
  assert.equal(renderString('{{ INPUT.tags | tojson }}', scope, where), '["a","b"]');
  assert.equal(renderString('{{ max(1, INPUT.n) + abs(-2) }}', scope, where), 5);
  assert.equal(renderString("{{ 'a' if INPUT.n > 2 else 'b' }}", scope, where), 'a');
  assert.equal(singleBraces('https://x/{DOC.id}/{INPUT.repo}?{{INPUT.q}}'), 'https://x/{{DOC.id}}/{{INPUT.repo}}?{{INPUT.q}}');
  assert.deepEqual(renderValue({ a: ['{{ INPUT.n }}', 1], b: '{{DOC.title}}' }, scope, where, { skipDoc: true }), { a: [3, 1], b: '{{DOC.title}}' });
});

test('sandbox: no prototype or constructor access', () => {
  assert.equal(renderString('{{ "".constructor }}', scope, where), undefined);
  assert.equal(renderString('x{{ DOC.__proto__ }}{{ DOC.constructor }}{{ range.constructor }}{{ constructor }}y', scope, where), 'xy');
  assert.throws(() => renderString('{{ "".constructor.constructor("return process")() }}', scope, where), (e: QuarryError) => e.status === 400 && e.details?.stage === 'st' && e.details?.parameter === 'p');
  assert.throws(() => renderString('{{ DOC["constructor"]["constructor"]("return 1")() }}', scope, where), (e: QuarryError) => e.status === 400);
  assert.throws(() => renderString('{% include "/etc/passwd" %}', scope, where), (e: QuarryError) => e.status === 400);
  assert.equal(renderString('{{ INPUT.q.upper() }}', scope, where), 'HELLO WORLD');
});

test('sandbox: bounded time, template errors name stage and parameter', () => {
  const t0 = Date.now();
  assert.throws(() => renderString('{% for i in range(1000000) %}{% for j in range(1000000) %}{{ j }}{% endfor %}{% endfor %}', scope, where), (e: QuarryError) => e.status === 400 && /stage 'st', parameter 'p'/.test(e.message));
  assert.ok(Date.now() - t0 < 5000);
  assert.throws(() => renderString('{{ INPUT.q | nosuch }}', scope, where), (e: QuarryError) => /template error in stage 'st', parameter 'p'/.test(e.message));
  assert.throws(() => renderString('{% if %}', scope, where), (e: QuarryError) => e.status === 400);
});
