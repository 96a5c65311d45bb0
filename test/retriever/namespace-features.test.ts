/** namespaceFeatureResolver maps feature URIs of declared collections to vectors, lexical fields and models. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { namespaceFeatureResolver } from '#engine/retriever/namespace-features.ts';
import { getExtractor } from '#engine/extractors/registry.ts';
import type { CollectionPlan } from '#engine/ingestion/collections.ts';
import type { QuarryError } from '#core/lib/errors.ts';

const plan = (name: string, id: string): CollectionPlan => ({ name, source: { type: 'bucket', buckets: ['b'] }, extractor: { id, params: {} }, enabled: true });

test('resolves quarry:// and mixpeek:// URIs, bm25, unknown features and collections; signature follows ingestion', async () => {
  const store = new ExactVectorStore();
  const text = getExtractor('text_extractor@v1')!.vectors({})[0]!;
  await store.ensureCollection({ name: 'ns', vectors: [{ name: text.name, size: text.dimensions, distance: 'cosine' }] });
  let clock = 0;
  const r = namespaceFeatureResolver(store, { storeCollection: async () => 'ns', collections: async () => [plan('docs', 'text_extractor@v1'), plan('pics', 'image_extractor@v1')] }, { now: () => clock });
  const f = await r.resolve(text.featureUri, ['docs']);
  assert.equal(f.using, text.name);
  assert.equal(f.model, text.model);
  assert.deepEqual(f.filter, { field: 'collection_id', operator: 'in', value: ['docs'] });
  const m = await r.resolve(text.featureUri.replace('quarry://', 'mixpeek://'), []);
  assert.equal(m.using, text.name);
  assert.deepEqual(m.filter, { field: 'collection_id', operator: 'in', value: ['docs'] });
  const lex = await r.resolve('quarry://text_extractor@v1/bm25', ['docs']);
  assert.equal(lex.lexical, true);
  await assert.rejects(r.resolve('quarry://text_extractor@v1/nope', ['docs']), (e: QuarryError) => e.status === 400 && /not exposed/.test(e.message));
  await assert.rejects(r.resolve(text.featureUri, ['missing']), (e: QuarryError) => e.status === 404);
  await assert.rejects(r.resolve('not a uri', ['docs']), (e: QuarryError) => e.status === 400);
  const before = await r.indexSignature!(['docs']);
  await store.upsert('ns', [{ id: 'a', vectors: { [text.name]: new Array(text.dimensions).fill(0.1) }, payload: { collection_id: 'docs' } }]);
  // A store without a content version: the count stands for the contents for the TTL (1 s by default), then is re-read.
  assert.equal(await r.indexSignature!(['docs']), before);
  clock += 1000;
  assert.notEqual(await r.indexSignature!(['docs']), before);
});

test('embedded store: the signature follows the table version at once (no TTL); optimize compacts per-document fragments', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-sig-'));
  // LanceDB's own upkeep: with the in-memory index on, optimize() leaves compaction to the write-count trigger below.
  const store = new LanceVectorStore({ dataDir: dir, memoryIndex: false });
  try {
    const text = getExtractor('text_extractor@v1')!.vectors({})[0]!;
    await store.ensureCollection({ name: 'ns', vectors: [{ name: text.name, size: text.dimensions, distance: 'cosine' }], lexicalFields: ['text'] });
    let counted = 0;
    const counting = Object.assign(Object.create(store) as LanceVectorStore, {
      count: (...a: Parameters<LanceVectorStore['count']>) => {
        counted++;
        return store.count(...a);
      },
    });
    const r = namespaceFeatureResolver(counting, { storeCollection: async () => 'ns', collections: async () => [plan('docs', 'text_extractor@v1')] });
    const sigs = [await r.indexSignature!(['docs'])];
    assert.equal(await r.indexSignature!(['docs']), sigs[0], 'no write, same signature');
    for (let i = 0; i < 12; i++) {
      const v = new Array(text.dimensions).fill(0).map((_, j) => (j === i ? 1 : 0.01));
      await store.upsert('ns', [{ id: `p${i}`, vectors: { [text.name]: v }, payload: { collection_id: i % 2 ? 'docs' : 'other', n: i }, text: { text: `document number ${i}` } }]);
      sigs.push(await r.indexSignature!(['docs']));
    }
    assert.equal(new Set(sigs).size, sigs.length, 'every write changes the signature immediately');
    assert.equal(counted, 0, 'the embedded store is never counted for a signature');

    const db = await lancedb.connect(dir);
    const fragments = async () => (await (await db.openTable('ns')).stats()).fragmentStats.numFragments;
    assert.ok((await fragments()) >= 12, 'one fragment per upsert call before optimize');
    await store.optimize('ns');
    assert.equal(await fragments(), 1, 'optimize compacts small tables too');
    // The implicitly promoted collection_id still scopes searches and counts correctly after compaction.
    assert.equal(await store.count('ns', { field: 'collection_id', operator: 'in', value: ['docs'] }), 6);
    const hits = await store.search('ns', { using: 'text', text: 'document', limit: 20, filter: { field: 'collection_id', operator: 'eq', value: 'other' } });
    assert.deepEqual(hits.map((h) => h.payload!.n).sort((a, b) => Number(a) - Number(b)), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual((await store.describeCollection('ns'))?.payloadIndexes ?? [], [], 'implicit indexes are not part of the spec');
    db.close();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('embedded store: writes alone trigger compaction (an ingestion with no searches does not pile up fragments)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-compact-'));
  const store = new LanceVectorStore({ dataDir: dir });
  try {
    await store.ensureCollection({ name: 'ns', vectors: [{ name: 'v', size: 4, distance: 'cosine' }] });
    const writes = 300; // past the 256-write compaction trigger, one fragment per call
    for (let i = 0; i < writes; i++) await store.upsert('ns', [{ id: `p${i}`, vectors: { v: [1, i % 7, 0.5, 0.1] }, payload: { n: i } }]);
    await store.close(); // waits for the background maintenance the writes started
    const db = await lancedb.connect(dir);
    const stats = (await (await db.openTable('ns')).stats()).fragmentStats;
    assert.ok(stats.numFragments < writes / 2, `compacted without any search or explicit optimize (fragments: ${stats.numFragments})`);
    assert.equal(await (await db.openTable('ns')).countRows(), writes, 'no row lost by compaction');
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
