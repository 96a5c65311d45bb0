/** The JobQueue contract on the in-process adapter, plus its persistence under a data dir. */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { MemoryJobQueue } from '#engine/queue/memory.ts';
import { JobMetrics } from '#engine/queue/metrics.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import { jobQueueContract, until } from './job-queue.contract.ts';

/** Clients of one in-process queue: each is a view whose close() leaves the shared queue running. */
function sharedBackend() {
  const shared = new MemoryJobQueue();
  const views: JobQueue[] = [];
  return {
    async connect(): Promise<JobQueue> {
      const subs: Array<{ stop(): Promise<void> }> = [];
      const view: JobQueue = {
        kind: shared.kind,
        ensureQueue: (s) => shared.ensureQueue(s),
        queueExists: (n) => shared.queueExists(n),
        listQueues: () => shared.listQueues(),
        deleteQueue: (n) => shared.deleteQueue(n),
        publish: (q, j) => shared.publish(q, j),
        consume: async (q, o, h) => {
          const s = await shared.consume(q, o, h);
          subs.push(s);
          return s;
        },
        deadLetters: (q) => shared.deadLetters(q),
        pending: (q) => shared.pending(q),
        kv: (b) => shared.kv(b),
        close: async () => {
          await Promise.all(subs.map((s) => s.stop()));
        },
      };
      views.push(view);
      return view;
    },
  };
}

jobQueueContract('memory', sharedBackend());

describe('MemoryJobQueue persistence', () => {
  let dir = '';
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'quarry-jq-'))));
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('keeps queues, pending and in-flight jobs, dead letters and KV across a restart', async () => {
    const q1 = new MemoryJobQueue({ dataDir: dir });
    await q1.ensureQueue({ name: 'p', ackWaitMs: 60_000, maxDeliver: 1, backoffMs: [0] });
    for (let i = 0; i < 5; i++) await q1.publish('p', { id: `j${i}`, data: i });
    const kv = await q1.kv('status');
    await kv.put('batch/1', { done: 2 });
    // j0 fails into the dead letters; j1 is taken and never acked (in flight when the process stops).
    let inFlight = 0;
    await q1.consume<number>('p', { consumer: 'w' }, async (job) => {
      if (job.data === 0) throw new Error('bad input');
      inFlight++;
      await new Promise(() => {});
    });
    await until('one in flight', () => inFlight === 1);
    await q1.close();

    const q2 = new MemoryJobQueue({ dataDir: dir });
    assert.equal(await q2.queueExists('p'), true);
    assert.equal(await q2.pending('p'), 4);
    assert.deepEqual(await q2.deadLetters('p'), [{ job: { id: 'j0', data: 0 }, error: 'bad input', attempts: 1 }]);
    assert.deepEqual((await (await q2.kv('status')).get('batch/1'))?.value, { done: 2 });
    await q2.publish('p', { id: 'j3', data: 3 }); // dedupe window survives too
    assert.equal(await q2.pending('p'), 4);
    const got: number[] = [];
    const s2 = await q2.consume<number>('p', { consumer: 'w' }, async (job) => void got.push(job.data));
    await until('redelivered after restart', () => got.length === 3);
    await s2.stop();
    await q2.close();
    // j1 was in flight with maxDeliver 1: its second delivery goes to the dead letters, as with a dead consumer.
    assert.deepEqual(got.sort(), [2, 3, 4]);
    const q3 = new MemoryJobQueue({ dataDir: dir });
    assert.deepEqual((await q3.deadLetters('p')).map((d) => d.job.id), ['j0', 'j1']);
    assert.equal(await q3.pending('p'), 0);
    await q3.close();
  });
});

describe('MemoryJobQueue journal', () => {
  let dir = '';
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'quarry-jq-journal-'))));
  after(() => dir && rmSync(dir, { recursive: true, force: true }));
  const journal = () => readdirSync(dir).find((f) => f.endsWith('.journal'));
  const journalBytes = () => {
    const f = journal();
    return f ? statSync(path.join(dir, f)).size : 0;
  };

  it('writes only what changed, compacts into a snapshot, and replays both after a restart', async () => {
    const q1 = new MemoryJobQueue({ dataDir: dir });
    const kv = await q1.kv('objects');
    const big = 'x'.repeat(1000);
    for (let i = 0; i < 2000; i++) await kv.put(`object.${i}`, { i, big });
    await until('the 2 MB of records on disk', () => journalBytes() > 2_000_000, 5_000);
    // One more small change appends that change, not the 2 MB state again (the cost that grew with the data).
    const before = journalBytes();
    await kv.put('object.1', { i: 1, small: true });
    await until('the change on disk', () => journalBytes() > before, 5_000);
    assert.ok(journalBytes() - before < 500, `one small change appended ${journalBytes() - before} bytes`);
    // Past 8 MiB the journal is compacted into the snapshot and starts again (a new generation).
    for (let i = 2000; i < 9000; i++) await kv.put(`object.${i}`, { i, big });
    await kv.delete('object.5');
    await until('compacted', () => readdirSync(dir).includes('job-queue.json') && journalBytes() < 8 * 1024 * 1024, 10_000);
    const gen = (JSON.parse(readFileSync(path.join(dir, 'job-queue.json'), 'utf8')) as { gen: number }).gen;
    assert.ok(gen >= 1, `snapshot generation ${gen}`);
    await kv.put('after', { compacted: true });
    await q1.close();
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.journal')).length, 1, 'the replaced journal is gone');

    const q2 = new MemoryJobQueue({ dataDir: dir });
    const kv2 = await q2.kv('objects');
    assert.equal((await kv2.keys('object.')).length, 8999);
    assert.deepEqual((await kv2.get('object.1'))?.value, { i: 1, small: true });
    assert.equal(await kv2.get('object.5'), undefined);
    assert.deepEqual((await kv2.get('after'))?.value, { compacted: true });
    // Revisions continue where they stopped: a CAS against the stored revision succeeds.
    const e = (await kv2.get('after'))!;
    await kv2.update('after', { again: true }, e.revision);
    await q2.close();
  });

  it('drops a torn last line (a crash mid-write) and keeps everything before it', async () => {
    const q1 = new MemoryJobQueue({ dataDir: dir });
    await (await q1.kv('torn')).put('k', 'kept');
    await q1.close();
    appendFileSync(path.join(dir, journal()!), '[["key","torn","k",{"json":"\\"los');
    const q2 = new MemoryJobQueue({ dataDir: dir });
    assert.equal((await (await q2.kv('torn')).get('k'))?.value, 'kept');
    // What the next process writes after the torn line is read back too (the torn tail was cut off).
    await (await q2.kv('torn')).put('later', 'kept too');
    await q2.close();
    const q3 = new MemoryJobQueue({ dataDir: dir });
    assert.equal((await (await q3.kv('torn')).get('later'))?.value, 'kept too');
    await q3.close();
  });

  it('persists a deleted and recreated queue and KV bucket as new, without the old jobs or keys', async () => {
    const q1 = new MemoryJobQueue({ dataDir: dir });
    await q1.ensureQueue({ name: 'again' });
    await q1.publish('again', { id: 'old', data: 1 });
    await (await q1.kv('again')).put('old', 1);
    await q1.close();
    const q2 = new MemoryJobQueue({ dataDir: dir });
    await q2.deleteQueue('again');
    await q2.deleteKv('again');
    await q2.ensureQueue({ name: 'again' });
    await q2.publish('again', { id: 'old', data: 2 }); // the old dedupe entry went with the queue
    await (await q2.kv('again')).put('new', 2);
    await q2.close();
    const q3 = new MemoryJobQueue({ dataDir: dir });
    assert.equal(await q3.pending('again'), 1);
    assert.deepEqual(await (await q3.kv('again')).keys(), ['new']);
    await q3.close();
  });
});

describe('MemoryJobQueue crash', () => {
  it('has published jobs on disk shortly after publish, without close()', async () => {
    const crashDir = mkdtempSync(path.join(tmpdir(), 'quarry-jq-crash-'));
    try {
      const q1 = new MemoryJobQueue({ dataDir: crashDir });
      await q1.ensureQueue({ name: 'c' });
      await q1.publish('c', { id: 'j', data: 'kept' });
      // No close(): the process "crashes" here; another instance reads what reached the disk.
      await until('snapshot written', async () => {
        const q2 = new MemoryJobQueue({ dataDir: crashDir });
        return (await q2.queueExists('c')) && (await q2.pending('c')) === 1;
      }, 5_000);
    } finally {
      rmSync(crashDir, { recursive: true, force: true });
    }
  });
});

describe('MemoryJobQueue metrics', () => {
  it('counts acked, retried and dead-lettered jobs per queue', async () => {
    const registry = new Registry();
    const q = new MemoryJobQueue({ metrics: new JobMetrics(registry) });
    await q.ensureQueue({ name: 'm', ackWaitMs: 1000, maxDeliver: 2, backoffMs: [0] });
    await q.publish('m', { id: 'ok', data: true });
    await q.publish('m', { id: 'bad', data: false });
    const s = await q.consume<boolean>('m', { consumer: 'w' }, async (job) => {
      if (!job.data) throw new Error('no');
    });
    await until('settled', async () => (await q.pending('m')) === 0);
    await s.stop();
    await q.close();
    const text = await registry.metrics();
    assert.match(text, /quarry_jobs_total\{queue="m",outcome="acked"\} 1/);
    assert.match(text, /quarry_jobs_total\{queue="m",outcome="retried"\} 1/);
    assert.match(text, /quarry_jobs_total\{queue="m",outcome="dead_lettered"\} 1/);
    assert.match(text, /quarry_job_handler_duration_seconds_count\{queue="m"\} 3/);
  });
});
