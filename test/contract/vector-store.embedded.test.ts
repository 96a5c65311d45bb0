/** The embedded (LanceDB) VectorStore against the shared contract, on a real data directory; reopened for persistence. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { vectorStoreContract } from './vector-store.contract.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-lance-contract-'));

vectorStoreContract('embedded (LanceDB)', {
  open: async () => new LanceVectorStore({ dataDir: dir }),
  reopen: async (store) => {
    await store.close();
    return new LanceVectorStore({ dataDir: dir });
  },
  teardown: async () => rmSync(dir, { recursive: true, force: true }),
});
