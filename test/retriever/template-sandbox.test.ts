/**
 * The template sandbox's limits (issue 14 #8, #9, #18), pure logic on renderString: regex literals refused,
 * amplifying methods and filters refused before they allocate, whole-expression values capped, attribute filters
 * reading own data only, functions never passed or printed. The HTTP path is covered by
 * test/security/retriever-tenancy.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderString } from '#engine/retriever/template.ts';
import { searchMatcher } from '#engine/management/list.ts';
import { compileSafeRegex } from '#core/lib/safe-regex.ts';

const where = { stage: 's', parameter: 'p' };
const render = (src: string, inputs: Record<string, unknown> = {}) => renderString(src, { inputs }, where);
const refused = (src: string, re: RegExp, inputs: Record<string, unknown> = {}) => {
  const t0 = performance.now();
  assert.throws(() => render(src, inputs), (e: Error & { status?: number }) => re.test(e.message) && e.status === 400, src);
  assert.ok(performance.now() - t0 < 1000, `${src} took ${Math.round(performance.now() - t0)} ms`);
};

test('regex literals are refused before they run; the ternary rewrite is linear', () => {
  refused('{{ INPUT.q.replace(r/^(a+)+$/, "z") }}', /regular expression literals/, { q: `${'a'.repeat(40)}!` });
  refused('{{ "x"|replace(r/x/, "y") }}', /regular expression literals/);
  assert.equal(render('{{ INPUT.q ? "y" : "n" }}', { q: true }), 'y');
  const t0 = performance.now();
  assert.throws(() => render(`{{ a ? b${' '.repeat(50_000)}`), /expected variable end/);
  assert.ok(performance.now() - t0 < 1000);
});

test('amplification is refused before allocating; inputs still pass through whole', () => {
  refused('{{ "x".padStart(200000000) }}', /padStart would build a string of 200000000/);
  refused('x{{ "x".padEnd(200000000) }}', /padEnd/);
  refused('{{ ""|center(1000000000) }}', /center/);
  refused('{{ "a\nb\nc"|indent(900000) }}', /indent/);
  refused('{{ INPUT.q|replace("", INPUT.q) }}', /replace/, { q: 'y'.repeat(5000) });
  refused('{{ range(50000)|join(INPUT.q) }}', /join/, { q: 'y'.repeat(100) });
  refused('{% for i in range(100000) %}{{ "x".padStart(1000) }}{% endfor %}', /in total/);
  refused('{{ INPUT.q ~ INPUT.q ~ INPUT.q }}', /exceeds/, { q: 'z'.repeat(1_000_000) });
  refused('{{ [1]|batch(1000000000, 0) }}', /batch/);
  const big = 'z'.repeat(3_000_000);
  assert.equal(render('{{ INPUT.big }}', { big }), big);
  assert.equal(render('{{ "ab"|center(6) }}'), '  ab  ');
  assert.equal(render('{{ "aaaa"|replace("a", "b", 2) }}'), 'bbaa');
  assert.equal(render('{{ "x".padStart(3, "-") }}'), '--x');
});

test('no function reaches a native method, a filter or the output; attribute filters read own data only', () => {
  assert.equal(Number.isNaN(render('{{ [""]|sum("constructor") }}')), true);
  assert.equal(Number.isNaN(render('{{ [""]|sum("toString") }}')), true);
  assert.equal(render('{{ [{"a":1},{"a":2}]|sum("a") }}'), 3);
  assert.deepEqual(render('{{ [{"a":"b"},{"a":"a"}]|sort(attribute="a") }}'), [{ a: 'a' }, { a: 'b' }]);
  assert.equal(render('{{ ([{"n":"x"},{"n":"y"}]|join(",", "n")) }}'), 'x,y');
  assert.deepEqual(render('{{ [{"k":1},{"k":0}]|selectattr("k") }}'), [{ k: 1 }]);
  assert.doesNotMatch(String(render('{{ [""]|groupby("constructor")|dump }}')), /native code|function/);
  refused('{{ "abc"|replace("a", "".upper) }}', /does not take a function/);
  refused('{{ "abc".replace("a", "".upper) }}', /does not take a function/);
  assert.equal(render('x{{ "".upper }}'), 'x[function]');
  assert.equal(render('{% macro m() %}hi{% endmacro %}{{ m }}|{{ m() }}'), '[function]|hi');
  assert.equal(render('{{ range }}'), undefined);
  refused('{{ "<!--"|striptags }}', /filter not found/);
  refused('{{ cycler(1, 2) }}', /cycler/);
});

test('list search wildcards match linearly with the same meaning', () => {
  const m = (s: string, v: string, cs = false) => searchMatcher(s, cs)(v);
  assert.equal(m('cat*', 'Catalog'), true);
  assert.equal(m('*log', 'catalog'), true);
  assert.equal(m('c*t*g', 'catalog'), true);
  assert.equal(m('c*t*g', 'catalogs'), false);
  assert.equal(m('a*a', 'a'), false);
  assert.equal(m('a*a', 'aa'), true);
  assert.equal(m('*', ''), true);
  assert.equal(m('Cat*', 'catalog', true), false);
  assert.equal(m('ab', 'xaby'), true);
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) m(`${'*'.repeat(30)}#`, 'a'.repeat(100));
  assert.ok(performance.now() - t0 < 1000);
});

test('filter regex: RE2 semantics for ordinary patterns, backtracking-only syntax refused, linear on evil input', () => {
  assert.equal(compileSafeRegex('^wire.*s$', false).test('Wireless headphones'), true);
  assert.equal(compileSafeRegex('^wire', true).test('Wireless'), false);
  assert.equal(compileSafeRegex('(?<y>\\d{4})-\\d{2}', true).test('on 2024-05'), true);
  assert.equal(compileSafeRegex('caf\\u00e9', false).test('CAFÉ'), true);
  assert.throws(() => compileSafeRegex('(a)\\1', true), /backreferences/);
  assert.throws(() => compileSafeRegex('a(?=b)', true), /lookahead/);
  assert.throws(() => compileSafeRegex('x'.repeat(1001), true), /at most 1000/);
  assert.throws(() => compileSafeRegex('[', true), /invalid pattern/);
  const t0 = performance.now();
  assert.equal(compileSafeRegex('^(a+)+$', true).test(`${'a'.repeat(100_000)}!`), false);
  assert.ok(performance.now() - t0 < 1000);
});
