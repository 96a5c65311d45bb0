/**
 * A folder of manifests as the source of truth for a LocalResourceStore (local mode's `kubectl apply`): every
 * quarry.dev resource in the folder is applied with field manager `quarry-manifests` (its full intent, so a field
 * removed from a file is removed from the object); a resource the manager applied before that is no longer in the
 * folder is deleted (through its finalizers, so the reconcilers clean up). The folder is watched (fs.watch,
 * recursive) and re-read shortly after the last change, so an edited file reconciles without a restart.
 * A file that does not parse is reported and holds back deletions for that round (its resources are unknown, not
 * gone); an invalid resource is reported and the rest still applies.
 */
import { watch, type FSWatcher } from 'node:fs';
import { logger } from '../lib/log.ts';
import { keyOf, ResourceStoreError } from '../ports/resource-store.ts';
import { DEFAULT_SKIP, scanManifests } from '../app/manifests.ts';
import type { LocalResourceStore } from './local-resource-store.ts';

export const MANIFESTS_FIELD_MANAGER = 'quarry-manifests';
const KINDS = ['QuarryNamespace', 'Bucket', 'Collection', 'Retriever', 'Taxonomy', 'Model'];

export interface ManifestSourceOptions {
  dir: string;
  /** Any view of the store; the source applies as `quarry-manifests`. */
  store: LocalResourceStore;
  /** The namespace for manifests that name none. */
  namespace: string;
  /** Re-read this long after the last change in the folder (default 250 ms). */
  debounceMs?: number;
  skip?: Set<string>;
}

export interface SyncReport {
  applied: string[];
  deleted: string[];
  errors: { file?: string; resource?: string; message: string }[];
}

export class ManifestSource {
  private readonly o: ManifestSourceOptions;
  private readonly store: LocalResourceStore;
  private readonly log = logger('manifests');
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SyncReport> = Promise.resolve({ applied: [], deleted: [], errors: [] });
  private listeners: ((r: SyncReport) => void)[] = [];

  constructor(opts: ManifestSourceOptions) {
    this.o = opts;
    this.store = opts.store.as(MANIFESTS_FIELD_MANAGER);
  }

  /** Applies the folder once, then watches it. */
  async start(): Promise<SyncReport> {
    const first = await this.sync();
    this.watcher = watch(this.o.dir, { recursive: true }, () => this.schedule());
    this.watcher.on('error', (err) => this.log.warn({ err: err.message }, 'watching the manifests folder failed'));
    return first;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
    await this.running;
  }

  /** Called after every sync (tests wait on it). */
  onSync(fn: (r: SyncReport) => void): () => void {
    this.listeners.push(fn);
    return () => (this.listeners = this.listeners.filter((l) => l !== fn));
  }

  /** Applies the folder now (serialised with the watcher's runs). */
  sync(): Promise<SyncReport> {
    this.running = this.running.then(() => this.syncOnce());
    return this.running;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.sync(), this.o.debounceMs ?? 250);
  }

  private async syncOnce(): Promise<SyncReport> {
    const report: SyncReport = { applied: [], deleted: [], errors: [] };
    const scan = scanManifests(this.o.dir, this.o.skip ?? DEFAULT_SKIP);
    for (const e of scan.errors) {
      report.errors.push({ file: e.file, message: e.message });
      this.log.error({ file: e.file, err: e.message }, 'manifest file does not parse; fix it (resources from it are left as they are)');
    }
    const desired = new Set<string>();
    for (const r of scan.resources) {
      const { file, apiVersion, kind, metadata, spec, ...rest } = r;
      const namespace = metadata.namespace ?? this.o.namespace;
      const id = `${kind}/${namespace}/${metadata.name}`;
      desired.add(id);
      const labels = metadata.labels as Record<string, string> | undefined;
      const annotations = metadata.annotations as Record<string, string> | undefined;
      try {
        await this.store.apply({
          apiVersion,
          kind,
          metadata: { name: metadata.name, namespace, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
          ...(spec !== undefined ? { spec } : {}),
          ...withoutStatus(rest),
        });
        report.applied.push(id);
      } catch (err) {
        const message = err instanceof ResourceStoreError ? err.message : String(err);
        report.errors.push({ file, resource: id, message });
        this.log.error({ file, resource: id, err: message }, 'manifest rejected');
      }
    }
    // Deletions only when every file was read: an unparsable file's resources are unknown, not removed.
    if (scan.errors.length === 0) {
      for (const kind of KINDS) {
        for (const o of this.store.owned(kind)) {
          const id = `${kind}/${o.namespace ?? ''}/${o.name}`;
          if (desired.has(id) || this.store.state.entry(kind, o)?.object.metadata.deletionTimestamp) continue;
          await this.store.delete(kind, { namespace: o.namespace, name: o.name });
          report.deleted.push(id);
          this.log.info({ resource: keyOf(o), kind }, 'removed from the manifests: deleting');
        }
      }
    }
    if (report.applied.length || report.deleted.length) this.log.debug({ applied: report.applied.length, deleted: report.deleted }, 'manifests applied');
    for (const l of this.listeners) l(report);
    return report;
  }
}

function withoutStatus(rest: Record<string, unknown>): Record<string, unknown> {
  const { status: _s, ...out } = rest;
  return out;
}
