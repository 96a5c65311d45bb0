/**
 * The embedded store with its in-memory index turned off (memoryIndex: false, QUARRY_EMBEDDED_MEMORY_INDEX=false)
 * against the shared contract: every search runs in LanceDB, the path the store also takes for lexical searches,
 * filters on fields without a promoted column and while a collection's in-memory index is being built.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { vectorStoreContract } from './vector-store.contract.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-lance-path-contract-'));

vectorStoreContract('embedded (LanceDB only, memoryIndex off)', {
  open: async () => new LanceVectorStore({ dataDir: dir, memoryIndex: false }),
  reopen: async (store) => {
    await store.close();
    return new LanceVectorStore({ dataDir: dir, memoryIndex: false });
  },
  teardown: async () => rmSync(dir, { recursive: true, force: true }),
});
