/**
 * The generic controller on the real kube-apiserver (test kind Widget): finalizer and deletion-first flow, status
 * written by the runtime through /status, stable lastTransitionTime, no writes when nothing changed (counted with
 * the operator's own metrics), the paused annotation, and the probe/metrics server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import type { Reconciler } from '#operator/runtime/controller.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import { WIDGET, eventually, installWidgetCrd, widget } from './widgets.ts';

type Widget = Resource<{ size?: number; slowMs?: number }, { observedGeneration?: number; conditions?: Condition[]; size?: number }>;

let ns: { name: string; cleanup(): Promise<void> };
let op: Operator;
const calls = { reconcile: 0, finalize: 0 };
let readyStatus: 'True' | 'False' = 'True';
let finalizeError: string | undefined;

const reconciler: Reconciler<Widget> = {
  kind: WIDGET,
  async reconcile(obj) {
    calls.reconcile++;
    if (obj.spec?.slowMs) await new Promise((r) => setTimeout(r, obj.spec!.slowMs));
    return {
      ready:
        readyStatus === 'True'
          ? { status: 'True', reason: 'Available', message: `size ${obj.spec?.size ?? 0} provisioned` }
          : { status: 'False', reason: 'Unavailable', message: 'backing store unavailable' },
      status: { size: obj.spec?.size ?? 0 },
    };
  },
  async finalize() {
    calls.finalize++;
    if (finalizeError) throw new Error(finalizeError);
    return { done: true };
  },
};

before(async () => {
  await installWidgetCrd();
  ns = await createTestNamespace('op-ctrl');
  op = new Operator({
    kubeConfig: kubeConfig(),
    kinds: [WIDGET],
    reconcilers: [reconciler],
    namespaces: [ns.name],
    metricsServer: { port: 0, host: '127.0.0.1' },
  });
  await op.start();
  await op.synced();
});

after(async () => {
  await op?.stop();
  await ns?.cleanup();
});

const key = (name: string) => ({ namespace: ns.name, name });
const get = (name: string) => op.store.get<Widget>('Widget', key(name));
const ready = (w: Widget | undefined) => w?.status?.conditions?.find((c) => c.type === 'Ready');

async function k(args: string[], input?: string) {
  const r = await kubectl(args, { namespace: ns.name, ...(input ? { input } : {}) });
  assert.equal(r.code, 0, r.stderr);
}

test('create: finalizer first, then status with observedGeneration and Ready written through /status', async () => {
  await k(['create', '-f', '-'], JSON.stringify(widget(ns.name, 'w1', { size: 2 })));
  const w = await eventually(async () => {
    const x = await get('w1');
    return ready(x)?.status === 'True' ? x : undefined;
  }, 20_000, 'w1 Ready');
  assert.deepEqual(w.metadata.finalizers, ['quarry.dev/finalizer']);
  assert.equal(w.status?.observedGeneration, 1);
  assert.equal(w.status?.size, 2);
  assert.equal(ready(w)?.observedGeneration, 1);
  assert.equal(ready(w)?.reason, 'Available');
  assert.equal(w.status?.conditions?.find((c) => c.type === 'Reconciling'), undefined, 'Reconciling is removed once Ready');
  assert.deepEqual(w.spec, { size: 2 }, 'spec untouched');
  const r = await kubectl(['wait', '--for=condition=Ready', '--timeout=10s', 'widgets.runtime-test.quarry.dev/w1'], { namespace: ns.name });
  assert.equal(r.code, 0, r.stderr);
});

test('a slow first reconcile shows Ready=Unknown and Reconciling=True meanwhile (kstatus: in progress)', async () => {
  await k(['create', '-f', '-'], JSON.stringify(widget(ns.name, 'w-slow', { slowMs: 3000 })));
  const progressing = await eventually(async () => {
    const x = await get('w-slow');
    return ready(x)?.status === 'Unknown' ? x : undefined;
  }, 20_000, 'in-progress status');
  assert.equal(progressing.status?.conditions?.find((c) => c.type === 'Reconciling')?.status, 'True');
  assert.equal(progressing.status?.observedGeneration, 1);
  await eventually(async () => ready(await get('w-slow'))?.status === 'True', 20_000, 'w-slow Ready');
  const done = (await get('w-slow'))!;
  assert.equal(done.status?.conditions?.find((c) => c.type === 'Reconciling'), undefined);
});

test('nothing changed → no write and the same lastTransitionTime; a spec change moves observedGeneration only', async () => {
  const w0 = (await get('w1'))!;
  const ltt = ready(w0)!.lastTransitionTime;
  await op.controller('Widget')!.queue.whenIdle();
  const writes = await op.metrics.writeCount();
  const before = calls.reconcile;
  for (let i = 0; i < 3; i++) {
    op.controller('Widget')!.queue.add(`${ns.name}/w1`);
    await eventually(() => calls.reconcile > before + i, 10_000, 'a reconcile');
    await op.controller('Widget')!.queue.whenIdle();
  }
  // An annotation change (not ours) also re-runs reconcile.
  await k(['annotate', 'widgets.runtime-test.quarry.dev', 'w1', 'example.com/touched=yes']);
  await eventually(() => calls.reconcile >= before + 4, 10_000, 'a reconcile after the annotation');
  await op.controller('Widget')!.queue.whenIdle();
  assert.equal(await op.metrics.writeCount(), writes, 'steady state: no API writes');
  assert.equal(ready(await get('w1'))!.lastTransitionTime, ltt);

  await new Promise((r) => setTimeout(r, 1100)); // a status flip would now get a later timestamp
  await k(['patch', 'widgets.runtime-test.quarry.dev', 'w1', '--type=merge', '-p', '{"spec":{"size":5}}']);
  const w2 = await eventually(async () => {
    const x = await get('w1');
    return x?.status?.observedGeneration === 2 ? x : undefined;
  }, 20_000, 'observedGeneration 2');
  assert.equal(w2.status?.size, 5);
  assert.equal(ready(w2)!.lastTransitionTime, ltt, 'Ready stayed True: no transition');
  assert.equal(ready(w2)!.observedGeneration, 2);
  assert.equal(await op.metrics.writeCount(), writes + 1, 'exactly one status write for the new generation');

  // A real flip moves lastTransitionTime and is reported as an event.
  readyStatus = 'False';
  op.controller('Widget')!.queue.add(`${ns.name}/w1`);
  const w3 = await eventually(async () => {
    const x = await get('w1');
    return ready(x)?.status === 'False' ? x : undefined;
  }, 20_000, 'Ready=False');
  assert.notEqual(ready(w3)!.lastTransitionTime, ltt);
  assert.equal(w3.status?.conditions?.find((c) => c.type === 'Reconciling')?.status, 'True', 'kstatus: in progress');
  readyStatus = 'True';
  op.controller('Widget')!.queue.add(`${ns.name}/w1`);
  await eventually(async () => ready(await get('w1'))?.status === 'True', 20_000, 'Ready again');
  await op.events.flush();
  const ev = await kubectl(['get', 'events.events.k8s.io', '-o', 'json'], { namespace: ns.name });
  const items = (JSON.parse(ev.stdout) as { items: Array<{ reason: string; regarding: { name: string }; reportingController: string }> }).items;
  const reasons = items.filter((e) => e.regarding.name === 'w1').map((e) => e.reason);
  assert.ok(reasons.includes('Ready') && reasons.includes('NotReady'), `events: ${reasons.join(',')}`);
  assert.ok(items.every((e) => e.reportingController === 'quarry.dev/operator'));
});

test('paused: no reconcile, Paused in status, observedGeneration held; unpausing resumes', async () => {
  await k(['create', '-f', '-'], JSON.stringify(widget(ns.name, 'w-pause', { size: 1 })));
  await eventually(async () => ready(await get('w-pause'))?.status === 'True', 20_000, 'w-pause Ready');
  await k(['annotate', 'widgets.runtime-test.quarry.dev', 'w-pause', 'quarry.dev/paused=true']);
  await eventually(async () => (await get('w-pause'))?.status?.conditions?.some((c) => c.type === 'Paused' && c.status === 'True'), 20_000, 'Paused');
  await op.controller('Widget')!.queue.whenIdle();
  const before = calls.reconcile;
  await k(['patch', 'widgets.runtime-test.quarry.dev', 'w-pause', '--type=merge', '-p', '{"spec":{"size":9}}']);
  await new Promise((r) => setTimeout(r, 1500));
  await op.controller('Widget')!.queue.whenIdle();
  const paused = (await get('w-pause'))!;
  assert.equal(calls.reconcile, before, 'paused objects are not reconciled');
  assert.equal(paused.status?.observedGeneration, 1, 'observedGeneration does not follow while paused');
  assert.equal(paused.status?.size, 1);

  await k(['annotate', 'widgets.runtime-test.quarry.dev', 'w-pause', 'quarry.dev/paused-']);
  const resumed = await eventually(async () => {
    const x = await get('w-pause');
    return x?.status?.observedGeneration === 2 ? x : undefined;
  }, 20_000, 'resumed');
  assert.equal(resumed.status?.size, 9);
  assert.equal(resumed.status?.conditions?.find((c) => c.type === 'Paused'), undefined);
});

test('deletion first: finalize runs (never reconcile), a failing cleanup is reported in status, then the object goes', async () => {
  await k(['create', '-f', '-'], JSON.stringify(widget(ns.name, 'w-del', { size: 1 })));
  await eventually(async () => ready(await get('w-del'))?.status === 'True', 20_000, 'w-del Ready');
  await op.controller('Widget')!.queue.whenIdle();
  finalizeError = 'vector store unreachable';
  const reconciles = calls.reconcile;
  const finalizes = calls.finalize;
  await k(['delete', 'widgets.runtime-test.quarry.dev', 'w-del', '--wait=false']);
  const blocked = await eventually(async () => {
    const x = await get('w-del');
    return ready(x)?.reason === 'DeletionBlocked' ? x : undefined;
  }, 20_000, 'DeletionBlocked in status');
  assert.match(ready(blocked)!.message, /vector store unreachable/);
  assert.ok(blocked.metadata.deletionTimestamp);
  assert.deepEqual(blocked.metadata.finalizers, ['quarry.dev/finalizer']);
  finalizeError = undefined;
  await eventually(async () => (await get('w-del')) === undefined, 30_000, 'w-del gone');
  assert.ok(calls.finalize >= finalizes + 2, 'finalize retried after the failure');
  assert.equal(calls.reconcile, reconciles, 'reconcile never ran for the deleting object');
});

test('probe server: /healthz, /readyz and /metrics with reconcile, queue and write metrics', async () => {
  const base = `http://127.0.0.1:${op.port}`;
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  const text = await (await fetch(`${base}/metrics`)).text();
  assert.match(text, /quarry_operator_reconcile_total\{kind="Widget",result="success"\} \d+/);
  assert.match(text, /quarry_operator_reconcile_duration_seconds_bucket\{le="[^"]+",kind="Widget"\}/);
  assert.match(text, /quarry_operator_workqueue_depth\{kind="Widget"\} 0/);
  assert.match(text, /quarry_operator_api_write_calls_total\{verb="apply-status",resource="widgets\/status"\} \d+/);
  assert.match(text, /quarry_operator_api_write_calls_total\{verb="patch",resource="widgets"\} \d+/);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
});
