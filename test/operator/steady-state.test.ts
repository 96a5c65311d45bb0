/**
 * Periodic re-observation at steady state makes no API writes: 30 Widgets re-reconciled every ~300 ms for a few
 * rounds, with writes counted by the operator's own metrics (the quick version; steady-state-500.test.ts is the
 * 500-resource, two-minute acceptance on the operator process).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { Operator } from '#operator/runtime/operator.ts';
import type { Reconciler } from '#operator/runtime/controller.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import { WIDGET, eventually, installWidgetCrd, widget } from './widgets.ts';

type Widget = Resource<{ size?: number }, { conditions?: Condition[] }>;
const N = 30;
let ns: { name: string; cleanup(): Promise<void> };
let op: Operator;
let reconciles = 0;

const reconciler: Reconciler<Widget> = {
  kind: WIDGET,
  resyncMs: 300,
  concurrency: 4,
  async reconcile(obj) {
    reconciles++;
    return { ready: { status: 'True', reason: 'Available', message: 'ok' }, status: { size: obj.spec?.size ?? 0, shards: [1, 2, 3] } };
  },
};

before(async () => {
  await installWidgetCrd();
  ns = await createTestNamespace('op-steady');
  op = new Operator({ kubeConfig: kubeConfig(), kinds: [WIDGET], reconcilers: [reconciler], namespaces: [ns.name] });
  await op.start();
  await op.synced();
});

after(async () => {
  await op?.stop();
  await ns?.cleanup();
});

test('re-observing ready objects writes nothing', async () => {
  const docs = Array.from({ length: N }, (_, i) => JSON.stringify(widget(ns.name, `w${i}`, { size: i })));
  const r = await kubectl(['create', '-f', '-'], { input: docs.join('\n'), namespace: ns.name });
  assert.equal(r.code, 0, r.stderr);
  await eventually(async () => {
    const all = await op.store.list<Widget>('Widget', { namespace: ns.name });
    return all.length === N && all.every((w) => w.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  }, 60_000, 'all Ready');
  await new Promise((r2) => setTimeout(r2, 500));
  const writes = await op.metrics.writeCount();
  const before = reconciles;
  await new Promise((r2) => setTimeout(r2, 2500));
  assert.ok(reconciles - before >= N * 3, `every object re-observed several times (${reconciles - before} reconciles)`);
  assert.equal(await op.metrics.writeCount(), writes, 'no writes at steady state');
  // Writes to get there, per object: one finalizer patch, one Ready event, and the Ready status, plus at most one
  // in-progress status when a first reconcile is slow (on a loaded machine the 1 s progress timer can fire).
  const values = (await op.metrics.apiWrites.get()).values;
  const byVerb = values.map((v) => `${v.labels.verb} ${v.labels.resource}=${v.value}`).join(', ');
  const count = (verb: string, resource: string) =>
    values.filter((v) => v.labels.verb === verb && v.labels.resource === resource).reduce((a, v) => a + v.value, 0);
  assert.ok(count('patch', 'widgets') <= N, `one finalizer patch per object (${byVerb})`);
  assert.ok(count('create', 'events') <= N, `one Ready event per object (${byVerb})`);
  assert.ok(count('apply-status', 'widgets/status') <= 2 * N, `at most two status writes per object (${byVerb})`);
  assert.ok(writes <= N * 4, `writes to converge: ${writes} (${byVerb})`);
});
