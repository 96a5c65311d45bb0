/**
 * Presigned URLs for the local-disk store: an HMAC-SHA256 over method, bucket, key, expiry and content type,
 * as query parameters on a URL under a base URL the engine serves. Written by hand because it is a few
 * lines of node:crypto and no library signs URLs for our own endpoint.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { QuarryError } from '../lib/errors.ts';

export type PresignMethod = 'GET' | 'PUT';

export interface PresignedTarget {
  method: PresignMethod;
  bucket: string;
  key: string;
  /** For PUT: the content type the uploader must send (and that is stored). */
  contentType?: string;
  expiresAt: Date;
}

const P = { method: 'X-Quarry-Method', expires: 'X-Quarry-Expires', type: 'X-Quarry-Content-Type', sig: 'X-Quarry-Signature' };

function sign(secret: string | Buffer, m: string, bucket: string, key: string, expires: string, type: string): string {
  return createHmac('sha256', secret).update([m, bucket, key, expires, type].join('\n')).digest('hex');
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export function presignUrl(
  baseUrl: string,
  secret: string | Buffer,
  target: { method: PresignMethod; bucket: string; key: string; contentType?: string; expiresInSeconds: number },
): string {
  const expires = String(Math.floor(Date.now() / 1000) + Math.max(1, Math.floor(target.expiresInSeconds)));
  const type = target.contentType ?? '';
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/${encodeURIComponent(target.bucket)}/${encodeKey(target.key)}`);
  url.searchParams.set(P.method, target.method);
  url.searchParams.set(P.expires, expires);
  if (type) url.searchParams.set(P.type, type);
  url.searchParams.set(P.sig, sign(secret, target.method, target.bucket, target.key, expires, type));
  return url.toString();
}

const forbidden = (why: string) => new QuarryError('ForbiddenError', `presigned URL rejected: ${why}`);

/**
 * Checks a presigned URL (absolute, or a path + query as an HTTP server sees it) against the base URL and
 * secret; returns what it grants or throws a ForbiddenError. `method` is the request's method.
 */
export function verifyPresigned(baseUrl: string, secret: string | Buffer, url: string, method: string): PresignedTarget {
  const base = new URL(baseUrl);
  const u = new URL(url, base);
  const basePath = base.pathname.replace(/\/+$/, '');
  if (!u.pathname.startsWith(`${basePath}/`)) throw forbidden('not under the object base URL');
  const [rawBucket, ...rawKey] = u.pathname.slice(basePath.length + 1).split('/');
  let bucket: string;
  let key: string;
  try {
    bucket = decodeURIComponent(rawBucket ?? '');
    key = rawKey.map(decodeURIComponent).join('/');
  } catch {
    throw forbidden('malformed path');
  }
  const m = u.searchParams.get(P.method);
  const expires = u.searchParams.get(P.expires) ?? '';
  const type = u.searchParams.get(P.type) ?? '';
  const sig = u.searchParams.get(P.sig) ?? '';
  if (m !== 'GET' && m !== 'PUT') throw forbidden('missing method');
  const want = Buffer.from(sign(secret, m, bucket, key, expires, type), 'hex');
  const got = Buffer.from(sig, 'hex');
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw forbidden('bad signature');
  const requestMethod = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  if (requestMethod !== m) throw forbidden(`signed for ${m}, used with ${method}`);
  const exp = Number(expires);
  if (!Number.isFinite(exp) || exp * 1000 < Date.now()) throw forbidden('expired');
  return { method: m, bucket, key, ...(type ? { contentType: type } : {}), expiresAt: new Date(exp * 1000) };
}
