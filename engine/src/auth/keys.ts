/**
 * API keys: `sk_` + a 12-character lookup id + a 32-character secret (reference §0.1: organization keys `sk_…`).
 * Only a SHA-256 of the whole key is stored; the id inside the key finds the record without scanning, and the
 * hash is compared in constant time. Plain SHA-256 (no slow KDF) is enough here: the secret is 190 random bits,
 * nothing a dictionary attack can reach.
 *
 * Tenancy: a key is bound to one Kubernetes namespace (`kubernetes_namespace`, the tenant boundary) or, for cluster
 * admins, to every Kubernetes namespace the engine serves (`*`). Inside it, the key is scoped to QuarryNamespaces
 * (display names) or to all of them (`*`); names are only ever resolved inside the key's Kubernetes namespace, so a
 * same-named QuarryNamespace of another tenant never matters. A key carries `permissions` (read, write, delete,
 * admin: what each allows is in permissions.ts) and may expire (`expires_at`). Only cluster-wide (`*`/`*`) keys with
 * admin manage keys.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { normalizePermissions, type Permission } from './permissions.ts';

export const KEY_PREFIX = 'sk_';
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const ID_LENGTH = 12;
export const SECRET_LENGTH = 32;
/**
 * What verification accepts: `sk_` + at least 32 letters and digits, so a key made elsewhere (the Helm chart's
 * bootstrap key, `sk_` + 40 random characters) can be adopted. The lookup id is its first 12 characters,
 * lower-cased to fit a Kubernetes object name; the hash of the whole key still decides.
 */
const KEY_PATTERN = new RegExp(`^${KEY_PREFIX}([A-Za-z0-9]{${ID_LENGTH}})[A-Za-z0-9]{20,200}$`);

/** `*` = every namespace; otherwise the QuarryNamespace names the key may act on. */
export type NamespaceScope = '*' | string[];

export interface ApiKeyRecord {
  /** Lookup id: the 12 characters after `sk_` (lower-case, so it fits a Kubernetes object name). */
  id: string;
  name: string;
  /** `sha256:<hex>` of the full key. The plaintext is never stored. */
  secret_hash: string;
  namespaces: NamespaceScope;
  /**
   * The Kubernetes namespace the key is bound to, or `*` (every Kubernetes namespace the engine serves; only with
   * `namespaces: "*"`). Absent on records stored before bindings existed: see keyK8sNamespace.
   */
  kubernetes_namespace?: string;
  /**
   * What the key may do. Absent on records stored before permissions existed: those keep what they could do then
   * (see effectivePermissions).
   */
  permissions?: Permission[];
  /** ISO 8601 instant after which the key no longer authenticates (status `expired`); absent = never. */
  expires_at?: string;
  created_at: string;
  revoked: boolean;
  revoked_at?: string;
}

export type KeyStatus = 'active' | 'revoked' | 'expired';

/** Persistence of key records. Adapters: FileApiKeyStore (local mode), KubeSecretApiKeyStore (cluster). */
export interface ApiKeyStore {
  /** Stores a new record; fails when the id exists. */
  insert(record: ApiKeyRecord): Promise<void>;
  /** Replaces an existing record (revocation). */
  update(record: ApiKeyRecord): Promise<void>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKeyRecord[]>;
}

function randomString(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** A fresh key (not stored). */
export function generateApiKey(): { id: string; key: string } {
  const id = randomString(ID_ALPHABET, ID_LENGTH);
  return { id, key: `${KEY_PREFIX}${id}${randomString(SECRET_ALPHABET, SECRET_LENGTH)}` };
}

/** The lookup id of a well-formed key, else undefined. */
export function keyId(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1]?.toLowerCase();
}

export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function normalizeScope(scope: unknown): NamespaceScope | undefined {
  if (scope === '*') return '*';
  if (Array.isArray(scope) && scope.every((s) => typeof s === 'string' && s.length > 0)) {
    return scope.includes('*') ? '*' : [...new Set(scope as string[])];
  }
  return undefined;
}

export function inScope(record: Pick<ApiKeyRecord, 'namespaces'>, namespace: string): boolean {
  return record.namespaces === '*' || record.namespaces.includes(namespace);
}

/** Every Kubernetes namespace the engine serves (a cluster admin key's binding). */
export const ALL_K8S_NAMESPACES = '*';

/**
 * The Kubernetes namespace a key is bound to (`*`: every one the engine serves). Records stored before bindings
 * existed keep at most what they could reach then: a key on every QuarryNamespace (`*`, e.g. the bootstrap key) was
 * cluster-wide; a key scoped to QuarryNamespace names is bound to `fallback`, the engine's default Kubernetes
 * namespace (where the API created resources before), never to a same-named namespace of another tenant.
 */
export function keyK8sNamespace(r: Pick<ApiKeyRecord, 'namespaces' | 'kubernetes_namespace'>, fallback: string): string {
  if (r.kubernetes_namespace) return r.kubernetes_namespace;
  return r.namespaces === '*' ? ALL_K8S_NAMESPACES : fallback;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Whether `v` can be a key's binding: `*` or a Kubernetes namespace name (a DNS label). */
export function isK8sBinding(v: unknown): v is string {
  return v === ALL_K8S_NAMESPACES || (typeof v === 'string' && DNS_LABEL.test(v));
}

/**
 * The permissions of a key created without any: full access, as every key had before permissions existed. A key on
 * every namespace (`*`) is admin (it could manage keys), a namespace-scoped one may read, write and delete in its
 * namespaces (managing keys needs `*` anyway).
 */
export function defaultPermissions(namespaces: NamespaceScope): Permission[] {
  return namespaces === '*' ? ['admin'] : ['read', 'write', 'delete'];
}

/** What the key may do: its permissions, or the default for records stored without them. */
export function effectivePermissions(r: Pick<ApiKeyRecord, 'namespaces' | 'permissions'>): Permission[] {
  return r.permissions ?? defaultPermissions(r.namespaces);
}

/** `revoked` wins over `expired`; `expired` from `expires_at` onwards. */
export function keyStatus(r: Pick<ApiKeyRecord, 'revoked' | 'expires_at'>, now: number = Date.now()): KeyStatus {
  if (r.revoked) return 'revoked';
  if (r.expires_at !== undefined && !(Date.parse(r.expires_at) > now)) return 'expired';
  return 'active';
}

export interface NewKey {
  name: string;
  namespaces: NamespaceScope;
  /** The Kubernetes namespace binding (`*`: cluster-wide); default: none stored (see keyK8sNamespace). */
  kubernetes_namespace?: string;
  /** Default: defaultPermissions(namespaces). */
  permissions?: Permission[];
  /** ISO 8601; default: never expires. */
  expires_at?: string;
}

function newRecord(id: string, key: string, input: NewKey): ApiKeyRecord {
  return {
    id,
    name: input.name,
    secret_hash: hashApiKey(key),
    namespaces: input.namespaces,
    ...(input.kubernetes_namespace !== undefined ? { kubernetes_namespace: input.kubernetes_namespace } : {}),
    permissions: input.permissions ?? defaultPermissions(input.namespaces),
    ...(input.expires_at !== undefined ? { expires_at: input.expires_at } : {}),
    created_at: new Date().toISOString(),
    revoked: false,
  };
}

/** Creates and stores a key; the plaintext is returned once and never again. */
export async function createApiKey(store: ApiKeyStore, input: NewKey): Promise<{ key: string; record: ApiKeyRecord }> {
  const { id, key } = generateApiKey();
  const record = newRecord(id, key, input);
  await store.insert(record);
  return { key, record };
}

export type VerifyResult =
  | { ok: true; record: ApiKeyRecord }
  | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' }
  | { ok: false; reason: 'expired'; expires_at: string };

/** Checks a presented key against the store (`now`: the instant expiry is judged at). */
export async function verifyApiKey(store: ApiKeyStore, key: string, now: number = Date.now()): Promise<VerifyResult> {
  const id = keyId(key);
  if (!id) return { ok: false, reason: 'malformed' };
  const record = await store.get(id);
  if (!record || !sameHash(record.secret_hash, hashApiKey(key))) return { ok: false, reason: 'unknown' };
  const status = keyStatus(record, now);
  if (status === 'revoked') return { ok: false, reason: 'revoked' };
  if (status === 'expired') return { ok: false, reason: 'expired', expires_at: record.expires_at! };
  return { ok: true, record };
}

export async function revokeApiKey(store: ApiKeyStore, id: string): Promise<ApiKeyRecord | undefined> {
  const record = await store.get(id);
  if (!record) return undefined;
  if (record.revoked) return record;
  const revoked = { ...record, revoked: true, revoked_at: new Date().toISOString() };
  await store.update(revoked);
  return revoked;
}

/**
 * First start: when the store holds no active key (only revoked or expired ones), creates an all-namespaces admin key and returns its plaintext (for
 * the caller to print once); otherwise undefined.
 */
export async function ensureBootstrapKey(store: ApiKeyStore, name = 'bootstrap'): Promise<string | undefined> {
  const keys = await store.list();
  if (keys.some((k) => keyStatus(k) === 'active')) return undefined;
  return (await createApiKey(store, { name, namespaces: '*', kubernetes_namespace: ALL_K8S_NAMESPACES, permissions: ['admin'] })).key;
}

/**
 * Stores a key made elsewhere (the chart's bootstrap Secret) so it authenticates. Idempotent across restarts and
 * replicas; never revives a key that was revoked. Returns false when a different key already holds the lookup id.
 */
export async function adoptApiKey(store: ApiKeyStore, key: string, input: NewKey): Promise<boolean> {
  const id = keyId(key);
  if (!id) throw new Error(`not an API key: expected ${KEY_PREFIX} followed by at least 32 letters and digits`);
  const same = (r: ApiKeyRecord | undefined) => r !== undefined && sameHash(r.secret_hash, hashApiKey(key));
  const existing = await store.get(id);
  if (existing) return same(existing);
  const record = newRecord(id, key, input);
  try {
    await store.insert(record);
    return true;
  } catch (err) {
    // Another replica adopted it at the same moment.
    if (same(await store.get(id))) return true;
    throw err;
  }
}

/** What the API returns for a key: never the hash. */
export function publicKeyView(r: ApiKeyRecord, now: number = Date.now(), defaultK8sNamespace?: string): Record<string, unknown> {
  return {
    key_id: r.id,
    name: r.name,
    key_prefix: `${KEY_PREFIX}${r.id}`,
    kubernetes_namespace: defaultK8sNamespace === undefined ? (r.kubernetes_namespace ?? null) : keyK8sNamespace(r, defaultK8sNamespace),
    namespaces: r.namespaces,
    permissions: effectivePermissions(r),
    status: keyStatus(r, now),
    expires_at: r.expires_at ?? null,
    created_at: r.created_at,
    ...(r.revoked_at ? { revoked_at: r.revoked_at } : {}),
  };
}

/** Structural check of a stored record (files and Secrets can be edited by hand). */
export function isApiKeyRecord(v: unknown): v is ApiKeyRecord {
  const r = v as Partial<ApiKeyRecord> | null;
  return (
    !!r &&
    typeof r.id === 'string' &&
    typeof r.name === 'string' &&
    typeof r.secret_hash === 'string' &&
    normalizeScope(r.namespaces) !== undefined &&
    (r.kubernetes_namespace === undefined || isK8sBinding(r.kubernetes_namespace)) &&
    // A cluster-wide binding with QuarryNamespace names would scope by name across tenants: never valid.
    !(r.kubernetes_namespace === ALL_K8S_NAMESPACES && r.namespaces !== '*') &&
    (r.permissions === undefined || normalizePermissions(r.permissions) !== undefined) &&
    (r.expires_at === undefined || (typeof r.expires_at === 'string' && !Number.isNaN(Date.parse(r.expires_at)))) &&
    typeof r.created_at === 'string' &&
    typeof r.revoked === 'boolean'
  );
}
