// Layering lint: a deliberately wrong import in a scratch file fails eslint (domain → adapter/client library; operator → engine app/routes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Writes `text` to a scratch file at `rel`, lints it with the repo's eslint.config.js, removes it; returns the messages. */
async function lintScratch(rel: string, text: string): Promise<{ ruleId: string | null; message: string }[]> {
  const file = join(ROOT, rel);
  writeFileSync(file, text);
  try {
    const [result] = await new ESLint({ cwd: ROOT }).lintFiles([file]);
    return result?.messages ?? [];
  } finally {
    rmSync(file, { force: true });
  }
}

const RULE = '@typescript-eslint/no-restricted-imports';

test('domain code importing an adapter or a client library fails the lint', async () => {
  const messages = await lintScratch(`engine/src/ingestion/zz-layering-scratch-${process.pid}.ts`, [
    "import { QdrantClient } from '@qdrant/js-client-rest';",
    "import { LanceStore } from '../vector/embedded/lance-store.ts';",
    "import { S3ObjectStore } from '#engine/objects/s3.ts';",
    'export const wrong: unknown[] = [QdrantClient, LanceStore, S3ObjectStore];',
    '',
  ].join('\n'));
  const layering = messages.filter((m) => m.ruleId === RULE);
  assert.equal(layering.length, 3, JSON.stringify(messages));
  assert.match(layering[0]!.message, /client library/);
  assert.match(layering[1]!.message, /adapter/);
});

test('the operator importing an engine app or HTTP routes fails the lint', async () => {
  const messages = await lintScratch(`operator/src/zz-layering-scratch-${process.pid}.ts`, [
    "import { buildApp } from '#engine/http/app.ts';",
    "import { registerIngestionRoutes } from '#engine/ingestion/http-routes.ts';",
    'export const wrong: unknown[] = [buildApp, registerIngestionRoutes];',
    '',
  ].join('\n'));
  const layering = messages.filter((m) => m.ruleId === RULE);
  assert.equal(layering.length, 2, JSON.stringify(messages));
  assert.match(layering[0]!.message, /engine app or HTTP routes/);
});

test('the same imports through the shared core pass', async () => {
  const messages = await lintScratch(`operator/src/zz-layering-scratch-ok-${process.pid}.ts`, [
    "import type { VectorStore } from '#core/ports/vector-store.ts';",
    "import { logger } from '#core/lib/log.ts';",
    'export const fine: unknown[] = [logger, null as unknown as VectorStore];',
    '',
  ].join('\n'));
  assert.deepEqual(messages.filter((m) => m.ruleId === RULE), []);
});

test('engine code below the apps importing the operator fails the lint; the apps may compose it', async () => {
  const wrong = [
    "import { Operator } from '#operator/runtime/operator.ts';",
    'export const wrong: unknown[] = [Operator];',
    '',
  ].join('\n');
  const domain = (await lintScratch(`engine/src/ingestion/zz-layering-scratch-op-${process.pid}.ts`, wrong)).filter((m) => m.ruleId === RULE);
  assert.equal(domain.length, 1);
  assert.match(domain[0]!.message, /compose the operator/);
  const adapter = (await lintScratch(`engine/src/objects/zz-layering-scratch-op-${process.pid}.ts`, wrong)).filter((m) => m.ruleId === RULE);
  assert.equal(adapter.length, 1);
  const app = (await lintScratch(`engine/src/app/zz-layering-scratch-op-${process.pid}.ts`, wrong)).filter((m) => m.ruleId === RULE);
  assert.deepEqual(app, []);
});
