/**
 * Local mode wiring of QuarryNamespace spec.llm: a namespace declared in the manifests folder names an
 * OpenAI-compatible provider (a real loopback server serving the local GGUF model, which accepts one key) and a key
 * in the local secrets store (<data dir>/secrets/<name>/<key>, labelled for it in <name>/.labels). The runtime's LLM for that namespace calls the
 * provider with that key; a namespace whose Secret is missing gets a 400 naming spec.llm.apiKeySecretRef.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { LOCAL_K8S_NAMESPACE, startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';
import { QuarryError } from '#core/lib/errors.ts';
import { withLimits } from '#engine/llm/limits.ts';
import { LocalLlama, installedLlm } from '#engine/llm/local-llama.ts';
import type { LLM } from '#core/ports/llm.ts';
import { eventually } from '../harness/eventually.ts';
import { startLlmServer, type LlmServer } from '../harness/openai-llm-server.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-ns-llm-'));
let rt: LocalRuntime | undefined;
let server: LlmServer | undefined;
let model: LLM | undefined;
const savedAllow = process.env.QUARRY_LLM_ALLOW_CIDRS;

after(async () => {
  await rt?.stop();
  await server?.close();
  await model?.close();
  if (savedAllow === undefined) delete process.env.QUARRY_LLM_ALLOW_CIDRS;
  else process.env.QUARRY_LLM_ALLOW_CIDRS = savedAllow;
  rmSync(scratch, { recursive: true, force: true });
});

const namespace = (name: string, secret: string, baseUrl: string) => `apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata:
  name: ${name}
spec:
  featureExtractors:
  - name: text_extractor
    version: v1
  llm:
    provider: openai
    baseUrl: ${baseUrl}
    model: tenant-model
    apiKeySecretRef:
      name: ${secret}
`;

test('local mode: a namespace calls its own provider with the key from the local secrets store', async () => {
  const entry = installedLlm();
  assert.ok(entry, 'no LLM in models/manifest.json: run make models');
  model = withLimits(new LocalLlama({ file: entry.file, name: entry.name }), { concurrency: 1, timeoutMs: 60_000 });
  server = await startLlmServer({ llm: model, apiKey: 'local-secret-key' });
  const manifests = path.join(scratch, 'manifests');
  const dataDir = path.join(scratch, 'data');
  mkdirSync(manifests, { recursive: true });
  mkdirSync(path.join(dataDir, 'secrets', 'provider-key'), { recursive: true });
  writeFileSync(path.join(dataDir, 'secrets', 'provider-key', 'apiKey'), 'local-secret-key\n');
  // Handed to QuarryNamespace with-key (engine/src/lib/secret-refs.ts): local mode's labels file.
  writeFileSync(path.join(dataDir, 'secrets', 'provider-key', '.labels'), 'quarry.dev/namespace=with-key\n');
  writeFileSync(path.join(manifests, 'ns.yaml'), `${namespace('with-key', 'provider-key', server.baseUrl)}---\n${namespace('without-key', 'missing-key', server.baseUrl)}`);
  // The engine's allow-list (not the tenant's) opens loopback for the provider.
  process.env.QUARRY_LLM_ALLOW_CIDRS = '127.0.0.1/32';
  rt = await startLocal({ dataDir, manifestsDir: manifests, host: '127.0.0.1', port: 0, auth: false, seed: false, llm: null, manifestDebounceMs: 100 });
  const qn = (name: string) => eventually(`QuarryNamespace ${name} loaded`, () => rt!.store.get('QuarryNamespace', { namespace: LOCAL_K8S_NAMESPACE, name }).then((o) => o && rt!.runtime.resolve(name)));

  const llm = await rt.runtime.llms.for(await qn('with-key'));
  assert.equal(llm?.model, 'tenant-model');
  const r = await llm!.complete({ messages: [{ role: 'user', content: 'Say hello.' }], maxTokens: 8 });
  assert.ok(r.usage.total_tokens > 0);
  assert.deepEqual(server.statuses, [200]);

  await assert.rejects(rt.runtime.llms.for(await qn('without-key')), (e: unknown) => e instanceof QuarryError && e.status === 400 && JSON.stringify(e.details).includes('spec.llm.apiKeySecretRef'));
  assert.deepEqual(server.statuses, [200]);
});
