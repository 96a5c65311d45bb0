import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '#operator/runtime/work-queue.ts';
import { ExponentialBackoff, TokenBucket, defaultControllerRateLimiter } from '#operator/runtime/rate-limit.ts';
import { jitter } from '#operator/runtime/clock.ts';
import { FakeClock, flush } from './fake-clock.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('many adds of one key before a worker picks it up run the handler once', async () => {
  const clock = new FakeClock();
  const seen: string[] = [];
  const q = new WorkQueue(async (k) => void seen.push(k), { clock, concurrency: 4 });
  for (let i = 0; i < 5; i++) q.add('ns/a');
  q.add('ns/b');
  assert.equal(q.depth, 2);
  q.start();
  await q.whenIdle();
  await flush();
  assert.deepEqual(seen.sort(), ['ns/a', 'ns/b']);
});

test('a key is never processed concurrently; re-adds while processing run exactly once more', async () => {
  const clock = new FakeClock();
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  const gates = [deferred(), deferred()];
  const q = new WorkQueue(
    async () => {
      const gate = gates[calls++]!;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate.promise;
      running--;
    },
    { clock, concurrency: 4 },
  );
  q.start();
  q.add('ns/a');
  await flush();
  assert.equal(q.inFlight, 1);
  q.add('ns/a');
  q.add('ns/a');
  q.add('ns/a');
  await flush();
  assert.equal(q.inFlight, 1, 'the re-added key waits for the running one');
  gates[0]!.resolve();
  await flush();
  assert.equal(calls, 2);
  gates[1]!.resolve();
  await q.whenIdle();
  await flush();
  assert.equal(calls, 2, 'three re-adds during processing coalesce into one more run');
  assert.equal(maxRunning, 1);
});

test('concurrency bounds the number of keys handled at once', async () => {
  const clock = new FakeClock();
  const gate = deferred();
  const q = new WorkQueue(() => gate.promise, { clock, concurrency: 2 });
  for (const k of ['a', 'b', 'c', 'd', 'e']) q.add(`ns/${k}`);
  q.start();
  await flush();
  assert.equal(q.inFlight, 2);
  assert.equal(q.depth, 3);
  gate.resolve();
  await q.whenIdle();
  assert.equal(q.depth, 0);
});

test('per-key exponential backoff starts at 5 ms, doubles and caps at 1000 s', () => {
  const b = new ExponentialBackoff();
  const delays = Array.from({ length: 30 }, () => b.when('k'));
  assert.deepEqual(delays.slice(0, 5), [5, 10, 20, 40, 80]);
  assert.equal(delays[17], 5 * 2 ** 17);
  assert.equal(Math.max(...delays), 1_000_000);
  assert.equal(delays[29], 1_000_000);
  assert.equal(b.when('other'), 5, 'failures are counted per key');
  b.forget('k');
  assert.equal(b.when('k'), 5, 'forget resets the key');
});

test('a failing handler is retried with growing delays; success forgets the failures', async () => {
  const clock = new FakeClock();
  const times: number[] = [];
  let fail = 4;
  const q = new WorkQueue(
    async () => {
      times.push(clock.now());
      if (fail-- > 0) throw new Error('boom');
    },
    { clock, rateLimiter: defaultControllerRateLimiter(clock) },
  );
  q.start();
  q.add('ns/a');
  await flush();
  for (let i = 0; i < 20; i++) await clock.advance(5);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  assert.deepEqual(gaps, [5, 10, 20, 40]);
  assert.equal(q.retries('ns/a'), 0, 'success forgets');
  assert.equal(clock.pendingTimers, 0);
});

test('the global token bucket limits retries across keys once the burst is spent', async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket(clock, 10, 100);
  const delays = Array.from({ length: 102 }, () => bucket.reserve());
  assert.ok(delays.slice(0, 100).every((d) => d === 0));
  assert.equal(Math.round(delays[100]!), 100);
  assert.equal(Math.round(delays[101]!), 200);
  await clock.advance(10_000);
  assert.equal(bucket.reserve(), 0, 'tokens refill at qps');

  const limiter = defaultControllerRateLimiter(clock, { qps: 1, burst: 1 });
  assert.equal(limiter.when('a'), 5, 'first retry: backoff dominates');
  assert.equal(Math.round(limiter.when('b')), 1000, 'bucket empty: a different key still waits for a token');
});

test('requeueAfter brings the key back after the delay, not before', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const q = new WorkQueue(
    async () => {
      calls++;
      return calls === 1 ? { requeueAfter: 60_000 } : {};
    },
    { clock },
  );
  q.start();
  q.add('ns/a');
  await flush();
  assert.equal(calls, 1);
  await clock.advance(59_999);
  assert.equal(calls, 1);
  await clock.advance(1);
  assert.equal(calls, 2);
  await clock.advance(120_000);
  assert.equal(calls, 2, 'no requeue asked the second time');
});

test('an earlier delayed add wins over a later one for the same key', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const q = new WorkQueue(async () => void calls++, { clock });
  q.start();
  q.addAfter('ns/a', 1000);
  q.addAfter('ns/a', 5000);
  q.addAfter('ns/a', 500);
  await clock.advance(500);
  assert.equal(calls, 1);
  await clock.advance(10_000);
  assert.equal(calls, 1);
});

test('jitter stays within [d, d·(1+factor)]', () => {
  assert.equal(jitter(60_000, 0.1, () => 0), 60_000);
  assert.equal(jitter(60_000, 0.1, () => 0.999999), 60_000 + 0.1 * 0.999999 * 60_000);
  for (let i = 0; i < 100; i++) {
    const j = jitter(60_000);
    assert.ok(j >= 60_000 && j <= 66_000);
  }
});

test('shutdown waits for running handlers and drops delayed keys', async () => {
  const clock = new FakeClock();
  const gate = deferred();
  let done = false;
  const q = new WorkQueue(
    async () => {
      await gate.promise;
      done = true;
    },
    { clock },
  );
  q.start();
  q.add('ns/a');
  q.addAfter('ns/b', 1000);
  await flush();
  const stopped = q.shutdown();
  let resolved = false;
  void stopped.then(() => (resolved = true));
  await flush();
  assert.equal(resolved, false);
  gate.resolve();
  await stopped;
  assert.equal(done, true);
  assert.equal(clock.pendingTimers, 0);
  q.add('ns/c');
  assert.equal(q.depth, 0, 'no adds after shutdown');
});
