/**
 * Problems only a human can fix outside the spec (operator configuration missing, a credentials Secret missing or
 * invalid) are kstatus Failed (Stalled=True with the reason), not InProgress forever, so `helm --wait`, Flux and
 * Argo CD stop waiting; and the object keeps being re-observed, so it recovers by itself once fixed. On the real
 * kube-apiserver (and MinIO): the runtime with a test kind, then the Quarry controllers of an operator configured
 * without a vector store, object store or job queue.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyQuarry, createTestNamespace, applyCrds, kubeConfig, kubectl, testEnv } from '../harness/env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import type { Reconciler } from '#operator/runtime/controller.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import { createObjectStore } from '#engine/objects/config.ts';
import { MemoryCollections } from './memory-vector-store.ts';
import { kstatus } from './kstatus.ts';
import { LOCAL_S3_POLICY, WIDGET, eventually, installWidgetCrd, widget } from './widgets.ts';

type Obj = Resource<Record<string, unknown>, { observedGeneration?: number; conditions?: Condition[] }>;

const namespaces: { name: string; cleanup(): Promise<void> }[] = [];
const operators: Operator[] = [];
let configured = false;

const widgetReconciler: Reconciler<Obj> = {
  kind: WIDGET,
  async reconcile() {
    if (!configured) {
      return { ready: { status: 'False', reason: 'BackendNotConfigured', message: 'no backend is configured for the operator' }, stalled: true, requeueAfter: 300 };
    }
    return { ready: { status: 'True', reason: 'Available', message: 'ok' } };
  },
};

before(async () => {
  await installWidgetCrd();
  await applyCrds();
});

after(async () => {
  for (const ns of namespaces) {
    const left = await kubectl(['get', 'widgets.runtime-test.quarry.dev,quarry', '-o', 'name'], { namespace: ns.name });
    for (const n of left.stdout.split('\n').filter(Boolean)) await kubectl(['patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { namespace: ns.name });
  }
  for (const op of operators) await op.stop();
  for (const ns of namespaces) await ns.cleanup();
});

async function start(prefix: string, opts: Omit<ConstructorParameters<typeof Operator>[0], 'kubeConfig' | 'namespaces'>) {
  const ns = await createTestNamespace(prefix);
  namespaces.push(ns);
  const op = new Operator({ kubeConfig: kubeConfig(), namespaces: [ns.name], ...opts });
  operators.push(op);
  await op.start();
  await op.synced();
  const apply = (...objs: Record<string, unknown>[]) => applyQuarry(ns.name, ...objs);
  const get = (kind: string, name: string) => op.store.get<Obj>(kind, { namespace: ns.name, name });
  return { ns: ns.name, op, apply, get };
}

const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

/** Waits until the object is kstatus Failed and returns it. */
async function failed(get: () => Promise<Obj | undefined>, reason: string): Promise<Obj> {
  return eventually(async () => {
    const o = await get();
    return o && kstatus(o) === 'Failed' && cond(o, 'Stalled')?.reason === reason ? o : undefined;
  }, 30_000, `kstatus Failed with Stalled reason ${reason}`);
}

test('runtime: a stalled result is kstatus Failed (Stalled=True, no Reconciling) and recovers by itself once fixed', async () => {
  const { ns, op } = await start('op-stalled-rt', { kinds: [WIDGET], reconcilers: [widgetReconciler] });
  const k = await kubectl(['create', '-f', '-'], { input: JSON.stringify(widget(ns, 'w')), namespace: ns });
  assert.equal(k.code, 0, k.stderr);
  const get = () => op.store.get<Obj>('Widget', { namespace: ns, name: 'w' });
  const o = await failed(get, 'BackendNotConfigured');
  assert.equal(cond(o, 'Stalled')!.message, 'no backend is configured for the operator');
  assert.equal(cond(o, 'Ready')!.status, 'False');
  assert.equal(cond(o, 'Ready')!.reason, 'BackendNotConfigured');
  assert.equal(cond(o, 'Reconciling'), undefined, 'not "in progress"');
  const w = await kubectl(['wait', '--for=condition=Stalled', '--timeout=10s', 'widgets.runtime-test.quarry.dev/w'], { namespace: ns });
  assert.equal(w.code, 0, w.stderr);

  configured = true; // nothing else happens to the object: only the requeue can notice
  const fixed = await eventually(async () => {
    const x = await get();
    return x && kstatus(x) === 'Current' ? x : undefined;
  }, 30_000, 'Current once configured');
  assert.equal(cond(fixed, 'Stalled'), undefined);
  await op.events.flush();
  const ev = await kubectl(['get', 'events.events.k8s.io', '-o', 'json'], { namespace: ns });
  const reasons = (JSON.parse(ev.stdout) as { items: { reason: string; type: string }[] }).items.map((e) => `${e.type}/${e.reason}`);
  assert.ok(reasons.includes('Warning/Stalled'), reasons.join(', '));
});

test('an operator without a vector store: QuarryNamespaces are Failed (VectorStoreNotConfigured)', async () => {
  const { apply, get } = await start('op-stalled-qn', { reconcilers: reconcilers({}) });
  await apply({ kind: 'QuarryNamespace', metadata: { name: 'kb' }, spec: { featureExtractors: [{ name: 'text_extractor', version: 'v1' }] } });
  const o = await failed(() => get('QuarryNamespace', 'kb'), 'VectorStoreNotConfigured');
  assert.match(cond(o, 'Stalled')!.message, /no vector store is configured for the operator/);
});

test('Buckets: no object store, a missing or invalid credentials Secret are Failed; a Collection without a job queue too; fixed Secret → Current', async () => {
  const t = testEnv();
  const mem = new MemoryCollections();
  const { ns, op, apply, get } = await start('op-stalled-b', {
    reconcilers: reconcilers({ vectorStore: mem.asVectorStore(), objectStoreFor: (target) => createObjectStore({ kind: 's3', ...target }), storagePolicy: LOCAL_S3_POLICY }),
  });
  const schema = { properties: { body: { type: 'text' } } };
  const own = { endpoint: t.s3.endpoint, region: t.s3.region, forcePathStyle: true, bucketName: `quarry-stalled-${ns}`.slice(0, 63), credentialsSecretRef: { name: 's3-creds' } };
  await apply(
    { kind: 'QuarryNamespace', metadata: { name: 'kb' }, spec: { featureExtractors: [{ name: 'text_extractor', version: 'v1' }] } },
    { kind: 'Bucket', metadata: { name: 'plain' }, spec: { namespaceRef: 'kb', schema } },
    { kind: 'Bucket', metadata: { name: 'own' }, spec: { namespaceRef: 'kb', schema, storage: own, deletionPolicy: 'Retain' } },
  );
  const plain = await failed(() => get('Bucket', 'plain'), 'ObjectStoreNotConfigured');
  assert.match(cond(plain, 'Stalled')!.message, /no object store is configured for the operator/);
  const missing = await failed(() => get('Bucket', 'own'), 'CredentialsSecretNotFound');
  assert.match(cond(missing, 'Stalled')!.message, new RegExp(`Secret ${ns}/s3-creds`));

  const bad = await kubectl(['create', 'secret', 'generic', 's3-creds', '--from-literal=accessKeyId=x'], { namespace: ns });
  assert.equal(bad.code, 0, bad.stderr);
  // Handed to the Bucket's QuarryNamespace (engine/src/lib/secret-refs.ts).
  assert.equal((await kubectl(['label', 'secret', 's3-creds', 'quarry.dev/namespace=kb'], { namespace: ns })).code, 0);
  op.controller('Bucket')!.queue.add(`${ns}/own`); // Secrets are not watched: what the 30 s requeue does
  const invalid = await failed(() => get('Bucket', 'own'), 'CredentialsSecretInvalid');
  assert.match(cond(invalid, 'Stalled')!.message, /lacks key secretAccessKey/);

  const fix = await kubectl(['create', 'secret', 'generic', 's3-creds', `--from-literal=accessKeyId=${t.s3.accessKey}`, `--from-literal=secretAccessKey=${t.s3.secretKey}`, '--dry-run=client', '-o', 'yaml'], { namespace: ns });
  const replaced = await kubectl(['apply', '-f', '-'], { input: fix.stdout, namespace: ns });
  assert.equal(replaced.code, 0, replaced.stderr);
  op.controller('Bucket')!.queue.add(`${ns}/own`);
  const ok = await eventually(async () => {
    const o = await get('Bucket', 'own');
    return o && kstatus(o) === 'Current' ? o : undefined;
  }, 30_000, 'the Bucket Current with a valid Secret');
  assert.equal(cond(ok, 'Stalled'), undefined);
  // Ready: the operator's part works; but honest that the engine will not store objects on this Bucket's own S3.
  assert.equal(cond(ok, 'Ready')!.status, 'True');
  assert.match(cond(ok, 'Ready')!.message, /the engine stores objects only on its configured object store, so objects cannot be added to this Bucket/);

  await apply({
    kind: 'Collection',
    metadata: { name: 'docs' },
    spec: { namespaceRef: 'kb', deletionPolicy: 'Retain', source: { bucketRefs: ['own'] }, featureExtractor: { name: 'text_extractor', version: 'v1', inputMappings: { text: 'body' } } },
  });
  const coll = await failed(() => get('Collection', 'docs'), 'JobQueueNotConfigured');
  assert.match(cond(coll, 'Stalled')!.message, /no job queue is configured for the operator/);
  await createObjectStore({ kind: 's3', endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true })
    .deleteBucket(own.bucketName, { force: true })
    .catch(() => undefined);
});
