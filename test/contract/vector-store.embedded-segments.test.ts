/**
 * The embedded store keeps its ANN index to a few segments under steady ingestion. LanceDB folds the rows written
 * since its last optimize into the index as a new segment (a delta), and every search walks every segment: after 80
 * ingestion batches on 20,000 × 384 the index had 81 segments and searches took 59 ms instead of 2.3 ms
 * (bench-ann-segments). The store rebuilds the index as one segment past maxIndexSegments (and when the deltas hold
 * a tenth of the trained rows), spaced by four times the last build's duration; the test waits out that spacing so
 * every round sees the rule, and reads the segment count from LanceDB's own index statistics. A merge the spacing
 * holds back runs by itself when the spacing has passed (a bulk load's last deltas, with nothing written after).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { createVectorStore } from '#engine/vector/create.ts';
import { annSegments as segmentsIn } from './lance-ann-segments.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-lance-segments-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const D = 16;
const vec = (i: number) => Float32Array.from({ length: D }, (_, j) => Math.sin(i * 31 + j) + (j === i % D ? 2 : 0));
const annSegments = (table: string) => segmentsIn(dir, table);
const point = (i: number) => ({ id: `p${i}`, vectors: { v: vec(i) }, payload: { i } });

/**
 * The table's segment count once it is within `bound`, or after 15 s. A merge waits four times the last build's
 * duration, which on a loaded machine can outlast optimizeAndSettle's pause; without the bound the count only grows.
 */
async function segmentsWithin(table: string, bound: number): Promise<number> {
  for (const deadline = Date.now() + 15_000; ; await sleep(200)) {
    const n = await annSegments(table);
    if (n <= bound || Date.now() > deadline) return n;
  }
}

/** store.optimize, then a pause of 4.5x its duration: any rebuild in it is then far enough behind for the next. */
async function optimizeAndSettle(store: ReturnType<typeof createVectorStore>, name: string): Promise<void> {
  const t0 = Date.now();
  await store.optimize!(name);
  await sleep(Math.ceil(4.5 * (Date.now() - t0)) + 20);
}

test('twelve ingestion batches (each compacted) leave the ANN index at most maxIndexSegments segments, and every row searchable', async () => {
  const store = createVectorStore({ kind: 'embedded', dataDir: path.join(dir), memoryIndex: false, indexThreshold: 300, maxIndexSegments: 2 });
  try {
    await store.ensureCollection({ name: 'steady', vectors: [{ name: 'v', size: D, distance: 'cosine' }] });
    await store.upsert('steady', Array.from({ length: 400 }, (_, i) => point(i)));
    await optimizeAndSettle(store, 'steady');
    assert.equal(await annSegments('steady'), 1, 'the first build is one segment');
    const seen: number[] = [];
    let n = 400;
    for (let round = 0; round < 12; round++) {
      await store.upsert('steady', Array.from({ length: 3 }, () => point(n++)));
      await optimizeAndSettle(store, 'steady');
      seen.push(await segmentsWithin('steady', 2));
    }
    assert.ok(Math.max(...seen) <= 2, `segments after each batch: ${seen.join(', ')} (LanceDB alone: 2, 3, ... 13)`);
    assert.ok(seen.includes(2), `deltas do accumulate up to the bound: ${seen.join(', ')}`);
    assert.equal(await store.count('steady', {}), 436);
    const last = await store.search('steady', { using: 'v', vector: vec(n - 1), limit: 1 });
    assert.equal(last[0]?.id, `p${n - 1}`, 'a row of the last batch is found by its own vector');
  } finally {
    await store.close();
  }
});

test('a bulk load whose deltas hold a tenth of the trained rows is merged once the spacing passes, with no further writes or calls', async () => {
  const store = createVectorStore({ kind: 'embedded', dataDir: path.join(dir), memoryIndex: false, indexThreshold: 300, maxIndexSegments: 4 });
  try {
    await store.ensureCollection({ name: 'bulk', vectors: [{ name: 'v', size: D, distance: 'cosine' }] });
    await store.upsert('bulk', Array.from({ length: 400 }, (_, i) => point(i)));
    await store.optimize!('bulk');
    // Right after the first build: the merge the 60-row delta calls for must wait for the spacing.
    await store.upsert('bulk', Array.from({ length: 60 }, (_, i) => point(400 + i)));
    await store.optimize!('bulk');
    assert.equal(await annSegments('bulk'), 2, '60 new rows became one delta, not merged at once');
    const deadline = Date.now() + 20_000;
    let segments = 2;
    while (segments > 1 && Date.now() < deadline) {
      await sleep(100);
      segments = await annSegments('bulk');
    }
    assert.equal(segments, 1, 'the owed merge ran by itself (60 >= 10% of 400 trained rows)');
    const hit = await store.search('bulk', { using: 'v', vector: vec(455), limit: 1 });
    assert.equal(hit[0]?.id, 'p455');
  } finally {
    await store.close();
  }
});
