/**
 * Pausing never blocks a deletion (Flux's order: deletion is examined before suspend), on the real kube-apiserver:
 * a paused object being deleted is finalized and goes away, while a paused object that is not being deleted is
 * still left alone.
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

let ns: { name: string; cleanup(): Promise<void> };
let op: Operator;
const reconciled: string[] = [];
const finalized: string[] = [];

const reconciler: Reconciler<Widget> = {
  kind: WIDGET,
  async reconcile(obj) {
    reconciled.push(obj.metadata.name);
    return { ready: { status: 'True', reason: 'Available', message: 'ok' } };
  },
  async finalize(obj) {
    finalized.push(obj.metadata.name);
    return { done: true };
  },
};

before(async () => {
  await installWidgetCrd();
  ns = await createTestNamespace('op-paused-del');
  op = new Operator({ kubeConfig: kubeConfig(), kinds: [WIDGET], reconcilers: [reconciler], namespaces: [ns.name] });
  await op.start();
  await op.synced();
});

after(async () => {
  // Whatever a failed run left behind must not hold the namespace.
  const left = await kubectl(['get', 'widgets.runtime-test.quarry.dev', '-o', 'name'], { namespace: ns.name });
  for (const n of left.stdout.split('\n').filter(Boolean)) await kubectl(['patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { namespace: ns.name });
  await op?.stop();
  await ns?.cleanup();
});

const get = (name: string) => op.store.get<Widget>('Widget', { namespace: ns.name, name });
const paused = (w: Widget | undefined) => w?.status?.conditions?.some((c) => c.type === 'Paused' && c.status === 'True');

async function k(args: string[], input?: string) {
  const r = await kubectl(args, { namespace: ns.name, ...(input ? { input } : {}) });
  assert.equal(r.code, 0, r.stderr);
}

test('a paused object being deleted is finalized and goes away; a paused one not being deleted is left alone', async () => {
  for (const name of ['w-gone', 'w-kept']) {
    await k(['create', '-f', '-'], JSON.stringify(widget(ns.name, name, { size: 1 })));
    await eventually(async () => (await get(name))?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), 20_000, `${name} Ready`);
    await k(['annotate', 'widgets.runtime-test.quarry.dev', name, 'quarry.dev/paused=true']);
    await eventually(async () => paused(await get(name)), 20_000, `${name} Paused`);
  }
  await op.controller('Widget')!.queue.whenIdle();
  const reconciles = reconciled.length;

  await k(['delete', 'widgets.runtime-test.quarry.dev', 'w-gone', '--wait=false']);
  await eventually(async () => (await get('w-gone')) === undefined, 30_000, 'the paused object being deleted is gone');
  assert.deepEqual(finalized, ['w-gone'], 'its finalizer ran');

  await k(['patch', 'widgets.runtime-test.quarry.dev', 'w-kept', '--type=merge', '-p', '{"spec":{"size":2}}']);
  await new Promise((r) => setTimeout(r, 1000));
  await op.controller('Widget')!.queue.whenIdle();
  assert.equal(reconciled.length, reconciles, 'paused objects are still not reconciled');
  const kept = await get('w-kept');
  assert.ok(paused(kept));
  assert.equal(kept?.status?.observedGeneration, 1);
});
