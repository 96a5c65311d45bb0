/**
 * The tenant boundary of every request: a Kubernetes namespace.
 *
 * An API key is bound to one Kubernetes namespace (keys.ts, `kubernetes_namespace`) or, for cluster admins, to every
 * one the engine serves (`*`). After the key is verified, `confineRequest`:
 *   - fixes the Kubernetes namespace the request is confined to: the key's, or for a cluster-wide key the optional
 *     `X-Kubernetes-Namespace` header (which a bound key may only send with its own namespace);
 *   - resolves `X-Namespace` (id, display name, object name, or `<k8s-namespace>/<…>`) inside that Kubernetes
 *     namespace only, checks the key's QuarryNamespace scope against what it resolves to, and, when the routes'
 *     engine-wide resolution of the raw value would land anywhere else (a same-named QuarryNamespace of another
 *     tenant, or one that exists only elsewhere), rewrites the header to `<k8s-namespace>/<ident>` so every route
 *     resolves the namespace the hook checked, and nothing else.
 * Routes that find resources without X-Namespace (a retriever by name alone, the management list of namespaces,
 * manifests) ask `requestK8sNamespace` where to look and `authorizeK8sNamespace` whether a found object may be
 * touched.
 */
import type { FastifyRequest } from 'fastify';
import { QuarryError, validationError } from '../lib/errors.ts';
import { headerValue, namespaceHeader } from '../http/request-params.ts';
import { ALL_K8S_NAMESPACES, inScope, isK8sBinding, keyK8sNamespace, type ApiKeyRecord } from './keys.ts';

/** A QuarryNamespace as the hook needs it. */
export interface NamespaceMatch {
  k8sNamespace: string;
  /** Object name. */
  name: string;
  /** Display name: what key scopes hold. */
  displayName: string;
}

/**
 * The QuarryNamespaces an identifier (id, display name or object name; no `<k8s>/` prefix) names inside Kubernetes
 * namespace `k8sNamespace` (undefined: every one the engine serves). More than one only across Kubernetes namespaces.
 */
export type FindNamespaces = (ident: string, k8sNamespace: string | undefined) => Promise<NamespaceMatch[]>;

export interface TenancyOptions {
  /** Binding of keys stored without one (keyK8sNamespace) and where the API creates for unconfined requests. */
  defaultK8sNamespace: string;
  /** The Kubernetes namespaces the engine serves; undefined: all. */
  servedK8sNamespaces?: readonly string[];
  findNamespaces?: FindNamespaces;
}

/** Header naming the Kubernetes namespace to act in (cluster-wide keys; a bound key may only name its own). */
export const K8S_NAMESPACE_HEADER = 'x-kubernetes-namespace';

const confined = new WeakMap<FastifyRequest, { k8sNamespace: string | undefined }>();

/**
 * The Kubernetes namespace the request is confined to: the key's binding, or the X-Kubernetes-Namespace of a
 * cluster-wide key; undefined when it is not confined (a cluster-wide key without the header, or an app without auth).
 */
export function requestK8sNamespace(req: FastifyRequest): string | undefined {
  return confined.get(req)?.k8sNamespace;
}

/** `<k8s-namespace>/<ident>` split; `k8s` is undefined for a plain identifier. */
export function splitNamespaceIdent(value: string): { k8s?: string; ident: string } {
  const slash = value.indexOf('/');
  return slash < 0 ? { ident: value } : { k8s: value.slice(0, slash), ident: value.slice(slash + 1) };
}

/**
 * Throws a 404 when the request is confined to another Kubernetes namespace than `k8sNamespace` (where a route found
 * something by itself): to a tenant, another tenant's resources do not exist.
 */
export function authorizeK8sNamespace(req: FastifyRequest, k8sNamespace: string, what: string): void {
  const mine = requestK8sNamespace(req);
  if (mine !== undefined && mine !== k8sNamespace) throw new QuarryError('NotFoundError', `${what} not found`, { resource: what.split(' ')[0] });
}

function outside(key: ApiKeyRecord, bound: string, asked: string, what: string): QuarryError {
  return new QuarryError(
    'ForbiddenError',
    `API key ${key.id} is bound to Kubernetes namespace '${bound}' and may not act on ${what} in Kubernetes namespace '${asked}': use a key bound to it`,
    { key_id: key.id, kubernetes_namespace: bound },
  );
}

function forbiddenName(key: ApiKeyRecord, namespace: string): QuarryError {
  return new QuarryError(
    'ForbiddenError',
    `API key ${key.id} is not allowed on namespace '${namespace}' (its scope: ${key.namespaces === '*' ? '*' : key.namespaces.join(', ') || 'none'}): use a key scoped to it`,
    { namespace, key_id: key.id },
  );
}

const sameNamespace = (a: NamespaceMatch, b: NamespaceMatch) => a.k8sNamespace === b.k8sNamespace && a.name === b.name;

/** Confines an authenticated request to its key's Kubernetes namespace (see the module comment). */
export async function confineRequest(req: FastifyRequest, key: ApiKeyRecord, opts: TenancyOptions): Promise<void> {
  const bound = keyK8sNamespace(key, opts.defaultK8sNamespace);
  const asked = headerValue(req, K8S_NAMESPACE_HEADER);
  if (asked !== undefined) {
    if (!isK8sBinding(asked) || asked === ALL_K8S_NAMESPACES) {
      throw validationError(`X-Kubernetes-Namespace must be a Kubernetes namespace name (got '${asked.slice(0, 80)}'); omit it to act in the key's own`, { field: 'X-Kubernetes-Namespace' });
    }
    if (bound !== ALL_K8S_NAMESPACES && asked !== bound) throw outside(key, bound, asked, 'anything');
    if (opts.servedK8sNamespaces && !opts.servedK8sNamespaces.includes(asked)) {
      throw new QuarryError('NotFoundError', `Kubernetes namespace '${asked}' is not served by this engine (it serves ${opts.servedK8sNamespaces.join(', ')})`, { resource: 'kubernetes_namespace', id: asked });
    }
  }
  const k8sNamespace = bound !== ALL_K8S_NAMESPACES ? bound : asked;
  confined.set(req, { k8sNamespace });

  const raw = namespaceHeader(req);
  if (!raw) return;
  const { k8s, ident } = splitNamespaceIdent(raw);
  if (k8s !== undefined && k8sNamespace !== undefined && k8s !== k8sNamespace) throw outside(key, k8sNamespace, k8s, `namespace '${ident}'`);
  const within = k8s ?? k8sNamespace;
  const find = opts.findNamespaces;
  const found = find ? await find(ident, within) : [];
  // The names the scope is checked against: what the value resolves to, else the name as sent (the route answers 404
  // after the check); an id that resolves to nothing names nothing.
  const names = found.length > 0 ? found.map((f) => f.displayName) : ident.startsWith('ns_') ? [] : [ident];
  for (const n of names) if (!inScope(key, n)) throw forbiddenName(key, n);
  if (!find || k8s !== undefined || within === undefined) return;
  // The routes resolve the raw value engine-wide: keep it only when that lands on the same namespace (or on none).
  const global = await find(ident, undefined);
  const same = found.length === 1 ? global.length === 1 && sameNamespace(global[0]!, found[0]!) : global.length === 0;
  if (!same) {
    req.headers['x-namespace'] = `${found[0]?.k8sNamespace ?? within}/${ident}`;
    delete req.headers['x-namespace-id'];
  }
}

/** Whether `k8sNamespace` is within what the key is bound to. */
export function keyCoversK8sNamespace(key: ApiKeyRecord, k8sNamespace: string, defaultK8sNamespace: string): boolean {
  const bound = keyK8sNamespace(key, defaultK8sNamespace);
  return bound === ALL_K8S_NAMESPACES || bound === k8sNamespace;
}
