/**
 * The operator's external ports on the shared test env: the embedded vector store under `vectorsDir`, S3 on the
 * env's MinIO and JetStream on its NATS under a JetStream name prefix of the test's own (`natsPrefix`, else a random
 * one): other tests' workers discover every stream of their prefix, and one consuming this test's jobs would write
 * them to its own vector store (the collection there does not exist) and fail them.
 */
import { randomBytes } from 'node:crypto';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';
import { createObjectStore } from '#engine/objects/config.ts';
import { createJobQueue } from '#engine/queue/config.ts';
import { createVectorStore } from '#engine/vector/create.ts';
import { testEnv } from './env.ts';

/** A JetStream name prefix of one test's own (NatsJobQueue `prefix`, NATS_STREAM_PREFIX for processes). */
export function privateNatsPrefix(): string {
  return `QT${randomBytes(4).toString('hex').toUpperCase()}`;
}

export async function testEnvPorts(vectorsDir: string, opts: { natsPrefix?: string } = {}): Promise<{ vs: VectorStore; objects: ObjectStore; queue: JobQueue }> {
  const t = testEnv();
  return {
    vs: createVectorStore({ kind: 'embedded', dataDir: vectorsDir }),
    objects: createObjectStore({ kind: 's3', endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true }),
    queue: await createJobQueue({ kind: 'nats', servers: [t.natsUrl], prefix: opts.natsPrefix ?? privateNatsPrefix() }),
  };
}

/** Closes what testEnvPorts opened (each may be absent when the test's setup failed early). */
export async function closeTestEnvPorts(ports: { vs: VectorStore; objects: ObjectStore; queue: JobQueue } | undefined): Promise<void> {
  await ports?.queue.close();
  await ports?.objects.close();
  await ports?.vs.close();
}
