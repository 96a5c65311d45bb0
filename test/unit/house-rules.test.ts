// House rules (issue #22): no import climbs three folders, no hand-written source file over 500 lines, the core-imports codemod has nothing left to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, sourceFiles, specifiers } from '#hack/codemods/core-imports.ts';

const MAX_LINES = 500;

test('no import in operator/, engine/, test/, bench/ or hack/ climbs more than two folders', () => {
  const climbing: string[] = [];
  for (const file of sourceFiles()) {
    for (const lit of specifiers(file, readFileSync(join(ROOT, file), 'utf8'))) {
      if (/^(\.\.\/){3,}/.test(lit.text)) climbing.push(`${file}: ${lit.text}`);
    }
  }
  assert.deepEqual(climbing, [], 'name the room instead (#core/…, #engine/…): node --import tsx hack/codemods/core-imports.ts');
});

test('below its apps the engine never names the operator, not even in a dynamic import() the lint cannot see', () => {
  const app = /^engine\/src\/(app\/|main\.ts$|worker\.ts$|all-in-one\.ts$)/;
  const reaching: string[] = [];
  for (const file of sourceFiles().filter((f) => f.startsWith('engine/') && !app.test(f))) {
    for (const lit of specifiers(file, readFileSync(join(ROOT, file), 'utf8'))) {
      if (/^#operator\/|(^|\/)operator\/src\//.test(lit.text)) reaching.push(`${file}: ${lit.text}`);
    }
  }
  assert.deepEqual(reaching, [], 'share through #core/… and compose in engine/src/app');
});

test(`no source file outside generated code is over ${MAX_LINES} lines`, () => {
  const long: string[] = [];
  for (const file of sourceFiles()) {
    const lines = readFileSync(join(ROOT, file), 'utf8').replace(/\n$/, '').split('\n').length;
    if (lines > MAX_LINES) long.push(`${file}: ${lines} lines`);
  }
  assert.deepEqual(long, [], 'split the file along its concerns');
});

test('the core-imports codemod has nothing left to rewrite (--check)', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'hack/codemods/core-imports.ts', '--check'], { cwd: ROOT, encoding: 'utf8' });
  assert.match(out, /^0 specifier\(s\) left to rewrite$/m);
});
