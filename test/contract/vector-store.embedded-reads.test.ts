/**
 * The embedded store runs at most `maxConcurrentReads` reads at once (QUARRY_EMBEDDED_MAX_CONCURRENT_READS, default
 * twice the CPUs); the rest wait their turn in order and all are answered. Unbounded, a burst of searches ran side by
 * side inside LanceDB and each got slower (throughput 89 -> 63 searches/s and +1.9 GB at 512 in flight on 5,000
 * documents; gated at 4: 88/s, +34 MB), which is how the soak's backlog collapsed the engine. Counted on the store's
 * own search method, through the handle createVectorStore returns (the one every process uses).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { createVectorStore, vectorStoreConfigFromEnv } from '#engine/vector/create.ts';
import { RemoteVectorStore } from '#engine/vector/remote/client.ts';
import { serveVectorStore } from '#engine/vector/remote/serve.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-lance-reads-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a burst of 40 searches runs at most maxConcurrentReads at a time inside the store, and every one is answered', async () => {
  const config = vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_EMBEDDED_MAX_CONCURRENT_READS: '3' }, dir);
  assert.equal((config as { maxConcurrentReads?: number }).maxConcurrentReads, 3);
  const store = createVectorStore(config);
  await store.ensureCollection({ name: 'r', vectors: [{ name: 'v', size: 8, distance: 'cosine' }] });
  await store.upsert('r', Array.from({ length: 50 }, (_, i) => ({ id: `p${i}`, vectors: { v: Array.from({ length: 8 }, (_, j) => Math.sin(i + j)) }, payload: { i } })));
  const original = LanceVectorStore.prototype.search;
  let running = 0;
  let most = 0;
  LanceVectorStore.prototype.search = async function (this: LanceVectorStore, ...args: Parameters<typeof original>) {
    most = Math.max(most, ++running);
    try {
      await new Promise((r) => setTimeout(r, 5));
      return await original.apply(this, args);
    } finally {
      running--;
    }
  };
  try {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => store.search('r', { using: 'v', vector: Array.from({ length: 8 }, (_, j) => Math.cos(i + j)), limit: 5 })));
    assert.equal(most, 3, `${most} searches ran at once`);
    assert.ok(results.every((hits) => hits.length === 5), 'every search answered in full');
  } finally {
    LanceVectorStore.prototype.search = original;
    await store.close();
  }
});

test('QUARRY_EMBEDDED_MAX_CONCURRENT_READS must be a positive integer', () => {
  assert.throws(() => vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_EMBEDDED_MAX_CONCURRENT_READS: '0' }, dir), /QUARRY_EMBEDDED_MAX_CONCURRENT_READS='0' is not a positive integer/);
  assert.throws(() => createVectorStore({ kind: 'embedded', dataDir: path.join(dir, 'other'), maxConcurrentReads: 0 }), /maxConcurrentReads must be a positive integer/);
});

test('the served store reports the reads running and waiting behind the limit on /metrics, and both return to 0', async () => {
  const served = await serveVectorStore({ dataDir: path.join(dir, 'served'), host: '127.0.0.1', port: 0, metricsPort: 0, token: 't', env: { QUARRY_EMBEDDED_MAX_CONCURRENT_READS: '2' } });
  const client = new RemoteVectorStore({ url: served.url, token: 't' });
  const gauges = async () => {
    const text = await (await fetch(`http://127.0.0.1:${served.metricsPort}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    return { running: value('quarry_vector_store_reads_running'), waiting: value('quarry_vector_store_reads_waiting') };
  };
  const original = LanceVectorStore.prototype.search;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let entered = 0;
  try {
    await client.ensureCollection({ name: 'm', vectors: [{ name: 'v', size: 4, distance: 'cosine' }] });
    await client.upsert('m', Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, vectors: { v: [1, i, 0, 1] }, payload: {} })));
    LanceVectorStore.prototype.search = async function (this: LanceVectorStore, ...args: Parameters<typeof original>) {
      entered++;
      await held;
      return original.apply(this, args);
    };
    const burst = Promise.all(Array.from({ length: 7 }, () => client.search('m', { using: 'v', vector: [1, 1, 0, 1], limit: 3 })));
    const deadline = Date.now() + 10_000;
    let seen = await gauges();
    while ((seen.running !== 2 || seen.waiting !== 5) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      seen = await gauges();
    }
    assert.deepEqual(seen, { running: 2, waiting: 5 }, 'two reads run and five wait while the store is held');
    assert.equal(entered, 2, 'only two searches entered the store');
    release();
    assert.ok((await burst).every((hits) => hits.length === 3), 'every held search is answered');
    assert.deepEqual(await gauges(), { running: 0, waiting: 0 });
  } finally {
    release();
    LanceVectorStore.prototype.search = original;
    await client.close();
    await served.stop();
  }
});
