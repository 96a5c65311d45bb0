/**
 * Job metrics (prom-client) both adapters record when given a registry: outcomes per queue and handler time.
 * The engine passes its registry; without one nothing is recorded.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

export type JobOutcome = 'acked' | 'retried' | 'dead_lettered';

export class JobMetrics {
  readonly jobs: Counter<'queue' | 'outcome'>;
  readonly duration: Histogram<'queue'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.jobs = new Counter({
      name: 'quarry_jobs_total',
      help: 'Jobs settled by this process, by queue and outcome (acked, retried, dead_lettered).',
      labelNames: ['queue', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'quarry_job_handler_duration_seconds',
      help: 'Time a job handler ran, by queue.',
      labelNames: ['queue'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers,
    });
  }

  settled(queue: string, outcome: JobOutcome): void {
    this.jobs.inc({ queue, outcome });
  }

  /** Starts timing a handler; call the result when it ends. */
  time(queue: string): () => void {
    return this.duration.startTimer({ queue });
  }
}
