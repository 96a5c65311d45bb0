/**
 * The namespace of a request sent without X-Namespace by the official SDK's TasksApi and BatchesApi (they send only
 * the Authorization header; the platform answers them org-wide). Quarry answers them within what the key may see,
 * and never outside it — the tenant boundary is a security boundary:
 *   - the candidates are the live QuarryNamespaces of the Kubernetes namespace the request is confined to (the key's
 *     binding, tenancy.ts), or of every served one for a cluster-wide key, and of those only the ones the key's
 *     namespace scope names (mayAccessNamespace);
 *   - one item (a task, a batch by id) resolves to the one candidate that holds it; a list reads every candidate.
 * Candidates are named `<k8s-namespace>/<object name>`, which the runtime resolves exactly (no engine-wide lookup).
 */
import type { FastifyRequest } from 'fastify';
import { mayAccessNamespace } from '../auth/http.ts';
import { notFound } from '../lib/errors.ts';
import { requestK8sNamespace } from '../auth/tenancy.ts';
import { displayName, matchAll } from '../management/identifiers.ts';
import type { NamespaceIngestion } from '../ingestion/pipeline.ts';
import type { ResourceStore } from '../ports/resource-store.ts';

/** The routes whose SDK calls carry no X-Namespace. */
const IMPLICIT_ROUTES = /^\/v1\/(tasks|batches)(\/|$)/;

export interface ImplicitNamespaceDeps {
  resources: ResourceStore;
  namespace(name: string): Promise<NamespaceIngestion>;
  /** The Kubernetes namespaces the engine serves; undefined: all. */
  served: readonly string[] | undefined;
}

export function takesImplicitNamespace(req: FastifyRequest): boolean {
  return IMPLICIT_ROUTES.test(req.routeOptions.url ?? '');
}

/**
 * The QuarryNamespaces the request may act on, as `<k8s-namespace>/<object name>`; `ident` (a namespace id or name
 * from the body, e.g. list_all_batches' namespace_id) narrows them.
 */
export async function accessibleNamespaces(req: FastifyRequest, deps: ImplicitNamespaceDeps, ident?: string): Promise<string[]> {
  const confinedTo = requestK8sNamespace(req);
  if (confinedTo !== undefined && deps.served && !deps.served.includes(confinedTo)) return [];
  const where: (string | undefined)[] = confinedTo !== undefined ? [confinedTo] : deps.served ? [...deps.served] : [undefined];
  const lists = await Promise.all(where.map((k8s) => deps.resources.list('QuarryNamespace', k8s === undefined ? {} : { namespace: k8s })));
  let live = lists.flat().filter((q) => !q.metadata.deletionTimestamp && mayAccessNamespace(req, displayName(q)));
  if (ident !== undefined) live = matchAll(live, ident);
  return live.map((q) => `${q.metadata.namespace ?? ''}/${q.metadata.name}`).sort();
}

/** The accessible namespaces' pipelines; one that is not serving (not ready, being deleted) is left out. */
export async function accessiblePipelines(req: FastifyRequest, deps: ImplicitNamespaceDeps, ident?: string): Promise<NamespaceIngestion[]> {
  const out: NamespaceIngestion[] = [];
  for (const name of await accessibleNamespaces(req, deps, ident)) {
    const ns = await deps.namespace(name).catch(() => undefined);
    if (ns) out.push(ns);
  }
  return out;
}

/**
 * The namespace a header-less task or batch request acts on: the only accessible one, or the only accessible one
 * holding the task or batch of the path (404 when none does). Undefined when that is not one namespace (the route
 * then asks for the header).
 */
export async function implicitNamespace(req: FastifyRequest, deps: ImplicitNamespaceDeps): Promise<string | undefined> {
  if (!takesImplicitNamespace(req)) return undefined;
  const names = await accessibleNamespaces(req, deps);
  if (names.length === 1) return names[0];
  const { taskId, batchId } = req.params as { taskId?: string; batchId?: string };
  if (!taskId && !batchId) return undefined;
  const holders: string[] = [];
  for (const n of names) {
    const ns = await deps.namespace(n).catch(() => undefined);
    if (!ns) continue;
    const has = taskId ? await ns.batchForTask(taskId).catch(() => undefined) : await ns.getBatch(batchId!).catch(() => undefined);
    if (has) holders.push(n);
  }
  if (holders.length === 0) throw notFound(taskId ? 'task' : 'batch', (taskId ?? batchId)!);
  return holders.length === 1 ? holders[0] : undefined;
}
