/**
 * API-key authentication for the engine app (reference §0.1, §8.2): every route except health and the local
 * presigned-object prefix needs `Authorization: Bearer sk_…` (401 UnauthorizedError otherwise); an
 * `X-Namespace` outside the key's scope is a 403 ForbiddenError. Route handlers that act on namespaces named in
 * the body (manifests) call `authorizeNamespace`.
 *
 * Key management (reference §7.8 "org/users/keys", §7.7 `/v1/organizations/api-keys/{key_id}/…`):
 *   POST   /v1/organizations/api-keys            {name, namespaces: [..] | "*"} → the key, shown once
 *   GET    /v1/organizations/api-keys            → {results: [key views]}
 *   GET    /v1/organizations/api-keys/:key_id
 *   DELETE /v1/organizations/api-keys/:key_id    → revokes (the record stays, status revoked)
 * Only keys scoped to every namespace (`*`) may manage keys.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { QuarryError, notFound, validationError } from '../lib/errors.ts';
import { headerValue, namespaceHeader } from '../http/request-params.ts';
import { createApiKey, inScope, normalizeScope, publicKeyView, revokeApiKey, verifyApiKey, type ApiKeyRecord, type ApiKeyStore } from './keys.ts';

export interface AuthOptions {
  keys: ApiKeyStore;
  /** Path prefixes served without a key (besides /v1/health), e.g. the local store's presigned URLs. */
  publicPrefixes?: string[];
  /**
   * Maps a namespace id (`ns_…`) to its name. Without it, an id in X-Namespace is not checked by the hook: the
   * route resolving it must call authorizeNamespace with the name (the management routes do). Ids cannot be
   * mistaken for names: QuarryNamespace names are DNS labels, without `_`.
   */
  resolveNamespaceId?: (id: string) => Promise<string | undefined>;
}

/** The QuarryNamespace name an X-Namespace value names, when the hook can tell; undefined for an unresolved id. */
async function namespaceName(value: string, resolve: AuthOptions['resolveNamespaceId']): Promise<string | undefined> {
  // `<k8s-namespace>/<name>` is accepted by the engine to disambiguate; the scope is about the name.
  const ident = value.includes('/') ? value.slice(value.lastIndexOf('/') + 1) : value;
  if (!ident.startsWith('ns_')) return ident;
  return resolve ? resolve(ident) : undefined;
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

/** Whether the request may act on `namespace` (true without auth). */
export function mayAccessNamespace(req: FastifyRequest, namespace: string): boolean {
  const key = authenticated.get(req);
  return !key || inScope(key, namespace);
}

function forbidden(key: ApiKeyRecord, namespace: string): QuarryError {
  return new QuarryError(
    'ForbiddenError',
    `API key ${key.id} is not allowed on namespace '${namespace}' (its scope: ${key.namespaces === '*' ? '*' : key.namespaces.join(', ') || 'none'}): use a key scoped to it`,
    { namespace, key_id: key.id },
  );
}

function isPublic(path: string, prefixes: readonly string[]): boolean {
  if (PUBLIC_PATHS.some((p) => path === p || path.startsWith(`${p}/`))) return true;
  return prefixes.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`));
}

/** Installs the authentication hook and the key-management routes. Call before registering other routes. */
export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const prefixes = opts.publicPrefixes ?? [];
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0]!;
    if (isPublic(path, prefixes)) return;
    const auth = headerValue(req, 'authorization');
    if (!auth) throw new QuarryError('UnauthorizedError', 'missing Authorization header: send Authorization: Bearer <API key> (sk_…)');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m) throw new QuarryError('UnauthorizedError', 'malformed Authorization header: use the form Authorization: Bearer <API key> (sk_…)');
    const result = await verifyApiKey(opts.keys, m[1]!);
    if (!result.ok) {
      const message =
        result.reason === 'revoked'
          ? 'the API key has been revoked: create a new key'
          : result.reason === 'malformed'
            ? 'invalid API key: keys look like sk_ followed by at least 32 letters and digits'
            : 'invalid API key: check the key or create a new one';
      throw new QuarryError('UnauthorizedError', message, { reason: result.reason });
    }
    authenticated.set(req, result.record);
    const raw = namespaceHeader(req);
    const ns = raw ? await namespaceName(raw, opts.resolveNamespaceId) : undefined;
    if (ns && !inScope(result.record, ns)) throw forbidden(result.record, ns);
  });

  const requireAdmin = (req: FastifyRequest) => {
    const key = authenticated.get(req);
    if (key && key.namespaces !== '*') {
      throw new QuarryError('ForbiddenError', `API key ${key.id} is scoped to namespaces; managing API keys needs a key scoped to every namespace (*)`, { key_id: key.id });
    }
  };
  const base = '/v1/organizations/api-keys';

  app.post(base, async (req, reply) => {
    requireAdmin(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw validationError('the body must be a JSON object {name, namespaces}', { field: 'body' });
    const name = body.name ?? body.key_name ?? 'api-key';
    if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
      throw validationError('name must be a non-empty string of at most 200 characters', { field: 'name' });
    }
    const namespaces = normalizeScope(body.namespaces);
    if (!namespaces) {
      throw validationError('namespaces is required: a list of namespace names the key may act on, or "*" for every namespace', { field: 'namespaces' });
    }
    const { key, record } = await createApiKey(opts.keys, { name, namespaces });
    return reply.code(201).send({ ...publicKeyView(record), key });
  });

  app.get(base, async (req) => {
    requireAdmin(req);
    const keys = await opts.keys.list();
    keys.sort((a, b) => a.created_at.localeCompare(b.created_at));
    return { results: keys.map(publicKeyView), total: keys.length };
  });

  app.get<{ Params: { key_id: string } }>(`${base}/:key_id`, async (req) => {
    requireAdmin(req);
    const r = await opts.keys.get(req.params.key_id);
    if (!r) throw notFound('api_key', req.params.key_id);
    return publicKeyView(r);
  });

  app.delete<{ Params: { key_id: string } }>(`${base}/:key_id`, async (req) => {
    requireAdmin(req);
    const r = await revokeApiKey(opts.keys, req.params.key_id);
    if (!r) throw notFound('api_key', req.params.key_id);
    return publicKeyView(r);
  });
}
