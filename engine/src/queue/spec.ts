/** QueueSpec defaults shared by the adapters, so both queues behave the same when a field is left out. */
import type { QueueSpec } from '../ports/job-queue.ts';

export interface ResolvedSpec {
  name: string;
  maxDeliver: number;
  ackWaitMs: number;
  backoffMs: number[];
}

export const DEFAULT_MAX_DELIVER = 5;
export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_BACKOFF_MS = [1_000, 5_000, 30_000];

export function resolveSpec(spec: QueueSpec): ResolvedSpec {
  const maxDeliver = spec.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const ackWaitMs = spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  if (!Number.isInteger(maxDeliver) || maxDeliver < 1) throw new Error(`queue ${spec.name}: maxDeliver must be an integer ≥ 1`);
  if (!(ackWaitMs >= 100)) throw new Error(`queue ${spec.name}: ackWaitMs must be ≥ 100`);
  const backoffMs = spec.backoffMs ?? DEFAULT_BACKOFF_MS;
  if (backoffMs.some((d) => !(d >= 0))) throw new Error(`queue ${spec.name}: backoffMs must be non-negative`);
  return { name: spec.name, maxDeliver, ackWaitMs, backoffMs: [...backoffMs] };
}

/** Waits for `work` but at most `ms`; the timer does not outlive the wait. */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** How long close() lets running handlers finish before abandoning them (they are redelivered). */
export const CLOSE_GRACE_MS = 2_000;
