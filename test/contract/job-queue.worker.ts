/**
 * A worker process for the NATS job-queue tests: consumes `QUEUE` as durable `CONSUMER` on `NATS_URL`,
 * prints `took <job id> <attempt>` for each job and never acks, so the test can SIGKILL it mid-job.
 */
import { NatsJobQueue } from '#engine/queue/nats.ts';

const { NATS_URL, QUEUE, CONSUMER } = process.env;
if (!NATS_URL || !QUEUE || !CONSUMER) throw new Error('NATS_URL, QUEUE and CONSUMER are required');
const q = await NatsJobQueue.connect({ servers: NATS_URL, name: 'quarry-test-worker' });
await q.consume(QUEUE, { consumer: CONSUMER }, async (job, ctx) => {
  process.stdout.write(`took ${job.id} ${ctx.attempt}\n`);
  await new Promise(() => {});
});
process.stdout.write('ready\n');
