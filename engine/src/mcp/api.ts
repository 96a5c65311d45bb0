/** How the MCP server reaches the Quarry REST API: in-process (Fastify inject, engine) or over HTTP (stdio CLI). */
import type { FastifyInstance } from 'fastify';

export interface ApiReply {
  status: number;
  body: Record<string, unknown>;
}

export interface ApiRequest {
  /** X-Namespace of the request. */
  namespace?: string;
  body?: unknown;
}

/**
 * One call to the REST API as the MCP caller (its API key): every tool goes through the same routes, auth hook and
 * namespace scoping as a direct API call, so MCP can never see more than the key can.
 */
export interface QuarryApi {
  call(method: 'GET' | 'POST', path: string, req?: ApiRequest): Promise<ApiReply>;
  /** The engine's public base URL, for links to documents (no trailing slash). */
  baseUrl: string;
}

function parse(text: string): Record<string, unknown> {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { raw: text };
  }
}

function headersOf(auth: Record<string, string>, req: ApiRequest): Record<string, string> {
  return {
    ...auth,
    ...(req.namespace !== undefined ? { 'x-namespace': req.namespace } : {}),
    ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}),
  };
}

/** The engine's own routes through `app.inject`, with the caller's Authorization (and Kubernetes namespace) headers. */
export function injectApi(app: FastifyInstance, auth: Record<string, string>, baseUrl: string): QuarryApi {
  return {
    baseUrl,
    async call(method, path, req = {}) {
      const res = await app.inject({ method, url: path, headers: headersOf(auth, req), ...(req.body !== undefined ? { payload: JSON.stringify(req.body) } : {}) });
      return { status: res.statusCode, body: parse(res.body) };
    },
  };
}

/** A running engine over HTTP (the stdio server of `quarry mcp`). */
export function fetchApi(server: string, apiKey: string | undefined, timeoutMs = 120_000): QuarryApi {
  const baseUrl = server.replace(/\/+$/, '');
  const auth: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  return {
    baseUrl,
    async call(method, path, req = {}) {
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: headersOf(auth, req),
        ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: res.status, body: parse(await res.text()) };
    },
  };
}
