/**
 * Honest readiness (issue 15): the operator on the test apiserver (real NATS for the job queue and its key-value
 * store) with the runtimes' served-models reports. A worker whose models directory lacks the extractor's model and an
 * engine with no reranker make the Collection and the rerank Retriever Ready=False (ModelNotServed) naming the model
 * and how to install it; installing the models into those directories (manifest.json, re-read on every heartbeat)
 * makes them Ready without touching either resource.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyCrds, createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { closeTestEnvPorts, testEnvPorts } from '../harness/env-ports.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import { QUARRY_KINDS } from '#operator/runtime/kinds.ts';
import { installedModels, reportServedModels, servedModelsReader } from '#operator/controllers/collection/served-models.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';

const API = 'quarry.dev/v1alpha1';
const FX = { name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-readiness-'));
const workerModels = path.join(scratch, 'worker-models');
const engineModels = path.join(scratch, 'engine-models');
let ns: { name: string; cleanup(): Promise<void> };
let ports: { vs: VectorStore; objects: ObjectStore; queue: JobQueue };
let op: Operator;
const reports: { stop(): Promise<void> }[] = [];
const store = new KubeResourceStore(kubeConfig(), { kinds: QUARRY_KINDS, fieldManager: 'quarry-test' });

/** "Installs" models into a directory: its manifest.json, what `make models` writes. */
function install(dir: string, models: { name: string; kind: string }[]) {
  mkdirSync(dir, { recursive: true });
  const entries = Object.fromEntries(models.map((m) => [m.name, { ...m, dir: m.name, files: {}, licence: 'test', source: { registry: 'test', package: m.name, version: '1' } }]));
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ version: 1, models: entries }));
}

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('readiness');
  ports = await testEnvPorts(path.join(scratch, 'vectors'));
  install(workerModels, []);
  install(engineModels, [{ name: 'all_minilm_l6_v2', kind: 'text-embedding' }]);
  // The runtimes' reports, exactly as worker.ts and the engine make them (a short heartbeat to keep the test fast).
  reports.push(reportServedModels(ports.queue, { id: `worker-${ns.name}`, roles: ['worker'], models: () => installedModels(workerModels), intervalMs: 500 }));
  reports.push(reportServedModels(ports.queue, { id: `engine-${ns.name}`, roles: ['engine'], models: () => installedModels(engineModels), intervalMs: 500 }));
  op = new Operator({
    kubeConfig: kubeConfig(),
    reconcilers: reconcilers({ vectorStore: ports.vs, objectStore: ports.objects, jobQueue: ports.queue, servedModels: servedModelsReader(ports.queue) }),
    namespaces: [ns.name],
  });
  await op.start();
});

after(async () => {
  await kubectl(['delete', 'quarrynamespaces,buckets,collections,retrievers', '--all', '--wait=true', '--timeout=60s'], { namespace: ns.name });
  await op?.stop();
  for (const r of reports) await r.stop();
  await closeTestEnvPorts(ports);
  await ns?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

type Cond = { type: string; status: string; reason?: string; message?: string };
async function readyOf(kind: string, name: string): Promise<Cond | undefined> {
  const o = await store.get(kind, { namespace: ns.name, name });
  return ((o?.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready');
}
async function waitFor(kind: string, name: string, pred: (c: Cond | undefined) => boolean, timeoutMs = 45_000): Promise<Cond> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await readyOf(kind, name);
    if (pred(c)) return c!;
    if (Date.now() > deadline) throw new Error(`${kind} ${name}: Ready is ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('a Collection on a model no worker serves and a rerank Retriever with no reranker are Ready=False naming the model; installing them makes both Ready', async () => {
  await store.apply({ apiVersion: API, kind: 'QuarryNamespace', metadata: { name: 'research', namespace: ns.name }, spec: { featureExtractors: [FX] } });
  await store.apply({ apiVersion: API, kind: 'Bucket', metadata: { name: 'docs', namespace: ns.name }, spec: { namespaceRef: 'research', schema: { properties: { content: { type: 'text' } } } } });
  await store.apply({
    apiVersion: API,
    kind: 'Collection',
    metadata: { name: 'passages', namespace: ns.name },
    spec: { namespaceRef: 'research', source: { bucketRefs: ['docs'] }, featureExtractor: { ...FX, inputMappings: { text: 'content' } } },
  });
  await store.apply({
    apiVersion: API,
    kind: 'Retriever',
    metadata: { name: 'reranked', namespace: ns.name },
    spec: {
      namespaceRef: 'research',
      collectionRefs: ['passages'],
      inputSchema: { query: { type: 'text', required: true } },
      stages: [
        { stageName: 'search', config: { stageId: 'feature_search', parameters: { searches: [{ feature_uri: 'quarry://text_extractor@v1/all_minilm_l6_v2', query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 20 }] } } },
        { stageName: 'rerank', config: { stageId: 'rerank', parameters: { inference_name: 'ms_marco_minilm_l6_v2', query: '{{INPUT.query}}', document_field: 'text', top_k: 5 } } },
      ],
    },
  });

  const col = await waitFor('Collection', 'passages', (c) => c?.reason === 'ModelNotServed');
  assert.equal(col.status, 'False');
  assert.match(col.message!, /all_minilm_l6_v2/);
  assert.match(col.message!, /no running extraction worker serves/);
  assert.match(col.message!, /install it into the models directory \(QUARRY_MODELS_DIR/);
  // The retriever waits for its collection first.
  assert.equal((await readyOf('Retriever', 'reranked'))?.status, 'False');

  const before = (await store.get('Collection', { namespace: ns.name, name: 'passages' }))!.metadata.generation;
  install(workerModels, [{ name: 'all_minilm_l6_v2', kind: 'text-embedding' }]);
  await waitFor('Collection', 'passages', (c) => c?.status === 'True');
  assert.equal((await store.get('Collection', { namespace: ns.name, name: 'passages' }))!.metadata.generation, before, 'Ready without a spec change');

  const ret = await waitFor('Retriever', 'reranked', (c) => c?.reason === 'ModelNotServed');
  assert.equal(ret.status, 'False');
  assert.match(ret.message!, /ms_marco_minilm_l6_v2 \(reranker\)/);
  assert.match(ret.message!, /no running engine serves/);
  assert.match(ret.message!, /engines serve: all_minilm_l6_v2/);

  install(engineModels, [{ name: 'all_minilm_l6_v2', kind: 'text-embedding' }, { name: 'ms_marco_minilm_l6_v2', kind: 'reranker' }]);
  const ready = await waitFor('Retriever', 'reranked', (c) => c?.status === 'True');
  assert.equal(ready.reason, 'RetrieverReady');
});

test('a report not renewed (its runtime gone) stops counting', async () => {
  const reader = servedModelsReader(ports.queue, { staleMs: 60_000, now: () => Date.now() + 120_000 });
  assert.equal(await reader.servedBy('worker'), undefined, 'every report is two minutes old in this clock: no worker is known');
  const fresh = await servedModelsReader(ports.queue).servedBy('worker');
  assert.ok(fresh?.some((m) => m.name === 'all_minilm_l6_v2'), JSON.stringify(fresh));
});
