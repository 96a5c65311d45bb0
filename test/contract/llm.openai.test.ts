/**
 * The LLM contract on the OpenAI-compatible HTTP adapter, against a real server on loopback serving the same local
 * model (test/harness/openai-llm-server.ts), plus what only HTTP has: the API key, 429 with Retry-After, the SSRF
 * guard's allow-list and provider errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { LocalLlama, installedLlm } from '#engine/llm/local-llama.ts';
import { OpenAiHttpLLM, retryAfterMs } from '#engine/llm/openai-http.ts';
import { startLlmServer, type LlmServer } from '../harness/openai-llm-server.ts';
import { llmContract } from './llm.contract.ts';

const entry = installedLlm();
let local: LocalLlama;
let server: LlmServer;
let http: OpenAiHttpLLM;
const KEY = 'sk-test-key';
const loopback = ['127.0.0.0/8'];

before(async () => {
  assert.ok(entry, 'no LLM in models/manifest.json: run make models');
  local = new LocalLlama({ file: entry.file, name: entry.name });
  server = await startLlmServer({ llm: local, apiKey: KEY, maxInFlight: 1, retryAfterSeconds: 1 });
  http = new OpenAiHttpLLM({ baseUrl: server.baseUrl, model: entry.name, apiKey: KEY, allowCidrs: loopback });
});
after(async () => {
  await server.close();
  await local.close();
});

llmContract('OpenAI-compatible HTTP (loopback server, same model)', () => http);

describe('OpenAI-compatible HTTP adapter', () => {
  it('a 429 is retried after its Retry-After and then answered', async () => {
    const before = server.statuses.length;
    const t0 = Date.now();
    // The server runs one request at a time: the second gets 429 Retry-After: 1 and succeeds on retry.
    const [a, b] = await Promise.all([
      http.complete({ messages: [{ role: 'user', content: 'Say yes.' }], maxTokens: 2 }),
      http.complete({ messages: [{ role: 'user', content: 'Say no.' }], maxTokens: 2 }),
    ]);
    assert.ok(a.usage.total_tokens > 0 && b.usage.total_tokens > 0);
    const seen = server.statuses.slice(before);
    assert.ok(seen.includes(429), `statuses ${seen.join(',')}`);
    assert.equal(seen.filter((s) => s === 200).length, 2);
    assert.ok(Date.now() - t0 >= 1000, 'waited for Retry-After');
  });

  it('a Retry-After longer than allowed fails at once with 429 naming the provider', async () => {
    const slow = new OpenAiHttpLLM({ baseUrl: server.baseUrl, model: entry!.name, apiKey: KEY, allowCidrs: loopback, maxRetryAfterMs: 500 });
    const results = await Promise.allSettled([
      slow.complete({ messages: [{ role: 'user', content: 'Say yes.' }], maxTokens: 4 }),
      slow.complete({ messages: [{ role: 'user', content: 'Say no.' }], maxTokens: 4 }),
    ]);
    const rejected = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as QuarryError);
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]!.type, 'TooManyRequestsError');
    assert.equal(rejected[0]!.status, 429);
    assert.equal((rejected[0]!.details as { retry_after_ms: number }).retry_after_ms, 1000);
  });

  it('a wrong API key is a 503 telling to check the key secret (engine configuration, not the caller)', async () => {
    const bad = new OpenAiHttpLLM({ baseUrl: server.baseUrl, model: entry!.name, apiKey: 'wrong', allowCidrs: loopback });
    await assert.rejects(bad.complete({ messages: [{ role: 'user', content: 'x' }], maxTokens: 2 }), (e: unknown) => e instanceof QuarryError && e.status === 503 && /HTTP 401.*API key/.test(e.message));
  });

  it('a provider that cannot be reached is a 503 naming it', async () => {
    const closed = await startLlmServer({ llm: local });
    const url = closed.baseUrl;
    await closed.close();
    const gone = new OpenAiHttpLLM({ baseUrl: url, model: entry!.name, allowCidrs: loopback });
    await assert.rejects(gone.complete({ messages: [{ role: 'user', content: 'x' }], maxTokens: 2 }), (e: unknown) => e instanceof QuarryError && e.status === 503 && /cannot be reached/.test(e.message));
  });

  it('the SSRF guard refuses a loopback provider unless its range is allowed; nothing is sent', async () => {
    const n = server.statuses.length;
    const guarded = new OpenAiHttpLLM({ baseUrl: server.baseUrl, model: entry!.name, apiKey: KEY });
    await assert.rejects(guarded.complete({ messages: [{ role: 'user', content: 'x' }], maxTokens: 2 }), (e: unknown) => e instanceof QuarryError && e.type === 'ForbiddenError');
    assert.equal(server.statuses.length, n);
  });

  it('a wrong base URL is a 503; a request the provider rejects a 400; an invalid schema a 400 before any request', async () => {
    const wrongPath = new OpenAiHttpLLM({ baseUrl: server.baseUrl.replace(/\/v1$/, '/nope'), model: entry!.name, apiKey: KEY, allowCidrs: loopback });
    await assert.rejects(wrongPath.complete({ messages: [{ role: 'user', content: 'x' }], maxTokens: 2 }), (e: unknown) => e instanceof QuarryError && e.status === 503 && /HTTP 404/.test(e.message));
    await assert.rejects(http.complete({ messages: [], maxTokens: 2 }), (e: unknown) => e instanceof QuarryError && e.status === 400 && /HTTP 400/.test(e.message));
    const n = server.statuses.length;
    await assert.rejects(http.complete({ messages: [{ role: 'user', content: 'x' }], jsonSchema: { type: 'nope' }, maxTokens: 2 }), (e: unknown) => e instanceof QuarryError && e.status === 400);
    assert.equal(server.statuses.length, n);
  });

  it('Retry-After is read as seconds or an HTTP date', () => {
    assert.equal(retryAfterMs('2'), 2000);
    assert.equal(retryAfterMs(new Date(Date.now() + 5000).toUTCString(), Date.now()) !== undefined, true);
    assert.equal(retryAfterMs('soon'), undefined);
    assert.equal(retryAfterMs(undefined), undefined);
  });
});
