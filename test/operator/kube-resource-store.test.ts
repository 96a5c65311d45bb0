/** The ResourceStore's Kubernetes adapter against the real kube-apiserver: SSA ownership, /status, finalizers. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import tls from 'node:tls';
import { KubeResourceStore, stripForCache } from '#operator/runtime/kube-resource-store.ts';
import { OperatorMetrics } from '#operator/runtime/metrics.ts';
import { isNotFound, type Resource } from '#core/ports/resource-store.ts';
import { WIDGET, WIDGET_API_VERSION, eventually, installWidgetCrd, widget } from './widgets.ts';

let ns: { name: string; cleanup(): Promise<void> };
let store: KubeResourceStore;
let metrics: OperatorMetrics;

interface ManagedField {
  manager: string;
  operation: string;
  subresource?: string;
  fieldsV1?: Record<string, unknown>;
}

before(async () => {
  await installWidgetCrd();
  ns = await createTestNamespace('op-store');
  metrics = new OperatorMetrics();
  store = new KubeResourceStore(kubeConfig(), { kinds: [WIDGET], metrics });
});

after(async () => {
  await ns?.cleanup();
});

async function kubectlCreate(obj: unknown): Promise<void> {
  const r = await kubectl(['create', '-f', '-'], { input: JSON.stringify(obj) });
  assert.equal(r.code, 0, r.stderr);
}

test('apply is server-side apply under field manager quarry-operator and leaves other managers alone', async () => {
  await kubectlCreate(widget(ns.name, 'w-ssa', { size: 3 }));
  const applied = await store.apply<Resource>({
    apiVersion: WIDGET_API_VERSION,
    kind: 'Widget',
    metadata: { name: 'w-ssa', namespace: ns.name, labels: { 'quarry.dev/owned': 'yes' } },
  });
  assert.equal(applied.metadata.labels?.['quarry.dev/owned'], 'yes');
  assert.equal((applied.spec as { size: number }).size, 3, 'the other manager’s spec field is untouched');
  const mf = (applied.metadata.managedFields ?? []) as ManagedField[];
  const ours = mf.find((m) => m.manager === 'quarry-operator');
  assert.ok(ours, `managedFields: ${JSON.stringify(mf.map((m) => m.manager))}`);
  assert.equal(ours.operation, 'Apply');
  assert.ok(JSON.stringify(ours.fieldsV1).includes('quarry.dev/owned'));
  assert.ok(mf.some((m) => m.manager.startsWith('kubectl') && JSON.stringify(m.fieldsV1).includes('f:size')));

  // Leaving a field out of the next apply releases (and removes) it: apply is the manager's full intent.
  const again = await store.apply<Resource>({ apiVersion: WIDGET_API_VERSION, kind: 'Widget', metadata: { name: 'w-ssa', namespace: ns.name } });
  assert.equal(again.metadata.labels?.['quarry.dev/owned'], undefined);
});

test('applyStatus writes through /status: spec and generation never change, and it cannot create objects', async () => {
  await kubectlCreate(widget(ns.name, 'w-status', { size: 1 }));
  const before = (await store.get<Resource>('Widget', { namespace: ns.name, name: 'w-status' }))!;
  const after = await store.applyStatus<Resource>('Widget', { namespace: ns.name, name: 'w-status' }, {
    observedGeneration: 1,
    phase: 'Testing',
  });
  assert.deepEqual(after.spec, before.spec);
  assert.equal(after.metadata.generation, before.metadata.generation, 'status writes do not bump generation');
  assert.equal((after.status as { phase: string }).phase, 'Testing');
  const mf = (after.metadata.managedFields ?? []) as ManagedField[];
  const ours = mf.find((m) => m.manager === 'quarry-operator' && m.subresource === 'status');
  assert.ok(ours, 'status owned by quarry-operator on the status subresource');
  assert.equal(ours.operation, 'Apply');
  assert.ok(!JSON.stringify(ours.fieldsV1).includes('f:spec'));

  await assert.rejects(
    store.applyStatus('Widget', { namespace: ns.name, name: 'w-missing' }, { phase: 'x' }),
    (err) => isNotFound(err),
  );
  assert.equal(await store.get('Widget', { namespace: ns.name, name: 'w-missing' }), undefined);
});

test('finalizers are added and removed without clobbering other finalizers, and never on a recreated object', async () => {
  await kubectlCreate({ ...widget(ns.name, 'w-fin'), metadata: { name: 'w-fin', namespace: ns.name, finalizers: ['example.com/other'] } });
  const key = { namespace: ns.name, name: 'w-fin' };
  const w0 = (await store.get<Resource>('Widget', key))!;
  const added = await store.addFinalizer<Resource>('Widget', { ...key, uid: w0.metadata.uid! }, 'quarry.dev/finalizer');
  assert.deepEqual(added.metadata.finalizers, ['example.com/other', 'quarry.dev/finalizer']);

  const writes = await metrics.writeCount();
  await store.addFinalizer('Widget', key, 'quarry.dev/finalizer');
  assert.equal(await metrics.writeCount(), writes, 'adding a present finalizer writes nothing');

  assert.equal(
    await store.removeFinalizer('Widget', { ...key, uid: '00000000-0000-0000-0000-000000000000' }, 'quarry.dev/finalizer'),
    undefined,
    'a different uid means our object is gone',
  );
  assert.deepEqual((await store.get<Resource>('Widget', key))!.metadata.finalizers, ['example.com/other', 'quarry.dev/finalizer']);

  const removed = await store.removeFinalizer<Resource>('Widget', { ...key, uid: w0.metadata.uid! }, 'quarry.dev/finalizer');
  assert.deepEqual(removed?.metadata.finalizers, ['example.com/other']);

  // On an object with no finalizers list at all.
  await kubectlCreate(widget(ns.name, 'w-fin2'));
  const a2 = await store.addFinalizer<Resource>('Widget', { namespace: ns.name, name: 'w-fin2' }, 'quarry.dev/finalizer');
  assert.deepEqual(a2.metadata.finalizers, ['quarry.dev/finalizer']);
  const del = await kubectl(['delete', 'widgets.runtime-test.quarry.dev', 'w-fin2', '--wait=false'], { namespace: ns.name });
  assert.equal(del.code, 0, del.stderr);
  const terminating = (await store.get<Resource>('Widget', { namespace: ns.name, name: 'w-fin2' }))!;
  assert.ok(terminating.metadata.deletionTimestamp, 'finalizer holds the object');
  assert.equal(await store.removeFinalizer('Widget', { namespace: ns.name, name: 'w-fin2' }, 'quarry.dev/finalizer').then(() => 'ok'), 'ok');
  assert.equal(await store.get('Widget', { namespace: ns.name, name: 'w-fin2' }), undefined, 'gone once the last finalizer is removed');
  await assert.rejects(store.addFinalizer('Widget', { namespace: ns.name, name: 'w-fin2' }, 'quarry.dev/finalizer'), (e) => isNotFound(e));
});

test('apply of a kind outside the registry (a ConfigMap) goes through discovery, still as quarry-operator', async () => {
  const cm = await store.apply<Resource & { data?: Record<string, string> }>({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'quarry-owned', namespace: ns.name },
    data: { pipeline: 'compiled' },
  });
  assert.equal(cm.data?.pipeline, 'compiled');
  const mf = (cm.metadata.managedFields ?? []) as ManagedField[];
  assert.deepEqual(mf.map((m) => [m.manager, m.operation]), [['quarry-operator', 'Apply']]);
  assert.ok((await metrics.apiWrites.get()).values.some((v) => v.labels.verb === 'apply' && v.labels.resource === 'configmap'));
});

test('addFinalizer against a cached copy: one write when it is current, a re-read and no duplicate when it is stale', async () => {
  await kubectlCreate({ ...widget(ns.name, 'w-hint'), metadata: { name: 'w-hint', namespace: ns.name, finalizers: ['example.com/other'] } });
  const key = { namespace: ns.name, name: 'w-hint' };
  const cached = (await store.get<Resource>('Widget', key))!;
  const gets = () => metrics.apiRequestDuration.get().then((m) => m.values.find((v) => v.labels.verb === 'get' && v.metricName?.endsWith('_count'))?.value ?? 0);
  const gets0 = await gets();
  const added = await store.addFinalizer<Resource>('Widget', { ...key, uid: cached.metadata.uid! }, 'quarry.dev/finalizer', cached);
  assert.deepEqual(added.metadata.finalizers, ['example.com/other', 'quarry.dev/finalizer']);
  assert.equal(await gets(), gets0, 'a current copy needs no read');

  // The copy is stale now (it lacks our finalizer): the patch must fail its resourceVersion test and the retry read.
  const removed = await store.removeFinalizer<Resource>('Widget', key, 'quarry.dev/finalizer');
  const p = await kubectl(['patch', 'widgets.runtime-test.quarry.dev', 'w-hint', '--type=json', '-p', '[{"op":"add","path":"/metadata/finalizers/-","value":"quarry.dev/finalizer"}]'], { namespace: ns.name });
  assert.equal(p.code, 0, p.stderr);
  assert.ok(removed);
  const again = await store.addFinalizer<Resource>('Widget', key, 'quarry.dev/finalizer', removed);
  assert.deepEqual(again.metadata.finalizers, ['example.com/other', 'quarry.dev/finalizer'], 'no duplicate from the stale copy');
  assert.ok((await gets()) > gets0, 'the stale copy was re-read');
});

test('the cache transform strips managedFields and last-applied-configuration from listed and watched objects', async () => {
  const stripping = new KubeResourceStore(kubeConfig(), { kinds: [WIDGET], cacheTransform: stripForCache });
  await kubectlCreate(widget(ns.name, 'w-strip-1'));
  const seen: Resource[] = [];
  const h = stripping.watch<Resource>('Widget', { namespace: ns.name }, (e) => seen.push(e.object));
  try {
    await h.synced;
    const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(widget(ns.name, 'w-strip-2', { size: 2 })), namespace: ns.name });
    assert.equal(applied.code, 0, applied.stderr);
    await eventually(() => h.get({ namespace: ns.name, name: 'w-strip-2' }));
    for (const name of ['w-strip-1', 'w-strip-2']) {
      const o = h.get({ namespace: ns.name, name })!;
      assert.equal(o.metadata.managedFields, undefined, `${name}: managedFields kept`);
      assert.equal(o.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], undefined, `${name}: last-applied kept`);
      assert.ok(o.metadata.uid && o.metadata.resourceVersion && o.spec, `${name}: what the operator reads is kept`);
    }
    assert.ok(seen.every((o) => o.metadata.managedFields === undefined));
    // The store's own reads are not transformed.
    assert.ok((await stripping.get<Resource>('Widget', { namespace: ns.name, name: 'w-strip-2' }))!.metadata.managedFields);
  } finally {
    await h.stop();
  }
});

test('every request of a store (and its watches) shares keep-alive connections: no TLS handshake per call', async () => {
  let handshakes = 0;
  const connect = tls.connect;
  const counting = (...args: unknown[]) => (handshakes++, (connect as (...a: unknown[]) => tls.TLSSocket)(...args));
  (tls as { connect: unknown }).connect = counting;
  try {
    const s = new KubeResourceStore(kubeConfig(), { kinds: [WIDGET] });
    await kubectlCreate(widget(ns.name, 'w-conn'));
    for (let i = 0; i < 20; i++) await s.get('Widget', { namespace: ns.name, name: 'w-conn' });
    await Promise.all(Array.from({ length: 10 }, () => s.list('Widget', { namespace: ns.name })));
    assert.ok(handshakes <= 10, `${handshakes} TLS connections for 30 requests (one per request without reuse)`);
  } finally {
    (tls as { connect: unknown }).connect = connect;
  }
});
