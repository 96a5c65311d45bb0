/**
 * Controller scoping and dependencies on the real kube-apiserver (test kind Widget):
 * - WATCH_NAMESPACES: an operator scoped to one namespace never touches objects elsewhere;
 * - a dependency watch: a Widget that depends on another is Ready=False (DependencyNotReady, naming it) until the
 *   other is Ready, then becomes Ready without any user action.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import type { Reconciler } from '#operator/runtime/controller.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import { dependencyStatus, referencedBy } from '#core/dependencies.ts';
import { WIDGET, eventually, installWidgetCrd, widget } from './widgets.ts';

type Widget = Resource<{ dependsOn?: string; broken?: boolean }, { conditions?: Condition[] }>;

let watched: { name: string; cleanup(): Promise<void> };
let other: { name: string; cleanup(): Promise<void> };
let op: Operator;

const ready = (w: Widget | undefined) => w?.status?.conditions?.find((c) => c.type === 'Ready');

const reconciler: Reconciler<Widget> = {
  kind: WIDGET,
  finalizer: false,
  async reconcile(obj, ctx) {
    if (obj.spec?.broken) return { ready: { status: 'False', reason: 'Broken', message: 'spec.broken is set' } };
    const dep = obj.spec?.dependsOn;
    if (dep) {
      const d = dependencyStatus(ctx.cache, [{ kind: 'Widget', namespace: obj.metadata.namespace!, name: dep }]);
      if (!d.ready) return { ready: d.result };
    }
    return { ready: { status: 'True', reason: 'Available', message: 'ok' } };
  },
  watches: [referencedBy('Widget', 'Widget', (w) => ((w as Widget).spec?.dependsOn ? [(w as Widget).spec!.dependsOn!] : []))],
};

before(async () => {
  await installWidgetCrd();
  watched = await createTestNamespace('op-scope-in');
  other = await createTestNamespace('op-scope-out');
  op = new Operator({ kubeConfig: kubeConfig(), kinds: [WIDGET], reconcilers: [reconciler], namespaces: [watched.name] });
  await op.start();
  await op.synced();
});

after(async () => {
  await op?.stop();
  await watched?.cleanup();
  await other?.cleanup();
});

async function create(ns: string, name: string, spec: Record<string, unknown>) {
  const r = await kubectl(['create', '-f', '-'], { input: JSON.stringify(widget(ns, name, spec)), namespace: ns });
  assert.equal(r.code, 0, r.stderr);
}
const get = (ns: string, name: string) => op.store.get<Widget>('Widget', { namespace: ns, name });

test('an operator scoped by WATCH_NAMESPACES never reconciles objects in other namespaces', async () => {
  await create(other.name, 'outside', {});
  await create(watched.name, 'inside', {});
  await eventually(async () => ready(await get(watched.name, 'inside'))?.status === 'True', 20_000, 'inside Ready');
  await new Promise((r) => setTimeout(r, 1000));
  const outside = await get(other.name, 'outside');
  assert.equal(outside?.status, undefined, 'no status written outside the watched namespace');
  assert.equal(op.controller('Widget')!.queue.depth, 0);
});

test('a dependent becomes Ready without user action once its dependency is Ready', async () => {
  await create(watched.name, 'child', { dependsOn: 'parent' });
  const missing = await eventually(async () => {
    const w = await get(watched.name, 'child');
    return ready(w)?.reason === 'DependencyNotFound' ? w : undefined;
  }, 20_000, 'child waiting for a missing parent');
  assert.match(ready(missing)!.message, /Widget .*\/parent does not exist/);
  assert.equal(missing.status?.conditions?.find((c) => c.type === 'Reconciling')?.status, 'True');

  await create(watched.name, 'parent', { broken: true });
  await eventually(async () => ready(await get(watched.name, 'parent'))?.reason === 'Broken', 20_000, 'parent not ready');
  const waiting = await eventually(async () => {
    const w = await get(watched.name, 'child');
    return ready(w)?.reason === 'DependencyNotReady' && /Broken/.test(ready(w)!.message) ? w : undefined;
  }, 20_000, 'child waiting for a broken parent (its message follows the parent’s status)');
  assert.equal(ready(waiting)!.status, 'False');
  assert.match(ready(waiting)!.message, /parent is not Ready \(Broken: spec.broken is set\)/);
  assert.equal(waiting.status?.conditions?.find((c) => c.type === 'Reconciling')?.status, 'True');

  // Fixing the parent is the only user action; the child follows by itself.
  const fix = await kubectl(['patch', 'widgets.runtime-test.quarry.dev', 'parent', '--type=merge', '-p', '{"spec":{"broken":false}}'], { namespace: watched.name });
  assert.equal(fix.code, 0, fix.stderr);
  await eventually(async () => ready(await get(watched.name, 'child'))?.status === 'True', 20_000, 'child Ready');
});
