/**
 * How long media is cut into segments and jobs (engine/src/media/plan.ts) and how a batch counts range jobs
 * (batch-model.ts): the window count agrees with the windows pcmWindows really makes; ranges cover every segment once,
 * in whole segments; scene spans follow the changes; a split recorded twice counts once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixedRanges, keyframeCount, sceneSpans, spanRanges, windowCount } from '#engine/media/plan.ts';
import { pcmWindows } from '#engine/media/windows.ts';
import { jobKey, newBatch, parseJobKey, recordOutcome, recordRanges } from '#engine/ingestion/batch-model.ts';

async function* chunks(n: number, size: number): AsyncIterable<Float32Array> {
  for (let o = 0; o < n; o += size) yield new Float32Array(Math.min(size, n - o));
}

test('windowCount is the number of windows pcmWindows makes', async () => {
  for (const [size, overlap] of [[10, 0], [10, 1], [10, 3], [7, 6]] as const) {
    for (let n = 0; n <= 60; n++) {
      let made = 0;
      for await (const _ of pcmWindows(chunks(n, 4), size, overlap)) made++;
      assert.equal(windowCount(n, size, overlap), made, `n=${n} size=${size} overlap=${overlap}`);
    }
  }
});

test('fixed ranges: whole segments, each once, the last open-ended; one range when all fit', () => {
  // 7 windows of 10 s with 1 s overlap (hop 9), 3 per range.
  const r = fixedRanges(7, 3, 9, 1);
  assert.deepEqual(r.map((x) => [x.first, x.start, x.end]), [[0, 0, 28], [3, 27, 55], [6, 54, undefined]]);
  assert.ok(r.every((x) => x.count === 3 && x.total === 7));
  assert.equal(fixedRanges(3, 5, 10, 0).length, 1);
  assert.equal(fixedRanges(3, 5, 10, 0)[0]!.end, undefined);
  assert.equal(fixedRanges(0, 5, 10, 0).length, 1, 'media too short for a segment is still one job');
  assert.equal(keyframeCount(59.4, 10), 6);
  assert.equal(keyframeCount(4, 10), 0);
});

test('scene spans follow the changes; close changes are one cut; long scenes are cut in equal parts', () => {
  assert.deepEqual(sceneSpans([4, 7], 12, 30), [[0, 4], [4, 7], [7, 12]]);
  assert.deepEqual(sceneSpans([4, 4.4, 7], 12, 30), [[0, 4], [4, 7], [7, 12]], 'a change 0.4 s after a cut is not a scene');
  assert.deepEqual(sceneSpans([], 50, 20), [[0, 16.667], [16.667, 33.333], [33.333, 50]]);
  assert.deepEqual(sceneSpans([11.9], 12, 30), [[0, 12]], 'a change in the last instant makes no sliver');
  const r = spanRanges(sceneSpans([4, 7, 15, 21], 30, 30), 10);
  assert.deepEqual(r.map((x) => [x.first, x.start, x.end, x.spans!.length]), [[0, 0, 15, 3], [3, 15, 30, 2]].map(([a, b, c, d], i, all) => [a, b, i === all.length - 1 ? undefined : c, d]));
  assert.equal(spanRanges(sceneSpans([4, 7], 12, 30), 0).length, 1);
});

test('a split adds its ranges to the tier once; the tier completes only when every range has', () => {
  const b = newBatch('b', 'bucket', ['o1']);
  b.status = 'PENDING';
  b.tier_tasks = [{ tier_num: 0, task_id: 't', status: 'PENDING', collection_ids: ['c'], source_type: 'bucket', outcomes: {}, total_jobs: 1 }];
  const ranges = fixedRanges(6, 2, 10, 0);
  recordRanges(b, 0, jobKey('c', 'o1'), ranges);
  recordRanges(b, 0, jobKey('c', 'o1'), ranges);
  assert.equal(b.tier_tasks[0]!.total_jobs, 4);
  recordOutcome(b, 0, jobKey('c', 'o1'), { ok: true, documents: 0 });
  recordOutcome(b, 0, jobKey('c', 'o1', 0), { ok: true, documents: 2 });
  recordOutcome(b, 0, jobKey('c', 'o1', 1), { ok: true, documents: 2 });
  assert.equal(b.status, 'IN_PROGRESS');
  recordOutcome(b, 0, jobKey('c', 'o1', 2), { ok: true, documents: 2 });
  assert.equal(b.status, 'COMPLETED');
  assert.deepEqual(parseJobKey('c/obj_1#r12'), { collection: 'c', objectId: 'obj_1', range: 12 });
  assert.deepEqual(parseJobKey('c/obj_1'), { collection: 'c', objectId: 'obj_1' });
});
