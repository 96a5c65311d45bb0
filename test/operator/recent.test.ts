import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Recent } from '#operator/runtime/recent.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

test('concurrent callers of one key share the call in flight; other keys get their own', async () => {
  const r = new Recent<number>(1000, () => 0);
  const d = deferred<number>();
  let calls = 0;
  const load = () => (calls++, d.promise);
  const a = r.get('q1', load);
  const b = r.get('q1', load);
  const c = r.get('q2', async () => (calls++, 2));
  d.resolve(1);
  assert.deepEqual(await Promise.all([a, b, c]), [1, 1, 2]);
  assert.equal(calls, 2);
});

test('an answer is reused for ttl after it arrived, then read again', async () => {
  let now = 0;
  const r = new Recent<number>(1000, () => now);
  let calls = 0;
  const load = async () => ++calls;
  assert.equal(await r.get('k', load), 1);
  now = 999;
  assert.equal(await r.get('k', load), 1);
  now = 1000;
  assert.equal(await r.get('k', load), 2);
});

test('a slow call is not stale when it arrives: the ttl runs from its answer', async () => {
  let now = 0;
  const r = new Recent<string>(100, () => now);
  const d = deferred<string>();
  const first = r.get('k', () => d.promise);
  now = 500; // longer than the ttl, still in flight
  assert.equal(r.get('k', async () => 'second'), first);
  d.resolve('first');
  await first;
  await Promise.resolve();
  now = 550;
  assert.equal(await r.get('k', async () => 'third'), 'first');
});

test('a failure is never kept, and forget drops an answer', async () => {
  const r = new Recent<number>(10_000, () => 0);
  await assert.rejects(r.get('k', async () => Promise.reject(new Error('down'))), /down/);
  assert.equal(await r.get('k', async () => 7), 7);
  r.forget('k');
  assert.equal(await r.get('k', async () => 8), 8);
});

test('ttl 0 only de-duplicates calls in flight', async () => {
  const r = new Recent<number>(0, () => 0);
  let calls = 0;
  const d = deferred<number>();
  const a = r.get('k', () => (calls++, d.promise));
  const b = r.get('k', () => (calls++, d.promise));
  d.resolve(1);
  await Promise.all([a, b]);
  await Promise.resolve();
  assert.equal(await r.get('k', async () => (calls++, 2)), 2);
  assert.equal(calls, 2);
});
