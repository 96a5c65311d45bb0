/**
 * Per-namespace LLMs (QuarryNamespace spec.llm): two tenants, each with its own OpenAI-compatible provider — real
 * loopback servers serving the local GGUF model, each accepting only its own key — and a Secret of the same name in
 * each tenant's Kubernetes namespace (read through a real ResourceStore). Tenant A's calls reach only A's server with
 * A's key, B's only B's; a namespace without spec.llm uses the engine's own model; `provider: none`, a missing Secret
 * and a provider on a private address the engine did not allow are refused with the documented 4xx.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { NamespaceLlms, type LlmNamespace, type NamespaceLlmSpec } from '#engine/llm/namespace-llm.ts';
import { secretReader } from '#engine/models/custom/secrets.ts';
import { namespaceSecretName, namespaceSecrets } from '#engine/retriever/secrets.ts';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { startLlmServer, type LlmServer } from '../harness/openai-llm-server.ts';
import { seed, type Seeded } from './fixtures.ts';
import { def, entry, stage, top3, useLocalLlm, world, type Body } from './llm-fixtures.ts';

useLocalLlm();

const qns = new Map<string, LlmNamespace>();
const ns = (k8s: string, name: string, llm?: NamespaceLlmSpec) => qns.set(`${k8s}/${name}`, { metadata: { namespace: k8s, name }, spec: llm ? { llm } : {} });
let serverA: LlmServer;
let serverB: LlmServer;
let llms: NamespaceLlms;
let s: Seeded;

// Handed to QuarryNamespace docs by the label (engine/src/lib/secret-refs.ts).
const secret = (namespace: string, value: string, name = 'llm-key', owner = 'docs') => ({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace, name, labels: { 'quarry.dev/namespace': owner } }, data: { apiKey: Buffer.from(value).toString('base64') } });
const summarize = (namespace: string, query: string) =>
  s.engine.execute({ ...def([top3, stage('sum', 'summarize', { max_output_tokens: 10 })], { budget_limits: {} }), namespace }, { inputs: { query } }).then((r) => r.body as unknown as Body);

before(async () => {
  serverA = await startLlmServer({ llm: world.llm!, apiKey: 'key-of-a' });
  serverB = await startLlmServer({ llm: world.llm!, apiKey: 'key-of-b' });
  const store = new LocalResourceStore({ fieldManager: 'test' });
  await store.apply(secret('team-a', 'key-of-a'));
  await store.apply(secret('team-b', 'key-of-b'));
  llms = new NamespaceLlms({ engine: world.llm!, readSecret: secretReader(store), allowCidrs: ['127.0.0.0/8'], timeoutMs: 60_000 });
  ns('team-a', 'docs', { provider: 'openai', baseUrl: serverA.baseUrl, model: 'model-a', apiKeySecretRef: { name: 'llm-key' } });
  ns('team-b', 'docs', { provider: 'openai', baseUrl: serverB.baseUrl, model: 'model-b', apiKeySecretRef: { name: 'llm-key' } });
  ns('team-c', 'docs');
  ns('team-d', 'docs', { provider: 'none' });
  ns('team-e', 'docs', { provider: 'openai', baseUrl: serverA.baseUrl, model: 'model-e', apiKeySecretRef: { name: 'llm-key' } });
  // team-a's other QuarryNamespace names docs' Secret (labelled for docs) and its namespace secrets.
  ns('team-a', 'other', { provider: 'openai', baseUrl: serverA.baseUrl, model: 'model-o', apiKeySecretRef: { name: 'llm-key' } });
  ns('team-a', 'other2', { provider: 'openai', baseUrl: serverA.baseUrl, model: 'model-o', apiKeySecretRef: { name: namespaceSecretName('docs'), key: 'apiKey' } });
  await store.apply({ ...secret('team-a', 'key-of-a', namespaceSecretName('docs')), metadata: { namespace: 'team-a', name: namespaceSecretName('docs') } });
  // No configured key: its stages bring their own (api_key: {{SECRET.a_key}}, from team-f's namespace secrets).
  ns('team-f', 'docs', { provider: 'openai', baseUrl: serverA.baseUrl, model: 'model-f' });
  await store.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'team-f', name: namespaceSecretName('docs') }, data: { a_key: Buffer.from('key-of-a').toString('base64') } });
  const resolve = (n: string) => qns.get(n) ?? (() => { throw new QuarryError('NotFoundError', `namespace '${n}' not found`); })();
  s = await seed({ llm: world.llm!, llmFor: async (n) => llms.for(n ? qns.get(n) : undefined), secrets: namespaceSecrets(resolve, secretReader(store)) });
});

after(async () => {
  await llms?.close();
  await serverA?.close();
  await serverB?.close();
});

describe('per-namespace LLM (spec.llm)', () => {
  it("tenant A's calls go to A's provider with A's key, B's to B's: never crossed, not shared through the cache", async () => {
    const a = await summarize('team-a/docs', 'headphones');
    assert.equal(a.stage_statistics.stages.sum!.metadata?.model_name, 'model-a');
    assert.deepEqual(serverA.statuses, [200]);
    assert.deepEqual(serverB.statuses, []);
    // The same request in tenant B: its own provider and key (A's answer is not served from the inference cache).
    const b = await summarize('team-b/docs', 'headphones');
    assert.equal(b.stage_statistics.stages.sum!.metadata?.model_name, 'model-b');
    assert.ok(b.stage_statistics.stages.sum!.llm_calls! >= 1);
    assert.deepEqual(serverA.statuses, [200]);
    assert.deepEqual(serverB.statuses, [200]);
    assert.ok(b.budget.tokens_used > 0);
  });

  it("a namespace without spec.llm uses the engine's LLM, not a tenant's provider", async () => {
    const c = await summarize('team-c/docs', 'speakers');
    assert.equal(c.stage_statistics.stages.sum!.metadata?.model_name, entry!.name);
    assert.deepEqual(serverA.statuses, [200]);
    assert.deepEqual(serverB.statuses, [200]);
  });

  it("a tenant without the Secret cannot borrow another tenant's key: 400 naming spec.llm.apiKeySecretRef, nothing sent", async () => {
    await assert.rejects(summarize('team-e/docs', 'cables'), (e: unknown) => e instanceof QuarryError && e.status === 400 && /team-e/.test(e.message) && JSON.stringify(e.details).includes('spec.llm.apiKeySecretRef'));
    assert.deepEqual(serverA.statuses, [200]);
  });

  it("another QuarryNamespace of the same Kubernetes namespace cannot use docs' Secrets (labelled for docs, or docs' quarry-secrets-docs): 400, nothing sent", async () => {
    for (const n of ['team-a/other', 'team-a/other2']) {
      await assert.rejects(summarize(n, 'cables'), (e: unknown) => e instanceof QuarryError && e.status === 400 && /not one this namespace may use/.test(e.message) && JSON.stringify(e.details).includes('spec.llm.apiKeySecretRef'));
    }
    assert.deepEqual(serverA.statuses, [200]);
  });

  it('provider none refuses the LLM stages (403) but not the rest of the pipeline', async () => {
    await assert.rejects(summarize('team-d/docs', 'x'), (e: unknown) => e instanceof QuarryError && e.status === 403 && /provider: none/.test(e.message));
    const plain = (await s.engine.execute({ ...def([top3]), namespace: 'team-d/docs' }, { inputs: { query: 'x' } })).body as unknown as Body;
    assert.equal(plain.documents.length, 3);
  });

  it("a provider on a private address is refused by the SSRF guard unless the engine's allow-list opens it", async () => {
    const strict = new NamespaceLlms({ allowCidrs: [] });
    const llm = await strict.for({ metadata: { namespace: 'team-x', name: 'docs' }, spec: { llm: { provider: 'openai', baseUrl: serverA.baseUrl, model: 'm' } } });
    await assert.rejects(llm!.complete({ messages: [{ role: 'user', content: 'hi' }], maxTokens: 4 }), (e: unknown) => e instanceof QuarryError && e.status === 403);
    assert.deepEqual(serverA.statuses, [200]);
    await strict.close();
  });

  it("api_key: {{SECRET.name}} (BYOK) is sent to the namespace's provider in place of its configured key", async () => {
    const before = serverA.statuses.length;
    const run = (params: Record<string, unknown>) =>
      s.engine.execute({ ...def([top3, stage('sum', 'summarize', { max_output_tokens: 10, ...params })], { budget_limits: {} }), namespace: 'team-f/docs' }, { inputs: { query: 'earbuds' } }).then((r) => r.body as unknown as Body);
    await assert.rejects(run({}), (e: unknown) => e instanceof QuarryError && /check the API key/.test(e.message));
    const ok = await run({ api_key: '{{SECRET.a_key}}' });
    assert.equal(ok.stage_statistics.stages.sum!.metadata?.model_name, 'model-f');
    assert.deepEqual(serverA.statuses.slice(before), [401, 200]);
    assert.ok(!JSON.stringify(ok).includes('key-of-a'));
    assert.equal(ok.stage_statistics.stages.sum!.metadata?.ignored_parameters, undefined, 'api_key is a known parameter');
  });
});
