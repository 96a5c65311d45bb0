/**
 * The embedded store upgrades a BM25 index built by an earlier version (no stemming, no stop words): on first
 * lexical search it is rebuilt from the stored text with the English analyzer, so stems match without re-ingesting.
 * (The in-memory index analyzes the stored text itself when a collection opens; this is the LanceDB path, which
 * answers lexical searches that filter on fields without a payload index.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as lancedb from '@lancedb/lancedb';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { textColumn } from '#engine/vector/embedded/columns.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-lance-upgrade-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a BM25 index with an older analyzer is rebuilt with stemming and stop words', async () => {
  const first = new LanceVectorStore({ dataDir: dir });
  await first.ensureCollection({ name: 'docs', vectors: [{ name: 'v', size: 2, distance: 'cosine' }], lexicalFields: ['body'] });
  await first.upsert('docs', [
    { id: 'a', vectors: { v: [1, 0] }, payload: {}, text: { body: 'Studies of running athletes' } },
    { id: 'b', vectors: { v: [0, 1] }, payload: {}, text: { body: 'unrelated words only' } },
  ]);
  await first.close();

  // What an earlier version left on disk: a lower-casing-only FTS index under LanceDB's default name.
  const db = await lancedb.connect(dir);
  const table = await db.openTable('docs');
  const col = textColumn('body');
  for (const i of await table.listIndices()) if (i.indexType === 'FTS') await table.dropIndex(i.name);
  await table.createIndex(col, { config: lancedb.Index.fts({ withPosition: false, stem: false, removeStopWords: false, lowercase: true }) });
  const old = (await table.listIndices()).filter((i) => i.indexType === 'FTS').map((i) => i.name);
  assert.deepEqual(old, [`${col}_idx`]);
  table.close();
  db.close();

  // LanceDB answers (with the in-memory index, a search could be answered without touching the old index).
  const store = new LanceVectorStore({ dataDir: dir, memoryIndex: false });
  const hits = await store.search('docs', { using: 'body', text: 'study', limit: 10 });
  assert.deepEqual(hits.map((h) => h.id), ['a'], 'the inflected word matches after the rebuild');
  await store.close();
  const db2 = await lancedb.connect(dir);
  const names = (await (await db2.openTable('docs')).listIndices()).filter((i) => i.indexType === 'FTS').map((i) => i.name);
  assert.deepEqual(names, [`${col}_fts_english`], 'the stale index is dropped');
  db2.close();
});
