/**
 * The JobQueue contract: every adapter (NATS JetStream, in-process) runs this one suite.
 * `connect()` opens a new client on the adapter's backend; clients of one backend share queues and buckets,
 * which is how "another consumer" and "another process" are modelled.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { isKvConflict } from '#engine/queue/errors.ts';
import type { Job, JobQueue, QueueSpec } from '#core/ports/job-queue.ts';

export interface JobQueueBackend {
  connect(): Promise<JobQueue>;
}

const uid = () => randomBytes(4).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `cond` holds, polling; fails with `what` after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export function jobQueueContract(name: string, backend: JobQueueBackend): void {
  describe(`JobQueue contract: ${name}`, () => {
    const clients: JobQueue[] = [];
    const queues: string[] = [];
    const client = async () => {
      const c = await backend.connect();
      clients.push(c);
      return c;
    };
    const queue = async (q: JobQueue, spec: Partial<QueueSpec> = {}) => {
      const s: QueueSpec = { name: `t-${uid()}`, ackWaitMs: 800, maxDeliver: 3, backoffMs: [50], ...spec };
      await q.ensureQueue(s);
      queues.push(s.name);
      return s.name;
    };
    after(async () => {
      const c = clients[0];
      if (c) for (const n of queues) await c.deleteQueue(n).catch(() => undefined);
      for (const x of clients) await x.close();
    });

    it('creates, finds and deletes a queue; publishing to a missing queue is a not-found error', async () => {
      const q = await client();
      const n = await queue(q);
      assert.equal(await q.queueExists(n), true);
      assert.ok((await q.listQueues()).includes(n), 'listQueues names the new queue');
      await q.ensureQueue({ name: n, ackWaitMs: 800 }); // idempotent
      assert.equal(await q.pending(n), 0);
      await q.deleteQueue(n);
      assert.equal(await q.queueExists(n), false);
      assert.ok(!(await q.listQueues()).includes(n), 'a deleted queue is no longer listed');
      await q.deleteQueue(n); // deleting twice is fine
      const is404 = (e: Error & { status?: number }) => e.status === 404 && e.message.includes(n);
      await assert.rejects(q.publish(n, { id: 'x', data: 1 }), is404);
      await assert.rejects(q.consume(n, { consumer: 'w' }, async () => {}), is404);
      await assert.rejects(q.pending(n), is404);
      await assert.rejects(q.deadLetters(n), is404);
      // A queue another client deletes is gone for this one too, whatever it had cached.
      const m = await queue(q);
      await (await client()).deleteQueue(m);
      await assert.rejects(q.consume(m, { consumer: 'w' }, async () => {}), (e: Error & { status?: number }) => e.status === 404);
    });

    it('delivers every job at least once to consumers sharing a durable name, then nothing is pending', async () => {
      const q = await client();
      const n = await queue(q);
      const ids = Array.from({ length: 20 }, (_, i) => `job-${i}`);
      for (const id of ids) await q.publish(n, { id, data: { id, n: 1 } });
      assert.equal(await q.pending(n), 20);
      const seen = new Map<string, unknown>();
      const handler = async (job: Job<{ id: string }>) => {
        seen.set(job.id, job.data);
      };
      const a = await q.consume(n, { consumer: 'workers', concurrency: 3 }, handler);
      const b = await (await client()).consume(n, { consumer: 'workers', concurrency: 2 }, handler);
      await until('all jobs handled', () => seen.size === 20);
      await until('queue drained', async () => (await q.pending(n)) === 0);
      await Promise.all([a.stop(), b.stop()]);
      assert.deepEqual([...seen.keys()].sort(), [...ids].sort());
      assert.deepEqual(seen.get('job-7'), { id: 'job-7', n: 1 });
    });

    it('a work queue has one consumer group: a second consumer name is refused', async () => {
      const q = await client();
      const n = await queue(q);
      const a = await q.consume(n, { consumer: 'group-a' }, async () => {});
      await assert.rejects(
        (await client()).consume(n, { consumer: 'group-b' }, async () => {}),
        (e: Error & { status?: number }) => e.status === 409 && /one consumer group/.test(e.message),
      );
      await a.stop();
    });

    it('dedupes a job published twice with the same id', async () => {
      const q = await client();
      const n = await queue(q);
      await q.publish(n, { id: 'same', data: 1 });
      await q.publish(n, { id: 'same', data: 2 });
      await q.publish(n, { id: 'other', data: 3 });
      assert.equal(await q.pending(n), 2);
      const got: unknown[] = [];
      const s = await q.consume(n, { consumer: 'w' }, async (job) => void got.push(job.data));
      await until('two jobs', () => got.length === 2);
      await sleep(300);
      await s.stop();
      assert.deepEqual(got.sort(), [1, 3]);
    });

    it('retries a failing job with the attempt number until it succeeds', async () => {
      const q = await client();
      const n = await queue(q, { maxDeliver: 4, backoffMs: [20, 40] });
      await q.publish(n, { id: 'flaky', data: null });
      const attempts: number[] = [];
      const s = await q.consume(n, { consumer: 'w' }, async (_job, ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 3) throw new Error(`fail ${ctx.attempt}`);
      });
      await until('success on attempt 3', async () => attempts.length === 3 && (await q.pending(n)) === 0);
      await s.stop();
      assert.deepEqual(attempts, [1, 2, 3]);
      assert.deepEqual(await q.deadLetters(n), []);
    });

    it('dead-letters a job with its last error after maxDeliver failed attempts', async () => {
      const q = await client();
      const n = await queue(q, { maxDeliver: 3, backoffMs: [10] });
      await q.publish(n, { id: 'doomed', data: { x: 1 } });
      await q.publish(n, { id: 'fine', data: { x: 2 } });
      let calls = 0;
      const done: string[] = [];
      const s = await q.consume<{ x: number }>(n, { consumer: 'w' }, async (job, ctx) => {
        if (job.id === 'doomed') {
          calls++;
          throw new Error(`boom on attempt ${ctx.attempt}`);
        }
        done.push(job.id);
      });
      await until('dead letter', async () => (await q.deadLetters(n)).length === 1);
      await until('queue drained', async () => (await q.pending(n)) === 0);
      await sleep(200);
      await s.stop();
      const [dl] = await q.deadLetters<{ x: number }>(n);
      assert.deepEqual(dl, { job: { id: 'doomed', data: { x: 1 } }, error: 'boom on attempt 3', attempts: 3 });
      assert.equal(calls, 3);
      assert.deepEqual(done, ['fine']);
    });

    it('redelivers the job of a consumer that stopped mid-job to another consumer', async () => {
      const q = await client();
      const n = await queue(q, { ackWaitMs: 700 });
      await q.publish(n, { id: 'orphan', data: 'payload' });
      let taken!: () => void;
      const tookIt = new Promise<void>((r) => (taken = r));
      const dead = await q.consume(n, { consumer: 'w' }, () => {
        taken();
        return new Promise<void>(() => {}); // never acks
      });
      await tookIt;
      await dead.stop();
      const other = await client();
      const got: Array<{ id: string; attempt: number }> = [];
      const s = await other.consume(n, { consumer: 'w' }, async (job, ctx) => void got.push({ id: job.id, attempt: ctx.attempt }));
      await until('redelivery', () => got.length === 1);
      await until('queue drained', async () => (await q.pending(n)) === 0);
      await s.stop();
      assert.deepEqual(got, [{ id: 'orphan', attempt: 2 }]);
    });

    it('dead-letters a job whose consumers never ack it within maxDeliver deliveries', async () => {
      const q = await client();
      const n = await queue(q, { ackWaitMs: 500, maxDeliver: 1 });
      await q.publish(n, { id: 'stuck', data: 0 });
      let taken!: () => void;
      const tookIt = new Promise<void>((r) => (taken = r));
      const dead = await q.consume(n, { consumer: 'w' }, () => {
        taken();
        return new Promise<void>(() => {});
      });
      await tookIt;
      await dead.stop();
      let ran = 0;
      const s = await (await client()).consume(n, { consumer: 'w' }, async () => void ran++);
      await until('dead letter', async () => (await q.deadLetters(n)).length === 1);
      await s.stop();
      const [dl] = await q.deadLetters(n);
      assert.equal(dl?.job.id, 'stuck');
      assert.equal(dl?.attempts, 1);
      assert.match(dl?.error ?? '', /not acknowledged/);
      assert.equal(ran, 0, 'a job past maxDeliver is not run again');
      assert.equal(await q.pending(n), 0);
    });

    it('keeps a long job with heartbeats from being redelivered past its ack wait', async () => {
      const q = await client();
      const n = await queue(q, { ackWaitMs: 1500 });
      await q.publish(n, { id: 'long', data: null });
      const starts: number[] = [];
      const s = await q.consume(n, { consumer: 'w', concurrency: 2 }, async (_job, ctx) => {
        starts.push(ctx.attempt);
        for (let i = 0; i < 12; i++) {
          await sleep(250);
          await ctx.heartbeat();
        }
      });
      await until('job done', async () => starts.length >= 1 && (await q.pending(n)) === 0, 20_000);
      await s.stop();
      assert.deepEqual(starts, [1], 'delivered once although it ran 3 s with a 1.5 s ack wait');
    });

    it('KV: put/get, compare-and-set conflicts, delete and prefix listing', async () => {
      const q = await client();
      const kv = await q.kv(`b-${uid()}`);
      assert.equal(await kv.get('batch/1'), undefined);
      const r1 = await kv.put('batch/1', { state: 'PENDING', n: 0 });
      assert.deepEqual(await kv.get('batch/1'), { key: 'batch/1', value: { state: 'PENDING', n: 0 }, revision: r1 });
      const r2 = await kv.update('batch/1', { state: 'PROCESSING', n: 1 }, r1);
      assert.ok(r2 > r1);
      await assert.rejects(kv.update('batch/1', { state: 'LOST', n: 9 }, r1), (e) => isKvConflict(e));
      await assert.rejects(kv.update('batch/1', { state: 'LOST', n: 9 }, 0), (e) => isKvConflict(e), 'create over an existing key');
      assert.deepEqual((await kv.get('batch/1'))?.value, { state: 'PROCESSING', n: 1 });
      const r3 = await kv.update('batch/2', 'new', 0);
      assert.ok(r3 > r2);
      await kv.put('task/1', true);
      assert.deepEqual(await kv.keys('batch/'), ['batch/1', 'batch/2']);
      assert.deepEqual(await kv.keys(), ['batch/1', 'batch/2', 'task/1']);
      await kv.put('object.a', 1);
      await kv.put('object.b.c', 2);
      await kv.put('objects', 3);
      assert.deepEqual(await kv.keys('object.'), ['object.a', 'object.b.c'], 'dotted prefixes list exactly their keys');
      await kv.delete('batch/2');
      assert.equal(await kv.get('batch/2'), undefined);
      assert.deepEqual(await kv.keys('batch/'), ['batch/1']);
      await kv.update('batch/2', 'again', 0); // a deleted key can be created again
      assert.equal((await kv.get('batch/2'))?.value, 'again');
    });

    it('KV: keys listed while other clients keep writing them come once each', async () => {
      const bucket = `k-${uid()}`;
      const [a, b] = [await (await client()).kv(bucket), await (await client()).kv(bucket)];
      const names = Array.from({ length: 300 }, (_, i) => `runtime-${String(i).padStart(3, '0')}`);
      for (const k of names) await a.put(k, { at: 0 });
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing; i++) await b.put(names[i % names.length]!, { at: i });
      })();
      try {
        for (let round = 0; round < 20; round++) assert.deepEqual(await a.keys(), names, `round ${round}: every key once, in order`);
      } finally {
        writing = false;
        await writer;
      }
    });

    it('KV: 200 concurrent mutate increments from two clients count exactly 200', async () => {
      const bucket = `c-${uid()}`;
      const [a, b] = [await (await client()).kv(bucket), await (await client()).kv(bucket)];
      const inc = (kv: typeof a) => kv.mutate<{ n: number }>('counter', (cur) => ({ n: (cur?.n ?? 0) + 1 }));
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => inc(i % 2 ? a : b)));
      assert.deepEqual((await a.get<{ n: number }>('counter'))?.value, { n: 200 });
      assert.deepEqual(results.map((r) => r.n).sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i + 1));
    });
  });
}
