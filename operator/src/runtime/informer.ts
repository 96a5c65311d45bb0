/**
 * Informer over client-node's ListWatch (list + watch + cache), hardened the way client-node's own issues ask
 * operators to (#364, #596, #958, #1933): ListWatch stops for good on any error other than 410/timeout, so this
 * wrapper
 * - restarts after an error with jittered exponential backoff (1 s → 60 s), never in a tight loop;
 * - has a watchdog: no event and no (re)connect for `watchdogMs` → relist;
 * - relists every `relistMs` (jittered) to heal any missed event;
 * - keeps serving the old cache while a relist runs, then emits only real differences (added, modified by
 *   resourceVersion, deleted when gone) so a relist does not storm the work queue;
 * - exposes `synced` (first full list done) for readiness.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '#core/lib/log.ts';
import { logger } from '#core/lib/log.ts';
import { jitter } from './clock.ts';

export type InformerEventType = 'added' | 'modified' | 'deleted';
export type InformerHandler<T> = (type: InformerEventType, obj: T) => void;

export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Watch path, e.g. /apis/quarry.dev/v1alpha1/namespaces/ns1/collections. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  name?: string;
  watchdogMs?: number;
  relistMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Applied to every watched object before ListWatch's cache and this one keep it (list results: in `list`). */
  transform?: (obj: T) => T;
}

const cacheKey = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class Informer<T extends KubernetesObject> {
  readonly synced: Promise<void>;
  readonly stats = { generations: 0, errors: 0, relists: 0 };
  private readonly opts: Required<Omit<InformerOptions<T>, 'name' | 'transform'>> & Pick<InformerOptions<T>, 'transform'>;
  private readonly log: Logger;
  private readonly handlers: InformerHandler<T>[] = [];
  private current: ListWatch<T> | undefined;
  /** The last complete view, used while a new generation lists. */
  private view = new Map<string, T>();
  /** The same objects by namespace, so `list(namespace)` (dependents of a changed object) does not scan them all. */
  private readonly byNamespace = new Map<string, Map<string, T>>();
  private markSynced!: () => void;
  private syncedFlag = false;
  private stopped = true;
  private starting = false;
  private failures = 0;
  private lastActivity = Date.now();
  private restartTimer: NodeJS.Timeout | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;

  constructor(opts: InformerOptions<T>) {
    this.opts = {
      watchdogMs: 5 * 60_000,
      relistMs: 10 * 60_000,
      backoffBaseMs: 1000,
      backoffMaxMs: 60_000,
      ...opts,
    };
    this.log = logger('informer').child({ informer: opts.name ?? opts.path });
    this.synced = new Promise((r) => (this.markSynced = r));
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  isSynced(): boolean {
    return this.syncedFlag;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.view.get(`${namespace ?? ''}/${name}`);
  }

  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.view.values()];
    const ns = this.byNamespace.get(namespace);
    return ns ? [...ns.values()] : [];
  }

  private put(k: string, obj: T): void {
    this.view.set(k, obj);
    const ns = obj.metadata?.namespace ?? '';
    let m = this.byNamespace.get(ns);
    if (!m) this.byNamespace.set(ns, (m = new Map()));
    m.set(k, obj);
  }

  private remove(k: string): boolean {
    const obj = this.view.get(k);
    if (!obj) return false;
    this.view.delete(k);
    const ns = obj.metadata?.namespace ?? '';
    const m = this.byNamespace.get(ns);
    m?.delete(k);
    if (m?.size === 0) this.byNamespace.delete(ns);
    return true;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.lastActivity = Date.now();
    void this.newGeneration('start');
    const tick = Math.max(50, Math.min(this.opts.watchdogMs / 4, 30_000));
    this.watchdogTimer = setInterval(() => {
      if (!this.starting && Date.now() - this.lastActivity > this.opts.watchdogMs) {
        this.log.warn({ silentMs: Date.now() - this.lastActivity }, 'watch silent too long, relisting');
        void this.relist('watchdog');
      }
    }, tick);
    this.watchdogTimer.unref();
    this.scheduleRelist();
  }

  /** Replaces the watch with a fresh list + watch; emits only what differs from the cache. */
  async relist(reason = 'manual'): Promise<void> {
    if (this.stopped) return;
    this.stats.relists++;
    await this.newGeneration(reason);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.relistTimer);
    clearInterval(this.watchdogTimer);
    const lw = this.current;
    this.current = undefined;
    if (lw) await lw.stop();
  }

  private emit(type: InformerEventType, obj: T): void {
    for (const h of this.handlers) {
      try {
        h(type, obj);
      } catch (err) {
        this.log.error({ err }, 'informer handler threw');
      }
    }
  }

  /** client-node's Watch, with `transform` applied to each event's object before ListWatch caches it. */
  private watcher(): Watch {
    const w = new Watch(this.opts.kubeConfig);
    const t = this.opts.transform;
    if (!t) return w;
    const watch: Watch['watch'] = (path, query, callback, done) =>
      w.watch(path, query, (phase, obj, raw) => callback(phase, obj && typeof obj === 'object' && 'metadata' in obj ? t(obj as T) : obj, raw), done);
    return Object.assign(Object.create(w) as Watch, { watch });
  }

  private scheduleRelist(): void {
    clearTimeout(this.relistTimer);
    this.relistTimer = setTimeout(() => {
      void this.relist('periodic').finally(() => {
        if (!this.stopped) this.scheduleRelist();
      });
    }, jitter(this.opts.relistMs, 0.2));
    this.relistTimer.unref();
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped) return;
    this.stats.errors++;
    this.failures++;
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (this.failures - 1));
    const delay = jitter(base / 2, 1); // [base/2, base]: restarts of many informers spread out
    this.log.warn({ err: describe(err), retryInMs: Math.round(delay) }, 'watch failed, restarting');
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => void this.newGeneration('error'), delay);
    this.restartTimer.unref();
  }

  private async newGeneration(reason: string): Promise<void> {
    if (this.stopped || this.starting) return;
    this.starting = true;
    clearTimeout(this.restartTimer);
    this.stats.generations++;
    const lw = new ListWatch<T>(this.opts.path, this.watcher(), this.opts.list, false);
    let listing = true;
    let failed: unknown;
    const seen = new Set<string>();
    const onUpsert = (obj: T) => {
      this.lastActivity = Date.now();
      const k = cacheKey(obj);
      if (listing) {
        // Initial list of this generation: compare with the view we already have.
        seen.add(k);
        const old = this.view.get(k);
        this.put(k, obj);
        if (!old) this.emit('added', obj);
        else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('modified', obj);
        return;
      }
      // An older generation's events stop counting once a new list is under way: the new list and its watch
      // carry everything from that point on.
      if (this.current !== lw || this.starting) return;
      const existed = this.view.has(k);
      this.put(k, obj);
      this.emit(existed ? 'modified' : 'added', obj);
    };
    lw.on('add', onUpsert);
    lw.on('update', onUpsert);
    lw.on('delete', (obj) => {
      this.lastActivity = Date.now();
      const k = cacheKey(obj);
      if (listing) {
        // A delete from this generation's watch before its start() returned.
        seen.delete(k);
      } else if (this.current !== lw || this.starting) {
        return;
      }
      if (this.remove(k)) this.emit('deleted', obj);
    });
    lw.on('connect', () => {
      this.lastActivity = Date.now();
    });
    lw.on('error', (err) => {
      if (listing) {
        failed = err ?? new Error('list failed');
        return;
      }
      if (this.current !== lw) return; // an old generation being stopped
      this.current = undefined;
      void lw.stop();
      this.scheduleRestart(err);
    });
    try {
      await lw.start();
    } catch (err) {
      failed = err;
    }
    listing = false;
    this.starting = false;
    if (failed !== undefined || this.stopped) {
      void lw.stop();
      if (failed !== undefined) this.scheduleRestart(failed);
      return;
    }
    // Everything the new list did not return is gone.
    for (const [k, obj] of [...this.view]) {
      if (!seen.has(k)) {
        this.remove(k);
        this.emit('deleted', obj);
      }
    }
    const old = this.current;
    this.current = lw;
    if (old) void old.stop();
    this.failures = 0;
    this.lastActivity = Date.now();
    this.log.debug({ reason, objects: this.view.size }, 'listed and watching');
    if (!this.syncedFlag) {
      this.syncedFlag = true;
      this.markSynced();
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
