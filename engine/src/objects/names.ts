/** Bucket-name and key checks shared by the object stores (S3 rules; they also keep local paths safe). */
import { badRequest } from '../lib/errors.ts';

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function checkBucket(bucket: string): void {
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw badRequest(`invalid bucket name '${bucket}': 3-63 lowercase letters, digits, '.' and '-'`, { bucket });
  }
}

export function checkKey(key: string): void {
  if (!key || Buffer.byteLength(key) > 1024) throw badRequest(`invalid object key '${key.slice(0, 64)}': 1-1024 bytes`, { key });
}

/** S3 lowercases user metadata keys; every adapter does the same so the round trip is identical. */
export function normalizeMetadata(md: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md ?? {})) out[k.toLowerCase()] = String(v);
  return out;
}
