/**
 * The JobQueue contract on NATS JetStream (the test env's server), plus what only a real broker shows:
 * a worker process killed with SIGKILL mid-job loses nothing, and neither does a server restart
 * (a private nats-server with file storage, stopped and started on the same store dir).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { JobMetrics } from '#engine/queue/metrics.ts';
import { NatsJobQueue } from '#engine/queue/nats.ts';
import { testEnv } from '../harness/env.ts';
import { startNatsServer, stopNatsServer } from '../harness/nats-server.ts';
import { jobQueueContract, until } from './job-queue.contract.ts';

const natsUrl = testEnv().natsUrl;
const prefix = `T${randomBytes(3).toString('hex').toUpperCase()}`;

jobQueueContract('nats', { connect: () => NatsJobQueue.connect({ servers: natsUrl, prefix }) });

after(async () => {
  // The contract deletes its queues; KV buckets have no delete in the port, so remove this run's here.
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  for await (const name of jsm.streams.names()) if (name.startsWith(`KV_${prefix}_`)) await jsm.streams.delete(name);
  await nc.close();
});

describe('NatsJobQueue on a real broker', () => {
  it('a queue with only one of its streams (a process killed inside ensureQueue or deleteQueue) does not exist; ensure and delete finish it', async () => {
    const q = await NatsJobQueue.connect({ servers: natsUrl, prefix });
    const nc = await connect({ servers: natsUrl });
    const jsm = await jetstreamManager(nc);
    const queue = `half-${randomBytes(3).toString('hex')}`;
    const streams = async () => {
      const out: string[] = [];
      for await (const n of jsm.streams.names()) if (n.includes(queue.toUpperCase()) || n.includes(queue)) out.push(n);
      return out.sort();
    };
    try {
      await q.ensureQueue({ name: queue });
      const [dlq] = (await streams()).filter((n) => n.includes('_DLQ_'));
      await jsm.streams.delete(dlq!);
      assert.equal(await q.queueExists(queue), false, 'the jobs stream alone is not a queue');
      await q.ensureQueue({ name: queue });
      assert.equal(await q.queueExists(queue), true);
      assert.equal((await streams()).length, 2);
      const [jobs] = (await streams()).filter((n) => n.includes('_JOBS_'));
      await jsm.streams.delete(jobs!);
      await q.deleteQueue(queue);
      assert.deepEqual(await streams(), [], 'the left-over dead-letter stream is deleted too');
    } finally {
      await q.deleteQueue(queue);
      await nc.close();
      await q.close();
    }
  });

  it('counts acked, retried and dead-lettered jobs per queue', async () => {
    const registry = new Registry();
    const q = await NatsJobQueue.connect({ servers: natsUrl, prefix, metrics: new JobMetrics(registry) });
    const queue = `m-${randomBytes(3).toString('hex')}`;
    try {
      await q.ensureQueue({ name: queue, ackWaitMs: 1000, maxDeliver: 2, backoffMs: [0] });
      await q.publish(queue, { id: 'ok', data: true });
      await q.publish(queue, { id: 'bad', data: false });
      const s = await q.consume<boolean>(queue, { consumer: 'w' }, async (job) => {
        if (!job.data) throw new Error('no');
      });
      await until('settled', async () => (await q.pending(queue)) === 0);
      await s.stop();
      const text = await registry.metrics();
      for (const outcome of ['acked', 'retried', 'dead_lettered']) assert.match(text, new RegExp(`quarry_jobs_total\\{queue="${queue}",outcome="${outcome}"\\} 1`));
    } finally {
      await q.deleteQueue(queue);
      await q.close();
    }
  });

  it('redelivers the job of a worker process killed with SIGKILL mid-job to another consumer', async () => {
    const q = await NatsJobQueue.connect({ servers: natsUrl, prefix: 'QUARRY' });
    const queue = `kill-${randomBytes(3).toString('hex')}`;
    let child: ChildProcess | undefined;
    try {
      await q.ensureQueue({ name: queue, ackWaitMs: 1000, maxDeliver: 3 });
      await q.publish(queue, { id: 'j1', data: { doc: 7 } });
      child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./job-queue.worker.ts', import.meta.url))], {
        env: { ...process.env, NATS_URL: natsUrl, QUEUE: queue, CONSUMER: 'workers' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      await until('the worker took the job', () => out.includes('took j1 1'), 30_000);
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));

      const got: Array<{ id: string; data: unknown; attempt: number }> = [];
      const s = await q.consume(queue, { consumer: 'workers' }, async (job, ctx) => void got.push({ id: job.id, data: job.data, attempt: ctx.attempt }));
      await until('redelivery', () => got.length === 1);
      await until('acked', async () => (await q.pending(queue)) === 0);
      await s.stop();
      assert.deepEqual(got, [{ id: 'j1', data: { doc: 7 }, attempt: 2 }]);
      assert.deepEqual(await q.deadLetters(queue), []);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await q.deleteQueue(queue);
      await q.close();
    }
  });

  describe('across a NATS server restart', () => {
    let dir = '';
    let server: ChildProcess | undefined;
    let port = 0;
    let url = '';
    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'quarry-nats-'));
      port = await freePort();
      url = `nats://127.0.0.1:${port}`;
      server = await startNatsServer(port, dir);
    });
    after(async () => {
      await stopNatsServer(server);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('keeps queued jobs, dead letters and KV entries (file storage)', async () => {
      const q1 = await NatsJobQueue.connect({ servers: url });
      await q1.ensureQueue({ name: 'durable', ackWaitMs: 1000, maxDeliver: 1 });
      for (let i = 0; i < 10; i++) await q1.publish('durable', { id: `j${i}`, data: i });
      await q1.consume<number>('durable', { consumer: 'w' }, async (job) => {
        if (job.data === 0) throw new Error('poison');
        if (job.data === 1) return;
        await new Promise(() => {}); // j2 stays in flight
      });
      await until('j0 dead-lettered, j1 done', async () => (await q1.deadLetters('durable')).length === 1 && (await q1.pending('durable')) === 8);
      const kv = await q1.kv('status');
      await kv.put('batch/1', { processed: 1 });
      await kv.mutate<{ processed: number }>('batch/1', (c) => ({ processed: (c?.processed ?? 0) + 1 }));
      await q1.close();

      await stopNatsServer(server);
      server = await startNatsServer(port, dir);

      const q2 = await NatsJobQueue.connect({ servers: url });
      try {
        assert.equal(await q2.queueExists('durable'), true);
        assert.equal(await q2.pending('durable'), 8);
        assert.deepEqual(await q2.deadLetters('durable'), [{ job: { id: 'j0', data: 0 }, error: 'poison', attempts: 1 }]);
        assert.deepEqual((await (await q2.kv('status')).get('batch/1'))?.value, { processed: 2 });
        const got: number[] = [];
        const s2 = await q2.consume<number>('durable', { consumer: 'w', concurrency: 2 }, async (job) => void got.push(job.data));
        await until('all remaining jobs', async () => (await q2.pending('durable')) === 0, 30_000);
        await s2.stop();
        // j2 was in flight with maxDeliver 1: its redelivery after the restart is dead-lettered, not lost.
        assert.deepEqual(got.sort((a, b) => a - b), [3, 4, 5, 6, 7, 8, 9]);
        assert.deepEqual((await q2.deadLetters('durable')).map((d) => d.job.id), ['j0', 'j2']);
      } finally {
        await q2.close();
      }
    });

    it('a client and its running consumer ride through the restart and lose no job', async () => {
      const q = await NatsJobQueue.connect({ servers: url });
      try {
        await q.ensureQueue({ name: 'live', ackWaitMs: 1000, maxDeliver: 5, backoffMs: [100] });
        const got = new Set<number>();
        const s = await q.consume<number>('live', { consumer: 'w', concurrency: 2 }, async (job) => void got.add(job.data));
        for (let i = 0; i < 5; i++) await q.publish('live', { id: `a${i}`, data: i });
        await until('first half handled', () => got.size === 5);

        await stopNatsServer(server);
        server = await startNatsServer(port, dir);
        // The client reconnects by itself; publishing works again once it has.
        for (let i = 5; i < 10; i++) {
          const job = { id: `a${i}`, data: i };
          await until(`publish of ${job.id} after the restart`, () => q.publish('live', job).then(() => true, () => false), 30_000);
        }
        await until('second half handled by the same consumer', () => got.size === 10, 30_000);
        await until('queue drained', async () => (await q.pending('live')) === 0);
        await s.stop();
        assert.deepEqual([...got].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      } finally {
        await q.close();
      }
    });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

