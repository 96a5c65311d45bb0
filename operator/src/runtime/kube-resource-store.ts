/**
 * ResourceStore on the Kubernetes API (@kubernetes/client-node 2.x).
 * - `apply`: server-side apply (`application/apply-patch+yaml`) with field manager `quarry-operator`.
 * - `applyStatus`: server-side apply on the `/status` subresource (never touches spec, cannot create).
 * - finalizers: JSON Patch guarded by `test` ops (uid, and the exact list slot on removal), so a concurrent edit
 *   of another finalizer makes the patch fail and retry instead of clobbering it, and a recreated object of the
 *   same name is never touched. JSON Patch on a missing object is a 404, never a create.
 * Every write is counted in `quarry_operator_api_write_calls_total`.
 */
import {
  ApiException,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import {
  ResourceStoreError,
  type ApplyIntent,
  type ApplyOptions,
  type ListOptions,
  type ObjectKey,
  type Resource,
  type ResourceStore,
  type WatchEvent,
  type WatchHandle,
  type ResourceErrorReason,
} from '#core/ports/resource-store.ts';
import { Informer } from './informer.ts';
import { reuseConnections } from './kube-connections.ts';
import { apiVersionOf, FIELD_MANAGER, type KindInfo } from './kinds.ts';
import type { OperatorMetrics } from './metrics.ts';

export interface KubeResourceStoreOptions {
  kinds: readonly KindInfo[];
  fieldManager?: string;
  metrics?: OperatorMetrics;
  /** Informer tuning (tests shorten these). */
  informer?: { watchdogMs?: number; relistMs?: number; backoffBaseMs?: number; backoffMaxMs?: number };
  /**
   * Applied to every object a watch receives (listed or watched) before any cache keeps it, e.g.
   * `stripForCache`: the operator never reads managedFields, which are most of a small object's size.
   */
  cacheTransform?: (obj: KubernetesObject) => KubernetesObject;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what the operator never reads from a cached object, in place: metadata.managedFields (one entry per field
 * manager, often larger than the spec) and kubectl's last-applied-configuration annotation (a copy of the spec).
 */
export function stripForCache<T extends KubernetesObject>(obj: T): T {
  const m = obj.metadata;
  if (!m) return obj;
  delete m.managedFields;
  if (m.annotations && LAST_APPLIED in m.annotations) {
    delete m.annotations[LAST_APPLIED];
    if (Object.keys(m.annotations).length === 0) delete m.annotations;
  }
  return obj;
}

const SSA = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
const JSON_PATCH = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

export class KubeResourceStore implements ResourceStore {
  readonly fieldManager: string;
  private readonly kc: KubeConfig;
  private readonly api: CustomObjectsApi;
  private readonly objects: KubernetesObjectApi;
  private readonly kinds = new Map<string, KindInfo>();
  private readonly metrics: OperatorMetrics | undefined;
  private readonly informerOpts: KubeResourceStoreOptions['informer'];
  private readonly transform: ((obj: KubernetesObject) => KubernetesObject) | undefined;

  constructor(kc: KubeConfig, opts: KubeResourceStoreOptions) {
    this.kc = reuseConnections(kc);
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    for (const k of opts.kinds) this.kinds.set(k.kind, k);
    this.fieldManager = opts.fieldManager ?? FIELD_MANAGER;
    this.metrics = opts.metrics;
    this.informerOpts = opts.informer;
    this.transform = opts.cacheTransform;
  }

  kindInfo(kind: string): KindInfo {
    const k = this.kinds.get(kind);
    if (!k) throw new ResourceStoreError('Invalid', 400, `kind ${kind} is not registered with this store`);
    return k;
  }

  async get<T extends Resource = Resource>(kind: string, key: ObjectKey): Promise<T | undefined> {
    const k = this.kindInfo(kind);
    const stop = this.metrics?.apiRequestDuration.startTimer({ verb: 'get', resource: k.plural });
    try {
      // Core kinds (group ""), e.g. the Secrets a Bucket references: read through the generic object API.
      if (k.group === '') {
        return (await this.objects.read({ apiVersion: k.version, kind: k.kind, metadata: { name: key.name, ...(key.namespace ? { namespace: key.namespace } : {}) } })) as unknown as T;
      }
      return (await (k.namespaced
        ? this.api.getNamespacedCustomObject({ ...this.path(k, key), name: key.name })
        : this.api.getClusterCustomObject({ group: k.group, version: k.version, plural: k.plural, name: key.name }))) as T;
    } catch (err) {
      const e = toStoreError(err);
      if (e.reason === 'NotFound') return undefined;
      throw e;
    } finally {
      stop?.();
    }
  }

  async list<T extends Resource = Resource>(kind: string, opts: ListOptions = {}): Promise<T[]> {
    const res = await this.listRaw<T>(this.kindInfo(kind), opts.namespace, opts.labelSelector);
    return res.items;
  }

  watch<T extends Resource = Resource>(
    kind: string,
    opts: { namespace?: string },
    onEvent: (e: WatchEvent<T>) => void,
  ): WatchHandle<T> & { informer: Informer<T & KubernetesObject> } {
    const k = this.kindInfo(kind);
    const base = `/apis/${k.group}/${k.version}`;
    const path = k.namespaced && opts.namespace ? `${base}/namespaces/${opts.namespace}/${k.plural}` : `${base}/${k.plural}`;
    type K = T & KubernetesObject;
    const t = this.transform;
    const informer = new Informer<K>({
      kubeConfig: this.kc,
      path,
      list: async () => {
        const res = (await this.listRaw<K>(k, opts.namespace)) as KubernetesListObject<K>;
        if (t) res.items = res.items.map((o) => t(o) as K);
        return res;
      },
      ...(t ? { transform: (o: K) => t(o) as K } : {}),
      name: `${k.plural}${opts.namespace ? `@${opts.namespace}` : ''}`,
      ...this.informerOpts,
    });
    informer.on((type, obj) => onEvent({ type, object: obj }));
    informer.start();
    return {
      informer,
      synced: informer.synced,
      isSynced: () => informer.isSynced(),
      get: (key) => informer.get(key.name, key.namespace),
      list: (ns) => informer.list(ns),
      stop: () => informer.stop(),
    };
  }

  async apply<T extends Resource = Resource>(intent: ApplyIntent, opts: ApplyOptions = {}): Promise<T> {
    const k = [...this.kinds.values()].find((x) => x.kind === intent.kind && apiVersionOf(x) === intent.apiVersion);
    const force = opts.force ?? false;
    if (!k) {
      // Not one of ours: the generic object API resolves the resource through discovery.
      this.count('apply', intent.kind.toLowerCase());
      return (await wrap(() =>
        this.objects.patch(intent as KubernetesObject, undefined, undefined, this.fieldManager, force, PatchStrategy.ServerSideApply),
      )) as T;
    }
    this.count('apply', k.plural);
    const key = { name: intent.metadata.name, namespace: intent.metadata.namespace };
    const params = { body: intent, fieldManager: this.fieldManager, force };
    return (await this.timed('apply', k.plural, () =>
      k.namespaced
        ? this.api.patchNamespacedCustomObject({ ...this.path(k, key), name: key.name, ...params }, SSA)
        : this.api.patchClusterCustomObject({ group: k.group, version: k.version, plural: k.plural, name: key.name, ...params }, SSA),
    )) as T;
  }

  async applyStatus<T extends Resource = Resource>(kind: string, key: ObjectKey, status: Record<string, unknown>): Promise<T> {
    const k = this.kindInfo(kind);
    this.count('apply-status', `${k.plural}/status`);
    const body = {
      apiVersion: apiVersionOf(k),
      kind: k.kind,
      // No uid here: the apiserver does not treat metadata.uid in an apply to /status as a precondition.
      metadata: { name: key.name, ...(key.namespace ? { namespace: key.namespace } : {}) },
      status,
    };
    // force: the operator is the only writer of status; a stale owner (an old operator build) must not block it.
    const params = { body, fieldManager: this.fieldManager, force: true };
    return (await this.timed('apply-status', k.plural, () =>
      k.namespaced
        ? this.api.patchNamespacedCustomObjectStatus({ ...this.path(k, key), name: key.name, ...params }, SSA)
        : this.api.patchClusterCustomObjectStatus({ group: k.group, version: k.version, plural: k.plural, name: key.name, ...params }, SSA),
    )) as T;
  }

  async addFinalizer<T extends Resource = Resource>(kind: string, key: ObjectKey, finalizer: string, current?: Resource): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      // The caller's (cached) copy saves the read on the first attempt: the patch then also tests its
      // resourceVersion, so a stale copy fails with 422/409 and the retry reads the object.
      const hinted = attempt === 0 && current?.metadata.resourceVersion !== undefined;
      const cur = hinted ? (current as T) : await this.get<T>(kind, key);
      if (!cur) throw new ResourceStoreError('NotFound', 404, `${kind} ${key.namespace ?? ''}/${key.name} not found`);
      if (key.uid && cur.metadata.uid !== key.uid) throw new ResourceStoreError('Conflict', 409, `${kind} ${key.name} was recreated`);
      const list = cur.metadata.finalizers;
      if (list?.includes(finalizer)) return cur;
      if (cur.metadata.deletionTimestamp) {
        throw new ResourceStoreError('Conflict', 409, `${kind} ${key.name} is being deleted; no new finalizers`);
      }
      const ops = [
        { op: 'test', path: '/metadata/uid', value: cur.metadata.uid },
        ...(list && !hinted
          ? [{ op: 'add', path: '/metadata/finalizers/-', value: finalizer }]
          : [
              { op: 'test', path: '/metadata/resourceVersion', value: cur.metadata.resourceVersion },
              { op: 'add', path: list ? '/metadata/finalizers/-' : '/metadata/finalizers', value: list ? finalizer : [finalizer] },
            ]),
      ];
      try {
        return await this.jsonPatch<T>(kind, key, ops);
      } catch (err) {
        if (!retryable(err) || attempt >= 4) throw err;
      }
    }
  }

  async removeFinalizer<T extends Resource = Resource>(kind: string, key: ObjectKey, finalizer: string): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.get<T>(kind, key);
      if (!cur) return undefined;
      if (key.uid && cur.metadata.uid !== key.uid) return undefined; // ours is gone; a new object has the name
      const i = cur.metadata.finalizers?.indexOf(finalizer) ?? -1;
      if (i < 0) return cur;
      const ops = [
        { op: 'test', path: '/metadata/uid', value: cur.metadata.uid },
        { op: 'test', path: `/metadata/finalizers/${i}`, value: finalizer },
        { op: 'remove', path: `/metadata/finalizers/${i}` },
      ];
      try {
        const after = await this.jsonPatch<T>(kind, key, ops);
        // The last finalizer of a deleted object: the apiserver answers with the object it is about to remove.
        return after.metadata.deletionTimestamp && !after.metadata.finalizers?.length ? undefined : after;
      } catch (err) {
        if (err instanceof ResourceStoreError && err.reason === 'NotFound') return undefined;
        if (!retryable(err) || attempt >= 4) throw err;
      }
    }
  }

  async delete(kind: string, key: ObjectKey): Promise<void> {
    const k = this.kindInfo(kind);
    this.count('delete', k.plural);
    try {
      const body = key.uid ? { preconditions: { uid: key.uid } } : {};
      await (k.namespaced
        ? this.api.deleteNamespacedCustomObject({ ...this.path(k, key), name: key.name, body })
        : this.api.deleteClusterCustomObject({ group: k.group, version: k.version, plural: k.plural, name: key.name, body }));
    } catch (err) {
      const e = toStoreError(err);
      if (e.reason !== 'NotFound') throw e;
    }
  }

  private async jsonPatch<T>(kind: string, key: ObjectKey, ops: unknown[]): Promise<T> {
    const k = this.kindInfo(kind);
    this.count('patch', k.plural);
    const params = { body: ops, fieldManager: this.fieldManager };
    return (await this.timed('patch', k.plural, () =>
      k.namespaced
        ? this.api.patchNamespacedCustomObject({ ...this.path(k, key), name: key.name, ...params }, JSON_PATCH)
        : this.api.patchClusterCustomObject({ group: k.group, version: k.version, plural: k.plural, name: key.name, ...params }, JSON_PATCH),
    )) as T;
  }

  private async listRaw<T>(k: KindInfo, namespace?: string, labelSelector?: string): Promise<KubernetesListObject<T & KubernetesObject>> {
    const sel = labelSelector ? { labelSelector } : {};
    const res = (await wrap(() =>
      k.namespaced && namespace
        ? this.api.listNamespacedCustomObject({ group: k.group, version: k.version, namespace, plural: k.plural, ...sel })
        : this.api.listClusterCustomObject({ group: k.group, version: k.version, plural: k.plural, ...sel }),
    )) as KubernetesListObject<T & KubernetesObject>;
    // List items of custom resources carry apiVersion/kind, but be explicit for callers that key on them.
    for (const it of res.items) {
      it.apiVersion ??= apiVersionOf(k);
      it.kind ??= k.kind;
    }
    return res;
  }

  private path(k: KindInfo, key: ObjectKey) {
    if (!key.namespace) throw new ResourceStoreError('Invalid', 400, `${k.kind} is namespaced: a namespace is required`);
    return { group: k.group, version: k.version, plural: k.plural, namespace: key.namespace };
  }

  /** `wrap`, timed in quarry_operator_api_request_duration_seconds. */
  private async timed<T>(verb: string, resource: string, fn: () => Promise<T>): Promise<T> {
    const stop = this.metrics?.apiRequestDuration.startTimer({ verb, resource });
    try {
      return await wrap(fn);
    } finally {
      stop?.();
    }
  }

  private count(verb: string, resource: string): void {
    this.metrics?.apiWrites.inc({ verb, resource });
  }
}

function retryable(err: unknown): boolean {
  // 409 Conflict, or 422 from a failed JSON Patch `test` op: the object moved under us, re-read and retry.
  return err instanceof ResourceStoreError && (err.status === 409 || err.status === 422);
}

async function wrap<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStoreError(err);
  }
}

export function toStoreError(err: unknown): ResourceStoreError {
  if (err instanceof ResourceStoreError) return err;
  if (err instanceof ApiException) {
    const code = err.code;
    const reason: ResourceErrorReason =
      code === 404
        ? 'NotFound'
        : code === 409
          ? 'Conflict'
          : code === 422 || code === 400
            ? 'Invalid'
            : code === 403 || code === 401
              ? 'Forbidden'
              : code >= 500 || code === 429
                ? 'Unavailable'
                : 'Unknown';
    return new ResourceStoreError(reason, code, apiMessage(err));
  }
  const e = err as { code?: unknown; message?: string };
  return new ResourceStoreError('Unavailable', 0, e?.message ?? String(err));
}

function apiMessage(err: ApiException<unknown>): string {
  const body = err.body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      /* not JSON */
    }
    return body || err.message;
  }
  if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  return err.message;
}
