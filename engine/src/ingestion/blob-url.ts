/**
 * Blobs given by URL (`data: "https://…"`, reference §1.3): the engine fetches the URL and mirrors the bytes into
 * the bucket's storage (what `canonicalize_source` describes), streaming them with a size cap and a deadline.
 *
 * Outbound fetches to addresses a user names are an SSRF risk, so every hop goes through the engine's SSRF guard
 * (retriever/ssrf.ts resolvePublic: all resolved addresses must be public) and the socket is pinned to the checked
 * address; redirects are followed by hand (at most 5) and re-checked. Private and loopback addresses are reachable
 * only with QUARRY_FETCH_ALLOW_PRIVATE=true (or QUARRY_FETCH_ALLOW_CIDRS), the switches every outbound call of the
 * engine reads. The guard's guardedRequest buffers the body in memory, which blobs (up to the upload limit) must
 * not, so the request itself is made here, streaming into the object store; node:http because fetch cannot pin
 * the connection to the address that was checked.
 */
import { createHash } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { QuarryError } from '../lib/errors.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import { resolvePublic, ssrfAllowCidrsFromEnv, type SsrfPolicy } from '../retriever/ssrf.ts';
import type { LookupFn } from '../retriever/types.ts';

const MAX_REDIRECTS = 5;
const WHO = 'blob fetch';
const HEAD_BYTES = 4100; // what file-type needs to sniff a format

export interface UrlFetchOptions {
  maxBytes: number;
  /** Whole fetch, connect to last byte (default QUARRY_FETCH_TIMEOUT_SECONDS or 30 s). */
  timeoutMs?: number;
  /**
   * CIDRs exempt from the SSRF block list; default from the environment like every outbound call of the engine
   * (QUARRY_FETCH_ALLOW_PRIVATE=true, QUARRY_FETCH_ALLOW_CIDRS). Metadata endpoints stay blocked regardless.
   */
  allowCidrs?: string[];
  lookup?: LookupFn;
}

export interface StoredStream {
  size: number;
  sha256: string;
  /** The first bytes, for content sniffing. */
  head: Buffer;
}

/** A data string that is one http(s) URL (and nothing else) is fetched rather than stored as text. */
export function isFetchableUrl(data: unknown): data is string {
  return typeof data === 'string' && /^https?:\/\/\S+$/i.test(data.trim()) && URL.canParse(data.trim());
}

/** Streams a body to the object store while hashing and counting it; fails past `limit` bytes. */
export async function streamToStore(store: ObjectStore, bucket: string, key: string, source: NodeJS.ReadableStream, contentType: string, limit: number): Promise<StoredStream> {
  const hash = createHash('sha256');
  let size = 0;
  let head = Buffer.alloc(0);
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > limit) return cb(new QuarryError('BadRequestError', `upload exceeds the ${limit}-byte limit`, { limit_bytes: limit }));
      if (head.length < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const out = new PassThrough();
  const stored = store.put(bucket, key, out, { contentType });
  await Promise.all([pipeline(source, meter, out), stored]);
  return { size, sha256: hash.digest('hex'), head };
}

function envTimeoutMs(): number {
  const s = Number(process.env.QUARRY_FETCH_TIMEOUT_SECONDS ?? 30);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 30_000;
}

/**
 * Fetches `url` into `bucket/key`. Errors are 4xx naming `at` (the blob's field path) and the reason: a refused
 * address (403), an HTTP error status, a body over the limit, a timeout or an unreachable host (400).
 */
export async function fetchUrlToStore(
  url: string,
  at: string,
  store: ObjectStore,
  bucket: string,
  key: string,
  opts: UrlFetchOptions,
): Promise<StoredStream & { contentType?: string; filename?: string; finalUrl: string }> {
  const policy: SsrfPolicy = { allowCidrs: opts.allowCidrs ?? ssrfAllowCidrsFromEnv() };
  const timeoutMs = opts.timeoutMs ?? envTimeoutMs();
  const deadline = Date.now() + timeoutMs;
  const fail = (reason: string, details: Record<string, unknown> = {}, type: 'BadRequestError' | 'ForbiddenError' = 'BadRequestError') =>
    new QuarryError(type, `${at}.data: could not fetch ${url}: ${reason}`, { field: `${at}.data`, url, reason, ...details });

  let current = url.trim();
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const u = new URL(current);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw fail(`only http and https URLs can be fetched (redirected to ${u.protocol})`, {}, 'ForbiddenError');
    if (u.username || u.password) throw fail('credentials in URLs are not accepted', {}, 'ForbiddenError');
    let addr: { address: string; family: number };
    try {
      addr = await resolvePublic(u.hostname, current, policy, opts.lookup, WHO);
    } catch (err) {
      if (!(err instanceof QuarryError)) throw err;
      const reason = typeof err.details?.reason === 'string' ? err.details.reason : err.message.replace(`${WHO} `, '');
      if (err.status !== 403) throw fail(reason);
      const hint = reason.includes('QUARRY_FETCH_ALLOW_PRIVATE') ? '' : ' (set QUARRY_FETCH_ALLOW_PRIVATE=true to allow private addresses)';
      throw fail(`${reason}${hint}`, {}, 'ForbiddenError');
    }
    let timedOut = false;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return reject(fail(`timed out after ${timeoutMs} ms`));
      const req = (u.protocol === 'https:' ? https : http).request(u, {
        method: 'GET',
        headers: { 'user-agent': 'quarry-blob-fetch/1', accept: '*/*' },
        // Pin the socket to the address the guard checked (no DNS-rebinding window).
        lookup: (_host: string, o: { all?: boolean }, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
          if (o?.all) cb(null, [{ address: addr.address, family: addr.family }]);
          else cb(null, addr.address, addr.family);
        },
      });
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy(fail(`timed out after ${timeoutMs} ms`));
      }, remaining);
      req.on('response', (r) => {
        // The body keeps the deadline: destroying the request aborts the stream and the store write.
        r.once('close', () => clearTimeout(timer));
        resolve(r);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err instanceof QuarryError ? err : fail(`${(err as NodeJS.ErrnoException).code ?? 'request failed'}: ${err.message}`));
      });
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      current = new URL(res.headers.location, current).toString();
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      throw fail(`the server answered HTTP ${status}`, { status });
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      res.destroy();
      throw fail(`${declared} bytes exceeds the ${opts.maxBytes}-byte limit`, { limit_bytes: opts.maxBytes });
    }
    const header = String(res.headers['content-type'] ?? '').trim();
    let stored: StoredStream;
    try {
      stored = await streamToStore(store, bucket, key, res, header || 'application/octet-stream', opts.maxBytes);
    } catch (err) {
      await store.delete(bucket, key).catch(() => {});
      if (timedOut) throw fail(`timed out after ${timeoutMs} ms`);
      if (err instanceof QuarryError && err.details?.limit_bytes !== undefined) throw fail(`the body exceeds the ${opts.maxBytes}-byte limit`, { limit_bytes: opts.maxBytes });
      if (err instanceof QuarryError && err.message.startsWith(`${at}.data:`)) throw err;
      throw fail(`the transfer failed: ${(err as Error).message}`);
    }
    const last = u.pathname.split('/').filter(Boolean).pop() ?? '';
    let filename: string | undefined;
    try {
      filename = decodeURIComponent(last) || undefined;
    } catch {
      filename = last || undefined;
    }
    return {
      ...stored,
      ...(header && header !== 'application/octet-stream' ? { contentType: header } : {}),
      ...(filename ? { filename } : {}),
      finalUrl: current,
    };
  }
  throw fail(`more than ${MAX_REDIRECTS} redirects`);
}
