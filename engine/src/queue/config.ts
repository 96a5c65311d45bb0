/**
 * JobQueue configuration and factory. Cluster mode uses NATS JetStream, local mode the in-process queue.
 * Credentials come from the environment or a creds file, never from code.
 */
import { MemoryJobQueue, type MemoryJobQueueConfig } from './memory.ts';
import { NatsJobQueue, type NatsJobQueueConfig } from './nats.ts';
import type { JobQueue } from '../ports/job-queue.ts';

export type JobQueueConfig = ({ kind: 'nats' } & NatsJobQueueConfig) | ({ kind: 'memory' } & MemoryJobQueueConfig);

export async function createJobQueue(config: JobQueueConfig): Promise<JobQueue> {
  switch (config.kind) {
    case 'nats':
      return NatsJobQueue.connect(config);
    case 'memory':
      return new MemoryJobQueue(config);
    default:
      throw new Error(`unknown job queue kind '${(config as { kind: string }).kind}'`);
  }
}

/**
 * From the environment: NATS_URL (comma-separated servers) selects NATS, with NATS_CREDS (a .creds file),
 * NATS_USER/NATS_PASSWORD or NATS_TOKEN, NATS_STREAM_PREFIX and NATS_REPLICAS; otherwise the in-process
 * queue, persisted under `dataDir` when given.
 */
export function jobQueueConfigFromEnv(env: NodeJS.ProcessEnv = process.env, dataDir?: string): JobQueueConfig {
  const url = env.NATS_URL;
  if (!url) return { kind: 'memory', ...(dataDir ? { dataDir } : {}) };
  return {
    kind: 'nats',
    servers: url.split(',').map((s) => s.trim()).filter(Boolean),
    ...(env.NATS_CREDS ? { credsFile: env.NATS_CREDS } : {}),
    ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? '' } : {}),
    ...(env.NATS_TOKEN ? { token: env.NATS_TOKEN } : {}),
    ...(env.NATS_STREAM_PREFIX ? { prefix: env.NATS_STREAM_PREFIX } : {}),
    ...(env.NATS_REPLICAS ? { replicas: Number(env.NATS_REPLICAS) } : {}),
  };
}
