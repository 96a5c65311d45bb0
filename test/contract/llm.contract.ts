/**
 * The LLM port contract: the local GGUF adapter and the OpenAI-compatible HTTP adapter (against a real server on
 * loopback serving the same model) run this one suite. Assertions are what a 270M model does reliably: valid
 * schema-constrained JSON, token counts, stop reasons, limits and errors — never exact wording.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { withLimits } from '#engine/llm/limits.ts';
import type { LLM } from '#core/ports/llm.ts';

export function llmContract(name: string, get: () => LLM): void {
  describe(`LLM contract: ${name}`, () => {
    it('a plain completion returns text, the model name and real token counts', async () => {
      const r = await get().complete({ messages: [{ role: 'user', content: 'Name a colour.' }], maxTokens: 8 });
      assert.equal(typeof r.text, 'string');
      assert.ok(r.model.length > 0);
      assert.ok(r.usage.prompt_tokens > 0, `prompt tokens ${r.usage.prompt_tokens}`);
      assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8, `completion tokens ${r.usage.completion_tokens}`);
      assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    });

    it('streaming delivers the answer in pieces as it is generated; the pieces make the returned text', async () => {
      const pieces: string[] = [];
      const r = await get().complete({ messages: [{ role: 'user', content: 'Name three colours.' }], maxTokens: 12, onText: (t) => pieces.push(t) });
      assert.ok(pieces.length >= 2, `pieces ${pieces.length}`);
      assert.equal(pieces.join(''), r.text);
      assert.ok(r.usage.completion_tokens > 0 && r.usage.prompt_tokens > 0);
    });

    it('streaming with a JSON schema still returns the parsed, valid answer', async () => {
      const pieces: string[] = [];
      const r = await get().complete({ messages: [{ role: 'user', content: 'Is the sky blue? Answer in JSON.' }], jsonSchema: { type: 'object', properties: { yes: { type: 'boolean' } }, required: ['yes'] }, maxTokens: 30, onText: (t) => pieces.push(t) });
      assert.equal(pieces.join(''), r.text);
      assert.equal(typeof (r.json as { yes: unknown }).yes, 'boolean');
    });

    it('maxTokens stops the answer with finish_reason length', async () => {
      const r = await get().complete({ messages: [{ role: 'user', content: 'Count from one to one hundred in words.' }], maxTokens: 2 });
      assert.equal(r.finish_reason, 'length');
      assert.ok(r.usage.completion_tokens <= 2);
    });

    it('a JSON schema constrains the answer: parsed, valid, with the enum respected', async () => {
      const schema = { type: 'object', properties: { relevant: { type: 'boolean' }, topic: { enum: ['audio', 'cooking', 'sports'] } }, required: ['relevant', 'topic'], additionalProperties: false };
      const r = await get().complete({
        messages: [{ role: 'system', content: 'Classify the text. Answer with JSON.' }, { role: 'user', content: 'Text: wireless earbuds with noise cancelling' }],
        jsonSchema: schema,
        maxTokens: 40,
      });
      const json = r.json as { relevant: unknown; topic: unknown };
      assert.deepEqual(JSON.parse(r.text), json);
      assert.equal(typeof json.relevant, 'boolean');
      assert.ok(['audio', 'cooking', 'sports'].includes(json.topic as string), String(json.topic));
      assert.deepEqual(Object.keys(json).sort(), ['relevant', 'topic']);
    });

    it('the concurrency limit queues calls beyond it, in order', async () => {
      const limited = withLimits(get(), { concurrency: 1, timeoutMs: 30_000 });
      const order: number[] = [];
      const a = limited.complete({ messages: [{ role: 'user', content: 'Say yes.' }], maxTokens: 2 }).then(() => order.push(1));
      const b = limited.complete({ messages: [{ role: 'user', content: 'Say no.' }], maxTokens: 2 }).then(() => order.push(2));
      await new Promise((r) => setImmediate(r));
      assert.equal(limited.active, 1);
      assert.equal(limited.waiting, 1);
      await Promise.all([a, b]);
      assert.deepEqual(order, [1, 2]);
      assert.equal(limited.active, 0);
    });

    it('a call that outlives its timeout fails with TimeoutError (504) and frees its slot', async () => {
      const limited = withLimits(get(), { concurrency: 1 });
      await assert.rejects(limited.complete({ messages: [{ role: 'user', content: 'Write a long story about a dragon.' }], maxTokens: 400, timeoutMs: 50 }), (e: unknown) => e instanceof QuarryError && e.type === 'TimeoutError' && e.status === 504);
      assert.equal(limited.active, 0);
      const r = await limited.complete({ messages: [{ role: 'user', content: 'Say yes.' }], maxTokens: 2, timeoutMs: 30_000 });
      assert.ok(r.usage.completion_tokens > 0);
    });
  });
}
