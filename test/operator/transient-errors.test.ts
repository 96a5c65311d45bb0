/**
 * Transient reconcile errors on the real kube-apiserver (test kind Widget): a Ready object whose reconciles fail
 * only briefly keeps its status (no flip for dependents to cascade on), and is retried; one failing longer than the
 * grace window, or one that was never Ready, reports ReconcileError. Terminal errors are not covered by the grace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import type { Reconciler } from '#operator/runtime/controller.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import { WIDGET, eventually, installWidgetCrd, widget } from './widgets.ts';

type Widget = Resource<{ size?: number }, { observedGeneration?: number; conditions?: Condition[] }>;

const GRACE_MS = 3000;
let ns: { name: string; cleanup(): Promise<void> };
let op: Operator;
const failing = new Set<string>();
const calls = new Map<string, number>();
/** 'fresh' fails once, then its retries wait here: only a status written on the first failure can be seen. */
let releaseFresh: () => void = () => {};
const freshHeld = new Promise<void>((r) => (releaseFresh = r));

const reconciler: Reconciler<Widget> = {
  kind: WIDGET,
  finalizer: false,
  async reconcile(obj) {
    const name = obj.metadata.name;
    calls.set(name, (calls.get(name) ?? 0) + 1);
    if (name === 'fresh' && calls.get(name)! > 1) await freshHeld;
    else if (failing.has(name)) throw new Error('connect ECONNREFUSED 127.0.0.1:6333 (backing store down)');
    return { ready: { status: 'True', reason: 'Available', message: 'provisioned' } };
  },
};

before(async () => {
  await installWidgetCrd();
  ns = await createTestNamespace('op-transient');
  op = new Operator({ kubeConfig: kubeConfig(), kinds: [WIDGET], reconcilers: [reconciler], namespaces: [ns.name], transientErrorGraceMs: GRACE_MS });
  await op.start();
  await op.synced();
});

after(async () => {
  releaseFresh();
  await op?.stop();
  await ns?.cleanup();
});

const get = (name: string) => op.store.get<Widget>('Widget', { namespace: ns.name, name });
const ready = (w: Widget | undefined) => w?.status?.conditions?.find((c) => c.type === 'Ready');

test('a brief failure keeps Ready; a lasting one reports ReconcileError; a never-Ready object reports at once', async () => {
  const c = await kubectl(['create', '-f', '-'], { namespace: ns.name, input: JSON.stringify(widget(ns.name, 'w', { size: 1 })) });
  assert.equal(c.code, 0, c.stderr);
  const first = await eventually(async () => (ready(await get('w'))?.status === 'True' ? get('w') : undefined), 20_000, 'w Ready');
  const ltt = ready(first)!.lastTransitionTime;
  const rv = first!.metadata.resourceVersion;

  // Fails a few times (retried with backoff), then recovers: the status is never touched.
  failing.add('w');
  const before = calls.get('w') ?? 0;
  op.controller('Widget')!.queue.add(`${ns.name}/w`);
  await eventually(() => (calls.get('w') ?? 0) >= before + 3, 10_000, 'retries');
  failing.delete('w');
  await eventually(() => (calls.get('w') ?? 0) >= before + 4, 10_000, 'the retry that succeeds');
  await op.controller('Widget')!.queue.whenIdle();
  const after1 = (await get('w'))!;
  assert.equal(ready(after1)!.status, 'True');
  assert.equal(ready(after1)!.lastTransitionTime, ltt);
  assert.equal(after1.metadata.resourceVersion, rv, 'no status write while it failed briefly');

  // Fails for longer than the grace window: Ready=False with the cause.
  failing.add('w');
  op.controller('Widget')!.queue.add(`${ns.name}/w`);
  const down = await eventually(async () => {
    const w = await get('w');
    return ready(w)?.reason === 'ReconcileError' ? w : undefined;
  }, GRACE_MS + 30_000, 'ReconcileError after the grace window');
  assert.equal(ready(down)!.status, 'False');
  assert.match(ready(down)!.message, /ECONNREFUSED/);
  failing.delete('w');
  op.controller('Widget')!.queue.add(`${ns.name}/w`);
  await eventually(async () => ready(await get('w'))?.status === 'True', 30_000, 'Ready again');

  // Never Ready: the first failure is reported (its retry is held, so nothing else could write it).
  failing.add('fresh');
  const f = await kubectl(['create', '-f', '-'], { namespace: ns.name, input: JSON.stringify(widget(ns.name, 'fresh')) });
  assert.equal(f.code, 0, f.stderr);
  await eventually(async () => ready(await get('fresh'))?.reason === 'ReconcileError', 20_000, 'fresh ReconcileError');
  await eventually(() => calls.get('fresh') === 2, 20_000, 'one failure, one held retry');
  assert.equal(ready(await get('fresh'))?.reason, 'ReconcileError', 'written by the first failure alone');
  releaseFresh();
});
