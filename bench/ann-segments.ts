/**
 * `make bench-ann-segments`: search latency on the embedded store under steady ingestion above the ANN threshold,
 * with the store's segment bound (maxIndexSegments, default 4) and without it (what LanceDB does alone: every
 * compaction folds the new rows into the index as one more segment, and every search walks all of them).
 * One store after the other in one process, each loaded with 20,000 clustered 384-d vectors and indexed (one
 * segment), then BENCH_SEGMENTS_BATCHES (default 60) ingestion batches of 20 rows, each followed by the compaction
 * ingestion runs after a finished batch (store.optimize), one batch a second as a busy namespace finishes them, and
 * 20 searches. Reports search p50 over the first and last 10 batches, the segment count, the time the compactions
 * took in the foreground, the process CPU time of the whole phase (merges run in the background), and the ratios
 * bounded/unbounded. Writes bench/results/ann-segments.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createVectorStore } from '#engine/vector/create.ts';
import { clusteredUnitVectors } from '#test/contract/vector-store.clustered.ts';
import { annSegments } from '#test/contract/lance-ann-segments.ts';
import { percentile, writeResults, round } from './lib/results.ts';

const N = Number(process.env.BENCH_SEGMENTS_ROWS ?? 20_000);
const BATCHES = Number(process.env.BENCH_SEGMENTS_BATCHES ?? 60);
const BATCH = 20;
const D = 384;

const { data } = clusteredUnitVectors(N + BATCHES * BATCH, D, 42);
const { data: queries } = clusteredUnitVectors(500, D, 43);
const vector = (i: number) => data.subarray(i * D, (i + 1) * D);
const point = (i: number) => ({ id: `p${i}`, vectors: { v: vector(i) }, payload: { collection_id: 'c' } });

interface Outcome {
  latencies: number[][];
  segments: number[];
  foregroundMs: number;
  cpuMs: number;
}

/** Waits until the index is one segment (the merge a bulk load leaves owed runs by itself), at most a minute. */
async function settled(dir: string): Promise<void> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(500)) if ((await annSegments(dir, 'b')) === 1) return;
  throw new Error('the index did not settle to one segment within a minute');
}

async function run(name: 'bounded' | 'unbounded'): Promise<Outcome> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `quarry-bench-segments-${name}-`));
  // Unbounded: a segment bound no run reaches (the batches' rows stay far below a tenth of the trained rows).
  // LanceDB's own index (memoryIndex off): the in-memory index would answer these searches without it.
  const store = createVectorStore({ kind: 'embedded', dataDir: dir, memoryIndex: false, ...(name === 'unbounded' ? { maxIndexSegments: 1_000_000 } : {}) });
  const out: Outcome = { latencies: [], segments: [], foregroundMs: 0, cpuMs: 0 };
  try {
    await store.ensureCollection({ name: 'b', vectors: [{ name: 'v', size: D, distance: 'cosine' }] });
    for (let i = 0; i < N; i += 5000) await store.upsert('b', Array.from({ length: Math.min(5000, N - i) }, (_, j) => point(i + j)));
    await store.optimize!('b');
    await settled(dir);
    const cpu0 = process.cpuUsage();
    for (let b = 0; b < BATCHES; b++) {
      const cycle = Date.now();
      await store.upsert('b', Array.from({ length: BATCH }, (_, j) => point(N + b * BATCH + j)));
      const t0 = performance.now();
      await store.optimize!('b');
      out.foregroundMs += performance.now() - t0;
      const lat: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t1 = performance.now();
        await store.search('b', { using: 'v', vector: queries.subarray(((b * 20 + i) % 500) * D, (((b * 20 + i) % 500) + 1) * D), limit: 10, withPayload: false });
        lat.push(performance.now() - t1);
      }
      out.latencies.push(lat);
      out.segments.push(await annSegments(dir, 'b'));
      if (b % 10 === 9) console.log(`[bench] ${name} batch ${b + 1}: ${out.segments.at(-1)} segments, p50 ${round(percentile(lat, 50), 2)} ms`);
      await sleep(Math.max(0, 1000 - (Date.now() - cycle)));
    }
    await store.close(); // waits for a merge in flight: its CPU counts
    const cpu = process.cpuUsage(cpu0);
    out.cpuMs = (cpu.user + cpu.system) / 1000;
    return out;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const outcomes = { bounded: await run('bounded'), unbounded: await run('unbounded') };
const metrics: Record<string, number> = { rows: N, batches: BATCHES, batch_rows: BATCH };
for (const [name, o] of Object.entries(outcomes)) {
  metrics[`p50_ms_${name}_end`] = round(percentile(o.latencies.slice(-10).flat(), 50));
  metrics[`p50_ms_${name}_first10`] = round(percentile(o.latencies.slice(0, 10).flat(), 50));
  metrics[`segments_${name}_end`] = o.segments.at(-1)!;
  metrics[`segments_${name}_max`] = Math.max(...o.segments);
  metrics[`compaction_s_${name}`] = round(o.foregroundMs / 1000, 1);
  metrics[`cpu_s_${name}`] = round(o.cpuMs / 1000, 1);
}
metrics.p50_end_bounded_over_unbounded = round(metrics.p50_ms_bounded_end! / metrics.p50_ms_unbounded_end!);
metrics.cpu_bounded_over_unbounded = round(metrics.cpu_s_bounded! / metrics.cpu_s_unbounded!);
writeResults('ann-segments', metrics, { dims: D, segments_series: { bounded: outcomes.bounded.segments, unbounded: outcomes.unbounded.segments } });
