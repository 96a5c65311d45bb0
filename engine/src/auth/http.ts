/**
 * API-key authentication for the engine app (reference §0.1, §8.2): every route except health and the local
 * presigned-object prefix needs `Authorization: Bearer sk_…` (401 UnauthorizedError otherwise, also for a revoked
 * or expired key); the key's permissions must allow the route (permissions.ts decides which one it needs; 403
 * ForbiddenError naming the missing permission); an `X-Namespace` outside the key's scope is a 403 ForbiddenError.
 * Route handlers that act on namespaces named in the body (manifests) call `authorizeNamespace`, and those that
 * find a namespace without the header (a retriever by name alone) call `authorizeResolvedNamespace` with it.
 * Tenancy (tenancy.ts): every key is bound to a Kubernetes namespace (or `*`, every one served) and X-Namespace is
 * resolved inside it; a key stored without a binding is bound as keyK8sNamespace says.
 *
 * Key management (reference §7.8 "org/users/keys", §7.7 `/v1/organizations/api-keys/{key_id}/…`):
 *   POST   /v1/organizations/api-keys            {name, kubernetes_namespace?, namespaces: [..] | "*", permissions?,
 *                                                 expires_at?}; kubernetes_namespace defaults to the engine's default
 *                                                 Kubernetes namespace; "*" (cluster-wide) needs namespaces "*"
 *                                                → the key, shown once
 *   GET    /v1/organizations/api-keys            → {results: [key views]}
 *   GET    /v1/organizations/api-keys/:key_id
 *   DELETE /v1/organizations/api-keys/:key_id    → revokes (the record stays, status revoked)
 * and the same under /v1/organizations/users/{email}/api-keys (reference §7.8; the email is not used, and
 * {key_id} may also be the key's name there and here).
 * Only keys with the admin permission scoped to every namespace (`*`) of every Kubernetes namespace the engine
 * serves (bound to `*`, or to the one Kubernetes namespace it serves) may manage keys.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { QuarryError, notFound, validationError } from '../lib/errors.ts';
import { headerValue } from '../http/request-params.ts';
import {
  ALL_K8S_NAMESPACES,
  createApiKey,
  effectivePermissions,
  inScope,
  isK8sBinding,
  keyK8sNamespace,
  normalizeScope,
  publicKeyView,
  revokeApiKey,
  verifyApiKey,
  type ApiKeyRecord,
  type ApiKeyStore,
} from './keys.ts';
import { PERMISSIONS, allows, normalizePermissions, requiredPermission, type Permission } from './permissions.ts';
import { authorizeK8sNamespace, confineRequest, requestK8sNamespace, splitNamespaceIdent, type FindNamespaces } from './tenancy.ts';

export interface AuthOptions {
  keys: ApiKeyStore;
  /** Path prefixes served without a key (besides /v1/health), e.g. the local store's presigned URLs. */
  publicPrefixes?: string[];
  /**
   * The QuarryNamespaces an X-Namespace identifier names inside a Kubernetes namespace (tenancy.ts): the routes'
   * resolver, so the hook checks the namespace the routes act on. Without it, only plain names are checked by the
   * hook and a route resolving an id must call authorizeNamespace with the name (management does).
   */
  findNamespaces?: FindNamespaces;
  /** Binding of keys stored without one, and the default binding of new keys. Default: 'default'. */
  defaultK8sNamespace?: string;
  /** The Kubernetes namespaces the engine serves; undefined: all of them. */
  servedK8sNamespaces?: readonly string[];
}

const PUBLIC_PATHS = ['/v1/health'];
const authenticated = new WeakMap<FastifyRequest, ApiKeyRecord>();

/** The key that authenticated the request; undefined when the app runs without auth. */
export function requestKey(req: FastifyRequest): ApiKeyRecord | undefined {
  return authenticated.get(req);
}

/** Throws 403 when the request's key may not act on `namespace`. A no-op when the app runs without auth. */
export function authorizeNamespace(req: FastifyRequest, namespace: string): void {
  const key = authenticated.get(req);
  if (key && !inScope(key, namespace)) throw forbidden(key, namespace);
}

/**
 * For a route that found its namespace itself (e.g. a retriever by its name alone, without X-Namespace): throws 403
 * unless the key may act on it. `namespace` is a name or `<k8s-namespace>/<name>`; undefined (the route could not
 * tell where the resource lives) is allowed only for keys scoped to every namespace.
 */
export function authorizeResolvedNamespace(req: FastifyRequest, namespace: string | undefined, what: string): void {
  const key = authenticated.get(req);
  if (!key) return;
  if (namespace === undefined) {
    if (key.namespaces === '*' && requestK8sNamespace(req) === undefined) return;
    const scope = key.namespaces === '*' ? `every namespace of Kubernetes namespace ${requestK8sNamespace(req) ?? '?'}` : `namespaces (${key.namespaces.join(', ') || 'none'})`;
    throw new QuarryError('ForbiddenError', `API key ${key.id} is scoped to ${scope} and the namespace of ${what} is not known: send X-Namespace`, {
      key_id: key.id,
    });
  }
  const { k8s, ident } = splitNamespaceIdent(namespace);
  // Another tenant's resource does not exist for this key: 404, before its name is judged.
  if (k8s !== undefined) authorizeK8sNamespace(req, k8s, what);
  authorizeNamespace(req, ident);
}

/**
 * Throws 403 unless the request's key is scoped to every namespace (*): organisation-level resources (Models) serve
 * every namespace of the Kubernetes namespace, and read Secrets no one tenant owns. A no-op without auth.
 */
export function authorizeOrgLevel(req: FastifyRequest, action: string): void {
  const key = authenticated.get(req);
  if (key && key.namespaces !== '*') {
    throw new QuarryError('ForbiddenError', `API key ${key.id} is scoped to namespaces (${key.namespaces.join(', ')}); ${action} needs a key scoped to every namespace (*): models are shared by all namespaces of the organisation`, { key_id: key.id });
  }
}

/** Whether the request may act on `namespace` (true without auth). */
export function mayAccessNamespace(req: FastifyRequest, namespace: string): boolean {
  const key = authenticated.get(req);
  return !key || inScope(key, namespace);
}

/**
 * Throws 403 unless the request's key has `permission` (or admin), for what a route decides beyond its method and
 * path (e.g. manifest apply with prune deletes). A no-op when the app runs without auth.
 */
export function requirePermission(req: FastifyRequest, permission: Permission, action: string): void {
  const key = authenticated.get(req);
  if (key && !allows(effectivePermissions(key), permission)) throw lacks(key, permission, action);
}

function forbidden(key: ApiKeyRecord, namespace: string): QuarryError {
  return new QuarryError(
    'ForbiddenError',
    `API key ${key.id} is not allowed on namespace '${namespace}' (its scope: ${key.namespaces === '*' ? '*' : key.namespaces.join(', ') || 'none'}): use a key scoped to it`,
    { namespace, key_id: key.id },
  );
}

function lacks(key: ApiKeyRecord, permission: Permission, action: string): QuarryError {
  const has = effectivePermissions(key);
  return new QuarryError('ForbiddenError', `API key ${key.id} lacks the '${permission}' permission needed for ${action} (its permissions: ${has.join(', ')}): use a key with '${permission}' or admin`, {
    permission,
    key_id: key.id,
    permissions: has,
  });
}

function isPublic(path: string, prefixes: readonly string[]): boolean {
  if (PUBLIC_PATHS.some((p) => path === p || path.startsWith(`${p}/`))) return true;
  return prefixes.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`));
}

function unauthorized(result: Exclude<Awaited<ReturnType<typeof verifyApiKey>>, { ok: true }>): QuarryError {
  switch (result.reason) {
    case 'revoked':
      return new QuarryError('UnauthorizedError', 'the API key has been revoked: create a new key', { reason: result.reason });
    case 'expired':
      return new QuarryError('UnauthorizedError', `the API key expired at ${result.expires_at}: create a new key`, { reason: result.reason, expires_at: result.expires_at });
    case 'malformed':
      return new QuarryError('UnauthorizedError', 'invalid API key: keys look like sk_ followed by at least 32 letters and digits', { reason: result.reason });
    default:
      return new QuarryError('UnauthorizedError', 'invalid API key: check the key or create a new one', { reason: result.reason });
  }
}

/** `expires_at` of a create request: an ISO 8601 date-time in the future, normalised to UTC; null = never. */
function expiryOf(v: unknown, now: number): string | undefined {
  if (v === undefined || v === null) return undefined;
  // A date-time with an explicit offset (or Z), or a bare date (midnight UTC): nothing Date.parse reads loosely.
  const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
  const t = typeof v === 'string' && iso.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) {
    throw validationError('expires_at must be an ISO 8601 date-time with a time zone, e.g. 2030-01-31T00:00:00Z (or null for a key that never expires)', { field: 'expires_at' });
  }
  if (t <= now) throw validationError(`expires_at ${String(v)} is in the past: give a future instant, or omit it for a key that never expires`, { field: 'expires_at' });
  return new Date(t).toISOString();
}

/** Installs the authentication hook and the key-management routes. Call before registering other routes. */
export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const prefixes = opts.publicPrefixes ?? [];
  const defaultK8s = opts.defaultK8sNamespace ?? 'default';
  const served = opts.servedK8sNamespaces;
  const tenancy = { defaultK8sNamespace: defaultK8s, ...(served ? { servedK8sNamespaces: served } : {}), ...(opts.findNamespaces ? { findNamespaces: opts.findNamespaces } : {}) };
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0]!;
    if (isPublic(path, prefixes)) return;
    const auth = headerValue(req, 'authorization');
    if (!auth) throw new QuarryError('UnauthorizedError', 'missing Authorization header: send Authorization: Bearer <API key> (sk_…)');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m) throw new QuarryError('UnauthorizedError', 'malformed Authorization header: use the form Authorization: Bearer <API key> (sk_…)');
    const result = await verifyApiKey(opts.keys, m[1]!);
    if (!result.ok) throw unauthorized(result);
    authenticated.set(req, result.record);
    await confineRequest(req, result.record, tenancy);
    // The matched route pattern, not the raw path: what the router serves decides (an unmatched path is a 404 anyway).
    const route = req.routeOptions.url ?? path;
    const needed = requiredPermission(req.method, route);
    if (!allows(effectivePermissions(result.record), needed)) throw lacks(result.record, needed, `${req.method} ${path}`);
  });

  const requireAdmin = (req: FastifyRequest) => {
    const key = authenticated.get(req);
    if (!key) return;
    if (!allows(effectivePermissions(key), 'admin')) throw lacks(key, 'admin', 'managing API keys');
    const bound = keyK8sNamespace(key, defaultK8s);
    const everywhere = bound === ALL_K8S_NAMESPACES || (served?.length === 1 && served[0] === bound);
    if (key.namespaces !== '*' || !everywhere) {
      throw new QuarryError(
        'ForbiddenError',
        `API key ${key.id} is scoped to namespaces (${key.namespaces === '*' ? '*' : key.namespaces.join(', ')} in Kubernetes namespace ${bound}); managing API keys needs an admin key scoped to every namespace (*) of every Kubernetes namespace (kubernetes_namespace "*")`,
        { key_id: key.id },
      );
    }
  };
  const base = '/v1/organizations/api-keys';
  // The reference's per-user paths (§7.8 `/v1/organizations/users/{email}/api-keys`, the SDK's create/list/delete by
  // key name): Quarry has no users, so the email is not used; {key} is a key id or a key name.
  const userBase = '/v1/organizations/users/:user_email/api-keys';

  /** A key by id, else by name (the SDK's per-user routes name keys); a name several keys share is a 400. */
  const findKey = async (ident: string): Promise<ApiKeyRecord> => {
    const byId = await opts.keys.get(ident);
    if (byId) return byId;
    const named = (await opts.keys.list()).filter((k) => k.name === ident);
    const live = named.filter((k) => !k.revoked);
    const pick = live.length > 0 ? live : named;
    if (pick.length > 1) throw new QuarryError('BadRequestError', `several API keys are named '${ident}': use the key id (${pick.map((k) => k.id).join(', ')})`, { field: 'key_id' });
    if (!pick[0]) throw notFound('api_key', ident);
    return pick[0];
  };

  const create = async (req: FastifyRequest, reply: FastifyReply) => {
    requireAdmin(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw validationError('the body must be a JSON object {name, kubernetes_namespace, namespaces, permissions, expires_at}', { field: 'body' });
    const name = body.name ?? body.key_name ?? (req.query as Record<string, unknown> | undefined)?.key_name ?? 'api-key';
    if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
      throw validationError('name must be a non-empty string of at most 200 characters', { field: 'name' });
    }
    const namespaces = normalizeScope(body.namespaces);
    if (!namespaces) {
      throw validationError('namespaces is required: a list of namespace names the key may act on, or "*" for every namespace', { field: 'namespaces' });
    }
    const k8sNamespace = body.kubernetes_namespace ?? defaultK8s;
    if (!isK8sBinding(k8sNamespace)) {
      throw validationError(`kubernetes_namespace must be a Kubernetes namespace name or "*" for every one this engine serves (got ${JSON.stringify(k8sNamespace)})`, { field: 'kubernetes_namespace' });
    }
    if (k8sNamespace === ALL_K8S_NAMESPACES && namespaces !== '*') {
      throw validationError('kubernetes_namespace "*" (every Kubernetes namespace) needs namespaces "*": a key scoped to namespace names is bound to one Kubernetes namespace; name it', { field: 'kubernetes_namespace' });
    }
    if (k8sNamespace !== ALL_K8S_NAMESPACES && served && !served.includes(k8sNamespace)) {
      throw validationError(`Kubernetes namespace '${k8sNamespace}' is not served by this engine (it serves ${served.join(', ')}): bind the key to one of them`, { field: 'kubernetes_namespace' });
    }
    let permissions: Permission[] | undefined;
    if (body.permissions !== undefined && body.permissions !== null) {
      permissions = normalizePermissions(body.permissions);
      if (!permissions) {
        throw validationError(`permissions must be a non-empty list of ${PERMISSIONS.join(', ')} (got ${JSON.stringify(body.permissions)}); omit it for full access`, {
          field: 'permissions',
          allowed: [...PERMISSIONS],
        });
      }
    }
    const expires_at = expiryOf(body.expires_at, Date.now());
    const { key, record } = await createApiKey(opts.keys, { name, namespaces, kubernetes_namespace: k8sNamespace, ...(permissions ? { permissions } : {}), ...(expires_at ? { expires_at } : {}) });
    // 200, not 201: the official SDK maps only 200 on create (APIKeyCreateResponse).
    return reply.send({ ...publicKeyView(record, Date.now(), defaultK8s), key });
  };

  const list = async (req: FastifyRequest) => {
    requireAdmin(req);
    const keys = await opts.keys.list();
    keys.sort((a, b) => a.created_at.localeCompare(b.created_at));
    const now = Date.now();
    return { results: keys.map((k) => publicKeyView(k, now, defaultK8s)), total: keys.length };
  };

  const get = async (req: FastifyRequest<{ Params: { key_id: string } }>) => {
    requireAdmin(req);
    return publicKeyView(await findKey(req.params.key_id), Date.now(), defaultK8s);
  };

  const revoke = async (req: FastifyRequest<{ Params: { key_id: string } }>) => {
    requireAdmin(req);
    const r = await revokeApiKey(opts.keys, (await findKey(req.params.key_id)).id);
    if (!r) throw notFound('api_key', req.params.key_id);
    return publicKeyView(r, Date.now(), defaultK8s);
  };

  for (const b of [base, userBase]) {
    app.post(b, create);
    app.get(b, list);
    app.get<{ Params: { key_id: string } }>(`${b}/:key_id`, get);
    app.delete<{ Params: { key_id: string } }>(`${b}/:key_id`, revoke);
  }
}
