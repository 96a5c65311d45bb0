/**
 * `make bench-lexical`: BM25 searches on the embedded store, side by side in one run, answered by its in-memory
 * index (the default: bm25.ts beside the table) and by LanceDB's full-text index on the same table (memoryIndex off).
 * Corpus: SciFact's documents padded to 20,000 with unjudged ones (bench/lib/distractors.ts); queries: SciFact's
 * claims, top 10, one after another, unfiltered and under a keyword filter keeping half the rows. Also measured: the
 * exact store as the scoring oracle (the in-memory index must return its ids and scores to the last bit), nDCG@10
 * of both on the judged queries, the time to open a table (the in-memory index analyzes every stored text) and the
 * index's memory. Writes bench/results/lexical.json. BENCH_LEXICAL_DOCS sets the corpus size (default 20000).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FilterNode } from '#core/ports/filter.ts';
import type { Point, SearchRequest, VectorStore } from '#core/ports/vector-store.ts';
import { Bm25Slots } from '#engine/vector/bm25.ts';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { distractors } from './lib/distractors.ts';
import { ndcg10 } from './lib/ndcg.ts';
import { SHARED_DATASETS, percentile, readJsonl, round, writeResults } from './lib/results.ts';

const DOCS = Number(process.env.BENCH_LEXICAL_DOCS ?? 20_000);
const K = 10;
const C = 'lexical';
const HALF: FilterNode = { field: 'half', operator: 'eq', value: 'a' };
const now = () => performance.now();

const scifact = path.join(SHARED_DATASETS, 'scifact');
if (!existsSync(path.join(scifact, 'corpus.jsonl'))) {
  if (process.env.CI === 'true') throw new Error(`${scifact} missing`);
  console.log(`[bench] ${scifact} is absent; skipping the lexical bench`);
  process.exit(0);
}
const corpus = readJsonl<{ _id: string; title?: string; text?: string }>(path.join(scifact, 'corpus.jsonl')).map((d) => ({ id: String(d._id), text: `${d.title ?? ''}\n${d.text ?? ''}`.trim() }));
const pad = distractors(SHARED_DATASETS, Math.max(0, DOCS - corpus.length));
const docs = [...corpus, ...pad.docs].slice(0, DOCS);
const queries = readJsonl<{ _id: string; text: string }>(path.join(scifact, 'queries.jsonl')).map((q) => ({ id: String(q._id), text: q.text }));
const qrels = new Map<string, Map<string, number>>();
for (const line of readFileSync(path.join(scifact, 'qrels.tsv'), 'utf8').split('\n').slice(1)) {
  const [qid, did, score] = line.trim().split('\t');
  if (qid && did && Number(score) > 0) qrels.set(qid, (qrels.get(qid) ?? new Map<string, number>()).set(did, Number(score)));
}
console.log(`[bench] ${docs.length} documents (${JSON.stringify(pad.sources)} distractors), ${queries.length} queries, ${qrels.size} judged`);

const metrics: Record<string, number> = { documents: docs.length, queries: queries.length };
const points: Point[] = docs.map((d, i) => ({ id: d.id, vectors: { v: [Math.cos(i), Math.sin(i)] }, payload: { half: i % 2 ? 'a' : 'b' }, text: { body: d.text } }));

async function load(store: VectorStore): Promise<void> {
  await store.ensureCollection({ name: C, vectors: [{ name: 'v', size: 2, distance: 'cosine' }], lexicalFields: ['body'], payloadIndexes: [{ field: 'half', type: 'keyword' }] });
  for (let i = 0; i < points.length; i += 500) await store.upsert(C, points.slice(i, i + 500));
}

type Hits = { id: string; score: number }[];
/** Every query once (one warm-up pass first), its hits and latencies. */
async function run(store: VectorStore, filter?: FilterNode): Promise<{ hits: Hits[]; ms: number[] }> {
  const req = (text: string): SearchRequest => ({ using: 'body', text, limit: K, withPayload: true, ...(filter ? { filter } : {}) });
  for (const q of queries.slice(0, 50)) await store.search(C, req(q.text));
  const hits: Hits[] = [];
  const ms: number[] = [];
  for (const q of queries) {
    const t = now();
    const got = await store.search(C, req(q.text));
    ms.push(now() - t);
    hits.push(got.map((h) => ({ id: h.id, score: h.score })));
  }
  return { hits, ms };
}

function record(label: string, r: { hits: Hits[]; ms: number[] }): void {
  metrics[`p50_ms_${label}`] = round(percentile(r.ms, 50));
  metrics[`p99_ms_${label}`] = round(percentile(r.ms, 99));
  const judged = queries.map((q, i) => [q, i] as const).filter(([q]) => qrels.has(q.id));
  metrics[`ndcg10_${label}`] = round(judged.reduce((s, [q, i]) => s + ndcg10(r.hits[i]!.map((h) => h.id), qrels.get(q.id)!), 0) / judged.length, 4);
  console.log(`[bench] ${label}: p50 ${metrics[`p50_ms_${label}`]} ms, p99 ${metrics[`p99_ms_${label}`]} ms, nDCG@10 ${metrics[`ndcg10_${label}`]}`);
}

const overlap = (a: Hits[], b: Hits[]) => a.reduce((s, h, i) => s + h.filter((x) => b[i]!.some((y) => y.id === x.id)).length / Math.max(1, Math.min(K, h.length, b[i]!.length)), 0) / a.length;
const same = (a: Hits[], b: Hits[]) => a.filter((h, i) => JSON.stringify(h) === JSON.stringify(b[i])).length / a.length;

/** Heap and array-buffer bytes held by an in-memory BM25 index of the corpus, measured after full collections. */
function indexBytes(): number {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const used = () => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  const index = new Bm25Slots();
  docs.forEach((d, slot) => index.set(slot, d.text));
  const bytes = used() - before;
  assert.equal(index.size, docs.length);
  return bytes;
}

const truths: Record<string, Hits[]> = {};
const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-bench-lexical-'));
try {
  metrics.index_bytes_per_document = Math.round(indexBytes() / docs.length);
  const oracle = new ExactVectorStore();
  await load(oracle);
  let t = now();
  const memory = new LanceVectorStore({ dataDir: dir });
  await load(memory);
  metrics.load_s_embedded = round((now() - t) / 1000, 2);
  for (const [label, filter] of [['', undefined], ['_filtered', HALF]] as const) {
    const truth = await run(oracle, filter);
    const inMemory = await run(memory, filter);
    record(`memory${label}`, inMemory);
    metrics[`same_as_exact_memory${label}`] = round(same(inMemory.hits, truth.hits), 4);
    assert.equal(metrics[`same_as_exact_memory${label}`], 1, 'the in-memory index returns the exact store ids and scores');
    truths[label] = truth.hits;
  }
  await memory.close();
  t = now();
  const reopened = new LanceVectorStore({ dataDir: dir });
  assert.equal((await reopened.memoryIndexState(C))?.rows, docs.length);
  metrics.memory_index_open_s = round((now() - t) / 1000, 2);
  await reopened.close();
  const lance = new LanceVectorStore({ dataDir: dir, memoryIndex: false }); // builds its full-text index on the first search
  for (const [label, filter] of [['', undefined], ['_filtered', HALF]] as const) {
    const r = await run(lance, filter);
    record(`lance${label}`, r);
    metrics[`overlap10_lance_vs_exact${label}`] = round(overlap(r.hits, truths[label]!), 4);
  }
  await lance.close();
  for (const label of ['', '_filtered']) metrics[`p50_lance_over_memory${label}`] = round(metrics[`p50_ms_lance${label}`]! / metrics[`p50_ms_memory${label}`]!, 1);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

writeResults('lexical', metrics, {
  corpus: `SciFact's ${corpus.length} documents padded to ${docs.length} (distractors: ${JSON.stringify(pad.sources)}); SciFact's ${queries.length} claims as queries (${qrels.size} judged), top ${K}, one after another`,
  filtered: 'a keyword filter (payload index) keeping half the rows',
  memory: "the embedded store's default: BM25 beside the table (engine/src/vector/bm25.ts, the exact store's scoring), filters on indexed fields as bitmaps",
  lance: "LanceDB's full-text index on the same table (memoryIndex off), English analyzer",
  loadavg_end: os.loadavg().map((x) => round(x, 2)),
});
