/**
 * The operator's external ports from the environment (the Helm chart sets it), each optional: a kind whose port is
 * missing reports why it cannot become Ready instead of pretending.
 * - VectorStore: QUARRY_VECTOR_STORE (exact | embedded | qdrant | remote), QDRANT_URL or QUARRY_VECTOR_STORE_URL;
 *   `embedded` keeps its data under QUARRY_DATA_DIR/vectors (tests and single-node installs), `remote` is the
 *   embedded store served by `quarry vector-store` (the chart's split mode without Qdrant).
 * - ObjectStore: S3 when S3_ENDPOINT is set, QUARRY_OBJECT_STORE=s3 or QUARRY_MODE=cluster (AWS default chain);
 *   local disk only with QUARRY_OBJECT_STORE=local (under QUARRY_DATA_DIR/objects).
 *   Buckets naming their own spec.storage endpoint/credentials get their own S3 client (objectStoreFor), only
 *   after the Bucket controller checked the endpoint (engine/src/objects/storage-policy.ts: QUARRY_STORAGE_ENDPOINTS,
 *   else the SSRF guard, also on every connection through target.lookup).
 * - JobQueue: NATS JetStream when NATS_URL is set, the in-process queue with QUARRY_JOB_QUEUE=memory.
 * Adapters are loaded only when configured, and the NATS connection is made lazily (and retried on the next use
 * after a failure), so an unreachable service shows up in status rather than stopping the operator from starting.
 */
import type { Job, JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';
import type { S3Target } from '#engine/objects/bucket-plan.ts';

export interface OperatorPorts {
  vectorStore?: VectorStore;
  objectStore?: ObjectStore;
  /** S3 clients for Buckets naming their own endpoint/credentials (spec.storage). */
  objectStoreFor: (target: S3Target) => ObjectStore;
  jobQueue?: JobQueue;
  close(): Promise<void>;
}

export async function portsFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<OperatorPorts> {
  const dataDir = env.QUARRY_DATA_DIR || '.quarry';
  let vectorStore: VectorStore | undefined;
  if (env.QUARRY_VECTOR_STORE || env.QDRANT_URL || env.QUARRY_VECTOR_STORE_URL) {
    const { createVectorStore, vectorStoreConfigFromEnv } = await import('#engine/vector/create.ts');
    vectorStore = createVectorStore(vectorStoreConfigFromEnv(env));
  }
  let objectStore: ObjectStore | undefined;
  const objectKind = env.QUARRY_OBJECT_STORE || (env.S3_ENDPOINT || env.QUARRY_MODE === 'cluster' ? 's3' : '');
  if (objectKind) {
    const { createObjectStore, objectStoreConfigFromEnv } = await import('#engine/objects/config.ts');
    if (objectKind !== 's3' && objectKind !== 'local') throw new Error(`QUARRY_OBJECT_STORE='${objectKind}' is not an object store: use s3 or local`);
    objectStore = createObjectStore(objectStoreConfigFromEnv({ ...env, QUARRY_OBJECT_STORE: objectKind, ...(objectKind === 'local' ? { S3_ENDPOINT: '' } : {}) }, dataDir));
  }
  let jobQueue: JobQueue | undefined;
  if (env.NATS_URL || env.QUARRY_JOB_QUEUE === 'memory') {
    const { createJobQueue, jobQueueConfigFromEnv } = await import('#engine/queue/config.ts');
    const cfg = jobQueueConfigFromEnv(env.NATS_URL ? env : { ...env, NATS_URL: '' }, env.NATS_URL ? undefined : `${dataDir}/queue`);
    jobQueue = lazyJobQueue(cfg.kind, () => createJobQueue(cfg));
  }
  const { createObjectStore } = await import('#engine/objects/config.ts');
  const perBucket: ObjectStore[] = [];
  const objectStoreFor = (target: S3Target): ObjectStore => {
    const s3 = createObjectStore({ kind: 's3', region: target.region ?? env.S3_REGION ?? 'us-east-1', ...target });
    perBucket.push(s3);
    return s3;
  };
  return {
    objectStoreFor,
    ...(vectorStore ? { vectorStore } : {}),
    ...(objectStore ? { objectStore } : {}),
    ...(jobQueue ? { jobQueue } : {}),
    async close() {
      await Promise.allSettled([vectorStore?.close(), objectStore?.close(), jobQueue?.close(), ...perBucket.map((s) => s.close())]);
    },
  };
}

/** A JobQueue that connects on first use; a failed connection is retried on the next call. */
export function lazyJobQueue(kind: string, connect: () => Promise<JobQueue>): JobQueue {
  let pending: Promise<JobQueue> | undefined;
  let closed = false;
  const get = (): Promise<JobQueue> => {
    if (closed) return Promise.reject(new Error('job queue closed'));
    pending ??= connect().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
  return {
    kind,
    ensureQueue: async (spec) => (await get()).ensureQueue(spec),
    queueExists: async (name) => (await get()).queueExists(name),
    listQueues: async () => (await get()).listQueues(),
    deleteQueue: async (name) => (await get()).deleteQueue(name),
    publish: async <T>(queue: string, job: Job<T>) => (await get()).publish(queue, job),
    consume: async (queue, opts, handler) => (await get()).consume(queue, opts, handler),
    deadLetters: async (queue) => (await get()).deadLetters(queue),
    pending: async (queue) => (await get()).pending(queue),
    kv: async (bucket) => (await get()).kv(bucket),
    deleteKv: async (bucket) => (await get()).deleteKv?.(bucket),
    async close() {
      closed = true;
      const p = pending;
      pending = undefined;
      if (p) await (await p.catch(() => undefined))?.close();
    },
  };
}
