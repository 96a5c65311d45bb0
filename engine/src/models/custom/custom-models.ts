/**
 * Keeps a runtime's Models port in step with the Model resources it can see: a new or changed Model is delivered
 * (fetched, verified, cached: delivery.ts), registered with the port and probed (every graph loaded, one input run,
 * output size checked); a deleted one is unregistered. What it serves and what failed (with the file at fault) go
 * into the runtime's served-models report, from which the operator writes the Model's Ready condition.
 * Deliveries run one at a time (model files are large; the host has few cores), newest declaration wins.
 */
import { logger } from '../../lib/log.ts';
import type { Model } from '../../resources/generated/types.ts';
import type { ModelEntry } from '../manifest.ts';
import type { ModelCache } from './cache.ts';
import { deliverModel, deliveryKey, runtimeModelName } from './delivery.ts';
import { ModelFileError, type DeliveryReason } from './errors.ts';
import type { SourceDeps } from './sources.ts';

const log = logger('custom-models');

/** What the Models adapter must offer to run custom models (OnnxModels does). */
export interface ModelHost {
  register(entry: ModelEntry): Promise<void>;
  unregister(name: string): Promise<void>;
  probe(name: string): Promise<void>;
}

export function isModelHost(m: unknown): m is ModelHost {
  const x = m as Partial<ModelHost> | undefined;
  return typeof x?.register === 'function' && typeof x.unregister === 'function' && typeof x.probe === 'function';
}

/** A Model this runtime could not serve, as reported to the operator. */
export interface FailedModel {
  name: string;
  reason: DeliveryReason;
  /** spec.files[].path at fault, when one is. */
  file?: string;
  message: string;
  /** The delivery key (spec content) the failure is about, so a fixed spec is not judged by an old failure. */
  key: string;
}

/** A failed delivery is tried again on a sync this long after it failed (a source may come back; a file may be fixed in place). */
const RETRY_MS = 60_000;

interface State {
  key: string;
  at: number;
  kind: string;
  ok: boolean;
  failure?: FailedModel;
}

export interface CustomModelsOptions {
  host: ModelHost;
  cache: ModelCache;
  sources: Omit<SourceDeps, 'stagingDir'>;
  /** Retry a failed delivery after this long (default 60 s). */
  retryMs?: number;
}

export class CustomModels {
  private readonly o: CustomModelsOptions;
  private readonly state = new Map<string, State>();
  private chain: Promise<void> = Promise.resolve();
  private pending: Model[] | undefined;

  constructor(o: CustomModelsOptions) {
    this.o = o;
  }

  /** Brings the port in line with `models` (the live Model resources); resolves when done. Calls coalesce. */
  sync(models: Model[]): Promise<void> {
    const first = this.pending === undefined;
    this.pending = models;
    if (first) this.chain = this.chain.then(() => this.run());
    return this.chain;
  }

  private async run(): Promise<void> {
    const models = this.pending ?? [];
    this.pending = undefined;
    const wanted = new Map(models.filter((m) => !m.metadata.deletionTimestamp).map((m) => [runtimeModelName(m.metadata.namespace ?? '', m.metadata.name), m]));
    for (const name of [...this.state.keys()]) {
      if (wanted.has(name)) continue;
      this.state.delete(name);
      await this.o.host.unregister(name).catch(() => {});
      log.info({ model: name }, 'custom model removed');
    }
    for (const [name, m] of wanted) {
      const key = deliveryKey(m.metadata.namespace ?? '', m);
      const had = this.state.get(name);
      if (had?.key === key && (had.ok || Date.now() - had.at < (this.o.retryMs ?? RETRY_MS))) continue;
      this.state.set(name, await this.deliver(name, key, m));
    }
  }

  private async deliver(name: string, key: string, m: Model): Promise<State> {
    const kind = m.spec.type;
    const started = Date.now();
    let specPathOf: Record<string, string> = {};
    try {
      const d = await deliverModel(m, this.o.cache, this.o.sources);
      specPathOf = d.specPathOf;
      await this.o.host.register(d.entry);
      await this.o.host.probe(name);
      log.info({ model: name, ms: Date.now() - started, ...this.o.cache.stats }, 'custom model served');
      return { key, at: Date.now(), kind, ok: true };
    } catch (err) {
      await this.o.host.unregister(name).catch(() => {});
      let failure: FailedModel;
      if (err instanceof ModelFileError) {
        failure = { name, key, reason: err.reason, message: err.message, ...(err.file ? { file: err.file } : {}) };
      } else {
        // A load or probe failure: name the declared file behind the layout name the adapter reported.
        const layoutFile = (err as { file?: string }).file;
        const file = layoutFile ? (specPathOf[layoutFile] ?? layoutFile) : undefined;
        failure = { name, key, reason: 'LoadFailed', message: `${file ? `file ${file}: ` : ''}the model does not load or run: ${(err as Error).message}`, ...(file ? { file } : {}) };
      }
      log.warn({ model: name, reason: failure.reason, file: failure.file, err: failure.message }, 'custom model not served');
      return { key, at: Date.now(), kind, ok: false, failure };
    }
  }

  /** Models served now (names as the port knows them). */
  served(): { name: string; kind: string; key: string }[] {
    return [...this.state].filter(([, s]) => s.ok).map(([name, s]) => ({ name, kind: s.kind === 'image-text' ? 'image-text-embedding' : s.kind, key: s.key }));
  }

  failed(): FailedModel[] {
    return [...this.state.values()].flatMap((s) => (s.failure ? [s.failure] : []));
  }

  /** Waits for deliveries in progress. */
  idle(): Promise<void> {
    return this.chain;
  }
}
