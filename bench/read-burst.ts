/**
 * `make bench-read-burst`: what a burst of concurrent searches does to the embedded store, with its read limit
 * (maxConcurrentReads, default 2 x CPUs) and without (the store before the limit). 5,000 SciFact abstracts with
 * clustered 384-d vectors, a payload index on collection_id and a full-text field, 40 single-point writes after the
 * compaction (fragments, as between ingestion batches); then bursts of 16, 128 and 512 searches started at once,
 * half dense and half BM25, each scoped by collection_id (as every retriever search is). Each variant runs in a
 * process of its own so one's freed memory does not hide the other's peak. Reports searches per second, p50 and
 * the peak RSS growth per burst, and the gated/unbounded ratios at 512 (the soak's collapse had 265 in flight).
 * Writes bench/results/read-burst.json. Sizes: BENCH_BURST_ROWS (default 5000).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVectorStore } from '#engine/vector/create.ts';
import { clusteredUnitVectors } from '#test/contract/vector-store.clustered.ts';
import { SHARED_DATASETS, percentile, round, writeResults } from './lib/results.ts';

const ROWS = Number(process.env.BENCH_BURST_ROWS ?? 5000);
const BURSTS = [16, 128, 512];
const D = 384;
const variant = process.argv[2];

interface BurstResult {
  burst: number;
  qps: number;
  p50_ms: number;
  peak_rss_growth_mb: number;
}

async function measure(limit: number | undefined): Promise<BurstResult[]> {
  const corpusFile = path.join(SHARED_DATASETS, 'scifact', 'corpus.jsonl');
  const texts = readFileSync(corpusFile, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text);
  const { data } = clusteredUnitVectors(ROWS + 600, D, 42);
  const vector = (i: number) => data.subarray(i * D, (i + 1) * D);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-bench-burst-'));
  const store = createVectorStore({ kind: 'embedded', dataDir: dir, ...(limit ? { maxConcurrentReads: limit } : {}) });
  try {
    await store.ensureCollection({ name: 'b', vectors: [{ name: 'v', size: D, distance: 'cosine' }], lexicalFields: ['text'] });
    const point = (i: number) => ({ id: `d${i}`, vectors: { v: vector(i) }, payload: { collection_id: 'abstracts', n: i }, text: { text: texts[i % texts.length]! } });
    for (let i = 0; i < ROWS; i += 500) await store.upsert('b', Array.from({ length: Math.min(500, ROWS - i) }, (_, j) => point(i + j)));
    await store.optimize!('b');
    for (let i = 0; i < 40; i++) await store.upsert('b', [point(ROWS + i)]);
    const filter = { field: 'collection_id', value: 'abstracts' };
    const words = texts.slice(0, 200).map((t) => t.split(/\s+/).slice(3, 6).join(' '));
    const one = (i: number) =>
      i % 2
        ? store.search('b', { using: 'v', vector: vector(ROWS + 40 + (i % 500)), limit: 50, filter })
        : store.search('b', { using: 'text', text: words[i % words.length]!, limit: 50, filter });
    for (let i = 0; i < 40; i++) await one(i); // warm-up: indexes and caches loaded
    const out: BurstResult[] = [];
    for (const burst of BURSTS) {
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
      const latencies: number[] = [];
      const t = performance.now();
      await Promise.all(Array.from({ length: burst }, async (_, i) => {
        const s = performance.now();
        await one(i);
        latencies.push(performance.now() - s);
      }));
      const seconds = (performance.now() - t) / 1000;
      clearInterval(sampler);
      out.push({ burst, qps: Math.round(burst / seconds), p50_ms: Math.round(percentile(latencies, 50)), peak_rss_growth_mb: Math.round((peak - before) / 2 ** 20) });
    }
    return out;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (variant) {
  process.stdout.write(`${JSON.stringify(await measure(variant === 'gated' ? undefined : 1_000_000))}\n`);
} else {
  if (!existsSync(path.join(SHARED_DATASETS, 'scifact', 'corpus.jsonl'))) {
    const msg = `[bench] ${SHARED_DATASETS}/scifact is absent`;
    if (process.env.CI === 'true') throw new Error(msg);
    console.log(`${msg}; skipping`);
    process.exit(0);
  }
  const self = fileURLToPath(import.meta.url);
  const run = (v: string): BurstResult[] => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', self, v], { env: { ...process.env, LOG_LEVEL: 'warn' }, encoding: 'utf8', maxBuffer: 2 ** 24 }).trim().split('\n').pop()!) as BurstResult[];
  const unbounded = run('unbounded');
  const gated = run('gated');
  const metrics: Record<string, number> = { max_concurrent_reads: 2 * os.availableParallelism() };
  for (const [name, rows] of [['unbounded', unbounded], ['gated', gated]] as const) {
    for (const r of rows) {
      metrics[`qps_${name}_${r.burst}`] = r.qps;
      metrics[`p50_ms_${name}_${r.burst}`] = r.p50_ms;
      metrics[`peak_rss_growth_mb_${name}_${r.burst}`] = r.peak_rss_growth_mb;
    }
  }
  const at = (rows: BurstResult[]) => rows.find((r) => r.burst === 512)!;
  metrics.qps_gated_over_unbounded_512 = round(at(gated).qps / at(unbounded).qps, 2);
  metrics.rss_growth_gated_over_unbounded_512 = round(at(gated).peak_rss_growth_mb / Math.max(1, at(unbounded).peak_rss_growth_mb), 2);
  writeResults('read-burst', metrics, { rows: ROWS, bursts: BURSTS });
}
