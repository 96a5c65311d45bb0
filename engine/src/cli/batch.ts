/**
 * `quarry batch status <id> [--watch]`: a batch's status and per-tier progress (GET /v1/buckets/{b}/batches/{id});
 * --watch polls until the batch reaches a terminal state, with a progress bar per tier (plain lines when stderr is
 * not a terminal), and exits 0 only when it COMPLETED.
 */
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { ApiError, seg, type QuarryClient } from './client.ts';
import { FailedError, UsageError, ctxOf, positiveInt, type Ctx } from './context.ts';
import { print } from './output.ts';

const TERMINAL = new Set(['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELED']);

interface TierProgress {
  total: number;
  processed: number;
  succeeded: number;
  failed: number;
  documents_written: number;
  percent: number;
}

interface TierTask {
  tier_num: number;
  status: string;
  collection_ids?: string[];
  progress?: TierProgress;
  errors?: { job: string; reason?: string; message?: string }[];
}

export interface BatchView {
  batch_id: string;
  bucket_id: string;
  /** The bucket's name (bucket_id is its id, bkt_…). */
  bucket_name?: string;
  status: string;
  object_ids?: string[];
  total_tiers?: number;
  current_tier?: number;
  tier_tasks?: TierTask[];
  error?: string;
  error_summary?: Record<string, number>;
}

/** Finds the bucket of a batch when --bucket is not given: asks each bucket the management API lists. */
async function findBucket(client: QuarryClient, batchId: string): Promise<string> {
  let buckets: Record<string, unknown>[];
  try {
    buckets = (await client.post<{ results?: Record<string, unknown>[] }>('/v1/buckets/list', {})).results ?? [];
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) throw new UsageError('batch routes live under a bucket: pass --bucket <bucket>');
    throw err;
  }
  for (const b of buckets) {
    const name = String(b.bucket_name ?? (b.metadata as { name?: string } | undefined)?.name ?? b.bucket_id ?? '');
    if (!name) continue;
    try {
      await client.get(`/v1/buckets/${seg(name)}/batches/${seg(batchId)}`);
      return name;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  throw new ApiError(404, 'NotFoundError', `batch '${batchId}' not found in any bucket of namespace '${client.namespace ?? ''}'`);
}

function tierLine(t: TierTask): string {
  const p = t.progress;
  return p
    ? `tier ${t.tier_num}: ${t.status} ${p.processed}/${p.total} jobs (${p.percent}%) failed=${p.failed} documents=${p.documents_written}`
    : `tier ${t.tier_num}: ${t.status}`;
}

function printBatch(ctx: Ctx, b: BatchView): void {
  if (ctx.opts.output !== 'table') {
    print(ctx.opts.output, b);
    return;
  }
  const lines = [
    `batch ${b.batch_id}  bucket ${b.bucket_name ?? b.bucket_id}  status ${b.status}  objects ${b.object_ids?.length ?? 0}  tiers ${b.total_tiers ?? b.tier_tasks?.length ?? 0}`,
    ...(b.tier_tasks ?? []).map((t) => `  ${tierLine(t)}${t.collection_ids?.length ? `  collections ${t.collection_ids.join(', ')}` : ''}`),
    ...(b.error ? [`  error: ${b.error}`] : []),
    ...(b.error_summary && Object.keys(b.error_summary).length ? [`  errors: ${Object.entries(b.error_summary).map(([k, v]) => `${k}=${v}`).join(' ')}`] : []),
    ...(b.tier_tasks ?? []).flatMap((t) => (t.errors ?? []).slice(0, 10).map((e) => `  tier ${t.tier_num} ${e.job}: ${e.reason ?? ''} ${e.message ?? ''}`.trimEnd())),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** Polls until the batch is terminal, showing per-tier progress on stderr; prints the final state; throws unless COMPLETED. */
export async function watchBatch(ctx: Ctx, client: QuarryClient, batchId: string, bucket: string, o: { interval: number; progress: boolean; quiet?: boolean }): Promise<BatchView> {
  const path = `/v1/buckets/${seg(bucket)}/batches/${seg(batchId)}`;
  const tty = o.progress && process.stderr.isTTY;
  const multi = tty ? new cliProgress.MultiBar({ stream: process.stderr, format: 'tier {tier} [{bar}] {percentage}% | {value}/{total} jobs | {status} | failed {failed}', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  const bars = new Map<number, cliProgress.SingleBar>();
  const lastLines = new Map<number, string>();
  let lastStatus = '';
  let b: BatchView;
  try {
    for (;;) {
      b = await client.get<BatchView>(path);
      for (const t of b.tier_tasks ?? []) {
        const p = t.progress ?? { total: 0, processed: 0, failed: 0 };
        if (multi) {
          let bar = bars.get(t.tier_num);
          if (!bar) bars.set(t.tier_num, (bar = multi.create(Math.max(p.total, 1), 0, { tier: t.tier_num, status: t.status, failed: 0 })));
          bar.setTotal(Math.max(p.total, 1));
          bar.update(p.processed, { tier: t.tier_num, status: t.status, failed: p.failed });
        } else if (o.progress) {
          const line = tierLine(t);
          if (lastLines.get(t.tier_num) !== line) process.stderr.write(`progress: ${line}\n`);
          lastLines.set(t.tier_num, line);
        }
      }
      if (!multi && o.progress && b.status !== lastStatus) process.stderr.write(`progress: batch ${b.batch_id} ${b.status}\n`);
      lastStatus = b.status;
      if (TERMINAL.has(b.status)) break;
      // A draft never moves on its own: waiting would hang.
      if (b.status === 'DRAFT') throw new FailedError(`batch ${b.batch_id} is a DRAFT: nothing runs until it is submitted (POST /v1/buckets/${bucket}/batches/${b.batch_id}/submit)`);
      await new Promise((r) => setTimeout(r, o.interval));
    }
  } finally {
    multi?.stop();
  }
  if (!o.quiet) printBatch(ctx, b);
  if (b.status !== 'COMPLETED') {
    const summary = b.error_summary && Object.keys(b.error_summary).length ? ` (${Object.entries(b.error_summary).map(([k, v]) => `${k}: ${v}`).join(', ')})` : '';
    throw new FailedError(`batch ${b.batch_id} ended ${b.status}${summary}${b.error ? `: ${b.error}` : ''}`);
  }
  return b;
}

export function registerBatch(program: Command): void {
  const batch = program.command('batch').description('batches: groups of objects processed by the collections that read their bucket');
  batch
    .command('status')
    .description('show a batch and its per-tier progress; --watch follows it until it finishes (exit 0 only if it COMPLETED)')
    .argument('<batch-id>', 'batch id (btch_…)')
    .option('-b, --bucket <bucket>', "the batch's bucket (default: looked up through the bucket list)")
    .option('-w, --watch', 'poll until the batch reaches a terminal state, with a progress bar per tier')
    .addOption(new Option('--interval <ms>', 'poll interval with --watch').default(1000).argParser(positiveInt('--interval')))
    .option('--no-progress', 'no progress output while watching')
    .action(async (batchId: string, o: { bucket?: string; watch?: boolean; interval: number; progress: boolean }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      ctx.requireNamespace();
      const client = ctx.client();
      const bucket = o.bucket ?? (await findBucket(client, batchId));
      if (o.watch) {
        await watchBatch(ctx, client, batchId, bucket, { interval: o.interval, progress: o.progress });
        return;
      }
      printBatch(ctx, await client.get<BatchView>(`/v1/buckets/${seg(bucket)}/batches/${seg(batchId)}`));
    });
}
