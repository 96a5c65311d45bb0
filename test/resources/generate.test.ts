/**
 * The generator: deterministic, its output matches the committed files (drift), and the schema source keeps the
 * rules the CRDs rely on (descriptions everywhere, bounded strings and lists for the CEL cost budget, small CRDs).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { generatedFiles, loadStageSchemas } from '#hack/generate.ts';
import { KIND_DEFINITIONS } from '#core/resources/kinds.ts';
import type { Schema } from '#core/resources/schema-builder.ts';
import { registerStageSchema } from '#core/resources/stage-ids.ts';
import { ROOT } from '../harness/test-env.ts';

function walk(s: Schema, p: string, visit: (s: Schema, p: string) => void): void {
  visit(s, p);
  for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${p}.${k}`, visit);
  if (s.items) walk(s.items, `${p}[]`, visit);
  if (s.additionalProperties) walk(s.additionalProperties, `${p}{}`, visit);
}

describe('hack/generate.ts', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-generate-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('is deterministic', async () => {
    await loadStageSchemas();
    assert.deepEqual(generatedFiles(), generatedFiles());
  });

  it('run into a temp dir, writes exactly the committed crds/, types, validators and chart templates (drift check)', () => {
    execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'hack/generate.ts'), '--out', scratch], { cwd: ROOT, stdio: 'pipe' });
    const dirs = ['crds', 'engine/src/resources/generated', 'charts/quarry-crds/templates'];
    for (const dir of dirs) {
      const fresh = readdirSync(path.join(scratch, dir)).sort();
      assert.ok(fresh.length > 0, `${dir}: nothing generated`);
      for (const f of fresh) {
        const committed = readFileSync(path.join(ROOT, dir, f), 'utf8');
        assert.equal(readFileSync(path.join(scratch, dir, f), 'utf8'), committed, `${dir}/${f} drifted from the schema source: run 'make generate' and commit`);
      }
    }
    const crds = readdirSync(path.join(ROOT, 'crds')).filter((f) => f.startsWith('quarry.dev_')).sort();
    assert.deepEqual(crds, readdirSync(path.join(scratch, 'crds')).sort(), 'crds/ holds a file the generator no longer writes');
  });

  it('every CRD fits client-side apply (last-applied annotation < 256 KiB)', () => {
    for (const [file, text] of generatedFiles()) {
      if (file.startsWith('crds/')) assert.ok(Buffer.byteLength(text) < 200 * 1024, `${file} is ${Buffer.byteLength(text)} bytes`);
    }
  });

  for (const k of KIND_DEFINITIONS) {
    it(`${k.kind}: every field is described, every string and list is bounded`, () => {
      const problems: string[] = [];
      for (const [root, schema] of [['spec', k.spec], ['status', k.status]] as const) {
        walk(schema, root, (s, p) => {
          if (!s.description) problems.push(`${p}: no description`);
          if (s.type === 'string' && s.maxLength === undefined && s.enum === undefined && s.format !== 'date-time') problems.push(`${p}: string without maxLength`);
          if (s.type === 'array' && s.maxItems === undefined) problems.push(`${p}: list without maxItems`);
          if (s.additionalProperties && s.maxProperties === undefined) problems.push(`${p}: map without maxProperties`);
          for (const r of s['x-kubernetes-validations'] ?? []) {
            // A message names the field and says what to do: "<field ...>: <fix>" or mentions the spec path.
            if (!(r.message.includes(': ') || r.message.includes('spec.')) || r.message.length < 30) problems.push(`${p}: CEL message too vague: ${r.message}`);
          }
        });
      }
      assert.deepEqual(problems, []);
    });
  }

  it('compiles registered stage parameter schemas into standalone validators', async () => {
    registerStageSchema('sample', { type: 'object', additionalProperties: false, properties: { count: { type: 'integer', minimum: 1 } } });
    const code = generatedFiles().get('engine/src/resources/generated/stage-validators.js')!;
    assert.match(code, /"sample": stage_sample/);
    const file = path.join(scratch, 'stage-validators.mjs');
    writeFileSync(file, code);
    const mod = (await import(pathToFileURL(file).href)) as { stageValidators: Record<string, ((d: unknown) => boolean) & { errors?: { instancePath: string }[] }> };
    const v = mod.stageValidators.sample!;
    assert.equal(v({ count: 3 }), true);
    assert.equal(v({ count: 0 }), false);
    assert.equal(v.errors?.[0]?.instancePath, '/count');
  });

  it('every kind has Ready, Reason, a domain column and Age', () => {
    for (const k of KIND_DEFINITIONS) {
      const names = k.printerColumns.map((c) => c.name);
      assert.equal(names[0], 'Ready');
      assert.equal(names[1], 'Reason');
      assert.equal(names.at(-1), 'Age');
      assert.ok(names.length >= 4, `${k.kind} has no domain column`);
    }
  });
});
