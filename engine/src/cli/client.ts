/**
 * The CLI's HTTP client for a local or remote engine. Sends `Authorization: Bearer <key>` and `X-Namespace`, and
 * turns every failure into one of two errors the entry point maps to exit codes: ApiError (the server answered
 * with an error: exit 1, printing the documented `error.type` and `error.message`) and UnreachableError (no HTTP
 * answer at all: exit 3). Node's built-in fetch (and node:http for streamed file uploads) is enough here.
 */
import { createReadStream } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface ClientOptions {
  server: string;
  apiKey?: string;
  namespace?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly details?: Record<string, unknown>;

  constructor(status: number, type: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    if (details) this.details = details;
  }
}

export class UnreachableError extends Error {
  constructor(server: string, cause: unknown) {
    const code = (cause as { cause?: { code?: string } })?.cause?.code ?? (cause as { code?: string })?.code;
    const why = code ?? (cause instanceof Error ? cause.message : String(cause));
    super(`cannot reach the Quarry server at ${server} (${why}); start one with 'quarry up' or point --server / QUARRY_URL at it`);
    this.name = 'UnreachableError';
  }
}

async function toApiError(res: Response): Promise<ApiError> {
  return apiErrorFrom(res.status, res.statusText, await res.text().catch(() => ''));
}

/** An error body in the documented shape, or FastAPI's 422 `detail`, or whatever text came back. */
function apiErrorFrom(status: number, statusText: string, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { type?: string; message?: string; details?: Record<string, unknown> }; detail?: unknown };
    if (body.error && typeof body.error.message === 'string') {
      return new ApiError(status, body.error.type ?? `HTTP${status}`, body.error.message, body.error.details);
    }
    if (body.detail !== undefined) return new ApiError(status, 'ValidationError', JSON.stringify(body.detail));
  } catch {
    // not JSON (an object store's XML error, a proxy's HTML): fall through to the raw text
  }
  return new ApiError(status, `HTTP${status}`, text.trim().slice(0, 500) || statusText);
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  form?: FormData;
  /** Skip the X-Namespace header (organization-level routes such as /v1/namespaces). */
  noNamespace?: boolean;
  /** Return the raw text instead of parsing JSON (e.g. YAML export). */
  text?: boolean;
  signal?: AbortSignal;
}

export class QuarryClient {
  readonly server: string;
  readonly namespace: string | undefined;
  private readonly apiKey: string | undefined;

  constructor(opts: ClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
    this.apiKey = opts.apiKey || undefined;
    this.namespace = opts.namespace || undefined;
  }

  headers(noNamespace = false): Record<string, string> {
    return {
      ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
      ...(this.namespace && !noNamespace ? { 'x-namespace': this.namespace } : {}),
    };
  }

  url(path: string, query?: RequestOptions['query']): string {
    const u = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { ...this.headers(opts.noNamespace), accept: opts.text ? '*/*' : 'application/json' };
    let body: string | FormData | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.form) body = opts.form;
    const res = await send(this.server, this.url(path, opts.query), { method, headers, ...(body !== undefined ? { body } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    if (!res.ok) throw await toApiError(res);
    if (opts.text) return (await res.text()) as T;
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T = unknown>(path: string, opts?: RequestOptions) {
    return this.request<T>('GET', path, opts);
  }

  post<T = unknown>(path: string, json?: unknown, opts: RequestOptions = {}) {
    return this.request<T>('POST', path, { ...opts, json: json ?? {} });
  }

  delete<T = unknown>(path: string, opts?: RequestOptions) {
    return this.request<T>('DELETE', path, opts);
  }

  /**
   * PUT a file to a presigned URL (the object store's, not the API's: no auth headers), streamed from disk with its
   * Content-Length. node:http rather than fetch: fetch cannot send a streamed body with a Content-Length, and S3
   * presigned PUTs refuse chunked uploads; buffering instead would hold whole files in memory.
   */
  putPresignedFile(url: string, file: string, size: number, contentType: string, signal?: AbortSignal): Promise<string | undefined> {
    const u = new URL(url);
    const origin = u.origin;
    return new Promise((resolve, reject) => {
      const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'PUT', headers: { 'content-type': contentType, 'content-length': String(size) }, ...(signal ? { signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new UnreachableError(origin, err)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve((res.headers.etag as string | undefined) ?? undefined);
          else reject(apiErrorFrom(status, res.statusMessage ?? '', Buffer.concat(chunks).toString('utf8')));
        });
      });
      req.on('error', (err) => reject(err.name === 'AbortError' ? err : new UnreachableError(origin, err)));
      const body = createReadStream(file);
      body.on('error', (err) => {
        req.destroy(err);
        reject(err);
      });
      body.pipe(req);
    });
  }
}

/** fetch that reports "no answer" (refused, DNS, reset, TLS) as UnreachableError; aborts propagate as they are. */
async function send(server: string, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    if ((err as Error)?.name === 'AbortError') throw err;
    throw new UnreachableError(server, err);
  }
}

/** Path segment escaping for names and ids given on the command line. */
export const seg = (s: string) => encodeURIComponent(s);
