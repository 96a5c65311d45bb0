/**
 * Leader election on a coordination.k8s.io/v1 Lease, client-go's algorithm (leaderelection.go) with
 * controller-runtime's timings: leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s.
 * Written here because @kubernetes/client-node has no leader election and the small npm packages that do target
 * older client-node majors. The algorithm:
 * - try every retryPeriod to acquire: create the Lease, or take it over when its holder has not renewed it for
 *   leaseDuration *as observed by our own clock* (we time how long the record stays unchanged, so clock skew
 *   between replicas does not matter); every update is a compare-and-swap on resourceVersion;
 * - while leading, renew every retryPeriod; if no renewal succeeded for renewDeadline, leadership is lost:
 *   `onStoppedLeading` runs (main.ts exits the process, as controller-runtime does). Every Lease call is raced
 *   against what is left of the renew deadline, so a call that hangs cannot stretch leadership past it;
 * - `stop({ release: true })` hands the lease over at once (holder cleared, 1 s duration).
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { logger } from '#core/lib/log.ts';
import { toStoreError } from './kube-resource-store.ts';
import { sleep } from './clock.ts';
import type { OperatorMetrics } from './metrics.ts';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  metrics?: OperatorMetrics;
  onStartedLeading?: () => void | Promise<void>;
  onStoppedLeading?: () => void | Promise<void>;
  onNewLeader?: (identity: string) => void;
}

export class LeaderElector {
  readonly identity: string;
  private readonly api: CoordinationV1Api;
  private readonly o: Required<Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>> &
    LeaderElectionOptions;
  private readonly log;
  private leading = false;
  private readonly abort = new AbortController();
  private observedRecord = '';
  private observedAt = 0;
  private observedHolder = '';
  /** When the attempt that acquired the lease started (its renewTime is no later). */
  private acquiredAt = 0;
  private done: Promise<void> | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    if (this.o.renewDeadlineMs >= this.o.leaseDurationMs) throw new Error('renewDeadline must be shorter than leaseDuration');
    this.identity = opts.identity;
    this.api = opts.kubeConfig.makeApiClient(CoordinationV1Api);
    this.log = logger('leader-election').child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Runs until leadership is lost or stop() is called; resolves then. */
  run(): Promise<void> {
    this.done ??= this.loop();
    return this.done;
  }

  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.abort.abort();
    await this.done;
    if (opts.release && this.leading) await this.release();
    this.setLeading(false);
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async loop(): Promise<void> {
    // Acquire (an attempt that hangs is given up after renewDeadline, so a stalled call cannot block acquiring).
    while (!this.stopped) {
      const started = Date.now();
      if (await this.withDeadline(this.tryAcquireOrRenew(), this.o.renewDeadlineMs)) {
        this.acquiredAt = started;
        break;
      }
      await sleep(this.jittered(this.o.retryPeriodMs), this.abort.signal);
    }
    if (this.stopped) return;
    this.setLeading(true);
    this.log.info('became leader');
    void Promise.resolve(this.o.onStartedLeading?.()).catch((err) => this.log.error({ err }, 'onStartedLeading failed'));
    // Renew. Each attempt gets only what is left of the renew deadline: a Lease call that hangs (a stalled
    // connection, an apiserver that accepts but never answers) must not keep this instance "leading" past it while
    // another replica takes the lease over. The deadline counts from when the last successful renewal was stamped.
    let lastRenew = this.acquiredAt;
    while (!this.stopped) {
      await sleep(this.o.retryPeriodMs, this.abort.signal);
      if (this.stopped) return;
      const started = Date.now();
      const remaining = lastRenew + this.o.renewDeadlineMs - started;
      if (remaining > 0 && (await this.withDeadline(this.tryAcquireOrRenew(), remaining))) {
        lastRenew = started;
      } else if (Date.now() - lastRenew >= this.o.renewDeadlineMs) {
        this.log.error({ sinceRenewMs: Date.now() - lastRenew }, 'failed to renew the lease in time: leadership lost');
        this.setLeading(false);
        await this.o.onStoppedLeading?.();
        return;
      }
    }
  }

  /** The attempt's result, or false once `ms` passed without one (the late result is ignored). */
  private async withDeadline(attempt: Promise<boolean>, ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        this.log.warn({ timeoutMs: ms }, 'a lease call did not answer within the renew deadline');
        resolve(false);
      }, ms);
    });
    try {
      return await Promise.race([attempt.catch(() => false), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.o.metrics?.isLeader.set(v ? 1 : 0);
  }

  private jittered(ms: number): number {
    return ms * (1 + Math.random() * 0.2);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new V1MicroTime();
    const durationSeconds = Math.ceil(this.o.leaseDurationMs / 1000);
    const { namespace, name } = this.o;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      const e = toStoreError(err);
      if (e.reason !== 'NotFound') {
        this.log.warn({ err: e.message }, 'reading the lease failed');
        return false;
      }
      try {
        this.o.metrics?.apiWrites.inc({ verb: 'create', resource: 'leases' });
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: { holderIdentity: this.identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
          },
        });
        this.observe(this.identity, String(now.toISOString()));
        return true;
      } catch (err2) {
        this.log.debug({ err: toStoreError(err2).message }, 'creating the lease failed');
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = `${holder}|${String(spec.renewTime ?? '')}|${spec.leaseDurationSeconds ?? ''}`;
    if (record !== this.observedRecord) this.observe(holder, record);
    const leaseMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    const held = holder !== '' && holder !== this.identity;
    if (held && this.observedAt + leaseMs > Date.now()) return false; // someone else holds an unexpired lease
    const transitions = (spec.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1);
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: holder === this.identity && spec.acquireTime ? spec.acquireTime : now,
        renewTime: now,
        leaseTransitions: transitions,
      },
    };
    try {
      this.o.metrics?.apiWrites.inc({ verb: 'update', resource: 'leases' });
      await this.api.replaceNamespacedLease({ name, namespace, body });
      this.observe(this.identity, `${this.identity}|${now.toISOString()}|${durationSeconds}`);
      return true;
    } catch (err) {
      this.log.debug({ err: toStoreError(err).message }, 'updating the lease failed');
      return false;
    }
  }

  private observe(holder: string, record: string): void {
    this.observedRecord = record;
    this.observedAt = Date.now();
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      if (holder) this.o.onNewLeader?.(holder);
    }
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      this.o.metrics?.apiWrites.inc({ verb: 'update', resource: 'leases' });
      const now = new V1MicroTime();
      await this.api.replaceNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now } },
      });
      this.log.info('released the lease');
    } catch (err) {
      this.log.warn({ err: toStoreError(err).message }, 'releasing the lease failed');
    }
  }
}
