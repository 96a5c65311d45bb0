/** The LLM contract on the local adapter: the GGUF model `make models` installs, run by node-llama-cpp (no network). */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { QuarryError } from '../../engine/src/lib/errors.ts';
import { LocalLlama, installedLlm } from '../../engine/src/llm/local-llama.ts';
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
