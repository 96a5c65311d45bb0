/**
 * The invalid-manifest corpus (test/resources/invalid/), offline half: the cases only validate.ts can catch are
 * rejected by it with a message naming the field; the objects the update cases start from are valid.
 * The apiserver half is in apiserver.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatErrors, validateResource } from '#core/resources/validate.ts';
import { invalidCases } from './helpers.ts';

const cases = invalidCases();

describe('invalid manifest corpus', () => {
  it('has at least 40 cases, each expecting a message that names a field', () => {
    assert.ok(cases.length >= 40, `only ${cases.length} cases`);
    for (const c of cases) assert.ok(c.expect.some((e) => /\bspec\.[A-Za-z]/.test(e)), `${c.name}: no expected fragment names a spec field`);
  });

  it('covers every kind, both layers and immutable-field updates', () => {
    assert.deepEqual([...new Set(cases.map((c) => c.object.kind))].sort(), ['Bucket', 'Collection', 'Model', 'QuarryNamespace', 'Retriever', 'Taxonomy']);
    assert.ok(cases.filter((c) => c.rejectedBy === 'validate').length >= 10);
    assert.ok(cases.filter((c) => c.rejectedBy === 'apiserver').length >= 40);
    assert.ok(cases.filter((c) => c.before).length >= 5);
  });

  for (const c of cases.filter((x) => x.rejectedBy === 'validate')) {
    it(`${c.name}: rejected by validate.ts`, () => {
      const r = validateResource(c.object);
      assert.equal(r.valid, false, `${c.name} was accepted`);
      const text = formatErrors(r.errors);
      for (const e of c.expect) assert.ok(text.includes(e), `${c.name}: expected "${e}" in: ${text}`);
    });
  }

  // The same schema source drives both layers: what the apiserver rejects, validate.ts rejects too (structure via
  // the generated ajv validators, CEL rules via cel-check.ts), naming the same field.
  const normalise = (s: string) => s.replace(/\[([A-Za-z_][\w-]*)\]/g, '.$1').replace(/^\./, '');
  for (const c of cases.filter((x) => x.rejectedBy === 'apiserver')) {
    it(`${c.name}: validate.ts rejects it too, naming the field`, () => {
      const r = validateResource(c.object, c.before ? { old: c.before } : {});
      assert.equal(r.valid, false, `${c.name} was accepted by validate.ts`);
      const field = normalise(c.expect.find((e) => /spec\./.test(e))!.split(':')[0]!);
      const fields = r.errors.map((e) => normalise(e.field));
      assert.ok(fields.some((f) => f === field || f.startsWith(`${field}.`) || f.startsWith(`${field}[`)), `${c.name}: expected an error on ${field}, got ${formatErrors(r.errors)}`);
    });
  }

  for (const c of cases.filter((x) => x.before)) {
    it(`${c.name}: the object the update starts from is valid`, () => {
      const r = validateResource(c.before);
      assert.equal(r.valid, true, formatErrors(r.errors));
    });
  }
});
