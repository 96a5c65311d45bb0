/**
 * Worker processes (engine/src/worker.ts) over real NATS JetStream and MinIO, writing to one embedded LanceDB
 * directory: three workers share the namespace's queue; one is SIGKILLed five times mid-batch (and restarted). The
 * batch completes with exactly the expected documents — redelivered jobs overwrite their deterministic ids.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createJobQueue } from '#engine/queue/config.ts';
import { privateNatsPrefix } from '../harness/env-ports.ts';
import { S3ObjectStore } from '#engine/objects/s3.ts';
import { createVectorStore } from '#engine/vector/create.ts';
import { NamespaceIngestion } from '#engine/ingestion/pipeline.ts';
import { testEnv } from '../harness/env.ts';
import { ROOT } from '../harness/test-env.ts';
import { engineSideModels } from '../harness/engine-side-models.ts';


test('SIGKILLed workers lose no job and duplicate no document', async () => {
  const env = testEnv();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-kill-'));
  const suffix = randomBytes(3).toString('hex');
  const storage = `kill-${suffix}`;
  // Its own stream prefix: the workers discover every stream of theirs, and must not take other tests' jobs.
  const natsPrefix = privateNatsPrefix();
  const queue = await createJobQueue({ kind: 'nats', servers: [env.natsUrl], prefix: natsPrefix });
  const objects = new S3ObjectStore({ endpoint: env.s3.endpoint, region: env.s3.region, accessKeyId: env.s3.accessKey, secretAccessKey: env.s3.secretKey, forcePathStyle: true });
  const vectors = createVectorStore({ kind: 'embedded', dataDir: path.join(dir, 'vectors') });
  const ns = new NamespaceIngestion({ queue, objects, vectors, models: engineSideModels }, {
    key: { k8sNamespace: `kill-${suffix}`, name: 'docs' },
    collections: async () => [{ name: 'chunks', enabled: true, source: { type: 'bucket', buckets: ['b'] }, extractor: { id: 'text_extractor@v1', params: { split_by: 'sentences', chunk_size: 1 }, inputMappings: { text: 'body' } } }],
    storageBucket: async () => storage,
  });
  const workers = new Set<ChildProcess>();
  const workerEnv = {
    ...process.env,
    NATS_URL: env.natsUrl,
    NATS_STREAM_PREFIX: natsPrefix,
    S3_ENDPOINT: env.s3.endpoint,
    S3_ACCESS_KEY: env.s3.accessKey,
    S3_SECRET_KEY: env.s3.secretKey,
    S3_FORCE_PATH_STYLE: 'true',
    QUARRY_VECTOR_STORE: 'embedded',
    QUARRY_DATA_DIR: dir,
    QUARRY_MODEL_THREADS: '1',
    WORKER_CONCURRENCY: '1',
    // Built-in models only: the test env's KUBECONFIG (inherited) would otherwise have the worker watch the Models of
    // every namespace on the shared apiserver, which this test neither needs nor should wait on.
    QUARRY_WORKER_MODEL_RESOURCES: 'false',
    WORKER_DISCOVERY_SECONDS: '1',
    LOG_LEVEL: 'warn',
  };
  const startWorker = () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'engine', 'src', 'worker.ts')], { env: workerEnv, stdio: ['ignore', 'ignore', 'inherit'] });
    workers.add(child);
    child.on('exit', () => workers.delete(child));
    return child;
  };
  after(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await queue.deleteQueue(ns.queueName).catch(() => {});
    await queue.close();
    await objects.deleteBucket(storage, { force: true }).catch(() => {});
    await vectors.close();
    rmSync(dir, { recursive: true, force: true });
  });

  await vectors.ensureCollection({ name: ns.vectorCollection, vectors: [{ name: 'text_extractor_v1_embedding', size: 384, distance: 'cosine' }], lexicalFields: ['text'] });
  await objects.ensureBucket(storage);
  await ns.init();
  const N = 40;
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const body = `Object ${i} says hello. It has a second sentence. And a third one here.`;
    const blob = await ns.storeBlob('b', `o${i}`, 'body', 'text', Buffer.from(body), 'text/plain');
    ids.push((await ns.putObject({ object_id: `o${i}`, bucket: 'b', metadata: {}, blobs: [blob] })).object_id);
  }
  const batch = await ns.createBatch('b', ids);
  await ns.submit(batch.batch_id);

  startWorker();
  startWorker();
  let victim = startWorker();
  for (let kill = 0; kill < 5; kill++) {
    // Let the victim get going (model load + a job or two), then kill it without warning and start a new one.
    await new Promise((r) => setTimeout(r, 4000));
    victim.kill('SIGKILL');
    victim = startWorker();
  }
  let status = '';
  for (let i = 0; i < 600 && !['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED'].includes(status); i++) {
    status = (await ns.getBatch(batch.batch_id)).status;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(status, 'COMPLETED');
  const done = await ns.getBatch(batch.batch_id);
  assert.equal(Object.keys(done.tier_tasks[0]!.outcomes).length, N);
  // Three sentences per object, no more (no duplicates from redelivery) and no fewer (nothing lost).
  // A fresh connection sees the workers' writes: this process's own store (one per data directory, vector/create.ts)
  // cached the table before they wrote.
  await vectors.close();
  const reader = createVectorStore({ kind: 'embedded', dataDir: path.join(dir, 'vectors') });
  try {
    assert.equal(await reader.count(ns.vectorCollection), N * 3);
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await reader.scroll(ns.vectorCollection, { limit: 50, ...(cursor ? { cursor } : {}) });
      for (const p of page.points) {
        assert.ok(!seen.has(p.id), `duplicate document ${p.id}`);
        seen.add(p.id);
      }
      cursor = page.nextCursor;
    } while (cursor);
    assert.equal(seen.size, N * 3);
  } finally {
    await reader.close();
  }
});
