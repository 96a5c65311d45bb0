/**
 * The standalone extraction worker's custom models: it watches the Model resources of the namespaces it serves
 * (WATCH_NAMESPACES, empty = all), read-only, and delivers them like the engine does (fetched, verified, cached under
 * QUARRY_MODEL_CACHE_DIR, registered with its Models port), so a Collection whose extractor names a Model runs on the
 * workers and not only in an engine that happens to run workers.
 *
 * It needs Kubernetes read access (get/list/watch models, get secrets: the chart's worker Role). Outside a cluster
 * (no KUBERNETES_SERVICE_HOST and no KUBECONFIG) or with QUARRY_WORKER_MODEL_RESOURCES=false the worker serves its
 * built-in models only, and a job naming a Model is refused with a retryable error (models/custom/tenant-models.ts).
 */
import path from 'node:path';
import { logger } from '../lib/log.ts';
import type { Models } from '../ports/models.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import { ModelCache } from '../models/custom/cache.ts';
import { CustomModels, isModelHost } from '../models/custom/custom-models.ts';
import { ModelSync } from '../models/custom/model-sync.ts';
import { secretReader } from '../models/custom/secrets.ts';
import { MODEL_UPLOADS_BUCKET } from '../models/custom/sources.ts';

const log = logger('worker-models');

export interface WorkerModels {
  readonly custom: CustomModels;
  /** Called after each sync (the served-models report's beat). */
  onSynced(fn: () => unknown): void;
  stop(): Promise<void>;
}

export interface WorkerModelsOptions {
  env: NodeJS.ProcessEnv;
  models: Models;
  objects: ObjectStore;
  /** QUARRY_DATA_DIR: the cache defaults to <dataDir>/model-cache. */
  dataDir: string;
}

/** Whether the worker should watch Model resources: QUARRY_WORKER_MODEL_RESOURCES=true|false, default when Kubernetes is configured. */
export function workerWatchesModels(env: NodeJS.ProcessEnv): boolean {
  const v = env.QUARRY_WORKER_MODEL_RESOURCES?.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v !== undefined && v !== '' && v !== 'auto') throw new Error(`QUARRY_WORKER_MODEL_RESOURCES must be true, false or auto (got '${env.QUARRY_WORKER_MODEL_RESOURCES}')`);
  return !!env.KUBERNETES_SERVICE_HOST || !!env.KUBECONFIG;
}

/** Starts watching and delivering Model resources; undefined when this worker does not serve them (see above). */
export async function startWorkerModels(o: WorkerModelsOptions): Promise<WorkerModels | undefined> {
  if (!workerWatchesModels(o.env)) {
    const why = o.env.QUARRY_WORKER_MODEL_RESOURCES ? 'QUARRY_WORKER_MODEL_RESOURCES=false' : 'no Kubernetes access configured (KUBERNETES_SERVICE_HOST, KUBECONFIG)';
    log.info(`${why}: serving built-in models only, not Model resources`);
    return undefined;
  }
  if (!isModelHost(o.models)) return undefined;
  const [{ KubeConfig }, { KubeResourceStore }, { QUARRY_KINDS, SECRET_KIND }, { SharedWatches }, { parseNamespaces }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('#operator/runtime/kube-resource-store.ts'),
    import('#operator/runtime/kinds.ts'),
    import('#core/shared-watches.ts'),
    import('#operator/runtime/config.ts'),
  ]);
  const kc = new KubeConfig();
  kc.loadFromDefault(); // in-cluster service account, or $KUBECONFIG
  const resources = new KubeResourceStore(kc, { kinds: [...QUARRY_KINDS.filter((k) => k.kind === 'Model'), SECRET_KIND], fieldManager: 'quarry-worker' });
  const watches = new SharedWatches(resources, parseNamespaces(o.env.WATCH_NAMESPACES));
  const cacheDir = path.resolve(o.env.QUARRY_MODEL_CACHE_DIR ?? path.join(o.dataDir, 'model-cache'));
  const custom = new CustomModels({
    host: o.models,
    cache: new ModelCache(cacheDir),
    sources: { readSecret: secretReader(resources), uploads: { store: o.objects, bucket: MODEL_UPLOADS_BUCKET } },
  });
  const listeners: (() => unknown)[] = [];
  const sync = new ModelSync({ watch: watches, custom, onSynced: () => void Promise.all(listeners.map((fn) => fn())) });
  // Jobs are consumed meanwhile: one naming a Model not delivered yet is refused as retryable and comes back.
  void watches.synced().then(
    () => {
      log.info({ models: watches.list('Model').length }, 'Model resources listed');
      sync.start();
    },
    (err: unknown) => log.warn({ err: (err as Error).message }, 'listing Model resources failed'),
  );
  log.info({ cacheDir, namespaces: o.env.WATCH_NAMESPACES || 'all' }, 'serving Model resources');
  return {
    custom,
    onSynced: (fn) => void listeners.push(fn),
    async stop() {
      await sync.stop();
      await watches.stop();
    },
  };
}
