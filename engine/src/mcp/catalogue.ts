/** The tool catalogue of one caller: the Ready retrievers of every namespace its API key can see, listed through the API. */
import type { ApiReply, QuarryApi } from './api.ts';
import { inputJsonSchema, isObj, toolName, type JsonSchema } from './schema.ts';

export interface RetrieverTool {
  name: string;
  namespace: string;
  retrieverId: string;
  retrieverName: string;
  description: string;
  inputSchema: JsonSchema;
}

/** A non-2xx API answer, carrying the documented error body (`{error: {type, message}}`). */
export class ApiCallError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    const err = isObj(body.error) ? body.error : {};
    super(typeof err.message === 'string' ? err.message : `HTTP ${status}`);
    this.name = 'ApiCallError';
    this.status = status;
    this.body = body;
  }
  get type(): string {
    const err = isObj(this.body.error) ? this.body.error : {};
    return typeof err.type === 'string' ? err.type : `HTTP ${this.status}`;
  }
}

export function ok(r: ApiReply): Record<string, unknown> {
  if (r.status < 200 || r.status >= 300) throw new ApiCallError(r.status, r.body);
  return r.body;
}

const results = (body: Record<string, unknown>): Record<string, unknown>[] => (Array.isArray(body.results) ? body.results.filter(isObj) : []);

/** The namespaces the key may act on (the API lists only those). */
export async function listNamespaces(api: QuarryApi): Promise<Record<string, unknown>[]> {
  return results(ok(await api.call('POST', '/v1/namespaces/list', { body: { limit: 1000 } })));
}

export async function listRetrievers(api: QuarryApi, namespace: string): Promise<Record<string, unknown>[]> {
  return results(ok(await api.call('POST', '/v1/retrievers/list', { namespace, body: { limit: 1000 } })));
}

export async function listCollections(api: QuarryApi, namespace: string): Promise<Record<string, unknown>[]> {
  return results(ok(await api.call('POST', '/v1/collections/list', { namespace, body: { limit: 1000 } })));
}

function toolOf(namespace: string, r: Record<string, unknown>): RetrieverTool | undefined {
  const name = r.retriever_name;
  const id = r.retriever_id;
  if (typeof name !== 'string' || typeof id !== 'string') return undefined;
  const described = typeof r.description === 'string' && r.description.trim() ? r.description.trim() : `Runs retriever ${name}`;
  return {
    name: toolName(namespace, name),
    namespace,
    retrieverId: id,
    retrieverName: name,
    description: `${described} (Quarry retriever '${name}' in namespace '${namespace}'; returns the ranked documents)`,
    inputSchema: inputJsonSchema(r.input_schema),
  };
}

/**
 * Every Ready retriever the caller's key can see, one tool each, sorted by name; with `only`, of that namespace (name
 * or id) alone. A namespace whose retrievers cannot be listed (not served yet, or forbidden) contributes none; the
 * other namespaces still do.
 */
export async function retrieverTools(api: QuarryApi, only?: string): Promise<RetrieverTool[]> {
  const namespaces = (await listNamespaces(api))
    .filter((n) => only === undefined || n.namespace_name === only || n.namespace_id === only)
    .map((n) => n.namespace_name)
    .filter((n): n is string => typeof n === 'string');
  const lists = await Promise.all(
    namespaces.map(async (ns) => {
      const rs = await listRetrievers(api, ns).catch(() => []);
      return rs.filter((r) => r.ready === true).map((r) => toolOf(ns, r)).filter((t): t is RetrieverTool => t !== undefined);
    }),
  );
  const byName = new Map<string, RetrieverTool>();
  for (const t of lists.flat()) if (!byName.has(t.name)) byName.set(t.name, t);
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}
