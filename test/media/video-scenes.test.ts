/**
 * video_extractor@v1 with split_method scene and an image–text model, through the ingestion pipeline on the local
 * adapters, real models and ffmpeg. A 27-s video composed here cuts from one solid colour to another at 0:06, 0:13
 * and 0:20 (a caption in the top-left corner of each scene, a sentence spoken at 0:14); the synthetic CLIP
 * (test/fixtures/models/tiny_clip, registered as a tenant's model would be) embeds each segment's keyframe.
 * Segments follow the cuts; job_length_seconds 12 hands them on in two range jobs of whole scenes; each segment
 * carries its caption (OCR), its transcript and its keyframe embedding; a text query embedded independently on a bare
 * onnxruntime session (test/harness/tiny-clip.ts) finds first the scene whose colour the test chose for it, and a
 * retriever's feature_search on quarry://video_extractor@v1/team-clip returns that segment with a presigned thumbnail
 * (a JPEG the local store serves) and a presigned media URL carrying its time range (#t=start,end).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { FfmpegDecoder } from '#engine/media/ffmpeg.ts';
import { RetrieverEngine } from '#engine/retriever/executor.ts';
import { namespaceFeatureResolver } from '#engine/retriever/namespace-features.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import { parseS3Url } from '#engine/retriever/presigned-urls.ts';
import type { ModelEntry } from '#engine/models/manifest.ts';
import { BareTinyClip, TINY_CLIP_DIR, type Rgb } from '../harness/tiny-clip.ts';
import { speak } from './speech.ts';
import { mediaPipeline } from './media-pipeline.ts';

const { dir, models, objects, vectors, ingestion, collections, vecs, run } = mediaPipeline({
  extractor: 'video_extractor@v1',
  collection: 'scenes',
  bucket: 'films',
  params: { split_method: 'scene', job_length_seconds: 12, model: 'team-clip', dimensions: 3 },
  inputMappings: { video: 'clip' },
});
const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';
const CUTS = [6, 13, 20];
const LENGTH = 27;
const CAPTIONS = ['Harbor Festival', 'Mountain Railway', 'Winter Market', 'Ocean Lighthouse'];
const clip = new BareTinyClip();

before(async () => {
  await clip.open();
  // The fixture CLIP as a tenant's Model would be served: registered under its name, files from the fixture dir.
  const manifest = JSON.parse(readFileSync(path.join(TINY_CLIP_DIR, '..', 'manifest.json'), 'utf8')) as { models: Record<string, ModelEntry> };
  await models.register({ ...manifest.models.tiny_clip!, name: 'team-clip', dir: TINY_CLIP_DIR });
});
after(() => clip.close());

const hex = (c: Rgb) => `0x${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/** Solid-colour scenes cut at CUTS, a caption at the top-left (outside CLIP's centre crop), optional speech. */
function scenesVideo(out: string, colours: Rgb[], speech: { file: string; at: number }): string {
  const bounds = [0, ...CUTS, LENGTH];
  const inputs = colours.flatMap((c, i) => {
    const light = c[0] + c[1] + c[2] > 382;
    const draw = `drawtext=fontfile=${FONT}:text='${CAPTIONS[i]}':fontsize=56:fontcolor=${light ? 'black' : 'white'}:x=20:y=20`;
    return ['-f', 'lavfi', '-t', String(bounds[i + 1]! - bounds[i]!), '-i', `color=c=${hex(c)}:s=1280x720:r=10,${draw}`];
  });
  const concat = `${colours.map((_, i) => `[${i}:v]`).join('')}concat=n=${colours.length}:v=1:a=0[v]`;
  const audio = `[${colours.length}:a]aresample=16000,adelay=${speech.at * 1000}:all=1,apad[a]`;
  execFileSync('ffmpeg', ['-y', '-loglevel', 'error', ...inputs, '-i', speech.file, '-filter_complex', `${concat};${audio}`, '-map', '[v]', '-map', '[a]', '-t', String(LENGTH), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', out]);
  return out;
}

test('scene segments follow the cuts, in range jobs of whole scenes; a text query finds the scene by its keyframe', async () => {
  const query = 'dog';
  const target = clip.colourFor(await clip.embedText(query));
  // The chosen colour is the second scene's; the others are far from it (and from each other).
  const colours: Rgb[] = [[255, 0, 0], target, [0, 0, 255], [255, 255, 255]];
  const mp4 = scenesVideo(path.join(dir, 'scenes.mp4'), colours, { file: speak('The red balloon floated over the old stone bridge.', path.join(dir, 's.wav')), at: 14 });

  // The decoder's scene changes are at the cuts.
  const changes = await new FfmpegDecoder().sceneChanges(mp4, { threshold: 0.3 });
  assert.deepEqual(changes.map(Math.round), CUTS, `scene changes ${JSON.stringify(changes)}`);

  const o = await ingestion.putObject({ bucket: 'films', metadata: {}, blobs: [await ingestion.storeBlob('films', 'o-scenes', 'clip', 'video', readFileSync(mp4), 'video/mp4')] });
  const done = await run([o.object_id]);
  assert.equal(done.status, 'COMPLETED', JSON.stringify(done.error_summary));
  const ranges = Object.values(done.tier_tasks[0]!.media_ranges ?? {})[0] ?? [];
  assert.deepEqual(ranges.map((r) => r.spans!.length), [2, 2], 'two range jobs of two whole scenes');

  const page = await vectors.scroll(ingestion.vectorCollection, { filter: { field: 'root_object_id', value: o.object_id }, limit: 20, withPayload: true, withVectors: true });
  const segs = page.points.sort((a, b) => Number(a.payload!.start_time) - Number(b.payload!.start_time));
  const desc = segs.map((p) => `${String(p.payload!.start_time)}-${String(p.payload!.end_time)} [${String(p.payload!.ocr_text)}] [${String(p.payload!.transcript)}]`).join(' | ');
  assert.equal(segs.length, 4, desc);
  const bounds = [0, ...CUTS, LENGTH];
  segs.forEach((p, i) => {
    const x = p.payload!;
    assert.ok(Math.abs(Number(x.start_time) - bounds[i]!) <= 0.2 && Math.abs(Number(x.end_time) - bounds[i + 1]!) <= 0.3, `segment ${i} spans its scene: ${desc}`);
    assert.equal(x.segment_index, i);
    assert.equal(x.total_segments, 4);
    assert.ok(Number(x.keyframe_time) > bounds[i]! && Number(x.keyframe_time) < bounds[i + 1]!, desc);
    assert.match(String(x.ocr_text), new RegExp(CAPTIONS[i]!.replace(' ', '\\s*'), 'i'), desc);
    assert.ok(p.vectors?.[vecs[1]!.name]?.length === 3, `segment ${i} has its keyframe embedding`);
  });
  assert.match(String(segs[2]!.payload!.transcript), /balloon/i, `the sentence at 0:14 is in the 0:13-0:20 scene: ${desc}`);

  // text → video segment by image content: the query embedded on a bare session, searched on the keyframe vectors.
  const hits = await vectors.search(ingestion.vectorCollection, { using: vecs[1]!.name, vector: await clip.embedText(query), limit: 4, withPayload: true });
  assert.equal(hits[0]!.payload!.segment_index, 1, `the ${hex(target)} scene first: ${hits.map((h) => `${String(h.payload!.segment_index)}:${h.score.toFixed(4)}`).join(' ')}`);
  // And the engine's own text tower agrees (the same query through the Models port).
  const [viaPort] = await models.embedText('team-clip', [query]);
  const again = await vectors.search(ingestion.vectorCollection, { using: vecs[1]!.name, vector: viaPort!, limit: 1, withPayload: true });
  assert.equal(again[0]!.payload!.segment_index, 1);

  // Through a retriever: text → video segment, with the presigned thumbnail and the media URL at its time range.
  objects.setBaseUrl('http://quarry.test/_objects');
  const engine = new RetrieverEngine({
    store: vectors,
    models,
    features: namespaceFeatureResolver(vectors, { storeCollection: async () => ingestion.vectorCollection, collections: async () => collections }),
    presign: async (url) => {
      const ref = parseS3Url(url);
      return ref ? objects.presignGet(ref.bucket, ref.key, 600) : undefined;
    },
  });
  const def = normalizeDefinition({
    collection_identifiers: ['scenes'],
    stages: [{ stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: 'quarry://video_extractor@v1/team-clip', query: { input_mode: 'text', value: query }, top_k: 4 }], final_top_k: 4 } } }],
    cache_config: { enabled: false },
  });
  const res = await engine.execute(def, { inputs: {}, return_presigned_urls: true });
  const top = (res.body.documents as Record<string, unknown>[])[0]!;
  assert.equal(top.segment_index, 1, JSON.stringify(res.body.documents).slice(0, 1000));
  assert.match(String(top.media_url), new RegExp(`^http://quarry\\.test/_objects/.*#t=${String(top.start_time)},${String(top.end_time)}$`));
  assert.ok(Number(top.start_time) < 7 && Number(top.end_time) > 12, JSON.stringify(top));
  const thumb = objects.verifyPresigned(String(top.thumbnail_url));
  const { body } = await objects.get(thumb.bucket, thumb.key);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).subarray(0, 2).toString('hex'), 'ffd8', 'the presigned thumbnail is the segment keyframe JPEG');
});
