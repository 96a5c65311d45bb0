/**
 * The after-batch compaction's schedule (engine/src/ingestion/compaction.ts), on a store whose optimize only takes
 * time: one run at a time per collection, requests folded into one more run, the next run deferred by GAP_FACTOR
 * times the last run's duration (the soak's stall was compactions back to back), never dropped, and started at once
 * when someone settles it. Pure scheduling; the real compaction is tested on LanceDB in the embedded store's tests
 * and through the pipeline in test/ingestion/pipeline.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { VectorStore } from '#core/ports/vector-store.ts';
import { compactAfterBatch, settleCompaction, GAP_FACTOR } from '#engine/ingestion/compaction.ts';

function timedStore(runMs: number) {
  const runs: { start: number; end: number }[] = [];
  let running = 0;
  let maxRunning = 0;
  const store = {
    async optimize() {
      maxRunning = Math.max(maxRunning, ++running);
      const start = performance.now();
      await sleep(runMs);
      runs.push({ start, end: performance.now() });
      running--;
    },
  } as unknown as VectorStore;
  return { store, runs, maxRunning: () => maxRunning };
}

test('requests during a run fold into one more run, which waits GAP_FACTOR times the last run', async () => {
  const { store, runs, maxRunning } = timedStore(40);
  const first = compactAfterBatch(store, 'ns');
  await sleep(5);
  const second = compactAfterBatch(store, 'ns');
  const third = compactAfterBatch(store, 'ns');
  assert.equal(second, first, 'one promise covers the run and the owed one');
  assert.equal(third, first);
  await first;
  assert.equal(runs.length, 2, 'three requests, two runs');
  assert.equal(maxRunning(), 1);
  const gap = runs[1]!.start - runs[0]!.end;
  const last = runs[0]!.end - runs[0]!.start;
  assert.ok(gap >= GAP_FACTOR * last - 5, `the second run started ${gap.toFixed(0)} ms after a ${last.toFixed(0)} ms run`);
});

test('a request after a run ended still waits out the pause; settling starts it at once', async () => {
  const { store, runs } = timedStore(100);
  await compactAfterBatch(store, 'ns');
  const owed = compactAfterBatch(store, 'ns'); // due ~400 ms from now
  await sleep(20);
  assert.equal(runs.length, 1, 'deferred, not run yet');
  const t = performance.now();
  await settleCompaction(store, 'ns');
  assert.equal(runs.length, 2, 'settled: the owed run happened, never dropped');
  assert.ok(performance.now() - t < 300, 'settling skipped the pause');
  await owed;
  await settleCompaction(store, 'ns'); // nothing owed: resolves at once
  assert.equal(runs.length, 2);
});

test('collections and stores are scheduled apart; a store without optimize is a no-op', async () => {
  const { store, runs } = timedStore(30);
  await Promise.all([compactAfterBatch(store, 'a'), compactAfterBatch(store, 'b')]);
  assert.equal(runs.length, 2);
  assert.ok(runs[1]!.start < runs[0]!.end, 'two collections compact side by side');
  await compactAfterBatch({} as VectorStore, 'a');
});
