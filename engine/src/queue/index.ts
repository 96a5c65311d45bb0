export { createJobQueue, jobQueueConfigFromEnv, type JobQueueConfig } from './config.ts';
export { KvConflictError, isKvConflict } from './errors.ts';
export { MemoryJobQueue, type MemoryJobQueueConfig } from './memory.ts';
export { NatsJobQueue, type NatsJobQueueConfig } from './nats.ts';
export { JobMetrics, type JobOutcome } from './metrics.ts';
