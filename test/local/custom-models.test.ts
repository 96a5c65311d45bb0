/**
 * Custom models on the real local path: Model resources in the manifests folder are delivered by the engine runtime
 * (volume source under QUARRY_MODEL_VOLUME_ROOTS, sha256-verified into the data directory's cache), reported in the
 * served-models store, and turned Ready by the operator's Model controller; a Model with a wrong hash is
 * Ready=False naming the file. A Retriever's rerank stage then names the custom cross-encoder by its plain name
 * and, executed over HTTP, scores and orders documents exactly as the bare model does on the same texts. The stage
 * leaves `query` to its documented default ({{INPUT.query}}): before the executor rendered templated defaults, the
 * literal "{{INPUT.query}}" was scored, which this comparison caught. Retrievers whose rerank stage names a Model that
 * is not Ready, or not enabled for their namespace, are Ready=False saying which and why.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT } from '../harness/test-env.ts';
import { eventually } from '../harness/eventually.ts';
import { LOCAL_K8S_NAMESPACE, startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';
import { OnnxModels } from '#engine/models/onnx-models.ts';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'models');
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-custom-models-local-'));
const manifestsDir = path.join(scratch, 'manifests');
const saved = process.env.QUARRY_MODEL_VOLUME_ROOTS;
let rt: LocalRuntime | undefined;
const bare = new OnnxModels({ dir: FIXTURES });

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const files = (modelSha = sha(path.join(FIXTURES, 'tiny_reranker/model.onnx'))) => `
  files:
    - {path: model.onnx, role: model, sha256: "${modelSha}"}
    - {path: tokenizer.json, role: tokenizer, sha256: "${sha(path.join(FIXTURES, 'tiny_reranker/tokenizer.json'))}"}
    - {path: tokenizer_config.json, role: tokenizer_config, sha256: "${sha(path.join(FIXTURES, 'tiny_reranker/tokenizer_config.json'))}"}`;

const MODELS = `apiVersion: quarry.dev/v1alpha1
kind: Model
metadata:
  name: my-reranker
spec:
  type: reranker
  namespaceRefs: [quickstart]
  source:
    volume: {path: ${path.join(FIXTURES, 'tiny_reranker')}}
${files()}
  runtime: {maxTokens: 24}
---
apiVersion: quarry.dev/v1alpha1
kind: Model
metadata:
  name: bad-reranker
spec:
  type: reranker
  source:
    volume: {path: ${path.join(FIXTURES, 'tiny_reranker')}}
${files('0'.repeat(64))}
---
apiVersion: quarry.dev/v1alpha1
kind: Model
metadata:
  name: elsewhere-reranker
spec:
  type: reranker
  namespaceRefs: [some-other-namespace]
  source:
    volume: {path: ${path.join(FIXTURES, 'tiny_reranker')}}
${files()}
  runtime: {maxTokens: 24}
`;

const RETRIEVER = `apiVersion: quarry.dev/v1alpha1
kind: Retriever
metadata:
  name: notes-custom-rerank
spec:
  namespaceRef: quickstart
  collectionRefs: [quickstart-notes]
  inputSchema:
    query: {type: text, required: true}
  stages:
    - stageName: search
      stageType: filter
      config:
        stageId: feature_search
        parameters:
          searches:
            - feature_uri: quarry://text_extractor@v1/all_minilm_l6_v2
              query: {input_mode: text, value: "{{INPUT.query}}"}
              top_k: 8
          final_top_k: 8
    - stageName: rerank
      stageType: sort
      config:
        stageId: rerank
        parameters:
          inference_name: my-reranker
          document_field: text
          score_field: scores.rerank
`;

type Cond = { type: string; status: string; reason: string; message: string };
const ready = async (kind: string, name: string) => {
  const o = await rt!.store.get(kind, { namespace: LOCAL_K8S_NAMESPACE, name });
  return { obj: o, cond: ((o?.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready') };
};

before(() => {
  process.env.QUARRY_MODEL_VOLUME_ROOTS = FIXTURES;
  mkdirSync(manifestsDir, { recursive: true });
  copyFileSync(path.join(ROOT, 'examples', 'sample-data', 'quickstart.yaml'), path.join(manifestsDir, 'quickstart.yaml'));
  writeFileSync(path.join(manifestsDir, 'models.yaml'), MODELS);
  writeFileSync(path.join(manifestsDir, 'retriever.yaml'), RETRIEVER);
});

after(async () => {
  await rt?.stop();
  await bare.close();
  if (saved === undefined) delete process.env.QUARRY_MODEL_VOLUME_ROOTS;
  else process.env.QUARRY_MODEL_VOLUME_ROOTS = saved;
  rmSync(scratch, { recursive: true, force: true });
});

test('local mode: a custom reranker Model is delivered, Ready, and used by a rerank stage; a wrong hash is Ready=False naming the file', async () => {
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir, host: '127.0.0.1', port: 0, manifestDebounceMs: 100 });

  const good = await eventually('Model my-reranker Ready', async () => {
    const r = await ready('Model', 'my-reranker');
    return r.cond?.status === 'True' && r;
  }, 120_000);
  assert.equal(good.cond!.reason, 'ModelServed');
  const st = good.obj!.status as { servedBy?: number; runtimeName?: string };
  assert.equal(st.servedBy, 1);
  assert.equal(st.runtimeName, 'local/my-reranker');

  const bad = await eventually('Model bad-reranker Ready=False with the runtime\'s reason', async () => {
    const r = await ready('Model', 'bad-reranker');
    return r.cond?.status === 'False' && r.cond.reason !== 'Delivering' && r;
  });
  assert.equal(bad.cond!.reason, 'HashMismatch');
  assert.match(bad.cond!.message, /file model\.onnx: sha256 of .*model\.onnx is [0-9a-f]{64}, spec\.files lists 0{64}/);

  // The health endpoint answers anyone: it lists built-in models, never a tenant's.
  const health = (await (await fetch(`${rt.url}/v1/health`)).json()) as { checks?: { models?: { models?: string[] } } };
  assert.ok(!JSON.stringify(health).includes('my-reranker'), JSON.stringify(health));

  await eventually('Retriever notes-custom-rerank Ready', async () => (await ready('Retriever', 'notes-custom-rerank')).cond?.status === 'True');
  const query = 'what is the capital of france';
  const res = await fetch(`${rt.url}/v1/retrievers/notes-custom-rerank/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'quickstart', authorization: `Bearer ${rt.apiKey}` },
    body: JSON.stringify({ inputs: { query } }),
  });
  const body = (await res.json()) as { documents?: { text?: string; scores?: { rerank?: number } }[]; stage_statistics?: Record<string, { metadata?: Record<string, unknown> }> };
  assert.equal(res.status, 200, JSON.stringify(body));
  const docs = body.documents ?? [];
  assert.ok(docs.length >= 3, `only ${docs.length} documents`);
  const expected = await bare.rerank('tiny_reranker', query, docs.map((d) => String(d.text ?? '')));
  docs.forEach((d, i) => assert.ok(Math.abs(d.scores!.rerank! - expected[i]!) < 1e-4, `document ${i} (${String(d.text).slice(0, 40)}…): ${d.scores?.rerank} vs bare model ${expected[i]}`));
  for (let i = 1; i < expected.length; i++) assert.ok(expected[i - 1]! >= expected[i]!, 'not ordered as the bare model scores them');
  const meta = JSON.stringify(body.stage_statistics ?? {});
  assert.ok(meta.includes('"model_name":"my-reranker"'), meta);
  assert.ok(!meta.includes('model_substituted'), meta);

  // A rerank stage naming a Model that is not Ready, or not enabled for this QuarryNamespace (spec.namespaceRefs),
  // keeps its Retriever Ready=False saying so (the engine would otherwise fall back to another reranker).
  const onBad = RETRIEVER.replace('name: notes-custom-rerank', 'name: notes-bad-rerank').replace('inference_name: my-reranker', 'inference_name: bad-reranker');
  const onElsewhere = RETRIEVER.replace('name: notes-custom-rerank', 'name: notes-elsewhere-rerank').replace('inference_name: my-reranker', 'inference_name: elsewhere-reranker');
  writeFileSync(path.join(manifestsDir, 'more-retrievers.yaml'), `${onBad}---\n${onElsewhere}`);
  await eventually('Model elsewhere-reranker Ready', async () => (await ready('Model', 'elsewhere-reranker')).cond?.status === 'True');
  const notReady = await eventually('notes-bad-rerank waits for its Model', async () => {
    const r = await ready('Retriever', 'notes-bad-rerank');
    return r.cond?.reason === 'DependencyNotReady' && r.cond;
  });
  assert.equal(notReady.status, 'False');
  assert.match(notReady.message, /Model local\/bad-reranker is not Ready \(HashMismatch: .*file model\.onnx/);
  const notEnabled = await eventually('notes-elsewhere-rerank refused', async () => {
    const r = await ready('Retriever', 'notes-elsewhere-rerank');
    return r.cond?.reason === 'ModelNotEnabled' && r.cond;
  });
  assert.match(notEnabled.message, /Model elsewhere-reranker \(rerank stage\) is not enabled for QuarryNamespace quickstart/);
});
