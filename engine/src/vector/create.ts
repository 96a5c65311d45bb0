/**
 * `createVectorStore(config)`: the one place that picks a VectorStore adapter. `vectorStoreConfigFromEnv()`
 * reads the process environment: QUARRY_VECTOR_STORE (exact | embedded | qdrant; default qdrant when
 * QUARRY_MODE=cluster or QDRANT_URL is set, embedded otherwise), QDRANT_URL, QDRANT_API_KEY,
 * QDRANT_COLLECTION_PREFIX, QUARRY_DATA_DIR (embedded data lives in <QUARRY_DATA_DIR>/vectors, default .quarry).
 */
import path from 'node:path';
import { badRequest } from '../lib/errors.ts';
import type { VectorStore } from '../ports/vector-store.ts';
import { LanceVectorStore, type LanceStoreOptions } from './embedded/lance-store.ts';
import { ExactVectorStore } from './exact/exact-store.ts';
import { QdrantVectorStore, type QdrantStoreOptions } from './qdrant/qdrant-store.ts';

export type VectorStoreConfig =
  | { kind: 'exact' }
  | ({ kind: 'embedded' } & LanceStoreOptions)
  | ({ kind: 'qdrant' } & QdrantStoreOptions);

/**
 * Embedded stores opened by this process, one per data directory. Two LanceDB connections on one directory cache
 * table versions independently and read each other's writes stale, so the all-in-one process (operator, engine and
 * workers together, engine/src/all-in-one.ts) must share one: each caller gets a handle whose close() releases its
 * reference, and the store closes with the last one.
 */
const embeddedStores = new Map<string, { store: LanceVectorStore; refs: number }>();

function sharedEmbedded(config: LanceStoreOptions): VectorStore {
  const dir = path.resolve(config.dataDir);
  let entry = embeddedStores.get(dir);
  if (!entry) embeddedStores.set(dir, (entry = { store: new LanceVectorStore(config), refs: 0 }));
  entry.refs++;
  const held = entry;
  let released = false;
  return new Proxy(held.store, {
    get(target, prop, receiver) {
      if (prop !== 'close') {
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return async () => {
        if (released) return;
        released = true;
        if (--held.refs > 0) return;
        embeddedStores.delete(dir);
        await held.store.close();
      };
    },
  });
}

export function createVectorStore(config: VectorStoreConfig): VectorStore {
  switch (config.kind) {
    case 'exact':
      return new ExactVectorStore();
    case 'embedded':
      return sharedEmbedded(config);
    case 'qdrant':
      return new QdrantVectorStore(config);
    default:
      throw badRequest(`unknown vector store kind '${String((config as { kind?: unknown }).kind)}': use exact, embedded or qdrant`, { field: 'kind' });
  }
}

export function vectorStoreConfigFromEnv(env: NodeJS.ProcessEnv = process.env): VectorStoreConfig {
  const kind = env.QUARRY_VECTOR_STORE ?? (env.QUARRY_MODE === 'cluster' || env.QDRANT_URL ? 'qdrant' : 'embedded');
  switch (kind) {
    case 'exact':
      return { kind };
    case 'embedded':
      return { kind, dataDir: path.resolve(env.QUARRY_DATA_DIR ?? '.quarry', 'vectors') };
    case 'qdrant':
      if (!env.QDRANT_URL) throw badRequest('QDRANT_URL is not set: point it at the Qdrant REST endpoint (e.g. http://qdrant:6333) or set QUARRY_VECTOR_STORE=embedded', { field: 'QDRANT_URL' });
      return {
        kind,
        url: env.QDRANT_URL,
        ...(env.QDRANT_API_KEY ? { apiKey: env.QDRANT_API_KEY } : {}),
        ...(env.QDRANT_COLLECTION_PREFIX ? { collectionPrefix: env.QDRANT_COLLECTION_PREFIX } : {}),
      };
    default:
      throw badRequest(`QUARRY_VECTOR_STORE='${kind}' is not a vector store: use exact, embedded or qdrant`, { field: 'QUARRY_VECTOR_STORE' });
  }
}
