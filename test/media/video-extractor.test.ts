/**
 * video_extractor@v1 through the ingestion pipeline on the local adapters, real models and real ffmpeg: a 30-s
 * video composed here (ffmpeg drawtext on screen from 0:10 to 0:20, espeak-ng speech at 0:22). The spoken
 * sentence is found in the segment containing 0:22 first, the on-screen text through OCR in its segment; every
 * segment carries a thumbnail and a media_url with its time range; a video without audio still gets OCR documents.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { getExtractor } from '#engine/extractors/registry.ts';
import type { Batch } from '#engine/ingestion/batch-model.ts';
import type { CollectionPlan } from '#engine/ingestion/collections.ts';
import { NamespaceIngestion, type NamespaceView } from '#engine/ingestion/pipeline.ts';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { MemoryJobQueue } from '#engine/queue/memory.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { speak, tempDir } from './speech.ts';

const dir = tempDir();
const models = new OnnxModels({ threads: 1 });
const queue = new MemoryJobQueue();
const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
const vectors = new ExactVectorStore();
const collections: CollectionPlan[] = [
  { name: 'scenes', enabled: true, source: { type: 'bucket', buckets: ['videos'] }, extractor: { id: 'video_extractor@v1', params: { segment_length_seconds: 10 }, inputMappings: { video: 'clip' } } },
];
const view: NamespaceView = { key: { k8sNamespace: 'test', name: 'videos' }, collections: async () => collections, storageBucket: async () => 'video-storage' };
const ingestion = new NamespaceIngestion({ queue, objects, vectors, models }, view);
const vec = getExtractor('video_extractor@v1')!.vectors({})[0]!;
let worker: { stop(): Promise<void> };
const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';

before(async () => {
  await objects.ensureBucket('video-storage');
  await vectors.ensureCollection({ name: ingestion.vectorCollection, vectors: [{ name: vec.name, size: vec.dimensions, distance: 'cosine' }], lexicalFields: ['text'] });
  await ingestion.init();
  worker = await ingestion.startWorker(1);
});
after(async () => {
  await worker.stop();
  await queue.close();
  await models.close();
  rmSync(dir, { recursive: true, force: true });
});

async function run(objectIds: string[]): Promise<Batch> {
  const batch = await ingestion.createBatch('videos', objectIds);
  await ingestion.submit(batch.batch_id);
  for (let i = 0; i < 2400; i++) {
    const b = await ingestion.getBatch(batch.batch_id);
    if (['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELED'].includes(b.status)) return b;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('batch did not finish');
}

function makeVideo(out: string, speech?: { file: string; at: number }): string {
  const draw = `drawtext=fontfile=${FONT}:text='Harbor Festival 2026':fontsize=72:fontcolor=black:x=(w-text_w)/2:y=(h-text_h)/2:enable='between(t,10,20)'`;
  const audio = speech ? ['-i', speech.file, '-filter_complex', `[1:a]aresample=16000,adelay=${speech.at * 1000}:all=1,apad[a]`, '-map', '0:v', '-map', '[a]', '-c:a', 'aac'] : [];
  execFileSync('ffmpeg', ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', `color=c=white:s=1280x720:d=30:r=10,${draw}`, ...audio, '-t', '30', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  return out;
}

test('speech at 0:22 and on-screen text at 0:10-0:20 are found in their segments, with thumbnails and time links', async () => {
  const sentence = { file: speak('The red balloon floated over the old stone bridge.', path.join(dir, 'b.wav')), at: 22 };
  const mp4 = makeVideo(path.join(dir, 'clip.mp4'), sentence);
  const silent = makeVideo(path.join(dir, 'silent.mp4'));
  const o = await ingestion.putObject({ bucket: 'videos', metadata: {}, blobs: [await ingestion.storeBlob('videos', 'o-v', 'clip', 'video', readFileSync(mp4), 'video/mp4')] });
  const s = await ingestion.putObject({ bucket: 'videos', metadata: {}, blobs: [await ingestion.storeBlob('videos', 'o-s', 'clip', 'video', readFileSync(silent), 'video/mp4')] });
  const done = await run([o.object_id, s.object_id]);
  assert.equal(done.status, 'COMPLETED', JSON.stringify(done.error_summary));

  const page = await vectors.scroll(ingestion.vectorCollection, { filter: { field: 'root_object_id', value: o.object_id }, limit: 10, withPayload: true });
  const segs = page.points.map((p) => p.payload!).sort((a, b) => Number(a.start_time) - Number(b.start_time));
  const desc = segs.map((x) => `${x.start_time}-${x.end_time} [${x.transcript}] [${x.ocr_text}]`).join(' | ');
  assert.deepEqual(segs.map((x) => x.start_time), [10, 20], desc);
  assert.ok(segs.every((x) => Number(x.total_segments) === 3 && String(x.thumbnail_url).startsWith('s3://video-storage/') && String(x.media_url).endsWith(`#t=${x.start_time},${x.end_time}`)), desc);
  assert.match(String(segs[0]!.ocr_text), /Harbor\s*Festival/i, desc);
  assert.match(String(segs[1]!.transcript), /balloon/i, desc);

  const [q] = await models.embedText(vec.model, ['a balloon over a stone bridge']);
  const hits = await vectors.search(ingestion.vectorCollection, { using: vec.name, vector: q!, limit: 3, withPayload: true });
  assert.equal(hits[0]!.payload!.root_object_id, o.object_id);
  assert.ok(Number(hits[0]!.payload!.start_time) <= 22 && Number(hits[0]!.payload!.end_time) >= 22, desc);
  const lexical = await vectors.search(ingestion.vectorCollection, { using: 'text', text: 'harbor festival', limit: 5, withPayload: true });
  assert.ok(lexical.length >= 1 && lexical.every((h) => Number(h.payload!.start_time) === 10), 'on-screen text found through OCR in the 0:10 segment');
  assert.ok(lexical.some((h) => h.payload!.root_object_id === s.object_id), 'the video without audio has its OCR segment too');
  const thumb = String(segs[0]!.thumbnail_url).replace('s3://video-storage/', '');
  const { body } = await objects.get('video-storage', thumb);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).subarray(0, 2).toString('hex'), 'ffd8', 'the thumbnail is a JPEG');
});
