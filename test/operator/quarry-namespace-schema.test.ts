/**
 * QuarryNamespace schema evolution on the real kube-apiserver with a real (exact, in-process) vector store:
 * payload indexes added to the spec after creation are created in place and observedGeneration follows; an index
 * whose type changes cannot change in place and is Stalled with the field named, not retried forever.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyCrds, createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { quarryNamespaceReconciler } from '#operator/controllers/quarry-namespace/reconcile.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import { vectorCollectionName } from '#core/naming.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { eventually } from './widgets.ts';

type QN = Resource<Record<string, unknown>, { conditions?: Condition[]; observedGeneration?: number }>;

let ns: { name: string; cleanup(): Promise<void> };
let op: Operator;
const vs = new ExactVectorStore();

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('op-qns-schema');
  op = new Operator({ kubeConfig: kubeConfig(), reconcilers: [quarryNamespaceReconciler({ vectorStore: vs })], namespaces: [ns.name] });
  await op.start();
  await op.synced();
});

after(async () => {
  await kubectl(['delete', 'quarrynamespaces.quarry.dev', '--all', '--timeout=30s'], { namespace: ns.name });
  await op?.stop();
  await ns?.cleanup();
  await vs.close();
});

const apply = (payloadIndexes: { field: string; type: string }[]) =>
  kubectl(['apply', '--server-side', '-f', '-'], {
    namespace: ns.name,
    input: JSON.stringify({
      apiVersion: 'quarry.dev/v1alpha1',
      kind: 'QuarryNamespace',
      metadata: { name: 'shop', namespace: ns.name },
      spec: { featureExtractors: [{ name: 'text_extractor', version: 'v1' }], payloadIndexes },
    }),
  });
const get = () => op.store.get<QN>('QuarryNamespace', { namespace: ns.name, name: 'shop' });
const cond = (o: QN | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
const indexes = async () => ((await vs.describeCollection(vectorCollectionName({ k8sNamespace: ns.name, name: 'shop' })))?.payloadIndexes ?? []).map((p) => `${p.field}:${p.type}`);

test('a payload index added to the spec is created in place; a type change is Stalled naming it', async () => {
  assert.equal((await apply([{ field: 'metadata.category', type: 'keyword' }])).code, 0);
  await eventually(async () => cond(await get(), 'Ready')?.status === 'True', 30_000, 'Ready');
  assert.ok((await indexes()).includes('metadata.category:keyword'));
  assert.ok(!(await indexes()).includes('metadata.price:float'));

  const added = await apply([{ field: 'metadata.category', type: 'keyword' }, { field: 'metadata.price', type: 'float' }]);
  assert.equal(added.code, 0, added.stderr);
  const updated = await eventually(async () => {
    const o = await get();
    return o?.status?.observedGeneration === 2 && cond(o, 'Ready')?.status === 'True' ? o : undefined;
  }, 30_000, 'generation 2 Ready');
  assert.ok((await indexes()).includes('metadata.price:float'), `the new index exists: ${(await indexes()).join(', ')}`);
  assert.equal(cond(updated, 'Stalled')?.status ?? 'False', 'False');

  const changed = await apply([{ field: 'metadata.category', type: 'integer' }, { field: 'metadata.price', type: 'float' }]);
  assert.equal(changed.code, 0, changed.stderr);
  const stalled = await eventually(async () => {
    const o = await get();
    return o?.status?.observedGeneration === 3 && cond(o, 'Stalled')?.status === 'True' ? o : undefined;
  }, 30_000, 'Stalled at generation 3');
  assert.equal(cond(stalled, 'Stalled')!.reason, 'VectorSchemaConflict');
  assert.match(cond(stalled, 'Stalled')!.message, /metadata\.category.*keyword.*integer/);
  assert.equal(cond(stalled, 'Ready')!.status, 'False');
  assert.ok((await indexes()).includes('metadata.category:keyword'), 'the existing index is left as it was');
});
