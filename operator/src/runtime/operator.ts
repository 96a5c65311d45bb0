/**
 * Assembles the runtime: a ResourceStore (the Kubernetes API in a cluster; any other store, e.g. local mode's, when
 * given), shared watches, metrics, the event recorder (Kubernetes events, or the given sink), one controller per
 * registered reconciler, optional Lease leader election (Kubernetes only) and the probe/metrics server.
 * Controllers (and their watches) run only while this instance leads; a follower is alive and ready but idle.
 * `stop()` is the graceful shutdown: stop taking work, let running reconciles finish, release the lease, flush
 * events, close the server.
 */
import os from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Resource, ResourceStore } from '#core/ports/resource-store.ts';
import { logger } from '#core/lib/log.ts';
import { Controller, type Reconciler } from './controller.ts';
import { EventRecorder, kubeEventSink, logEventSink, type EventSink } from './events.ts';
import { startProbeServer, type ProbeServer } from '#core/lib/probe-server.ts';
import { KubeResourceStore, stripForCache, type KubeResourceStoreOptions } from './kube-resource-store.ts';
import { QUARRY_KINDS, SECRET_KIND, type KindInfo } from './kinds.ts';
import { LeaderElector } from './leader-election.ts';
import { reuseConnections } from './kube-connections.ts';
import { OperatorMetrics } from './metrics.ts';
import { SharedWatches } from './shared-watches.ts';
import type { WorkQueueOptions } from './work-queue.ts';

export interface OperatorOptions {
  /** The cluster: its API is the ResourceStore and receives the events. Not needed when `store` is given. */
  kubeConfig?: KubeConfig;
  /** Run on this ResourceStore instead of the Kubernetes API (local mode); no leader election then. */
  store?: ResourceStore;
  /** Where events go; default: Kubernetes events with `kubeConfig`, the log otherwise. */
  eventSink?: EventSink;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each reconciler narrows its own object type
  reconcilers: Reconciler<any>[];
  /** Extra kinds beyond the Quarry ones (tests). */
  kinds?: readonly KindInfo[];
  /** Empty or undefined: the whole cluster. */
  namespaces?: readonly string[];
  identity?: string;
  leaderElection?: { namespace: string; name: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** Probe/metrics server; omitted: none. */
  metricsServer?: { port: number; host: string };
  informer?: KubeResourceStoreOptions['informer'];
  queue?: Omit<WorkQueueOptions, 'onDepth' | 'onError'>;
  /** See ControllerDeps.transientErrorGraceMs (default 60 s). */
  transientErrorGraceMs?: number;
  defaultMetrics?: boolean;
  /** Called when the lease is lost (main.ts exits the process). */
  onLostLeadership?: () => void;
}

export class Operator {
  readonly identity: string;
  readonly metrics: OperatorMetrics;
  readonly store: ResourceStore;
  readonly events: EventRecorder;
  readonly elector: LeaderElector | undefined;
  private readonly o: OperatorOptions;
  private readonly log = logger('operator');
  private cache: SharedWatches | undefined;
  private controllers: Controller<Resource>[] = [];
  private server: ProbeServer | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;

  constructor(opts: OperatorOptions) {
    this.o = opts;
    this.identity = opts.identity ?? `${os.hostname()}_${process.pid}`;
    this.metrics = new OperatorMetrics({ defaultMetrics: opts.defaultMetrics ?? false });
    // One keep-alive connection pool for every API client of this KubeConfig (store, events, lease).
    const kc = opts.kubeConfig && reuseConnections(opts.kubeConfig);
    if (opts.store) this.store = opts.store;
    else if (kc) {
      this.store = new KubeResourceStore(kc, {
        kinds: [...QUARRY_KINDS, SECRET_KIND, ...(opts.kinds ?? [])],
        metrics: this.metrics,
        // The controllers read spec, status, labels, annotations and finalizers, never managedFields.
        cacheTransform: stripForCache,
        ...(opts.informer ? { informer: opts.informer } : {}),
      });
    } else throw new Error('Operator needs a kubeConfig or a store');
    const sink = opts.eventSink ?? (kc ? kubeEventSink(kc, this.metrics) : logEventSink());
    this.events = new EventRecorder({ sink, instance: this.identity, metrics: this.metrics });
    const le = opts.leaderElection;
    if (le && !kc) throw new Error('leader election needs a kubeConfig (it holds a Lease in the cluster)');
    this.elector = le && kc
      ? new LeaderElector({
          kubeConfig: kc,
          identity: this.identity,
          metrics: this.metrics,
          ...le,
          onStartedLeading: () => this.startControllers(),
          onStoppedLeading: () => this.lostLeadership(),
        })
      : undefined;
  }

  get port(): number | undefined {
    return this.server?.port;
  }

  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : this.running;
  }

  /** Ready: leading with every cache synced, or a standby follower. */
  ready(): boolean {
    if (this.elector && !this.elector.isLeader()) return !this.stopping;
    return this.running && (this.cache?.isSynced() ?? false);
  }

  controller(kind: string): Controller<Resource> | undefined {
    return this.controllers.find((c) => c.kind === kind);
  }

  async start(): Promise<void> {
    if (this.o.metricsServer) {
      this.server = await startProbeServer({ ...this.o.metricsServer, registry: this.metrics.registry, ready: () => this.ready() });
      this.log.info({ port: this.server.port }, 'probe and metrics server listening');
    }
    if (this.elector) void this.elector.run();
    else this.startControllers();
  }

  /** Resolves once controllers run and every watch has listed. */
  async synced(): Promise<void> {
    while (!this.cache) await new Promise((r) => setTimeout(r, 50));
    await this.cache.synced();
  }

  async stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private startControllers(): void {
    if (this.running || this.stopping) return;
    this.running = true;
    this.cache = new SharedWatches(this.store, this.o.namespaces);
    this.controllers = this.o.reconcilers.map(
      (r) =>
        new Controller<Resource>(r, {
          store: this.store,
          cache: this.cache!,
          metrics: this.metrics,
          events: this.events,
          ...(this.o.queue ? { queue: this.o.queue } : {}),
          ...(this.o.transientErrorGraceMs !== undefined ? { transientErrorGraceMs: this.o.transientErrorGraceMs } : {}),
        }),
    );
    for (const c of this.controllers) c.start();
    this.log.info({ kinds: this.controllers.map((c) => c.kind), namespaces: this.o.namespaces ?? 'all' }, 'controllers started');
  }

  private async stopControllers(): Promise<void> {
    this.running = false;
    await Promise.all(this.controllers.map((c) => c.stop()));
    await this.cache?.stop();
  }

  private async lostLeadership(): Promise<void> {
    this.log.error('leader lease lost: stopping controllers');
    // Stopping aborts every in-flight reconcile at once; the callback (main.ts exits the process) runs right away
    // rather than after the runs drained, so a non-leader does not keep writing while they finish.
    const stopped = this.stopControllers();
    this.o.onLostLeadership?.();
    await stopped;
  }

  private async doStop(): Promise<void> {
    this.log.info('shutting down');
    await this.stopControllers();
    await this.elector?.stop({ release: true });
    await this.events.flush();
    await this.server?.close();
  }
}
