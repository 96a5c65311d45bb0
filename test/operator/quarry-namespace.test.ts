/**
 * The QuarryNamespace controller on the real kube-apiserver with the project's CRDs (crds/): the vector collection
 * is created with one named vector per extractor output, status is honest (Ready only once it exists), drift is
 * repaired on re-observation, steady state makes no writes, deletion drops the collection (Retain keeps it) and a
 * vector store outage blocks deletion with a reason in status instead of hanging silently.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyCrds, createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { quarryNamespaceReconciler } from '#operator/controllers/quarry-namespace/reconcile.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import { vectorCollectionName } from '#core/naming.ts';
import { MemoryCollections } from './memory-vector-store.ts';
import { eventually } from './widgets.ts';

type QN = Resource<Record<string, unknown>, { conditions?: Condition[]; vectorCollection?: string; vectorIndexes?: Array<{ name: string; dimensions: number; featureUri: string }>; observedGeneration?: number }>;

let ns: { name: string; cleanup(): Promise<void> };
let op: Operator;
const mem = new MemoryCollections();

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('op-qns');
  op = new Operator({
    kubeConfig: kubeConfig(),
    reconcilers: [quarryNamespaceReconciler({ vectorStore: mem.asVectorStore() })],
    namespaces: [ns.name],
  });
  await op.start();
  await op.synced();
});

after(async () => {
  await op?.stop();
  await ns?.cleanup();
});

const manifest = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'QuarryNamespace',
    metadata: { name, namespace: ns.name },
    spec: { featureExtractors: [{ name: 'text_extractor', version: 'v1' }], ...extra },
  });
const get = (name: string) => op.store.get<QN>('QuarryNamespace', { namespace: ns.name, name });
const ready = (o: QN | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');

test('a QuarryNamespace becomes Ready once its vector collection exists, and kubectl wait sees it', async () => {
  const r = await kubectl(['apply', '--server-side', '-f', '-'], { input: manifest('docs'), namespace: ns.name });
  assert.equal(r.code, 0, r.stderr);
  const w = await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', 'quarrynamespaces.quarry.dev/docs'], { namespace: ns.name });
  assert.equal(w.code, 0, w.stderr);
  const qn = (await get('docs'))!;
  const name = vectorCollectionName({ k8sNamespace: ns.name, name: 'docs' });
  assert.equal(qn.status?.vectorCollection, name);
  assert.deepEqual(mem.collections.get(name)?.vectors.map((v) => v.name), ['text_extractor_v1_embedding']);
  assert.deepEqual(qn.status?.vectorIndexes?.map((v) => v.name), ['text_extractor_v1_embedding']);
  assert.ok((qn.status?.vectorIndexes?.[0]?.dimensions ?? 0) > 0);
  assert.equal(qn.status?.observedGeneration, 1);
  assert.equal(ready(qn)?.reason, 'CollectionReady');
});

test('steady state makes no writes; a collection deleted behind the operator’s back is recreated on re-observation', async () => {
  const c = op.controller('QuarryNamespace')!;
  await c.queue.whenIdle();
  const writes = await op.metrics.writeCount();
  const ltt = ready(await get('docs'))!.lastTransitionTime;
  for (let i = 0; i < 3; i++) {
    c.queue.add(`${ns.name}/docs`);
    await new Promise((r) => setTimeout(r, 100));
    await c.queue.whenIdle();
  }
  assert.equal(await op.metrics.writeCount(), writes, 'no writes while nothing changed (the CRD keeps every status field we write)');

  const name = vectorCollectionName({ k8sNamespace: ns.name, name: 'docs' });
  mem.collections.delete(name);
  c.queue.add(`${ns.name}/docs`); // what the ~60 s requeueAfter does
  await eventually(() => mem.collections.has(name), 15_000, 'the collection to be recreated');
  await c.queue.whenIdle();
  assert.equal(ready(await get('docs'))!.lastTransitionTime, ltt, 'Ready never flipped');
});

test('deletion: an unreachable vector store blocks it with a reason in status; once back, the collection is dropped', async () => {
  const name = vectorCollectionName({ k8sNamespace: ns.name, name: 'docs' });
  mem.down = true;
  const d = await kubectl(['delete', 'quarrynamespaces.quarry.dev', 'docs', '--wait=false'], { namespace: ns.name });
  assert.equal(d.code, 0, d.stderr);
  const blocked = await eventually(async () => {
    const o = await get('docs');
    return ready(o)?.reason === 'DeletionBlocked' ? o : undefined;
  }, 20_000, 'DeletionBlocked');
  assert.match(ready(blocked)!.message, /vector store down/);
  mem.down = false;
  await eventually(async () => (await get('docs')) === undefined, 60_000, 'docs deleted');
  assert.equal(mem.collections.has(name), false);
});

test('a spec the validator rejects is Stalled with the field named, and nothing is provisioned', async () => {
  const r = await kubectl(['apply', '--server-side', '-f', '-'], {
    input: manifest('bad', { featureExtractors: [{ name: 'nope_extractor', version: 'v1' }] }),
    namespace: ns.name,
  });
  assert.equal(r.code, 0, r.stderr);
  const bad = await eventually(async () => {
    const o = await get('bad');
    return o?.status?.conditions?.some((c) => c.type === 'Stalled' && c.status === 'True') ? o : undefined;
  }, 20_000, 'Stalled');
  const stalled = bad.status!.conditions!.find((c) => c.type === 'Stalled')!;
  assert.equal(stalled.reason, 'InvalidSpec');
  assert.match(stalled.message, /featureExtractors/);
  assert.equal(ready(bad)!.status, 'False');
  assert.equal(mem.collections.has(vectorCollectionName({ k8sNamespace: ns.name, name: 'bad' })), false);
});

test('deletionPolicy Retain keeps the vector collection', async () => {
  const r = await kubectl(['apply', '--server-side', '-f', '-'], { input: manifest('keep', { deletionPolicy: 'Retain' }), namespace: ns.name });
  assert.equal(r.code, 0, r.stderr);
  await eventually(async () => ready(await get('keep'))?.status === 'True', 30_000, 'keep Ready');
  const d = await kubectl(['delete', 'quarrynamespaces.quarry.dev', 'keep', '--timeout=30s'], { namespace: ns.name });
  assert.equal(d.code, 0, d.stderr);
  assert.equal(await get('keep'), undefined);
  assert.ok(mem.collections.has(vectorCollectionName({ k8sNamespace: ns.name, name: 'keep' })));
});
