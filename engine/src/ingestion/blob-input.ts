/**
 * Turns a CreateBlob from the API (`{property, type, data?, upload_id?, metadata?}`) into bytes and a sniffed
 * content type. `data` may be raw text, a data: URL, base64 (for binary types) or JSON (an http(s) URL is fetched
 * by blob-url.ts before this is reached); content types are
 * detected from the bytes (file-type), never trusted from the client alone.
 */
import { fileTypeFromBuffer } from 'file-type';
import { QuarryError } from '../lib/errors.ts';
import type { BlobType } from './types.ts';

export const BLOB_TYPES: BlobType[] = ['text', 'string', 'image', 'video', 'audio', 'pdf', 'excel', 'auto'];
const BINARY: ReadonlySet<BlobType> = new Set(['image', 'video', 'audio', 'pdf', 'excel']);

export interface CreateBlob {
  property: string;
  type: BlobType;
  data?: unknown;
  upload_id?: string;
  metadata?: Record<string, unknown>;
}

export function validateCreateBlob(b: unknown, at: string): CreateBlob {
  const fail = (field: string, fix: string) => {
    throw new QuarryError('ValidationError', `${at}.${field}: ${fix}`, { field: `${at}.${field}` });
  };
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new QuarryError('ValidationError', `${at}: must be an object {property, type, data | upload_id}`, { field: at });
  const blob = b as Record<string, unknown>;
  if (typeof blob.property !== 'string' || blob.property.length < 1 || blob.property.length > 100) fail('property', 'required string of 1–100 characters naming a bucket schema property');
  if (!BLOB_TYPES.includes(blob.type as BlobType)) fail('type', `must be one of ${BLOB_TYPES.join(', ')}`);
  const hasData = blob.data !== undefined && blob.data !== null;
  const hasUpload = typeof blob.upload_id === 'string';
  if (hasData === hasUpload) fail('data', 'give exactly one of data or upload_id');
  return blob as unknown as CreateBlob;
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)?(;[\w-]+=[\w.-]+)*(;base64)?,(.*)$/s;
const BASE64 = /^[A-Za-z0-9+/\s]+={0,2}$/;

/**
 * The bytes of a data: URL's percent-encoded payload (RFC 2397). Decoded byte-wise, so escapes of any bytes (not
 * only valid UTF-8) are kept as they are; a malformed escape (`%A`, `%ZZ`) is a 422 naming the field.
 */
function percentDecoded(payload: string, at: string): Buffer {
  const bad = /%(?![0-9A-Fa-f]{2})/.exec(payload);
  if (bad) {
    throw new QuarryError('ValidationError', `${at}.data: the data: URL has a malformed percent escape at character ${bad.index + 1}: use %XX with two hex digits`, { field: `${at}.data` });
  }
  const out: number[] = [];
  const text = Buffer.from(payload, 'utf8');
  for (let i = 0; i < text.length; i++) {
    if (text[i] === 0x25) {
      out.push(parseInt(text.subarray(i + 1, i + 3).toString('latin1'), 16));
      i += 2;
    } else out.push(text[i]!);
  }
  return Buffer.from(out);
}

/** Bytes of inline `data`, decoded according to the blob type. */
export function decodeInlineData(blob: CreateBlob, at: string): { bytes: Buffer; declaredType?: string } {
  const data = blob.data;
  if (typeof data !== 'string') return { bytes: Buffer.from(JSON.stringify(data)), declaredType: 'application/json' };
  const m = DATA_URL.exec(data);
  if (m) return { bytes: m[3] ? Buffer.from(m[4]!, 'base64') : percentDecoded(m[4]!, at), ...(m[1] ? { declaredType: m[1] } : {}) };
  if (BINARY.has(blob.type)) {
    if (!BASE64.test(data)) throw new QuarryError('ValidationError', `${at}.data: a ${blob.type} blob needs base64 data or a data: URL`, { field: `${at}.data` });
    return { bytes: Buffer.from(data, 'base64') };
  }
  return { bytes: Buffer.from(data, 'utf8'), declaredType: 'text/plain; charset=utf-8' };
}

/** Content type from the bytes, falling back to the declared one and then to text or octet-stream. */
export async function sniffContentType(bytes: Uint8Array, declared?: string): Promise<string> {
  const detected = bytes.length ? await fileTypeFromBuffer(bytes) : undefined;
  if (detected) return detected.mime;
  if (declared) return declared;
  const sample = Buffer.from(bytes.subarray(0, 4096));
  return sample.includes(0) ? 'application/octet-stream' : 'text/plain; charset=utf-8';
}

/** The blob type implied by a content type, for `type: auto`. */
export function blobTypeFor(contentType: string): BlobType {
  if (contentType === 'application/pdf') return 'pdf';
  const major = contentType.split('/')[0];
  if (major === 'image' || major === 'video' || major === 'audio') return major;
  if (major === 'text' || contentType === 'application/json') return 'text';
  return 'auto';
}
