/**
 * audio_extractor@v1 through the ingestion pipeline on the local adapters with the real models (Whisper, MiniLM)
 * and real ffmpeg: a 60-s recording made here (espeak-ng sentences placed by ffmpeg) becomes one document per
 * segment with speech; searching a sentence spoken at 0:40 finds the segment containing 0:40 first; a file that
 * is not media fails alone; a second run of the same object rewrites the same documents (each segment once).
 * With job_length_seconds 27 the recording's job hands it on in three range jobs of three 9-s hops each: the batch
 * counts them, and the documents are those of the whole file (indices, times, total_segments). A range recorded as
 * failed on the infrastructure is retried alone (POST …/retry's path) and writes its segments again.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Batch } from '#engine/ingestion/batch-model.ts';
import { composeAudio, speak } from './speech.ts';
import { mediaPipeline } from './media-pipeline.ts';

const { dir, models, vectors, ingestion, vec, run } = mediaPipeline({ extractor: 'audio_extractor@v1', collection: 'speech', bucket: 'media', params: { segment_length_seconds: 10, segment_overlap_seconds: 1, job_length_seconds: 27 }, inputMappings: { audio: 'recording' } });

const AT_40 = 'The red balloon floated over the old stone bridge.';

test('a sentence spoken at 0:40 is found in the segment containing 0:40; a non-media file fails alone', async () => {
  const parts = [
    { file: speak('Welcome to the weekly planning call.', path.join(dir, 'a.wav')), at: 2 },
    { file: speak('Our train leaves from platform seven.', path.join(dir, 'b.wav')), at: 21 },
    { file: speak(AT_40, path.join(dir, 'c.wav')), at: 40.5 },
  ];
  const m4a = composeAudio(parts, 60, path.join(dir, 'call.m4a'));
  const good = await ingestion.putObject({ bucket: 'media', metadata: {}, blobs: [await ingestion.storeBlob('media', 'o-call', 'recording', 'audio', readFileSync(m4a), 'audio/mp4')] });
  const junkFile = path.join(dir, 'junk.mp3');
  writeFileSync(junkFile, Buffer.from('ID3 not really an mp3 '.repeat(100)));
  const junk = await ingestion.putObject({ bucket: 'media', metadata: {}, blobs: [await ingestion.storeBlob('media', 'o-junk', 'recording', 'audio', readFileSync(junkFile), 'audio/mpeg')] });

  const done = await run([good.object_id, junk.object_id]);
  assert.equal(done.status, 'COMPLETED_WITH_ERRORS');
  assert.deepEqual(done.error_summary, { unsupported_media: 1 });
  const tier = done.tier_tasks[0]!;
  assert.deepEqual(Object.entries(tier.media_ranges ?? {}).map(([k, r]) => [k, r.map((x) => [x.first, x.start, x.end])]), [[`speech/${good.object_id}`, [[0, 0, 28], [3, 27, 55], [6, 54, undefined]]]]);
  assert.equal(tier.total_jobs, 5, 'two objects and three ranges');
  assert.deepEqual(Object.keys(tier.outcomes).filter((k) => k.includes('#')).sort(), [0, 1, 2].map((r) => `speech/${good.object_id}#r${r}`));

  const page = await vectors.scroll(ingestion.vectorCollection, { filter: { field: 'root_object_id', value: good.object_id }, limit: 100, withPayload: true });
  const segs = page.points.map((p) => p.payload!).sort((a, b) => Number(a.start_time) - Number(b.start_time));
  // 10-s windows with 1-s overlap start at 0, 9, 18, 27, 36, 45, 54: speech is in three of them (plus overlaps).
  assert.ok(segs.length >= 3 && segs.length <= 5, `segments with speech: ${segs.map((s) => `${s.start_time}-${s.end_time}: ${s.transcript}`).join(' | ')}`);
  assert.ok(segs.every((s) => Number(s.total_segments) === 7), 'seven windows over 60 s');
  assert.ok(segs.every((s) => Number(s.start_time) === Number(s.segment_index) * 9 && Number(s.end_time) === Math.min(60, Number(s.start_time) + 10)), 'whole-file indices and times in every range');
  assert.ok(segs.every((s) => String(s.media_url).startsWith('s3://media-storage/') && String(s.media_url).endsWith(`#t=${s.start_time},${s.end_time}`)));

  const [q] = await models.embedText(vec.model, ['a balloon over a stone bridge']);
  const hits = await vectors.search(ingestion.vectorCollection, { using: vec.name, vector: q!, limit: 3, withPayload: true });
  const top = hits[0]!.payload!;
  assert.ok(Number(top.start_time) <= 40 && Number(top.end_time) >= 42, `top hit ${top.start_time}-${top.end_time} '${top.transcript}' contains 0:40`);
  assert.match(String(top.transcript), /balloon/i);
  const lexical = await vectors.search(ingestion.vectorCollection, { using: 'text', text: 'platform seven train', limit: 1, withPayload: true });
  assert.ok(Number(lexical[0]!.payload!.start_time) <= 21 && Number(lexical[0]!.payload!.end_time) >= 23, 'BM25 finds the 0:21 sentence in its segment');

  // Re-running the object (as a redelivery after a worker died would) rewrites the same documents.
  const again = await run([good.object_id]);
  assert.equal(again.status, 'COMPLETED');
  const after2 = await vectors.count(ingestion.vectorCollection, { field: 'root_object_id', value: good.object_id });
  assert.equal(after2, segs.length, 'each segment exactly once');

  // A range that failed on the infrastructure is retried alone, from its range: its segments are written again.
  const inRange = { AND: [{ field: 'root_object_id', value: good.object_id }, { field: 'segment_index', operator: 'in' as const, value: [3, 4, 5] }] };
  const rangeDocs = await vectors.count(ingestion.vectorCollection, inRange);
  assert.ok(rangeDocs >= 1, 'the second range holds the 0:40 sentence');
  await vectors.deleteByFilter(ingestion.vectorCollection, inRange);
  const rec = (await ingestion.kvGet<Batch>(`batch.${again.batch_id}`))!;
  rec.tier_tasks[0]!.outcomes[`speech/${good.object_id}#r1`] = { ok: false, documents: 0, reason: 'retries_exhausted', error: 'simulated: the store was down' };
  rec.tier_tasks[0]!.status = rec.status = 'COMPLETED_WITH_ERRORS';
  await ingestion.kvPut(`batch.${again.batch_id}`, rec);
  await ingestion.retryFailed(again.batch_id);
  let retried = await ingestion.getBatch(again.batch_id);
  for (let i = 0; i < 2400 && retried.status === 'IN_PROGRESS'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    retried = await ingestion.getBatch(again.batch_id);
  }
  assert.equal(retried.status, 'COMPLETED', JSON.stringify(retried.tier_tasks[0]!.outcomes));
  assert.equal(await vectors.count(ingestion.vectorCollection, inRange), rangeDocs, 'the retried range wrote its segments again');
  assert.equal(await vectors.count(ingestion.vectorCollection, { field: 'root_object_id', value: good.object_id }), segs.length, 'each segment exactly once');
});
