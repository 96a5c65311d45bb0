/**
 * The ingestion pipeline across a NATS restart: a private nats-server (JetStream file store in a temp dir) is
 * stopped mid-batch while three workers (each with its own connection) run a two-tier batch, then started again on
 * the same store. The batch completes with exactly the expected documents (none missing, none extra) and exact
 * progress counters. Objects live on local disk and vectors in the exact store, so only the queue and the batch
 * state (JetStream KV) go through the restart.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { NatsJobQueue } from '#engine/queue/nats.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { NamespaceIngestion, type NamespaceView } from '#engine/ingestion/pipeline.ts';
import { tierProgress, TERMINAL, type Batch } from '#engine/ingestion/batch-model.ts';
import type { CollectionPlan } from '#engine/ingestion/collections.ts';
import { documentId } from '#engine/ingestion/document-id.ts';
import type { Models } from '#core/ports/models.ts';
import type { Subscription } from '#core/ports/job-queue.ts';
import { freePort } from '../harness/test-env.ts';
import { startNatsServer, stopNatsServer } from '../harness/nats-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}


const unit = (seed: number) => {
  const v = new Float32Array(384);
  for (let i = 0; i < v.length; i++) v[i] = Math.sin(seed * (i + 1));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
// A deterministic stand-in model, slow enough (50 ms a call) that the batch is mid-way when NATS stops.
const models: Models = {
  list: () => [],
  info: (name) => ({ name, kind: 'text-embedding', dimensions: 384 }),
  embedText: async (_m, texts) => {
    await sleep(50);
    return texts.map((t) => unit(t.length + 1));
  },
  embedImage: async () => [],
  rerank: async (_m, _q, p) => p.map(() => 0),
  ocr: async () => [],
  close: async () => {},
};

const collections: CollectionPlan[] = [
  { name: 'sentences', enabled: true, source: { type: 'bucket', buckets: ['notes'] }, extractor: { id: 'text_extractor@v1', params: { split_by: 'sentences', chunk_size: 1 }, inputMappings: { text: 'body' }, fieldPassthrough: [{ source_path: 'metadata.n' }] } },
  { name: 'sentence-copies', enabled: true, source: { type: 'collection', collections: ['sentences'] }, extractor: { id: 'text_extractor@v1', params: {}, inputMappings: { text: 'text' }, fieldPassthrough: [{ source_path: 'n' }] } },
];

test('a batch in progress survives a NATS restart with exactly the expected documents and counters', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-nats-restart-'));
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  let server: ChildProcess | undefined = await startNatsServer(port, path.join(dir, 'js'));
  const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
  const vectors = new ExactVectorStore();
  const view: NamespaceView = { key: { k8sNamespace: 'restart', name: 'notes' }, collections: async () => collections, storageBucket: async () => 'notes-store' };
  const queues: NatsJobQueue[] = [];
  const subs: Subscription[] = [];
  after(async () => {
    for (const s of subs) await s.stop().catch(() => {});
    for (const q of queues) await q.close().catch(() => {});
    await stopNatsServer(server);
    rmSync(dir, { recursive: true, force: true });
  });
  const connect = async () => {
    const q = await NatsJobQueue.connect({ servers: url, name: `restart-test-${queues.length}` });
    queues.push(q);
    return new NamespaceIngestion({ queue: q, objects, vectors, models }, view);
  };

  const engine = await connect();
  await objects.ensureBucket('notes-store');
  await vectors.ensureCollection({ name: engine.vectorCollection, vectors: [{ name: 'text_extractor_v1_embedding', size: 384, distance: 'cosine' }], lexicalFields: ['text'] });
  await engine.init();
  const N = 60;
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const body = `Note ${i} opens here. Note ${i} goes on. Note ${i} ends.`;
    const blob = await engine.storeBlob('notes', `o${i}`, 'body', 'text', Buffer.from(body), 'text/plain');
    ids.push((await engine.putObject({ object_id: `o${i}`, bucket: 'notes', metadata: { n: i }, blobs: [blob] })).object_id);
  }
  const batch = await engine.createBatch('notes', ids);
  await engine.submit(batch.batch_id);
  for (let w = 0; w < 3; w++) subs.push(await (await connect()).startWorker(2));

  // Stop NATS once the batch is under way, keep it down a moment, and start it again on the same store.
  let atStop: Batch | undefined;
  await until('a quarter of tier 0 done', async () => {
    atStop = await engine.getBatch(batch.batch_id);
    return Object.keys(atStop.tier_tasks[0]!.outcomes).length >= N / 4;
  }, 60_000);
  await stopNatsServer(server);
  assert.ok(!TERMINAL.has(atStop!.status) && Object.keys(atStop!.tier_tasks[1]!.outcomes).length === 0, 'NATS stops while the batch is in progress');
  server = undefined;
  const during = await engine.getBatch(batch.batch_id).then(() => 'reachable', (e: Error) => e.message);
  assert.notEqual(during, 'reachable', 'the batch state lives in NATS, so it is unreachable while NATS is down');
  await sleep(2000);
  server = await startNatsServer(port, path.join(dir, 'js'));

  let done: Batch | undefined;
  await until('the batch to finish after the restart', async () => {
    const b = await engine.getBatch(batch.batch_id).catch(() => undefined); // the client may still be reconnecting
    if (b && TERMINAL.has(b.status)) done = b;
    return done !== undefined;
  }, 240_000);
  assert.equal(done!.status, 'COMPLETED', JSON.stringify(done!.error_summary));

  // Exact counters: one outcome per job, three sentences per object in each tier.
  const expected = [0, 1].map(() => ({ total: N, processed: N, succeeded: N, failed: 0, documents_written: 3 * N, percent: 100 }));
  assert.deepEqual(done!.tier_tasks.map((t) => tierProgress(t)), expected);
  assert.deepEqual(done!.error_summary, {});

  // Exactly the expected documents: the deterministic ids of every sentence of every object, in both collections.
  const want = new Set<string>();
  for (let i = 0; i < N; i++) {
    for (let s = 0; s < 3; s++) {
      const first = documentId('sentences', `o${i}`, 'text_extractor@v1', `chunk:${s}`);
      want.add(first);
      want.add(documentId('sentence-copies', first, 'text_extractor@v1', 'chunk:0'));
    }
  }
  const got = new Map<string, Record<string, unknown>>();
  let cursor: string | undefined;
  do {
    const page = await vectors.scroll(engine.vectorCollection, { limit: 100, withPayload: true, ...(cursor ? { cursor } : {}) });
    for (const p of page.points) got.set(p.id, p.payload ?? {});
    cursor = page.nextCursor;
  } while (cursor);
  assert.equal(got.size, want.size);
  assert.deepEqual([...got.keys()].filter((k) => !want.has(k)), []);
  for (const [id, payload] of got) {
    const i = Number(String(payload.root_object_id).slice(1));
    assert.equal(payload.n, i, `document ${id} carries its object's field`);
    assert.match(String(payload.text), new RegExp(`^Note ${i} `));
  }
  // Deliveries whose ack was lost in the restart come back once more and finish as no-ops (the outcome is recorded):
  // the batch can be COMPLETED while a few are still in flight, but the queue drains.
  await until('no job left in the queue', async () => (await queues[0]!.pending(engine.queueName)) === 0, 60_000);
  assert.equal(await queues[0]!.pending(engine.queueName), 0, 'no job left in the queue');
});
