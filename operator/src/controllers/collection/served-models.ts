/**
 * Which models the runtimes actually serve, so a Collection or Retriever is Ready only when what it needs runs.
 *
 * Reporting: every runtime that runs models (a worker process: role `worker`, extraction; the engine: role `engine`,
 * query embedding and rerank; local mode: both) keeps one entry in the job queue's key-value store (NATS KV in a
 * cluster, the same store the extraction queues live in, so no extra RBAC or service): bucket SERVED_MODELS_KV,
 * key = its id, value = {roles, models: [{name, kind}], at}. It re-reads its models directory's manifest.json on every
 * heartbeat (HEARTBEAT_MS), so a model installed into the volume is reported without a restart; an entry not renewed
 * for STALE_MS (a runtime gone) no longer counts.
 * Reading: the operator's Collection and Retriever controllers ask `servedBy(role)`; a model nobody serves makes the
 * resource Ready=False (reason ModelNotServed, naming the model and how to install it) and re-checks it every
 * RECHECK_MS until it is served. Ready resources are never re-checked on a timer, so the operator's steady state
 * stays at 0 writes (the runtimes write their heartbeats; the operator only reads).
 */
import { loadManifest } from '#engine/models/manifest.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ModelKind } from '#core/ports/models.ts';
import { Recent } from '../../runtime/recent.ts';

export const SERVED_MODELS_KV = 'quarry-served-models';
export const HEARTBEAT_MS = 15_000;
export const STALE_MS = 3 * HEARTBEAT_MS;
/** How often a resource waiting for a model is re-checked. */
export const RECHECK_MS = 10_000;

export type RuntimeRole = 'worker' | 'engine';

export interface ServedModel {
  name: string;
  kind: ModelKind | string;
  /** Custom models (Model resources): the delivery key, i.e. which declaration is served (models/custom/delivery.ts). */
  key?: string;
}

/** A custom model a runtime could not serve, with the file at fault (models/custom/custom-models.ts). */
export interface FailedServedModel {
  name: string;
  reason: string;
  file?: string;
  message: string;
  key: string;
}

interface Report {
  roles: RuntimeRole[];
  models: ServedModel[];
  failed?: FailedServedModel[];
  at: string;
}

/** The models installed in a models directory (its manifest.json); none when it has no manifest. */
export function installedModels(dir: string): ServedModel[] {
  try {
    return Object.values(loadManifest(dir).models).map((m) => ({ name: m.name, kind: m.kind }));
  } catch {
    return [];
  }
}

/**
 * Reports what this runtime serves now and every `intervalMs` until stopped. A failed write (queue service down) is
 * retried on the next beat; it never stops the runtime.
 */
export function reportServedModels(
  queue: Pick<JobQueue, 'kv'>,
  /** `models` answers undefined while the runtime cannot tell (its models are unavailable): nothing is reported then. */
  opts: { id: string; roles: RuntimeRole[]; models: () => ServedModel[] | undefined; failed?: () => FailedServedModel[]; intervalMs?: number; onError?: (err: unknown) => void },
): { stop(): Promise<void>; beat(): Promise<void> } {
  // The id becomes a NATS KV key: letters, digits, '-', '_', '.', '=' only.
  const key = opts.id.replace(/[^A-Za-z0-9_=.-]/g, '_');
  const beat = async () => {
    try {
      const models = opts.models();
      if (!models) return;
      const kv = await queue.kv(SERVED_MODELS_KV);
      const failed = opts.failed?.() ?? [];
      await kv.put<Report>(key, { roles: opts.roles, models, ...(failed.length ? { failed } : {}), at: new Date().toISOString() });
    } catch (err) {
      opts.onError?.(err);
    }
  };
  const first = beat();
  const timer = setInterval(() => void beat(), opts.intervalMs ?? HEARTBEAT_MS);
  timer.unref();
  return {
    beat,
    async stop() {
      clearInterval(timer);
      await first;
      try {
        await (await queue.kv(SERVED_MODELS_KV)).delete(key);
      } catch {
        /* gone with the queue service: the entry goes stale by itself */
      }
    },
  };
}

export interface ServedModels {
  /**
   * The models served by at least one live runtime of `role`; undefined when no runtime of the role reports at all
   * (none running, or runtimes that do not report): then nothing is known and nothing is held back for it.
   */
  servedBy(role: RuntimeRole): Promise<ServedModel[] | undefined>;
  /**
   * How the live runtimes stand on one model (a custom model's runtime name and delivery key): which serve it, which
   * report a failure for it. Optional: readers that only answer servedBy leave Model resources unchecked.
   */
  modelStatus?(name: string, key: string): Promise<{ runtimes: number; serving: string[]; failed: (FailedServedModel & { runtime: string })[] }>;
}

/**
 * Reads the runtimes' reports from the job queue's key-value store. `cacheMs`: one reading answers every caller for
 * that long (the operator: many Collections reconciling at once would each list the bucket's keys, a consumer per
 * listing); the reports themselves change every HEARTBEAT_MS.
 */
export function servedModelsReader(queue: Pick<JobQueue, 'kv'>, opts: { staleMs?: number; now?: () => number; cacheMs?: number } = {}): ServedModels {
  const stale = opts.staleMs ?? STALE_MS;
  const now = opts.now ?? Date.now;
  const recent = new Recent<ServedModel[] | undefined>(opts.cacheMs ?? 0, now);
  const readServedBy = async (role: RuntimeRole) => {
    const kv = await queue.kv(SERVED_MODELS_KV);
    const out = new Map<string, ServedModel>();
    let live = 0;
    for (const key of await kv.keys()) {
      const r = (await kv.get<Report>(key))?.value;
      if (!r || !Array.isArray(r.roles) || !r.roles.includes(role) || !(now() - Date.parse(r.at) <= stale)) continue;
      live++;
      for (const m of Array.isArray(r.models) ? r.models : []) if (m && typeof m.name === 'string') out.set(m.name, m);
    }
    return live > 0 ? [...out.values()] : undefined;
  };
  return {
    servedBy: (role) => recent.get(role, () => readServedBy(role)),
    async modelStatus(name, modelKey) {
      const kv = await queue.kv(SERVED_MODELS_KV);
      const serving: string[] = [];
      const failed: (FailedServedModel & { runtime: string })[] = [];
      let runtimes = 0;
      for (const key of await kv.keys()) {
        const r = (await kv.get<Report>(key))?.value;
        if (!r || !(now() - Date.parse(r.at) <= stale)) continue;
        runtimes++;
        if ((Array.isArray(r.models) ? r.models : []).some((m) => m?.name === name && m.key === modelKey)) serving.push(key);
        for (const f of Array.isArray(r.failed) ? r.failed : []) if (f?.name === name && f.key === modelKey) failed.push({ ...f, runtime: key });
      }
      return { runtimes, serving, failed };
    },
  };
}

/**
 * What the runtimes serve as one tenant sees it: the built-in models and that Kubernetes namespace's own custom models
 * (named `<k8s-namespace>/<name>`), so another tenant's served reranker never makes this tenant's Retriever Ready.
 */
export function servedForTenant(served: ServedModel[], k8sNamespace: string): ServedModel[] {
  return served.filter((m) => !m.name.includes('/') || m.name.startsWith(`${k8sNamespace}/`));
}

/** The Ready=False result for models nobody serves, naming them and how to install them. */
export function modelNotServed(what: string, missing: string[], role: RuntimeRole, served: ServedModel[]): { status: 'False'; reason: string; message: string } {
  const who = role === 'worker' ? 'extraction worker' : 'engine';
  return {
    status: 'False',
    reason: 'ModelNotServed',
    message:
      `${what} needs model${missing.length === 1 ? '' : 's'} ${missing.join(', ')}, which no running ${who} serves (${who}s serve: ${served.map((m) => m.name).join(', ') || 'nothing'}): ` +
      `install ${missing.length === 1 ? 'it' : 'them'} into the models directory (QUARRY_MODELS_DIR; 'make models' locally, the chart's models volume in a cluster); ` +
      `this turns Ready by itself once the ${who}s report ${missing.length === 1 ? 'it' : 'them'} (within ${Math.round((HEARTBEAT_MS + RECHECK_MS) / 1000)} s)`,
  };
}
