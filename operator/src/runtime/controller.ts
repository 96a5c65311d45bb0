/**
 * A generic controller: informer events → keys in a de-duplicating work queue → `reconcile(obj)` with the current
 * object from the cache, and the status written by the runtime from what the reconciler reports.
 *
 * Per key, in this order:
 * 1. object gone from the cache → nothing to do (finalizers guarantee cleanup ran before it vanished);
 * 2. deletion first: deletionTimestamp set and our finalizer present → `finalize(obj)`, then remove the finalizer;
 *    while finalize fails, status says what blocks the deletion (Ready=False, reason DeletionBlocked) and the key is
 *    retried with backoff. External services are never contacted before this step, so a broken dependency cannot
 *    wedge a deletion behind a failing reconcile. This runs for paused objects too (Flux's order: deletion before
 *    suspend), so pausing never blocks a deletion;
 * 3. `quarry.dev/paused: "true"` → hands off: no reconcile; status says Paused;
 * 4. otherwise ensure the finalizer, then `reconcile(obj)`;
 * 5. status = { ...reconciler fields, observedGeneration, kstatus conditions }; written with server-side apply on
 *    /status only when it differs from the current status; lastTransitionTime only moves when a status flips;
 * 6. requeue after the reconciler's `requeueAfter` or the resync period (~60 s, jittered) to re-observe external
 *    state; a thrown error retries with per-key exponential backoff; a TerminalError sets Stalled and waits for a
 *    spec change; a result with `stalled: true` (operator configuration or a Secret to fix) sets Stalled and keeps
 *    re-observing, so it clears by itself once fixed.
 * Status-only updates of the object itself do not enqueue it (the runtime's own status writes would otherwise
 * trigger a second reconcile each time).
 */
import type { Logger } from '#core/lib/log.ts';
import { logger } from '#core/lib/log.ts';
import { keyOf, parseKey, type Resource, type ResourceStore, type WatchEvent } from '#core/ports/resource-store.ts';
import { jitter } from './clock.ts';
import { canonicalJson, findCondition, kstatusConditions, type Condition, type ConditionInput, type Outcome } from './conditions.ts';
import type { EventReason, EventRecorder, EventType } from './events.ts';
import { PAUSED_ANNOTATION, QUARRY_FINALIZER, type KindInfo } from './kinds.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { SharedWatches } from './shared-watches.ts';
import { WorkQueue, type WorkQueueOptions } from './work-queue.ts';

export interface ReconcileContext {
  log: Logger;
  store: ResourceStore;
  /** The shared caches: read other kinds (dependencies) without API calls. */
  cache: SharedWatches;
  metrics: OperatorMetrics;
  event(type: EventType, reason: EventReason, note: string): void;
  /**
   * Sets annotations on the object itself (metadata only, never spec): server-side apply as field manager
   * `quarry-operator`, preconditioned on the object's uid. `annotations` is the full set this operator owns on the
   * object (ones it set before and leaves out are released). For records that must outlive the process, e.g. "Quarry
   * created this external resource" before creating it. The run's object is updated in place.
   */
  annotate(annotations: Record<string, string>): Promise<void>;
  /**
   * Aborted when this run exceeds the reconcile timeout or the operator shuts down: pass it to external clients
   * so a hung call cannot hold the key (and a worker) forever.
   */
  signal: AbortSignal;
}

export interface ReconcileResult {
  ready: Outcome['ready'];
  /** Kind-specific conditions next to Ready (e.g. NamespaceReady). */
  conditions?: ConditionInput[];
  /** Kind-specific status fields (everything except observedGeneration and conditions). */
  status?: Record<string, unknown>;
  /** Re-observe after this many ms (jittered); default the controller's resync period. */
  requeueAfter?: number;
  /**
   * Ready=False for a reason only a human can fix outside the spec (operator configuration missing, a referenced
   * Secret missing or invalid): reported as kstatus Stalled=True with Ready's reason and message (Failed, so
   * `helm --wait`, Flux and Argo CD stop waiting) instead of Reconciling=True (InProgress forever). Unlike a
   * TerminalError the object keeps being re-observed every `requeueAfter`, so it recovers by itself once fixed.
   */
  stalled?: boolean;
}

export interface FinalizeResult {
  /** False: cleanup is still in progress; the message goes to status and the key is retried. */
  done: boolean;
  reason?: string;
  message?: string;
  requeueAfter?: number;
}

/** A reconcile error retrying cannot fix (e.g. an invalid reference): Stalled=True, no backoff retries. */
export class TerminalError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'TerminalError';
    this.reason = reason;
  }
}

export interface Reconciler<T extends Resource = Resource> {
  kind: KindInfo;
  /** The finalizer to hold objects until `finalize` ran; false for kinds with no external state. */
  finalizer?: string | false;
  concurrency?: number;
  resyncMs?: number;
  /** Budget of one reconcile/finalize run before ctx.signal aborts (default 2 minutes). */
  timeoutMs?: number;
  reconcile(obj: T, ctx: ReconcileContext): Promise<ReconcileResult>;
  finalize?(obj: T, ctx: ReconcileContext): Promise<FinalizeResult | void>;
  /** Other kinds whose changes should re-run some of our keys (dependencies): map an object to our keys. */
  watches?: Array<{ kind: string; map: (obj: Resource, cache: SharedWatches) => string[] }>;
}

export interface ControllerDeps {
  store: ResourceStore;
  cache: SharedWatches;
  metrics: OperatorMetrics;
  events: EventRecorder;
  queue?: Omit<WorkQueueOptions, 'onDepth' | 'onError'>;
  /**
   * How long a Ready object at its current generation stays Ready while its reconciles fail with transient errors
   * (default 60 s, about one re-observation period). One failed call to a backing service during a resync would
   * otherwise flip it and, through dependency propagation, every resource referencing it. Terminal errors are
   * reported at once.
   */
  transientErrorGraceMs?: number;
}

interface MetaFingerprint {
  generation: number | undefined;
  meta: string;
}

export class Controller<T extends Resource = Resource> {
  readonly kind: string;
  readonly queue: WorkQueue;
  private readonly r: Reconciler<T>;
  private readonly d: ControllerDeps;
  private readonly log: Logger;
  private readonly finalizer: string | false;
  private readonly resyncMs: number;
  private readonly seen = new Map<string, MetaFingerprint>();
  /** Per key: the status we last sent and what the apiserver stored from it (they differ when the schema prunes). */
  private readonly lastWrite = new Map<string, { sent: string; stored: string }>();
  private warnedDrift = false;
  /**
   * Per key: resourceVersions our own writes replaced. A cache entry still at one of them has not seen our write
   * yet; reconciling it would redo (and re-write) what we just did, so the run waits for the cache instead.
   */
  private readonly superseded = new Map<string, Set<string>>();
  /** Per key: when its current run of transient reconcile errors began (cleared by a success). */
  private readonly failingSince = new Map<string, number>();
  private readonly shutdown = new AbortController();

  constructor(reconciler: Reconciler<T>, deps: ControllerDeps) {
    this.r = reconciler;
    this.d = deps;
    this.kind = reconciler.kind.kind;
    this.finalizer = reconciler.finalizer === undefined ? QUARRY_FINALIZER : reconciler.finalizer;
    this.resyncMs = reconciler.resyncMs ?? 60_000;
    this.log = logger('controller').child({ kind: this.kind });
    this.queue = new WorkQueue((key) => this.handle(key), {
      concurrency: reconciler.concurrency ?? 2,
      ...deps.queue,
      onDepth: (n) => deps.metrics.queueDepth.set({ kind: this.kind }, n),
      onError: (key, err, retryInMs) =>
        this.log.warn({ key, err: err instanceof Error ? err.message : String(err), retryInMs }, 'reconcile failed, retrying'),
    });
  }

  /** Subscribes to the caches (starting the watches) and starts the workers. */
  start(): void {
    this.d.cache.subscribe(this.kind, (e) => this.onOwnEvent(e));
    for (const w of this.r.watches ?? []) {
      this.d.cache.subscribe(w.kind, (e) => {
        for (const key of w.map(e.object, this.d.cache)) this.queue.add(key);
      });
    }
    // Workers start once the caches have listed, as controller-runtime waits for cache sync: before that a
    // dependency not listed yet looks missing, and every restart would flap statuses (Ready → DependencyNotFound →
    // Ready, each flip a write). Deferred a tick so every controller's watches are registered first.
    void Promise.resolve()
      .then(() => this.d.cache.synced())
      .then(
        () => this.queue.start(),
        (err: unknown) => this.log.error({ err: errorMessage(err) }, 'caches failed to sync; workers not started'),
      );
  }

  async stop(): Promise<void> {
    this.shutdown.abort(new Error('operator shutting down'));
    await this.queue.shutdown();
  }

  private onOwnEvent(e: WatchEvent<Resource>): void {
    const key = keyOf(e.object);
    if (e.type === 'deleted') {
      this.seen.delete(key);
      this.lastWrite.delete(key);
      this.superseded.delete(key);
      this.failingSince.delete(key);
      this.queue.add(key);
      return;
    }
    const m = e.object.metadata;
    const fp: MetaFingerprint = {
      generation: m.generation,
      meta: JSON.stringify([m.labels ?? {}, m.annotations ?? {}, m.finalizers ?? [], m.deletionTimestamp ?? null, m.uid]),
    };
    const prev = this.seen.get(key);
    this.seen.set(key, fp);
    if (e.type === 'modified' && prev && prev.generation === fp.generation && prev.meta === fp.meta) return; // status-only
    this.queue.add(key);
  }

  private get errorGraceMs(): number {
    return this.d.transientErrorGraceMs ?? 60_000;
  }

  /** Whether a transient error may leave the status alone: Ready=True at the current generation, failing briefly. */
  private withinErrorGrace(obj: T, prevReady: Condition | undefined): boolean {
    const key = keyOf(obj);
    const since = this.failingSince.get(key) ?? Date.now();
    this.failingSince.set(key, since);
    const observed = (obj.status as { observedGeneration?: number } | undefined)?.observedGeneration;
    return prevReady?.status === 'True' && observed === obj.metadata.generation && Date.now() - since < this.errorGraceMs;
  }

  private ctx(obj: T): ReconcileContext {
    const log = this.log.child({ key: keyOf(obj) });
    return {
      log,
      store: this.d.store,
      cache: this.d.cache,
      metrics: this.d.metrics,
      event: (type, reason, note) => this.d.events.emit(obj, type, reason, note),
      annotate: async (annotations) => {
        const m = obj.metadata;
        const updated = await this.d.store.apply<T>({
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          metadata: { name: m.name, ...(m.namespace ? { namespace: m.namespace } : {}), ...(m.uid ? { uid: m.uid } : {}), annotations },
        });
        // The cache still at the old resourceVersion has not seen this write: the next run waits for it.
        this.noteWrite(obj, updated.metadata.resourceVersion);
        m.annotations = { ...(m.annotations ?? {}), ...annotations };
      },
      signal: AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.r.timeoutMs ?? 120_000)]),
    };
  }

  private async handle(key: string): Promise<{ requeueAfter?: number }> {
    const cached = this.d.cache.get<T>(this.kind, parseKey(key));
    if (!cached) {
      this.d.metrics.reconcileTotal.inc({ kind: this.kind, result: 'deleted' });
      return {};
    }
    const rv = cached.metadata.resourceVersion;
    const stale = this.superseded.get(key);
    if (stale && rv !== undefined && stale.has(rv)) {
      this.d.metrics.reconcileTotal.inc({ kind: this.kind, result: 'stale-cache' });
      return { requeueAfter: 250 }; // our own status writes do not enqueue the key, so look again shortly
    }
    this.superseded.delete(key);
    const stopTimer = this.d.metrics.reconcileDuration.startTimer({ kind: this.kind });
    try {
      // A private copy: the cache's objects are shared and must never be mutated.
      return await this.process(structuredClone(cached));
    } catch (err) {
      this.d.metrics.reconcileErrors.inc({ kind: this.kind });
      this.d.metrics.reconcileTotal.inc({ kind: this.kind, result: 'error' });
      throw err;
    } finally {
      stopTimer();
    }
  }

  private async process(obj: T): Promise<{ requeueAfter?: number }> {
    const m = obj.metadata;
    const ref = { namespace: m.namespace, name: m.name, uid: m.uid };
    const ctx = this.ctx(obj);
    const prevConditions = (obj.status as { conditions?: Condition[] } | undefined)?.conditions;
    const prevReady = findCondition(prevConditions, 'Ready');

    // 2. Deletion first, even when paused (as Flux examines deletion before suspend): a paused object being
    //    deleted would otherwise hold its finalizer forever, and everything waiting for it (a QuarryNamespace
    //    waiting for its Collections) with it.
    if (m.deletionTimestamp) {
      if (!this.finalizer || !m.finalizers?.includes(this.finalizer)) return {};
      let res: FinalizeResult | void;
      try {
        res = this.r.finalize ? await this.r.finalize(obj, ctx) : { done: true };
      } catch (err) {
        const message = `deletion is blocked: ${errorMessage(err)}`;
        await this.writeStatus(obj, { ready: { status: 'False', reason: 'DeletionBlocked', message } }, this.keepFields(obj));
        ctx.event('Warning', 'DeletionBlocked', message);
        throw err;
      }
      if (res && !res.done) {
        const message = res.message ?? 'waiting for external resources to be deleted';
        await this.writeStatus(obj, { ready: { status: 'False', reason: res.reason ?? 'Deleting', message } }, this.keepFields(obj));
        return { requeueAfter: res.requeueAfter ?? 5_000 };
      }
      await this.d.store.removeFinalizer(this.kind, ref, this.finalizer);
      ctx.event('Normal', 'Finalized', 'External resources cleaned up; finalizer removed');
      this.d.metrics.reconcileTotal.inc({ kind: this.kind, result: 'finalized' });
      return {};
    }

    // 3. Paused: hands off entirely, and say so.
    if (m.annotations?.[PAUSED_ANNOTATION] === 'true') {
      const ready = prevReady
        ? { status: prevReady.status, reason: prevReady.reason, message: prevReady.message }
        : { status: 'Unknown' as const, reason: 'ReconcilePaused', message: 'Reconciliation is paused' };
      // observedGeneration stays where it was: a paused object has not seen its newer spec.
      const observed = (obj.status as { observedGeneration?: number } | undefined)?.observedGeneration;
      const changed = await this.writeStatus(obj, { ready, paused: true }, this.keepFields(obj), observed);
      if (changed) ctx.event('Normal', 'Paused', 'Reconciliation paused by annotation quarry.dev/paused=true');
      this.d.metrics.reconcileTotal.inc({ kind: this.kind, result: 'paused' });
      return {};
    }
    const wasPaused = findCondition(prevConditions, 'Paused');

    // 4. Ensure the finalizer before anything external exists.
    if (this.finalizer && !m.finalizers?.includes(this.finalizer)) {
      const withFinalizer = await this.d.store.addFinalizer(this.kind, ref, this.finalizer, obj);
      this.noteWrite(obj, withFinalizer.metadata.resourceVersion);
    }

    // kstatus: an object with no status yet must not look Current while a long first reconcile runs. When the first
    // reconcile takes longer than a second, say "in progress" (Ready=Unknown, Reconciling=True) meanwhile; quick ones
    // skip that extra write.
    let early: Promise<unknown> | undefined;
    const progressTimer = prevReady
      ? undefined
      : setTimeout(() => {
          early = this.writeStatus(
            obj,
            { ready: { status: 'Unknown', reason: 'Reconciling', message: 'Reconciliation has started' } },
            this.keepFields(obj),
          ).catch((err: unknown) => ctx.log.warn({ err: errorMessage(err) }, 'writing the in-progress status failed'));
        }, 1000);

    let result: ReconcileResult;
    try {
      result = await this.r.reconcile(obj, ctx).finally(async () => {
        clearTimeout(progressTimer);
        await early;
      });
    } catch (err) {
      const terminal = err instanceof TerminalError;
      if (!terminal && this.withinErrorGrace(obj, prevReady)) {
        // Ready at this generation and failing only since recently: retried with backoff, status left as it is.
        ctx.event('Warning', 'ReconcileError', `${errorMessage(err)} (retrying; Ready is kept while this lasts less than ${Math.round(this.errorGraceMs / 1000)} s)`);
        throw err;
      }
      const outcome: Outcome = terminal
        ? { ready: { status: 'False', reason: err.reason, message: err.message }, stalled: { reason: err.reason, message: err.message } }
        : { ready: { status: 'False', reason: 'ReconcileError', message: errorMessage(err) } };
      const changed = await this.writeStatus(obj, outcome, this.keepFields(obj));
      if (changed) ctx.event('Warning', terminal ? 'Stalled' : 'ReconcileError', errorMessage(err));
      if (terminal) {
        this.d.metrics.reconcileTotal.inc({ kind: this.kind, result: 'stalled' });
        return { requeueAfter: jitter(this.resyncMs * 5) };
      }
      throw err;
    }

    this.failingSince.delete(keyOf(obj));
    const stalled = result.stalled && result.ready.status === 'False' ? { reason: result.ready.reason, message: result.ready.message } : undefined;
    await this.writeStatus(obj, { ready: result.ready, conditions: result.conditions ?? [], ...(stalled ? { stalled } : {}) }, result.status ?? {});
    if (wasPaused) ctx.event('Normal', 'Resumed', 'Reconciliation resumed');
    if (prevReady?.status !== result.ready.status || (stalled && prevReady?.reason !== stalled.reason)) {
      if (result.ready.status === 'True') ctx.event('Normal', 'Ready', result.ready.message || 'Ready');
      else if (stalled) ctx.event('Warning', 'Stalled', `${stalled.reason}: ${stalled.message}`);
      else if (result.ready.status === 'False') {
        ctx.event('Warning', result.ready.reason === 'DependencyNotReady' ? 'DependencyNotReady' : 'NotReady', result.ready.message);
      }
    }
    this.d.metrics.reconcileTotal.inc({ kind: this.kind, result: 'success' });
    return { requeueAfter: jitter(result.requeueAfter ?? this.resyncMs) };
  }

  /** Records that a write moved the object from `obj`'s resourceVersion to `newRv` (a no-op write moves nothing). */
  private noteWrite(obj: T, newRv: string | undefined): void {
    const rv = obj.metadata.resourceVersion;
    if (rv === undefined || newRv === undefined || newRv === rv) return;
    const key = keyOf(obj);
    let set = this.superseded.get(key);
    if (!set) this.superseded.set(key, (set = new Set()));
    set.add(rv);
  }

  /** The status fields other than observedGeneration/conditions, kept as they are (paused, deleting, errors). */
  private keepFields(obj: T): Record<string, unknown> {
    const { observedGeneration: _g, conditions: _c, ...rest } = (obj.status ?? {}) as Record<string, unknown>;
    return rest;
  }

  /** Writes status when it differs from the object's current status; returns whether it wrote. */
  private async writeStatus(
    obj: T,
    outcome: Outcome,
    fields: Record<string, unknown>,
    generation: number | undefined = obj.metadata.generation,
  ): Promise<boolean> {
    // The object's status as of the last write in this run, so transition times carry over between writes.
    const prevConditions = (obj.status as { conditions?: Condition[] } | undefined)?.conditions;
    const status: Record<string, unknown> = {
      ...fields,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      conditions: kstatusConditions(prevConditions, outcome, generation),
    };
    const sent = canonicalJson(status);
    const current = canonicalJson(obj.status ?? {});
    if (sent === current) return false;
    const key = keyOf(obj);
    // Same intent as last time and the stored status is still what the apiserver made of it: nothing to do, even
    // if the apiserver pruned or defaulted a field (otherwise that difference would cause a write every resync).
    const last = this.lastWrite.get(key);
    if (last && last.sent === sent && last.stored === current) return false;
    const m = obj.metadata;
    const updated = await this.d.store.applyStatus<T>(this.kind, { namespace: m.namespace, name: m.name }, status);
    this.noteWrite(obj, updated.metadata.resourceVersion);
    const stored = canonicalJson(updated.status ?? {});
    this.lastWrite.set(key, { sent, stored });
    if (stored !== sent && !this.warnedDrift) {
      this.warnedDrift = true;
      this.log.warn({ key, sent: status, stored: updated.status }, 'the apiserver changed the status we wrote (schema pruning or defaults): fix the status schema or the reconciler');
    }
    // Later steps of this same run compare against what is now stored.
    obj.status = updated.status;
    return true;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
