/**
 * The served vector store (engine/src/vector/remote): the embedded LanceDB store behind its HTTP server, reached by the
 * remote adapter over real loopback HTTP, against the shared contract; reopened (client and server restarted on the
 * same data directory) for persistence.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { VectorStore } from '#core/ports/vector-store.ts';
import { RemoteVectorStore } from '#engine/vector/remote/client.ts';
import { serveVectorStore, type ServedStore } from '#engine/vector/remote/serve.ts';
import { vectorStoreContract } from './vector-store.contract.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-remote-contract-'));
const token = 'contract-token';
let served: ServedStore | undefined;

async function open(): Promise<VectorStore> {
  served = await serveVectorStore({ dataDir: dir, host: '127.0.0.1', port: 0, token });
  return new RemoteVectorStore({ url: served.url, token });
}

vectorStoreContract('remote (served embedded store over loopback HTTP)', {
  open,
  reopen: async (store) => {
    await store.close();
    await served?.stop();
    return open();
  },
  teardown: async () => {
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  },
});
