/**
 * The VectorStore over a served store's HTTP API (server.ts; `quarry vector-store`, the chart's vector-store
 * StatefulSet). Node's fetch (undici) keeps connections alive between calls. Every call has a deadline.
 * - The store's errors arrive as the same QuarryError (type, status, details): a missing collection is still a 404,
 *   a bad filter still a 400 naming it, so the engine answers as it would on the store itself.
 * - The server unreachable (refused, reset, DNS) is a 503 ServiceUnavailableError saying so, marked retryable; no
 *   answer within the deadline is a 504 TimeoutError. Reads are tried once more on a connection error (a keep-alive
 *   socket closed under the request); writes never are: the caller decides.
 * - A refused token or an answer that is not the store's (a 404 from another server) is a 500 StorageError naming the
 *   setting to check: it is this process's configuration, not the caller's request.
 */
import { QuarryError, badRequest, type ErrorType } from '../../lib/errors.ts';
import type { FilterNode } from '../../ports/filter.ts';
import type { CollectionSpec, FacetHit, FusionRequest, GroupRequest, Point, PointGroup, ScoredPoint, ScrollPage, ScrollRequest, SearchRequest, VectorStore } from '../../ports/vector-store.ts';
import { API_PREFIX, METHODS, argNames, pointsFromWire, toJson, type MethodName } from './wire.ts';

export interface RemoteStoreOptions {
  /** The server's base URL, e.g. http://quarry-vector-store.quarry.svc:8090. */
  url: string;
  /** The bearer token the server was started with. */
  token: string;
  /** Deadline of one call in milliseconds. Default 30,000 (optimize: 10 minutes, it compacts the collection). */
  timeoutMs?: number;
  /** Points per upsert request. Default 512. */
  batchSize?: number;
}

const KNOWN_TYPES = new Set<string>(['BadRequestError', 'UnauthorizedError', 'ForbiddenError', 'NotFoundError', 'AlreadyExistsError', 'ValidationError', 'TooManyRequestsError', 'NotEnabledError', 'InternalServerError', 'InferenceServiceUnavailableError', 'ServiceUnavailableError', 'StorageError', 'FeatureExtractionError', 'TimeoutError']);
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT']);

/** The code of a fetch failure (undici puts the socket's error in `cause`). */
function failureCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

export class RemoteVectorStore implements VectorStore {
  readonly kind = 'remote';
  private readonly base: string;
  private readonly auth: string;
  private readonly timeoutMs: number;
  private readonly batchSize: number;
  private closed = false;

  constructor(opts: RemoteStoreOptions) {
    if (!opts?.url) throw badRequest('the remote vector store needs a url (QUARRY_VECTOR_STORE_URL)', { field: 'url' });
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw badRequest(`QUARRY_VECTOR_STORE_URL '${opts.url}' is not a URL: use http://<host>:<port>`, { field: 'url' });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw badRequest(`QUARRY_VECTOR_STORE_URL '${opts.url}' must be http:// or https://`, { field: 'url' });
    if (!opts.token) throw badRequest('the remote vector store needs the server\'s token (QUARRY_VECTOR_STORE_TOKEN or QUARRY_VECTOR_STORE_TOKEN_FILE)', { field: 'token' });
    this.base = opts.url.replace(/\/+$/, '');
    this.auth = `Bearer ${opts.token}`;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.batchSize = opts.batchSize ?? 512;
  }

  private async call<T>(method: MethodName, ...args: unknown[]): Promise<T> {
    if (this.closed) throw new QuarryError('ServiceUnavailableError', 'the remote vector store client is closed');
    const names = argNames(method);
    const body: Record<string, unknown> = {};
    names.forEach((n, i) => {
      if (args[i] !== undefined) body[n] = args[i];
    });
    const text = toJson(body);
    const timeoutMs = method === 'optimize' ? Math.max(this.timeoutMs, 600_000) : this.timeoutMs;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${this.base}${API_PREFIX}/${method}`, {
          method: 'POST',
          headers: { authorization: this.auth, 'content-type': 'application/json' },
          body: text,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        const code = failureCode(err);
        if ((err as Error).name === 'TimeoutError' || code === 'ABORT_ERR') {
          throw new QuarryError('TimeoutError', `the vector store at ${this.base} did not answer ${method} within ${timeoutMs} ms`, { retryable: true });
        }
        if (!METHODS[method].write && attempt === 1 && code && CONNECTION_CODES.has(code)) continue;
        throw new QuarryError('ServiceUnavailableError', `the vector store at ${this.base} cannot be reached (${code ?? (err as Error).message}) for ${method}: is its server (quarry vector-store) running? Retry shortly`, { retryable: true, retry_after_seconds: 2, ...(code ? { code } : {}) });
      }
      return this.answer<T>(method, res);
    }
  }

  private async answer<T>(method: MethodName, res: Response): Promise<T> {
    const raw = await res.text();
    let parsed: { result?: unknown; error?: { type?: string; message?: string; details?: Record<string, unknown> } } | undefined;
    try {
      parsed = JSON.parse(raw) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    if (res.ok && parsed && typeof parsed === 'object') return parsed.result as T;
    const e = parsed?.error;
    if (res.status === 401 || res.status === 403) {
      throw new QuarryError('StorageError', `the vector store at ${this.base} refused this process's token (HTTP ${res.status}) on ${method}: QUARRY_VECTOR_STORE_TOKEN must be the server's`, { vector_store_status: res.status });
    }
    if (!e || typeof e.type !== 'string' || !KNOWN_TYPES.has(e.type) || (res.status === 404 && !e.details?.resource)) {
      throw new QuarryError('StorageError', `the vector store at ${this.base} answered ${method} with HTTP ${res.status} but not in the vector store's error shape: check that QUARRY_VECTOR_STORE_URL is a Quarry vector store (${raw.slice(0, 200)})`, { vector_store_status: res.status });
    }
    throw new QuarryError(e.type as ErrorType, String(e.message ?? `${method} failed`), e.details);
  }

  ensureCollection(spec: CollectionSpec): Promise<void> {
    return this.call('ensureCollection', spec);
  }
  async describeCollection(name: string): Promise<CollectionSpec | undefined> {
    return (await this.call<CollectionSpec | null | undefined>('describeCollection', name)) ?? undefined;
  }
  dropCollection(name: string): Promise<void> {
    return this.call('dropCollection', name);
  }
  listCollections(): Promise<string[]> {
    return this.call('listCollections');
  }
  async upsert(collection: string, points: Point[]): Promise<void> {
    if (!Array.isArray(points) || points.length <= this.batchSize) return this.call('upsert', collection, points);
    for (let i = 0; i < points.length; i += this.batchSize) await this.call('upsert', collection, points.slice(i, i + this.batchSize));
  }
  async retrieve(collection: string, ids: string[], opts?: { withVectors?: boolean }): Promise<ScoredPoint[]> {
    return pointsFromWire(await this.call('retrieve', collection, ids, opts));
  }
  delete(collection: string, ids: string[]): Promise<void> {
    return this.call('delete', collection, ids);
  }
  deleteByFilter(collection: string, filter: FilterNode): Promise<void> {
    return this.call('deleteByFilter', collection, filter);
  }
  count(collection: string, filter?: FilterNode): Promise<number> {
    return this.call('count', collection, filter);
  }
  async scroll(collection: string, req: ScrollRequest): Promise<ScrollPage> {
    const page = await this.call<ScrollPage>('scroll', collection, req);
    pointsFromWire(page.points);
    return page;
  }
  async search(collection: string, req: SearchRequest): Promise<ScoredPoint[]> {
    return pointsFromWire(await this.call('search', collection, req));
  }
  async fuse(collection: string, req: FusionRequest): Promise<ScoredPoint[]> {
    return pointsFromWire(await this.call('fuse', collection, req));
  }
  async searchGroups(collection: string, req: GroupRequest): Promise<PointGroup[]> {
    const groups = await this.call<PointGroup[]>('searchGroups', collection, req);
    for (const g of groups) pointsFromWire(g.hits);
    return groups;
  }
  facet(collection: string, key: string, opts?: { filter?: FilterNode; limit?: number }): Promise<FacetHit[]> {
    return this.call('facet', collection, key, opts);
  }
  optimize(collection: string): Promise<void> {
    return this.call('optimize', collection);
  }
  version(collection: string): Promise<string> {
    return this.call('version', collection);
  }
  /** Nothing to release but the pooled connections, which close on their own when idle; later calls are refused. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
