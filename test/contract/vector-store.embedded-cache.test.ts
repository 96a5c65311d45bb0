/**
 * The embedded store bounds LanceDB's caches (indexCacheMb, metadataCacheMb; QUARRY_EMBEDDED_*_CACHE_MB). LanceDB's
 * defaults (6 GiB index, 1 GiB metadata) let an engine process grow for hours: the soak bench saw RSS rise with
 * every table version written. The same data and searches run on a store with 1 MiB caches and on one with the
 * defaults: the first stays within its bound and still answers, the second holds more than that bound.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Point } from '#core/ports/vector-store.ts';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { EMBEDDED_DEFAULTS } from '#engine/vector/embedded/lance-collection.ts';
import { createVectorStore, vectorStoreConfigFromEnv } from '#engine/vector/create.ts';
import { clusteredUnitVectors } from './vector-store.clustered.ts';

const N = 6000;
const D = 384;
const { data } = clusteredUnitVectors(N, D, 5);
const { data: queries } = clusteredUnitVectors(20, D, 6);
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function loadAndSearch(store: LanceVectorStore): Promise<number> {
  await store.ensureCollection({ name: 'c', vectors: [{ name: 'emb', size: D, distance: 'cosine' }], lexicalFields: ['text'] });
  for (let i = 0; i < N; i += 500) {
    const points: Point[] = [];
    for (let j = i; j < i + 500; j++) points.push({ id: `p${j}`, vectors: { emb: data.subarray(j * D, (j + 1) * D) }, payload: { n: j }, text: { text: `passage ${j} about topic ${j % 17}` } });
    await store.upsert('c', points);
  }
  await store.optimize('c');
  assert.deepEqual(await store.annIndexedVectors('c'), ['emb']);
  let hits = 0;
  for (let q = 0; q < 20; q++) {
    hits += (await store.search('c', { using: 'emb', vector: queries.subarray(q * D, (q + 1) * D), limit: 10 })).length;
    hits += (await store.search('c', { using: 'text', text: `topic ${q % 17}`, limit: 10 } as never)).length;
  }
  return hits;
}

test('LanceDB caches stay within the configured bound, and LanceDB’s defaults would have held more', async () => {
  const mk = (env: Record<string, string>) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-cache-'));
    dirs.push(dir);
    // Dense searches in LanceDB (not the in-memory index), so they fill its caches.
    return createVectorStore(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_EMBEDDED_INDEX_THRESHOLD: '1000', QUARRY_EMBEDDED_MEMORY_INDEX: 'false', ...env }, dir)) as LanceVectorStore;
  };
  const bounded = mk({ QUARRY_EMBEDDED_INDEX_CACHE_MB: '1', QUARRY_EMBEDDED_METADATA_CACHE_MB: '1' });
  const roomy = mk({ QUARRY_EMBEDDED_INDEX_CACHE_MB: '6144', QUARRY_EMBEDDED_METADATA_CACHE_MB: '1024' });
  try {
    assert.equal(await loadAndSearch(bounded), 400, 'every search answered with 1 MiB caches');
    assert.equal(await loadAndSearch(roomy), 400);
    const limit = 2 * 2 ** 20;
    console.log(`cache bytes: bounded ${bounded.cacheBytes()}, LanceDB defaults ${roomy.cacheBytes()}`);
    assert.ok(bounded.cacheBytes() <= limit * 1.1, `bounded caches hold ${bounded.cacheBytes()} bytes > ${limit}`);
    assert.ok(roomy.cacheBytes() > limit, `with LanceDB's defaults the caches hold ${roomy.cacheBytes()} bytes: the bound would not matter here`);
  } finally {
    await bounded.close();
    await roomy.close();
  }
});

/**
 * Every upsert commits a table version whose manifest and fragment metadata enter LanceDB's metadata cache, and a
 * superseded version is never read again: with a roomy bound the cache grows by ~100 KB per write (the soak bench's
 * steady RSS climb). The default bound (16 MiB) keeps 300 single-row writes (~27 MB cached under a 128 MiB bound) within 20 MiB.
 */
test('with the default bounds, single-row writes do not grow the caches past the metadata bound', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-cache-'));
  dirs.push(dir);
  const store = createVectorStore(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded' }, dir)) as LanceVectorStore;
  try {
    await store.ensureCollection({ name: 'w', vectors: [{ name: 'emb', size: D, distance: 'cosine' }], lexicalFields: ['text'] });
    const writes = 300;
    for (let j = 0; j < writes; j++) {
      await store.upsert('w', [{ id: `p${j}`, vectors: { emb: data.subarray(j * D, (j + 1) * D) }, payload: { n: j }, text: { text: `passage ${j} about topic ${j % 17}` } }]);
      if (j % 25 === 0) assert.equal((await store.search('w', { using: 'emb', vector: queries.subarray(0, D), limit: 5 })).length, Math.min(5, j + 1));
    }
    // 16 MiB metadata plus a little index data; with the former 128 MiB bound these writes left ~27 MB cached.
    const bound = 20 * 2 ** 20;
    assert.equal(EMBEDDED_DEFAULTS.metadataCacheMb, 16);
    console.log(`cache bytes after ${writes} single-row writes: ${store.cacheBytes()}`);
    assert.ok(store.cacheBytes() <= bound, `after ${writes} single-row writes the caches hold ${store.cacheBytes()} bytes > ${bound}`);
  } finally {
    await store.close();
  }
});

/**
 * Every compaction folds new rows into the full-text index as new index files, and LanceDB's index cache keeps the
 * superseded ones until its bound (512 MiB by default) evicts them: +4.8 MB per compaction on 5,000 documents, the
 * soak bench's RSS climb under steady ingestion. The store renews its LanceDB session once the cache holds more
 * than twice the live indexes (at least 32 MiB more); here 30 rounds of (20 new documents, compaction, searches)
 * would leave ~140 MB cached without it.
 */
test('compactions under steady ingestion do not pile superseded index versions into the cache', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-cache-'));
  dirs.push(dir);
  const store = createVectorStore(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded' }, dir)) as LanceVectorStore;
  // Abstract-like text: 150 words from a 30,000-word vocabulary with a Zipf-like spread (deterministic).
  const word = (n: number, i: number) => `w${Math.floor(30_000 ** (((n * 7919 + i * 104_729) % 10_007) / 10_007))}`;
  const text = (n: number) => `marker${n} ${Array.from({ length: 150 }, (_, i) => word(n, i)).join(' ')}`;
  const point = (n: number): Point => ({ id: `d${n}`, vectors: { emb: data.subarray((n % N) * D, (n % N + 1) * D) }, payload: {}, text: { text: text(n) } });
  try {
    await store.ensureCollection({ name: 'docs', vectors: [{ name: 'emb', size: D, distance: 'cosine' }], lexicalFields: ['text'] });
    for (let i = 0; i < 5000; i += 500) await store.upsert('docs', Array.from({ length: 500 }, (_, j) => point(i + j)));
    await store.optimize('docs');
    let n = 5000;
    let peak = 0;
    for (let round = 0; round < 30; round++) {
      await store.upsert('docs', Array.from({ length: 20 }, () => point(n++)));
      await store.optimize('docs');
      const hits = await store.search('docs', { using: 'text', text: `marker${n - 1}`, limit: 10 } as never);
      assert.equal(hits[0]?.id, `d${n - 1}`, `round ${round}: the newest document is found by its own words`);
      for (let q = 0; q < 5; q++) assert.ok((await store.search('docs', { using: 'text', text: text(n - 20 + q).split(' ').slice(1, 9).join(' '), limit: 10 } as never)).length > 0);
      peak = Math.max(peak, store.cacheBytes());
    }
    console.log(`index cache after 30 compactions: ${store.cacheBytes()} bytes, peak ${peak}`);
    assert.ok(peak < 80 * 2 ** 20, `the cache reached ${peak} bytes: superseded index versions pile up`);
  } finally {
    await store.close();
  }
});

test('a cache size that is not a positive integer is refused, naming the setting', () => {
  assert.throws(() => new LanceVectorStore({ dataDir: os.tmpdir(), indexCacheMb: 0 }), /indexCacheMb must be a positive integer/);
  assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_EMBEDDED_METADATA_CACHE_MB: 'lots' }, os.tmpdir()), /QUARRY_EMBEDDED_METADATA_CACHE_MB/);
});
