/** The LLM contract on the local adapter: the GGUF model `make models` installs, run by node-llama-cpp (no network). */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { Registry } from 'prom-client';
import { withLimits } from '#engine/llm/limits.ts';
import { LlmMetrics } from '#engine/llm/metrics.ts';
import { LocalLlama, installedLlm } from '#engine/llm/local-llama.ts';
import { llmContract } from './llm.contract.ts';

const entry = installedLlm();
let llm: LocalLlama;

before(() => {
  assert.ok(entry, 'no LLM in models/manifest.json: run make models');
  llm = new LocalLlama({ file: entry.file, name: entry.name });
});
after(() => llm.close());

llmContract('local (node-llama-cpp)', () => llm);

it('a schema the grammar cannot express is a 400 naming the schema, before generating', async () => {
  await assert.rejects(
    llm.complete({ messages: [{ role: 'user', content: 'x' }], jsonSchema: { type: 'object', properties: { a: { type: 'not-a-type' } } }, maxTokens: 4 }),
    (e: unknown) => e instanceof QuarryError && e.status === 400 && (e.details as { parameter?: string }).parameter === 'schema',
  );
});

it('a conversation must end with a user message', async () => {
  await assert.rejects(llm.complete({ messages: [{ role: 'system', content: 'x' }], maxTokens: 4 }), (e: unknown) => e instanceof QuarryError && e.status === 400);
});

it('calls are counted in Prometheus series: requests by outcome, tokens by kind, duration', async () => {
  const registry = new Registry();
  const limited = withLimits(llm, { concurrency: 1, metrics: new LlmMetrics(registry) });
  const r = await limited.complete({ messages: [{ role: 'user', content: 'Say yes.' }], maxTokens: 3 });
  await assert.rejects(limited.complete({ messages: [{ role: 'user', content: 'Tell a long story.' }], maxTokens: 300, timeoutMs: 20 }));
  const text = await registry.metrics();
  const labels = `provider="local",model="${entry!.name}"`;
  assert.match(text, new RegExp(`quarry_llm_requests_total\\{${labels},outcome="ok"\\} 1`));
  assert.match(text, new RegExp(`quarry_llm_requests_total\\{${labels},outcome="timeout"\\} 1`));
  assert.match(text, new RegExp(`quarry_llm_tokens_total\\{${labels},kind="completion"\\} ${r.usage.completion_tokens}`));
  assert.match(text, new RegExp(`quarry_llm_request_duration_seconds_count\\{${labels}\\} 2`));
});
