/** Which LLM the engine configures from its environment (engine/src/llm/from-env.ts); pure configuration, no calls. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { llmFromEnv } from '#engine/llm/from-env.ts';
import { installedLlm } from '#engine/llm/local-llama.ts';

test('QUARRY_LLM=off: no LLM', () => {
  assert.equal(llmFromEnv({ QUARRY_LLM: 'off', QUARRY_LLM_BASE_URL: 'http://x/v1', QUARRY_LLM_MODEL: 'm' }), undefined);
});

test('a provider base URL needs a model; its key comes from the mounted secret file', async () => {
  assert.throws(() => llmFromEnv({ QUARRY_LLM_BASE_URL: 'https://api.example.com/v1' }), (e: unknown) => e instanceof QuarryError && e.status === 400 && /QUARRY_LLM_MODEL/.test(e.message));
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-llm-env-'));
  writeFileSync(path.join(dir, 'key'), 'sk-from-secret\n');
  const llm = llmFromEnv({ QUARRY_LLM_BASE_URL: 'https://api.example.com/v1', QUARRY_LLM_MODEL: 'gpt-4o-mini', QUARRY_LLM_API_KEY_FILE: path.join(dir, 'key'), QUARRY_LLM_CONTEXT_TOKENS: '128000' });
  assert.ok(llm);
  assert.equal(llm.provider, 'api.example.com');
  assert.equal(llm.model, 'gpt-4o-mini');
  assert.equal(llm.contextTokens, 128000);
  assert.throws(() => llmFromEnv({ QUARRY_LLM_BASE_URL: 'https://api.example.com/v1', QUARRY_LLM_MODEL: 'm', QUARRY_LLM_CONCURRENCY: 'many' }), (e: unknown) => e instanceof QuarryError && e.status === 400 && /QUARRY_LLM_CONCURRENCY/.test(e.message));
  assert.throws(() => llmFromEnv({ QUARRY_LLM_BASE_URL: 'ftp://x', QUARRY_LLM_MODEL: 'm' }), (e: unknown) => e instanceof QuarryError && e.status === 400);
});

test('without a provider: the local GGUF model make models installed, by name or the first', async () => {
  const entry = installedLlm();
  assert.ok(entry, 'no LLM in models/manifest.json: run make models');
  const llm = llmFromEnv({});
  assert.ok(llm);
  assert.equal(llm.provider, 'local');
  assert.equal(llm.model, entry.name);
  assert.equal(llm.contextTokens, entry.context_size);
  assert.throws(() => llmFromEnv({ QUARRY_LLM_MODEL: 'no-such-model' }), (e: unknown) => e instanceof QuarryError && e.status === 400 && /no-such-model/.test(e.message));
  await llm.close();
});
