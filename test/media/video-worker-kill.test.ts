/**
 * A worker SIGKILLed mid-video (issue 19, acceptance): worker processes (engine/src/worker.ts) over real NATS
 * JetStream and MinIO, the real models and ffmpeg, one embedded LanceDB directory. A 60-s video made here shows a
 * different caption in each 10-s segment (and has a silent audio track, so every segment is also transcribed). With
 * job_length_seconds 20 its job hands it on in three range jobs of two segments. The first worker is killed (with
 * its ffmpeg) once it has read a keyframe of the second range; a second worker does the rest, the killed range once
 * its lease expires. Counted from the workers' logs: the second worker reads and transcribes no segment of the
 * finished first range (at most one range is done twice). The batch completes with each segment's document exactly once.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { getExtractor } from '#engine/extractors/registry.ts';
import { NamespaceIngestion } from '#engine/ingestion/pipeline.ts';
import { S3ObjectStore } from '#engine/objects/s3.ts';
import { createJobQueue } from '#engine/queue/config.ts';
import { createVectorStore } from '#engine/vector/create.ts';
import { privateNatsPrefix } from '../harness/env-ports.ts';
import { testEnv } from '../harness/env.ts';
import { ROOT } from '../harness/test-env.ts';
import { tempDir } from './speech.ts';
import { engineSideModels } from '../harness/engine-side-models.ts';

const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';
const CAPTIONS = ['Harbor Festival', 'Mountain Railway', 'Winter Market', 'Ocean Lighthouse', 'Desert Caravan', 'Forest Library'];


/** 60 s, one caption per 10-s segment, a silent audio track. */
function captionedVideo(out: string): string {
  const draws = CAPTIONS.map((c, i) => `drawtext=fontfile=${FONT}:text='${c}':fontsize=72:fontcolor=black:x=(w-text_w)/2:y=(h-text_h)/2:enable='between(t,${i * 10 + 1},${i * 10 + 9})'`);
  const audio = ['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-c:a', 'aac'];
  execFileSync('ffmpeg', ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', `color=c=white:s=960x540:d=60:r=5,${draws.join(',')}`, ...audio, '-t', '60', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  return out;
}

/** Per worker, the segments it read a keyframe of and transcribed, from its debug log lines (pino JSON on stdout). */
interface Work {
  read: number[];
  transcribed: number[];
}

test('a worker SIGKILLed mid-video loses one range job: the batch completes with each segment exactly once', async (t) => {
  const env = testEnv();
  const dir = tempDir('quarry-video-kill-');
  const suffix = randomBytes(3).toString('hex');
  const storage = `video-kill-${suffix}`;
  const natsPrefix = privateNatsPrefix();
  const queue = await createJobQueue({ kind: 'nats', servers: [env.natsUrl], prefix: natsPrefix });
  const objects = new S3ObjectStore({ endpoint: env.s3.endpoint, region: env.s3.region, accessKeyId: env.s3.accessKey, secretAccessKey: env.s3.secretKey, forcePathStyle: true });
  const vectors = createVectorStore({ kind: 'embedded', dataDir: path.join(dir, 'vectors') });
  const ns = new NamespaceIngestion({ queue, objects, vectors, models: engineSideModels }, {
    key: { k8sNamespace: `video-kill-${suffix}`, name: 'media' },
    collections: async () => [{ name: 'scenes', enabled: true, source: { type: 'bucket', buckets: ['videos'] }, extractor: { id: 'video_extractor@v1', params: { segment_length_seconds: 10, job_length_seconds: 20 }, inputMappings: { video: 'clip' } } }],
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
    LOG_LEVEL: 'debug',
  };
  // Its own process group, so the kill takes its ffmpeg along (as a pod's kill would).
  const startWorker = (work: Work) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'engine', 'src', 'worker.ts')], { env: workerEnv, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    workers.add(child);
    child.on('exit', () => workers.delete(child));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let rec: { msg?: string; segment_index?: number; level?: number };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        return;
      }
      if (rec.msg === 'media keyframe read') work.read.push(rec.segment_index!);
      else if (rec.msg === 'media segment transcribed') work.transcribed.push(rec.segment_index!);
      else if ((rec.level ?? 0) >= 40) process.stderr.write(`${line}\n`);
    });
    return child;
  };
  const killGroup = (child: ChildProcess) => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  after(async () => {
    for (const w of workers) killGroup(w);
    await queue.deleteQueue(ns.queueName).catch(() => {});
    await queue.close();
    await objects.deleteBucket(storage, { force: true }).catch(() => {});
    await vectors.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const vec = getExtractor('video_extractor@v1')!.vectors({})[0]!;
  await vectors.ensureCollection({ name: ns.vectorCollection, vectors: [{ name: vec.name, size: vec.dimensions, distance: 'cosine' }], lexicalFields: ['text'] });
  await objects.ensureBucket(storage);
  await ns.init();
  const mp4 = captionedVideo(path.join(dir, 'captions.mp4'));
  const blob = await ns.storeBlob('videos', 'o-captions', 'clip', 'video', readFileSync(mp4), 'video/mp4');
  const object = await ns.putObject({ object_id: 'o-captions', bucket: 'videos', metadata: {}, blobs: [blob] });
  const batch = await ns.createBatch('videos', [object.object_id]);
  await ns.submit(batch.batch_id);

  const first: Work = { read: [], transcribed: [] };
  const second: Work = { read: [], transcribed: [] };
  const victim = startWorker(first);
  // Killed once it reads a keyframe of the second range (segments 2-3): the first range (0-1) is finished.
  for (let i = 0; i < 1800 && !first.read.some((n) => n >= 2); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(first.read.some((n) => n >= 2), `the first worker reached the second range within 3 minutes (read ${JSON.stringify(first.read)})`);
  killGroup(victim);
  startWorker(second);

  let status = '';
  for (let i = 0; i < 480 && !['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED'].includes(status); i++) {
    status = (await ns.getBatch(batch.batch_id)).status;
    await new Promise((r) => setTimeout(r, 500));
  }
  const done = await ns.getBatch(batch.batch_id);
  assert.equal(status, 'COMPLETED', JSON.stringify(done.error_summary));
  const tier = done.tier_tasks[0]!;
  assert.equal(tier.total_jobs, 4, 'the object job and its three ranges');
  assert.deepEqual(Object.values(tier.media_ranges ?? {}).map((r) => r.map((x) => x.first)), [[0, 2, 4]]);

  // Work done twice is at most the killed range's: the finished first range is neither read nor transcribed again.
  const work = `first worker ${JSON.stringify(first)}, second ${JSON.stringify(second)}`;
  t.diagnostic(work);
  assert.deepEqual([...new Set(first.transcribed)].sort(), [0, 1], `the first worker transcribed the first range before the kill: ${work}`);
  assert.ok(second.read.every((n) => n >= 2) && second.transcribed.every((n) => n >= 2), `the second worker redid nothing of the finished range: ${work}`);
  assert.deepEqual([...new Set([...first.read, ...second.read])].sort(), [0, 1, 2, 3, 4, 5], work);
  assert.ok(second.read.length <= 4 && second.read.filter((n) => first.read.includes(n)).length <= 2, `at most one range read twice: ${work}`);

  // A fresh connection sees the workers' writes (this process's store cached the table before they wrote).
  await vectors.close();
  const reader = createVectorStore({ kind: 'embedded', dataDir: path.join(dir, 'vectors') });
  try {
    const page = await reader.scroll(ns.vectorCollection, { limit: 100, withPayload: true });
    const segs = page.points.map((p) => p.payload!).sort((a, b) => Number(a.start_time) - Number(b.start_time));
    const desc = `${segs.map((s) => `${s.start_time}-${s.end_time} [${s.ocr_text}]`).join(' | ')} (batch: ${JSON.stringify(done.tier_tasks)}; collections: ${JSON.stringify(await reader.listCollections())})`;
    assert.deepEqual(segs.map((s) => s.start_time), [0, 10, 20, 30, 40, 50], `each segment exactly once: ${desc}`);
    assert.equal(new Set(page.points.map((p) => p.id)).size, page.points.length, desc);
    CAPTIONS.forEach((c, i) => assert.match(String(segs[i]!.ocr_text), new RegExp(c.replace(' ', '\\s*'), 'i'), desc));
  } finally {
    await reader.close();
  }
});
