/**
 * Cluster mode's key store: one Secret per key in the engine's Kubernetes namespace, named
 * `quarry-api-key-<id>` and labelled `quarry.dev/api-key=true`. The Secret holds the record (hash, scope, ...),
 * never the plaintext key. The only module that talks to the apiserver for keys, so the only one importing
 * @kubernetes/client-node here.
 *
 * Lookups are cached for a few seconds so an authenticated request does not cost an apiserver round trip each
 * time; revocation through this store drops the cache entry at once, revocation elsewhere (kubectl, another
 * replica) takes effect within `cacheTtlMs`.
 */
import { readFileSync } from 'node:fs';
import { ApiException, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { logger } from '../lib/log.ts';
import { ALL_K8S_NAMESPACES, adoptApiKey, isApiKeyRecord, keyStatus, type ApiKeyRecord, type ApiKeyStore } from './keys.ts';

export const API_KEY_LABEL = 'quarry.dev/api-key';
export const secretNameOf = (id: string): string => `quarry-api-key-${id}`;

export interface KubeSecretApiKeyStoreOptions {
  /** The engine's Kubernetes namespace: where the key Secrets live. */
  namespace: string;
  cacheTtlMs?: number;
}

const FIELDS = ['id', 'name', 'secret_hash', 'namespaces', 'kubernetes_namespace', 'permissions', 'expires_at', 'created_at', 'revoked', 'revoked_at'] as const;
/** Stored as JSON (the scope may be the string "*" or a list); the others as plain text. */
const JSON_FIELDS = new Set<string>(['namespaces', 'permissions', 'revoked']);

export class KubeSecretApiKeyStore implements ApiKeyStore {
  private readonly api: CoreV1Api;
  private readonly namespace: string;
  private readonly ttl: number;
  private readonly cache = new Map<string, { at: number; record: ApiKeyRecord | undefined }>();

  constructor(kc: KubeConfig, opts: KubeSecretApiKeyStoreOptions) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.namespace = opts.namespace;
    this.ttl = opts.cacheTtlMs ?? 5000;
  }

  async insert(record: ApiKeyRecord): Promise<void> {
    await this.api.createNamespacedSecret({ namespace: this.namespace, body: this.toSecret(record) });
    this.cache.delete(record.id);
  }

  async update(record: ApiKeyRecord): Promise<void> {
    const name = secretNameOf(record.id);
    const cur = await this.api.readNamespacedSecret({ name, namespace: this.namespace });
    // A merge patch (the chart grants patch, not update) preconditioned on resourceVersion: a concurrent edit makes
    // it a 409 instead of being overwritten.
    const body = { metadata: { resourceVersion: cur.metadata?.resourceVersion }, data: this.toSecret(record).data };
    await this.api.patchNamespacedSecret({ name, namespace: this.namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    this.cache.delete(record.id);
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < this.ttl) return hit.record;
    let record: ApiKeyRecord | undefined;
    try {
      record = fromSecret(await this.api.readNamespacedSecret({ name: secretNameOf(id), namespace: this.namespace }));
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
    }
    this.cache.set(id, { at: Date.now(), record });
    return record;
  }

  async list(): Promise<ApiKeyRecord[]> {
    const res = await this.api.listNamespacedSecret({ namespace: this.namespace, labelSelector: `${API_KEY_LABEL}=true` });
    return res.items.map(fromSecret).filter((r): r is ApiKeyRecord => r !== undefined);
  }

  private toSecret(r: ApiKeyRecord): V1Secret {
    const data: Record<string, string> = {};
    for (const f of FIELDS) {
      const v = r[f];
      if (v === undefined) continue;
      data[f] = Buffer.from(JSON_FIELDS.has(f) ? JSON.stringify(v) : String(v)).toString('base64');
    }
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'quarry.dev/api-key',
      metadata: { name: secretNameOf(r.id), namespace: this.namespace, labels: { [API_KEY_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'quarry' } },
      data,
    };
  }
}

function fromSecret(s: V1Secret): ApiKeyRecord | undefined {
  const d = s.data ?? {};
  const text = (k: string) => (d[k] === undefined ? undefined : Buffer.from(d[k], 'base64').toString('utf8'));
  const json = (k: string) => {
    const t = text(k);
    try {
      return t === undefined ? undefined : (JSON.parse(t) as unknown);
    } catch {
      return undefined;
    }
  };
  const record = {
    id: text('id'),
    name: text('name'),
    secret_hash: text('secret_hash'),
    namespaces: json('namespaces'),
    ...(d.kubernetes_namespace !== undefined ? { kubernetes_namespace: text('kubernetes_namespace') } : {}),
    // Absent on Secrets written before permissions and expiry existed; a present but unparsable value fails the check.
    ...(d.permissions !== undefined ? { permissions: json('permissions') ?? 'unparsable' } : {}),
    ...(d.expires_at !== undefined ? { expires_at: text('expires_at') } : {}),
    created_at: text('created_at'),
    revoked: json('revoked'),
    ...(d.revoked_at ? { revoked_at: text('revoked_at') } : {}),
  };
  return isApiKeyRecord(record) ? record : undefined;
}

/** Where a pod's service account namespace is mounted (in-cluster). */
export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * The Kubernetes namespace holding the key Secrets: QUARRY_API_KEYS_NAMESPACE (the chart sets the release
 * namespace), else POD_NAMESPACE, else the pod's service account namespace; undefined when none is known.
 */
export function apiKeysNamespaceFromEnv(env: NodeJS.ProcessEnv, saNamespaceFile = SERVICE_ACCOUNT_NAMESPACE_FILE): string | undefined {
  const named = env.QUARRY_API_KEYS_NAMESPACE?.trim() || env.POD_NAMESPACE?.trim();
  if (named) return named;
  try {
    return readFileSync(saNamespaceFile, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Cluster-mode auth from the chart's env: keys in Secrets of the API keys namespace (apiKeysNamespaceFromEnv), the
 * bootstrap key `QUARRY_BOOTSTRAP_API_KEY` adopted at start as a cluster-wide admin key. There is no mode without
 * keys: when no namespace for the keys is known, this throws (the engine refuses to start) instead of serving
 * requests without a key.
 */
export async function clusterAuthFromEnv(kc: KubeConfig, env: NodeJS.ProcessEnv, saNamespaceFile?: string): Promise<{ keys: ApiKeyStore }> {
  const log = logger('auth');
  const namespace = apiKeysNamespaceFromEnv(env, saNamespaceFile);
  if (!namespace) {
    throw new Error('no Kubernetes namespace for the API key Secrets: set QUARRY_API_KEYS_NAMESPACE (the chart sets it to the release namespace) or POD_NAMESPACE');
  }
  const keys = new KubeSecretApiKeyStore(kc, { namespace });
  const bootstrap = env.QUARRY_BOOTSTRAP_API_KEY?.trim();
  if (bootstrap) {
    if (!(await adoptApiKey(keys, bootstrap, { name: 'bootstrap', namespaces: '*', kubernetes_namespace: ALL_K8S_NAMESPACES, permissions: ['admin'] }))) {
      log.error({ namespace }, 'QUARRY_BOOTSTRAP_API_KEY clashes with another stored key (same lookup id): it was not adopted; use another key');
    }
  } else if (!(await keys.list()).some((k) => keyStatus(k) === 'active')) {
    log.warn({ namespace }, 'no active API key exists: every request will be refused; install the chart with apiKeys.bootstrap.create=true or apiKeys.bootstrap.existingSecret');
  }
  return { keys };
}
