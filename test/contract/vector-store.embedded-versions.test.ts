/**
 * The embedded store's disk stays bounded under many small writes (issue 14 item 12: LanceDB's optimize kept every
 * version for its default 7 days, 2,673 versions and 570 MB for 69 documents after a fuzz run). Single-point upserts
 * and deletes (each one a LanceDB commit) through the store, as ingestion and the API make them; maintenance prunes
 * versions no longer current for QUARRY_EMBEDDED_KEEP_VERSIONS_SECONDS (0 here: keep only what a running search
 * might still read). Asserted on the table's own version list and on the bytes under the data directory.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import * as lancedb from '@lancedb/lancedb';
import type { VectorStore } from '#core/ports/vector-store.ts';
import { createVectorStore, vectorStoreConfigFromEnv } from '#engine/vector/create.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-lance-versions-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function bytesUnder(p: string): number {
  let sum = 0;
  for (const e of readdirSync(p, { withFileTypes: true })) sum += e.isDirectory() ? bytesUnder(path.join(p, e.name)) : statSync(path.join(p, e.name)).size;
  return sum;
}

async function versionCount(name: string): Promise<number> {
  const db = await lancedb.connect(dir);
  const t = await db.openTable(name);
  try {
    return (await t.listVersions()).length;
  } finally {
    t.close();
    db.close();
  }
}

const D = 64;
const vec = (i: number) => Float32Array.from({ length: D }, (_, j) => Math.sin(i * 31 + j));

test('900 single-point writes and deletes keep the table to a bounded number of versions and bytes', async () => {
  // optimize() compacts (the in-memory index off): with it on, the 256-commit trigger alone bounds the versions.
  const store: VectorStore = createVectorStore(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_EMBEDDED_KEEP_VERSIONS_SECONDS: '0', QUARRY_EMBEDDED_MEMORY_INDEX: 'false' }, dir));
  await store.ensureCollection({ name: 'v', vectors: [{ name: 'emb', size: D, distance: 'cosine' }] });
  let maxVersions = 0;
  for (let i = 0; i < 900; i++) {
    // 50 live documents rewritten over and over (as a fuzz run or re-ingestion does), a delete every third write.
    const id = `doc${i % 50}`;
    if (i % 3 === 2) await store.delete('v', [id]);
    else await store.upsert('v', [{ id, vectors: { emb: vec(i) }, payload: { i } }]);
    if (i % 100 === 99) maxVersions = Math.max(maxVersions, await versionCount('v'));
  }
  await store.optimize!('v');
  const versions = await versionCount('v');
  const bytes = bytesUnder(dir);
  console.log(`max versions during the run ${maxVersions}, after optimize ${versions}, ${(bytes / 1e6).toFixed(2)} MB on disk`);
  // Maintenance runs every 256 commits; between runs the versions of those commits exist, never more.
  assert.ok(maxVersions <= 2 * 256 + 20, `${maxVersions} versions during the run`);
  assert.ok(versions <= 10, `${versions} versions after optimize`);
  assert.ok(bytes < 5e6, `${bytes} bytes on disk for 50 documents`);
  assert.equal(await store.count('v'), (await store.scroll('v', { limit: 100 })).points.length, 'the data is intact');
  await store.close();
});

test('compactions leave no pile of empty index directories (LanceDB keeps one per superseded index version)', async () => {
  // LanceDB answers every search (no in-memory index), so the lexical search below builds its full-text index.
  const store: VectorStore = createVectorStore(vectorStoreConfigFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_EMBEDDED_KEEP_VERSIONS_SECONDS: '0', QUARRY_EMBEDDED_MEMORY_INDEX: 'false' }, dir));
  await store.ensureCollection({ name: 'husks', vectors: [{ name: 'emb', size: D, distance: 'cosine' }], lexicalFields: ['body'], payloadIndexes: [{ field: 'kind', type: 'keyword' }] });
  const indices = path.join(dir, 'husks.lance', '_indices');
  const emptyDirs = () => readdirSync(indices).filter((d) => readdirSync(path.join(indices, d)).length === 0).length;
  let maxEmpty = 0;
  for (let round = 0; round < 30; round++) {
    // A batch of single-point writes, then the compaction a finished batch asks for (full-text and scalar indexes
    // are superseded by each one).
    for (let i = 0; i < 5; i++) {
      const n = round * 5 + i;
      await store.upsert('husks', [{ id: `d${n}`, vectors: { emb: vec(n) }, payload: { kind: n % 2 ? 'odd' : 'even' }, text: { body: `document number ${n} about ${n % 2 ? 'owls' : 'larks'}` } }]);
    }
    await store.search('husks', { using: 'body', text: 'owls', limit: 3 }); // builds the full-text index on first use
    await store.optimize!('husks');
    maxEmpty = Math.max(maxEmpty, emptyDirs());
  }
  console.log(`${readdirSync(indices).length} index directories after 30 compactions, at most ${maxEmpty} empty at once`);
  // Without the sweep: two more empty directories per compaction (about 60 here). With it, only those emptied by
  // the latest prune, which the next compaction removes.
  assert.ok(maxEmpty <= 6, `${maxEmpty} empty index directories`);
  assert.ok(readdirSync(indices).length <= 12, `${readdirSync(indices).length} index directories`);
  const hits = await store.search('husks', { using: 'body', text: 'owls', limit: 200, filter: { field: 'kind', value: 'odd' } });
  assert.equal(hits.length, 75, 'every odd document is found by its text and its indexed field');
  await store.close();
});
