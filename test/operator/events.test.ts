import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventRecorder, type EventSink } from '#operator/runtime/events.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import { FakeClock } from './fake-clock.ts';

function fakeSink() {
  const created: Array<Record<string, unknown>> = [];
  const patched: Array<{ name: string; count: number }> = [];
  const sink: EventSink = {
    async create(_ns, body) {
      created.push(body);
      return { name: String((body.metadata as { name: string }).name) };
    },
    async patchSeries(_ns, name, series) {
      patched.push({ name, count: series.count });
    },
  };
  return { sink, created, patched };
}

const obj = (name: string): Resource => ({ apiVersion: 'quarry.dev/v1alpha1', kind: 'Collection', metadata: { name, namespace: 'ns1', uid: `uid-${name}` } });

test('identical events are de-duplicated into one event whose series is written at most once a minute', async () => {
  const clock = new FakeClock();
  const { sink, created, patched } = fakeSink();
  const rec = new EventRecorder({ sink, instance: 'op-1', clock });
  for (let i = 0; i < 10; i++) rec.emit(obj('c1'), 'Warning', 'ReconcileError', 'qdrant unreachable');
  await rec.flush();
  assert.equal(created.length, 1);
  assert.equal(patched.length, 0, 'repeats within the first minute are only counted');
  assert.equal(created[0]!.reason, 'ReconcileError');
  assert.equal(created[0]!.reportingController, 'quarry.dev/operator');
  assert.equal(created[0]!.reportingInstance, 'op-1');
  assert.deepEqual((created[0]!.regarding as { uid: string }).uid, 'uid-c1');
  await clock.advance(61_000);
  rec.emit(obj('c1'), 'Warning', 'ReconcileError', 'qdrant unreachable');
  await rec.flush();
  assert.deepEqual(patched.map((p) => p.count), [11]);
  rec.emit(obj('c1'), 'Warning', 'ReconcileError', 'another message');
  await rec.flush();
  assert.equal(created.length, 2, 'a different note is a different event');
  await clock.advance(10 * 60_000);
  rec.emit(obj('c1'), 'Warning', 'ReconcileError', 'qdrant unreachable');
  await rec.flush();
  assert.equal(created.length, 3, 'after the dedupe window a new event is created');
});

test('each object has a budget of 25 events refilled one per 5 minutes; other objects are unaffected', async () => {
  const clock = new FakeClock();
  const { sink, created } = fakeSink();
  const rec = new EventRecorder({ sink, instance: 'op-1', clock });
  for (let i = 0; i < 40; i++) rec.emit(obj('noisy'), 'Normal', 'UpdatedExternalResource', `change ${i}`);
  rec.emit(obj('quiet'), 'Normal', 'Ready', 'ready');
  await rec.flush();
  assert.equal(created.filter((e) => (e.regarding as { name: string }).name === 'noisy').length, 25);
  assert.equal(created.filter((e) => (e.regarding as { name: string }).name === 'quiet').length, 1);
  await clock.advance(300_000);
  rec.emit(obj('noisy'), 'Normal', 'UpdatedExternalResource', 'change 41');
  rec.emit(obj('noisy'), 'Normal', 'UpdatedExternalResource', 'change 42');
  await rec.flush();
  assert.equal(created.filter((e) => (e.regarding as { name: string }).name === 'noisy').length, 26);
});

test('a failing sink never throws into the caller', async () => {
  const rec = new EventRecorder({
    sink: { create: () => Promise.reject(new Error('apiserver down')), patchSeries: () => Promise.resolve() },
    instance: 'op-1',
    clock: new FakeClock(),
  });
  rec.emit(obj('x'), 'Warning', 'CannotConnect', 'down');
  await rec.flush();
  assert.ok(true);
});
