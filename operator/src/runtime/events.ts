/**
 * Kubernetes events (events.k8s.io/v1) with a fixed reason vocabulary, de-duplicated and rate-limited the way
 * client-go's recorder is (its spam filter: per object a bucket of 25, refilled one per 5 minutes):
 * - the same (object, type, reason, note) within 10 minutes is one event whose `series` count grows; the series is
 *   written back at most once a minute, so a flapping object cannot turn into a stream of writes;
 * - events beyond the per-object budget are dropped (and counted);
 * - recording never blocks or fails a reconcile: writes run in the background, errors are logged.
 * Hand-written because client-node has no event recorder.
 */
import { EventsV1Api, PatchStrategy, V1MicroTime, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Resource } from '#core/ports/resource-store.ts';
import { logger } from '#core/lib/log.ts';
import { realClock, type Clock } from './clock.ts';
import { TokenBucket } from './rate-limit.ts';
import type { OperatorMetrics } from './metrics.ts';

/** The only reasons the operator ever reports (CamelCase, stable: alerting and docs key on them). */
export const EVENT_REASONS = [
  'Ready',
  'NotReady',
  'ReconcileError',
  'Stalled',
  'Paused',
  'Resumed',
  'Finalizing',
  'Finalized',
  'DeletionBlocked',
  'DependencyNotReady',
  'CreatedExternalResource',
  'UpdatedExternalResource',
  'DeletedExternalResource',
  /** Deletion finished but external data was deliberately left in place (not Quarry's, or still in use). */
  'ExternalResourceKept',
  'CannotConnect',
] as const;
export type EventReason = (typeof EVENT_REASONS)[number];
export type EventType = 'Normal' | 'Warning';

export interface EventSink {
  create(namespace: string, body: Record<string, unknown>): Promise<{ name: string }>;
  patchSeries(namespace: string, name: string, series: { count: number; lastObservedTime: Date }): Promise<void>;
}

export function kubeEventSink(kc: KubeConfig, metrics?: OperatorMetrics): EventSink {
  const api = kc.makeApiClient(EventsV1Api);
  return {
    async create(namespace, body) {
      metrics?.apiWrites.inc({ verb: 'create', resource: 'events' });
      const ev = await api.createNamespacedEvent({ namespace, body: body as never });
      return { name: ev.metadata?.name ?? '' };
    },
    async patchSeries(namespace, name, series) {
      metrics?.apiWrites.inc({ verb: 'patch', resource: 'events' });
      await api.patchNamespacedEvent(
        { name, namespace, body: { series: { count: series.count, lastObservedTime: series.lastObservedTime } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    },
  };
}

/** Events as log lines (local mode: there is no events API; `quarry` users read the log). */
export function logEventSink(name = 'events'): EventSink {
  const log = logger(name);
  let n = 0;
  return {
    async create(namespace, body) {
      const b = body as { reason?: string; type?: string; note?: string; action?: string; metadata?: { name?: string }; regarding?: { kind?: string; name?: string } };
      const line = { namespace, kind: b.regarding?.kind, name: b.regarding?.name, reason: b.reason, action: b.action };
      if (b.type === 'Warning') log.warn(line, b.note ?? '');
      else log.info(line, b.note ?? '');
      return { name: b.metadata?.name ?? `event-${++n}` };
    },
    async patchSeries() {
      // A repeat of a logged event: the recorder already de-duplicates; nothing more to say.
    },
  };
}

export interface EventRecorderOptions {
  sink: EventSink;
  controller?: string;
  instance: string;
  clock?: Clock;
  metrics?: OperatorMetrics;
  dedupeWindowMs?: number;
  seriesFlushMs?: number;
  burst?: number;
  refillPerSecond?: number;
}

interface Seen {
  name: Promise<string | undefined>;
  count: number;
  first: number;
  flushedAt: number;
  flushedCount: number;
}

export class EventRecorder {
  private readonly o: Required<Omit<EventRecorderOptions, 'metrics'>> & { metrics?: OperatorMetrics };
  private readonly seen = new Map<string, Seen>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly log = logger('events');

  constructor(opts: EventRecorderOptions) {
    this.o = {
      controller: 'quarry.dev/operator',
      clock: realClock,
      dedupeWindowMs: 10 * 60_000,
      seriesFlushMs: 60_000,
      burst: 25,
      refillPerSecond: 1 / 300,
      ...opts,
    };
  }

  /** Records an event about `regarding`; `action` says what the operator was doing (Reconcile, Finalize…). */
  emit(regarding: Resource, type: EventType, reason: EventReason, note: string, action = 'Reconcile'): void {
    const m = regarding.metadata;
    if (!m.namespace) return; // every Quarry kind is namespaced; cluster-scoped events would go to "default"
    const now = this.o.clock.now();
    const key = `${m.uid ?? `${m.namespace}/${m.name}`}|${type}|${reason}|${note}`;
    const metric = (outcome: string) => this.o.metrics?.events.inc({ type, reason, outcome });
    const prev = this.seen.get(key);
    if (prev && now - prev.first < this.o.dedupeWindowMs) {
      prev.count++;
      metric('deduplicated');
      if (now - prev.flushedAt >= this.o.seriesFlushMs && prev.count !== prev.flushedCount) {
        prev.flushedAt = now;
        prev.flushedCount = prev.count;
        const count = prev.count;
        this.track(
          prev.name.then(async (name) => {
            if (name) await this.o.sink.patchSeries(m.namespace!, name, { count, lastObservedTime: new V1MicroTime(now) });
          }),
        );
      }
      return;
    }
    let bucket = this.buckets.get(m.uid ?? `${m.namespace}/${m.name}`);
    if (!bucket) {
      bucket = new TokenBucket(this.o.clock, this.o.refillPerSecond, this.o.burst);
      this.buckets.set(m.uid ?? `${m.namespace}/${m.name}`, bucket);
    }
    if (!bucket.tryTake()) {
      metric('throttled');
      return;
    }
    this.prune(now);
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${m.name}.${randomBytes(8).toString('hex')}`, namespace: m.namespace },
      eventTime: new V1MicroTime(now),
      reportingController: this.o.controller,
      reportingInstance: this.o.instance,
      action,
      reason,
      type,
      note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
      },
    };
    const name = this.o.sink.create(m.namespace, body).then(
      (r) => {
        metric('created');
        return r.name;
      },
      (err: unknown) => {
        metric('failed');
        this.log.warn({ err: err instanceof Error ? err.message : String(err), reason }, 'recording an event failed');
        return undefined;
      },
    );
    this.seen.set(key, { name, count: 1, first: now, flushedAt: now, flushedCount: 1 });
    this.track(name);
  }

  /** Waits for in-flight event writes (graceful shutdown, tests). */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'event write failed'));
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }

  private prune(now: number): void {
    if (this.seen.size >= 4096) {
      for (const [k, v] of this.seen) if (now - v.first >= this.o.dedupeWindowMs) this.seen.delete(k);
    }
    // Budgets of objects not heard from in a while are dropped (a fresh bucket starts full, the same thing).
    if (this.buckets.size >= 4096) this.buckets.clear();
  }
}
