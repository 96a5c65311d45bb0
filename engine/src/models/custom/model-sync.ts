/**
 * Keeps a runtime's custom models in step with the Model resources it watches, and says what the runtime serves.
 * Shared by the engine (app/engine-runtime.ts) and the standalone extraction worker (worker.ts): both deliver the
 * Models of the namespaces they watch, so a Collection's extractor and a Retriever's stage find the same model in
 * every process that runs them.
 */
import { logger } from '../../lib/log.ts';
import type { Models } from '../../ports/models.ts';
import type { Resource } from '../../ports/resource-store.ts';
import type { Model } from '../../resources/generated/types.ts';
import type { CustomModels } from './custom-models.ts';

const log = logger('model-sync');

/** The part of SharedWatches this needs: the Model kind's cache and its change events. */
export interface ModelWatch {
  subscribe(kind: 'Model', handler: () => void): void;
  isSynced(kind: 'Model'): boolean;
  list(kind: 'Model'): Resource[];
}

export interface ModelSyncOptions {
  watch: ModelWatch;
  custom: CustomModels;
  /** A delivery that failed is tried again this often (a source back, a file fixed in place); default 30 s. */
  resyncMs?: number;
  /** After each sync (the served-models report's beat, so the operator sees a new model at once). */
  onSynced?: () => Promise<void> | void;
}

/** Delivers the watched Model resources through `custom` on every change and every `resyncMs`, until stopped. */
export class ModelSync {
  private readonly o: ModelSyncOptions;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;

  /** Subscribes at once (so no change is missed while the watch lists); syncing starts with start(). */
  constructor(o: ModelSyncOptions) {
    this.o = o;
    o.watch.subscribe('Model', () => this.sync());
  }

  /** The first sync (once the watch has listed) and the periodic retry of failed deliveries. */
  start(): void {
    this.started = true;
    this.sync();
    this.timer = setInterval(() => this.sync(), this.o.resyncMs ?? 30_000);
    this.timer.unref();
  }

  sync(): void {
    if (!this.started || this.stopped || !this.o.watch.isSynced('Model')) return;
    this.o.custom
      .sync(this.o.watch.list('Model') as unknown as Model[])
      .then(() => this.o.onSynced?.())
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'custom model sync failed'));
  }

  /** Stops syncing and waits for a delivery in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.o.custom.idle();
  }
}

/**
 * What a runtime serves, as the served-models report says it: the port's models, custom ones with the declaration
 * (delivery key) they serve; undefined while the port cannot tell (an unavailable port answers list() with a rejected
 * promise): nothing is reported then.
 */
export function servedModels(models: Models, custom: CustomModels | undefined): { name: string; kind: string; key?: string }[] | undefined {
  const list = models.list() as unknown;
  if (Array.isArray(list)) {
    const keys = new Map((custom?.served() ?? []).map((m) => [m.name, m.key]));
    return (list as ReturnType<Models['list']>).map((m) => ({ name: m.name, kind: m.kind, ...(keys.has(m.name) ? { key: keys.get(m.name)! } : {}) }));
  }
  if (list instanceof Promise) list.catch(() => undefined);
  return undefined;
}
