/**
 * Which web search engine a namespace's external_web_search calls: its QuarryNamespace `spec.webSearch` (engine,
 * endpoint, API key from a Secret the namespace owns in its own Kubernetes namespace (lib/secret-refs.ts) — local mode:
 * the local secrets store —
 * and, for `json`, the request/result description), else the engine's own (QUARRY_WEB_SEARCH_ENGINE, default exa;
 * QUARRY_WEB_SEARCH_URL; key in QUARRY_WEB_SEARCH_API_KEY_FILE or QUARRY_WEB_SEARCH_API_KEY; QUARRY_WEB_SEARCH_JSON
 * for the json engine's description). Only the configured endpoint's host is reached; a private address only within
 * the engine's SSRF allow-list (QUARRY_FETCH_ALLOW_*), never one a tenant writes.
 */
import { readFileSync } from 'node:fs';
import { QuarryError, badRequest } from '../lib/errors.ts';
import { readOwnedSecret, type SecretReader } from '../lib/secret-refs.ts';
import type { WebSearch } from '../ports/web-search.ts';
import type { LookupFn } from '../retriever/types.ts';
import { DEFAULT_URLS, WEB_SEARCH_ENGINES, webSearchAdapter, type JsonEndpointSpec, type WebSearchEngine } from './adapters.ts';

/** spec.webSearch of a QuarryNamespace (the one schema source: engine/src/resources/kinds/quarry-namespace.ts). */
export interface NamespaceWebSearchSpec {
  engine: WebSearchEngine;
  url?: string;
  apiKeySecretRef?: { name: string; key?: string };
  json?: JsonEndpointSpec;
}

export interface WebSearchNamespace {
  metadata: { name: string; namespace?: string };
  spec?: { webSearch?: NamespaceWebSearchSpec } | Record<string, unknown>;
}

/** The engine's own web search from the environment; undefined when QUARRY_WEB_SEARCH_URL (or a default URL) is missing. */
export function webSearchFromEnv(env: NodeJS.ProcessEnv, allowCidrs: string[], lookup?: LookupFn): WebSearch | undefined {
  const engine = (env.QUARRY_WEB_SEARCH_ENGINE ?? 'exa') as WebSearchEngine;
  if (!WEB_SEARCH_ENGINES.includes(engine)) throw badRequest(`QUARRY_WEB_SEARCH_ENGINE '${engine}' is not one of ${WEB_SEARCH_ENGINES.join(', ')}`, { field: 'QUARRY_WEB_SEARCH_ENGINE' });
  // Exa's default URL only when a key says Exa is meant: an engine with no configuration has no web search.
  const url = env.QUARRY_WEB_SEARCH_URL ?? (env.QUARRY_WEB_SEARCH_ENGINE ? DEFAULT_URLS[engine] : undefined);
  if (!url) return undefined;
  const apiKey = env.QUARRY_WEB_SEARCH_API_KEY_FILE ? readFileSync(env.QUARRY_WEB_SEARCH_API_KEY_FILE, 'utf8').trim() : env.QUARRY_WEB_SEARCH_API_KEY;
  let json: JsonEndpointSpec | undefined;
  if (env.QUARRY_WEB_SEARCH_JSON) {
    try {
      json = JSON.parse(env.QUARRY_WEB_SEARCH_JSON) as JsonEndpointSpec;
    } catch {
      throw badRequest('QUARRY_WEB_SEARCH_JSON is not JSON (e.g. {"resultsPath": "items", "fields": {"url": "link"}})', { field: 'QUARRY_WEB_SEARCH_JSON' });
    }
  }
  return webSearchAdapter({ engine, url, ...(apiKey ? { apiKey } : {}), ...(json ? { json } : {}), allowCidrs, ...(lookup ? { lookup } : {}) });
}

export interface NamespaceWebSearchOptions {
  /** The QuarryNamespace a request's namespace names (throws 404 when none). */
  resolve: (namespace: string) => WebSearchNamespace;
  readSecret?: SecretReader;
  /** The engine's own web search (namespaces without spec.webSearch), read when a stage runs (a rotated key file is seen). */
  engine?: () => WebSearch | undefined;
  /** The engine's SSRF allow-list (never a tenant's). */
  allowCidrs: string[];
  lookup?: LookupFn;
}

/** EngineDeps.webSearch: the web search of a request's namespace; undefined when neither it nor the engine has one. */
export function namespaceWebSearch(o: NamespaceWebSearchOptions): (namespace: string | undefined) => Promise<WebSearch | undefined> {
  return async (namespace) => {
    if (!namespace) return o.engine?.();
    const qn = o.resolve(namespace);
    const spec = (qn.spec as { webSearch?: NamespaceWebSearchSpec } | undefined)?.webSearch;
    if (!spec) return o.engine?.();
    const where = `QuarryNamespace '${qn.metadata.name}'`;
    const url = spec.url ?? DEFAULT_URLS[spec.engine];
    if (!url) throw badRequest(`${where}: spec.webSearch.engine ${spec.engine} needs spec.webSearch.url (the endpoint to call)`, { field: 'spec.webSearch.url' });
    let apiKey: string | undefined;
    const ref = spec.apiKeySecretRef;
    if (ref) {
      const k8s = qn.metadata.namespace ?? '';
      const field = 'spec.webSearch.apiKeySecretRef';
      const data = await readOwnedSecret(o.readSecret, { k8sNamespace: k8s, owners: [qn.metadata.name], name: ref.name, field, where });
      apiKey = data[ref.key ?? 'apiKey']?.trim();
      if (!apiKey) throw new QuarryError('BadRequestError', `${where}: the Secret '${ref.name}' key '${ref.key ?? 'apiKey'}' (${field}) does not exist in Kubernetes namespace '${k8s}'`, { field });
    }
    return webSearchAdapter({ engine: spec.engine, url, ...(apiKey ? { apiKey } : {}), ...(spec.json ? { json: spec.json } : {}), allowCidrs: o.allowCidrs, ...(o.lookup ? { lookup: o.lookup } : {}) });
  };
}
