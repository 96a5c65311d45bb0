/**
 * `createVectorStore(config)`: the one place that picks a VectorStore adapter. `vectorStoreConfigFromEnv()`
 * reads the process environment: QUARRY_VECTOR_STORE (exact | embedded | qdrant | remote; default remote when
 * QUARRY_VECTOR_STORE_URL is set, qdrant when QUARRY_MODE=cluster or QDRANT_URL is set, embedded otherwise), QDRANT_URL,
 * QDRANT_API_KEY, QDRANT_COLLECTION_PREFIX, QUARRY_DATA_DIR (embedded data lives in <QUARRY_DATA_DIR>/vectors, default
 * .quarry), the embedded store's index settings (EMBEDDED_ENV below; each a positive integer, unset = the store's
 * default) and QUARRY_EMBEDDED_MEMORY_INDEX (true or false), and for `remote` (a store served by `quarry vector-store`,
 * remote/server.ts) QUARRY_VECTOR_STORE_URL, QUARRY_VECTOR_STORE_TOKEN or QUARRY_VECTOR_STORE_TOKEN_FILE (a file
 * holding it) and QUARRY_VECTOR_STORE_TIMEOUT_MS.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { badRequest } from '../lib/errors.ts';
import type { VectorStore } from '../ports/vector-store.ts';
import { LanceVectorStore, type LanceStoreOptions } from './embedded/lance-store.ts';
import { ExactVectorStore } from './exact/exact-store.ts';
import { QdrantVectorStore, type QdrantStoreOptions } from './qdrant/qdrant-store.ts';
import { RemoteVectorStore, type RemoteStoreOptions } from './remote/client.ts';

export type VectorStoreConfig =
  | { kind: 'exact' }
  | ({ kind: 'embedded' } & LanceStoreOptions)
  | ({ kind: 'qdrant' } & QdrantStoreOptions)
  | ({ kind: 'remote' } & RemoteStoreOptions);

/**
 * Embedded stores opened by this process, one per data directory. Two LanceDB connections on one directory cache
 * table versions independently and read each other's writes stale, so the all-in-one process (operator, engine and
 * workers together, engine/src/all-in-one.ts) must share one: each caller gets a handle whose close() releases its
 * reference, and the store closes with the last one.
 */
const embeddedStores = new Map<string, { store: LanceVectorStore; refs: number; reads: ReturnType<typeof pLimit> }>();

/**
 * Reads of the embedded stores open in this process: running inside LanceDB, and waiting for a turn behind
 * maxConcurrentReads (summed over data directories; vector/metrics.ts exports them). The default, 2 x
 * availableParallelism(), follows a container's CPU limit: libuv (Node 22's 1.51) counts the cgroup CPU quota.
 */
export function embeddedReads(): { running: number; waiting: number } {
  let running = 0;
  let waiting = 0;
  for (const { reads } of embeddedStores.values()) {
    running += reads.activeCount;
    waiting += reads.pendingCount;
  }
  return { running, waiting };
}

/** The port's read methods, which the embedded store runs at most `maxConcurrentReads` at a time (see there). */
const READS = new Set<string | symbol>(['search', 'fuse', 'searchGroups', 'facet', 'scroll', 'count', 'retrieve']);

function sharedEmbedded(config: LanceStoreOptions): VectorStore {
  const dir = path.resolve(config.dataDir);
  let entry = embeddedStores.get(dir);
  if (!entry) {
    const store = new LanceVectorStore(config);
    embeddedStores.set(dir, (entry = { store, refs: 0, reads: pLimit(config.maxConcurrentReads ?? 2 * availableParallelism()) }));
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return new Proxy(held.store, {
    get(target, prop, receiver) {
      if (prop !== 'close') {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        const method = v as (...a: unknown[]) => unknown;
        return READS.has(prop) ? (...a: unknown[]) => held.reads(() => method.apply(target, a)) : method.bind(target);
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
    case 'remote':
      return new RemoteVectorStore(config);
    default:
      throw badRequest(`unknown vector store kind '${String((config as { kind?: unknown }).kind)}': use exact, embedded, qdrant or remote`, { field: 'kind' });
  }
}

/** Environment variable -> LanceStoreOptions field (see LanceStoreOptions for what each one does). */
export const EMBEDDED_ENV = {
  QUARRY_EMBEDDED_INDEX_THRESHOLD: 'indexThreshold',
  QUARRY_EMBEDDED_EF: 'ef',
  QUARRY_EMBEDDED_REFINE_FACTOR: 'refineFactor',
  QUARRY_EMBEDDED_HNSW_M: 'hnswM',
  QUARRY_EMBEDDED_EF_CONSTRUCTION: 'efConstruction',
  QUARRY_EMBEDDED_NUM_PARTITIONS: 'numPartitions',
  QUARRY_EMBEDDED_KEEP_VERSIONS_SECONDS: 'keepVersionsSeconds',
  QUARRY_EMBEDDED_INDEX_CACHE_MB: 'indexCacheMb',
  QUARRY_EMBEDDED_METADATA_CACHE_MB: 'metadataCacheMb',
  QUARRY_EMBEDDED_MAX_CONCURRENT_READS: 'maxConcurrentReads',
  QUARRY_EMBEDDED_MAX_INDEX_SEGMENTS: 'maxIndexSegments',
} as const satisfies Record<string, keyof LanceStoreOptions>;

/** Settings that may be 0 (the others must be at least 1). */
const ZERO_ALLOWED = new Set(['QUARRY_EMBEDDED_KEEP_VERSIONS_SECONDS', 'QUARRY_EMBEDDED_REFINE_FACTOR']);

function positiveInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  const min = ZERO_ALLOWED.has(name) ? 0 : 1;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min) throw badRequest(`${name}='${raw}' is not a ${min ? 'positive' : 'non-negative'} integer`, { field: name });
  return n;
}

/** The embedded store's settings from the environment (only those that are set). */
export function embeddedOptionsFromEnv(env: NodeJS.ProcessEnv, dataDir: string): LanceStoreOptions {
  const opts: LanceStoreOptions = { dataDir };
  for (const [name, field] of Object.entries(EMBEDDED_ENV)) {
    const v = positiveInt(env, name);
    if (v !== undefined) opts[field] = v;
  }
  const memory = env.QUARRY_EMBEDDED_MEMORY_INDEX?.trim().toLowerCase();
  if (memory !== undefined && memory !== '') {
    if (!['true', 'false', '1', '0'].includes(memory)) throw badRequest(`QUARRY_EMBEDDED_MEMORY_INDEX='${env.QUARRY_EMBEDDED_MEMORY_INDEX}' is not true or false`, { field: 'QUARRY_EMBEDDED_MEMORY_INDEX' });
    opts.memoryIndex = memory === 'true' || memory === '1';
  }
  return opts;
}

/**
 * The vector store the environment asks for. `dataDir` overrides where the embedded store keeps its tables
 * (local mode passes `<data dir>/vectors`).
 */
export function vectorStoreConfigFromEnv(env: NodeJS.ProcessEnv = process.env, dataDir?: string): VectorStoreConfig {
  const kind = env.QUARRY_VECTOR_STORE ?? (env.QUARRY_VECTOR_STORE_URL ? 'remote' : env.QUARRY_MODE === 'cluster' || env.QDRANT_URL ? 'qdrant' : 'embedded');
  switch (kind) {
    case 'exact':
      return { kind };
    case 'embedded':
      return { kind, ...embeddedOptionsFromEnv(env, dataDir ?? path.resolve(env.QUARRY_DATA_DIR ?? '.quarry', 'vectors')) };
    case 'qdrant':
      if (!env.QDRANT_URL) throw badRequest('QDRANT_URL is not set: point it at the Qdrant REST endpoint (e.g. http://qdrant:6333) or set QUARRY_VECTOR_STORE=embedded', { field: 'QDRANT_URL' });
      return {
        kind,
        url: env.QDRANT_URL,
        ...(env.QDRANT_API_KEY ? { apiKey: env.QDRANT_API_KEY } : {}),
        ...(env.QDRANT_COLLECTION_PREFIX ? { collectionPrefix: env.QDRANT_COLLECTION_PREFIX } : {}),
        ...(positiveInt(env, 'QDRANT_INDEXING_THRESHOLD_KB') !== undefined ? { indexingThresholdKb: positiveInt(env, 'QDRANT_INDEXING_THRESHOLD_KB')! } : {}),
      };
    case 'remote': {
      if (!env.QUARRY_VECTOR_STORE_URL) throw badRequest('QUARRY_VECTOR_STORE_URL is not set: point it at the served vector store (quarry vector-store), e.g. http://quarry-vector-store:8090', { field: 'QUARRY_VECTOR_STORE_URL' });
      const timeoutMs = positiveInt(env, 'QUARRY_VECTOR_STORE_TIMEOUT_MS');
      return { kind, url: env.QUARRY_VECTOR_STORE_URL, token: vectorStoreTokenFromEnv(env), ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
    }
    default:
      throw badRequest(`QUARRY_VECTOR_STORE='${kind}' is not a vector store: use exact, embedded, qdrant or remote`, { field: 'QUARRY_VECTOR_STORE' });
  }
}

/**
 * The served vector store's bearer token, for its server and its clients alike: QUARRY_VECTOR_STORE_TOKEN, else the
 * contents of the file QUARRY_VECTOR_STORE_TOKEN_FILE (a mounted Secret; surrounding whitespace dropped).
 */
export function vectorStoreTokenFromEnv(env: NodeJS.ProcessEnv): string {
  if (env.QUARRY_VECTOR_STORE_TOKEN) return env.QUARRY_VECTOR_STORE_TOKEN;
  const file = env.QUARRY_VECTOR_STORE_TOKEN_FILE;
  if (!file) throw badRequest('the served vector store needs a token: set QUARRY_VECTOR_STORE_TOKEN, or QUARRY_VECTOR_STORE_TOKEN_FILE to a file holding it', { field: 'QUARRY_VECTOR_STORE_TOKEN' });
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw badRequest(`QUARRY_VECTOR_STORE_TOKEN_FILE='${file}' cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { field: 'QUARRY_VECTOR_STORE_TOKEN_FILE' });
  }
  if (!token) throw badRequest(`QUARRY_VECTOR_STORE_TOKEN_FILE='${file}' is empty`, { field: 'QUARRY_VECTOR_STORE_TOKEN_FILE' });
  return token;
}
