import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kstatusConditions, setCondition, statusEqual, type Condition } from '#operator/runtime/conditions.ts';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:05:00Z';

test('setCondition keeps lastTransitionTime while the status holds and moves it on a flip', () => {
  const a = setCondition([], { type: 'Ready', status: 'False', reason: 'Creating', message: 'x' }, 1, T0);
  assert.equal(a[0]!.lastTransitionTime, T0);
  const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'Waiting', message: 'y' }, 2, T1);
  assert.equal(b[0]!.lastTransitionTime, T0, 'reason/message changes are not transitions');
  assert.equal(b[0]!.reason, 'Waiting');
  assert.equal(b[0]!.observedGeneration, 2);
  const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'Available', message: 'ok' }, 2, T1);
  assert.equal(c[0]!.lastTransitionTime, T1);
  assert.equal(a.length, 1, 'inputs are not mutated');
});

test('kstatus conditions: Reconciling while not ready, Stalled on terminal errors, Paused, stale kinds dropped', () => {
  const progressing = kstatusConditions([], { ready: { status: 'False', reason: 'Creating', message: 'creating' } }, 1, T0);
  assert.deepEqual(progressing.map((c) => [c.type, c.status]), [['Ready', 'False'], ['Reconciling', 'True']]);
  const ready = kstatusConditions(progressing, { ready: { status: 'True', reason: 'Available', message: 'ok' }, conditions: [{ type: 'StorageReady', status: 'True', reason: 'Ok', message: '' }] }, 1, T1);
  assert.deepEqual(ready.map((c) => c.type), ['Ready', 'StorageReady'], 'Reconciling removed once Ready');
  const stalled = kstatusConditions(ready, { ready: { status: 'False', reason: 'BadRef', message: 'no such' }, stalled: { reason: 'BadRef', message: 'no such' } }, 2, T1);
  assert.deepEqual(stalled.map((c) => [c.type, c.status]), [['Ready', 'False'], ['Stalled', 'True']]);
  assert.equal(stalled.find((c) => c.type === 'StorageReady'), undefined, 'conditions not reported again are dropped');
  const paused = kstatusConditions(ready, { ready: { status: 'True', reason: 'Available', message: 'ok' }, paused: true }, 1, T1);
  assert.deepEqual(paused.map((c) => c.type), ['Ready', 'Paused']);
  assert.equal(paused[0]!.lastTransitionTime, T1);
  const again = kstatusConditions(ready, { ready: { status: 'True', reason: 'Available', message: 'ok' }, conditions: [{ type: 'StorageReady', status: 'True', reason: 'Ok', message: '' }] }, 1, '2030-01-01T00:00:00Z');
  assert.ok(statusEqual(again, ready), 'recomputing an unchanged outcome yields an equal list (no write)');
});

test('statusEqual ignores key order and undefined fields, but not values', () => {
  const c: Condition = { type: 'Ready', status: 'True', reason: 'A', message: 'm', lastTransitionTime: T0 };
  assert.ok(statusEqual({ a: 1, conditions: [c], x: undefined }, { conditions: [{ ...c }], a: 1 }));
  assert.ok(!statusEqual({ a: 1 }, { a: 2 }));
  assert.ok(!statusEqual({ conditions: [c] }, { conditions: [{ ...c, message: 'n' }] }));
});
