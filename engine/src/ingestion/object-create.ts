/**
 * Creating an object (POST …/objects, batch create, upload confirm): blobs stored from inline data, a URL or a
 * confirmed upload, checked against the Bucket's schema, then written under the bucket's object indexes:
 * - `skip_duplicates`: an object with the same content is answered instead (`is_duplicate`);
 * - the Bucket's spec.uniqueKey: an object with the same key values is the same object. Policy `insert` answers the
 *   existing one (`skipped_unique_key`), `update` replaces it (and only it: no object, 404), `upsert` replaces or
 *   creates. A replacement keeps the object id and created_at, drops the old blobs it owned and the old documents
 *   (the next batch extracts the new content).
 * Nothing is stored for a refused request, and a failed create leaves no bytes behind.
 */
import { createHash } from 'node:crypto';
import { newId } from './ids.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import { QuarryError, notFound, validationError } from '../lib/errors.ts';
import { blobTypeFor, decodeInlineData, sniffContentType, validateCreateBlob, type CreateBlob } from './blob-input.ts';
import { fetchUrlToStore, isFetchableUrl, type UrlFetchOptions } from './blob-url.ts';
import { checkBlobs, checkMetadata, checkResolvedBlob } from './object-schema.ts';
import type { NamespaceIngestion, ObjectRecord } from './pipeline.ts';
import type { BlobType, StoredBlob } from './types.ts';

export interface ObjectCreateDeps {
  objects: ObjectStore;
  /** Largest accepted blob, in bytes. */
  maxUploadBytes: number;
  urlFetch?: Omit<UrlFetchOptions, 'maxBytes'>;
}

export interface UploadRecord {
  upload_id: string;
  bucket_id: string;
  filename: string;
  content_type: string;
  file_size_bytes?: number;
  s3_key: string;
  status: 'PENDING' | 'COMPLETED' | 'FAILED' | 'CANCELED';
  file_hash?: string;
  presigned_url?: string;
  created_at: string;
  expires_at?: string;
  completed_at?: string;
  metadata?: Record<string, unknown>;
  /** On confirm, create an object in the bucket with the file as its one blob (default true). */
  create_object_on_confirm?: boolean;
  object_metadata?: Record<string, unknown>;
  blob_property?: string;
  blob_type?: BlobType;
  /** Skip a file whose content an earlier object (or upload, without object creation) already holds (default true). */
  skip_duplicates?: boolean;
  /** Set on confirm. */
  object_id?: string;
  is_duplicate?: boolean;
  skipped_unique_key?: boolean;
  existing_object_id?: string;
  duplicate_of_upload_id?: string;
  message?: string;
}

/** The object as the API returns it, and what the create did. */
export type ObjectCreated = ReturnType<typeof objectResponse> & { is_duplicate?: true; skipped_unique_key?: true; updated?: true };


/** Fields of the stored record that only the server sets; a request's top-level keys of these names are ignored. */
const RECORD_FIELDS = new Set(['object_id', 'bucket', 'bucket_id', 'status', 'error', 'created_at', 'updated_at', 'content_hash', 'unique_key_hash', 'replaced_at', 'source_details']);

export function objectResponse(o: ObjectRecord) {
  const { bucket, ...rest } = o;
  return { ...rest, bucket_id: bucket, source_details: [{ type: 'bucket', source_id: bucket }] };
}

/**
 * PATCH of an object (reference §0.1: partial update): `metadata` is merged key by key (a null value removes a key),
 * other top-level keys replace the object's (null removes them). Blobs are not patched (create the object again,
 * or upsert it by the Bucket's unique key), nor the unique-key values (the
 * object's identity). Checked against the Bucket's schema like a create; documents extracted before keep the old
 * values until the object is processed again.
 */
export async function patchObjectIn(ns: NamespaceIngestion, bucket: string, objectId: string, input: Record<string, unknown>): Promise<ReturnType<typeof objectResponse>> {
  if ('blobs' in input) throw validationError(`body.blobs: an object's blobs are not patched; create the object again (or upsert it by the bucket's unique key)`, { field: 'body.blobs' });
  const { metadata: patchMeta, ...given } = input;
  // As on create, the fields the server sets are ignored (a client may send back what it read).
  const open = Object.fromEntries(Object.entries(given).filter(([k]) => !RECORD_FIELDS.has(k)));
  if (patchMeta !== undefined && patchMeta !== null && (typeof patchMeta !== 'object' || Array.isArray(patchMeta))) throw validationError('body.metadata: must be an object', { field: 'body.metadata' });
  const current = await ns.getObject(objectId);
  if (current.bucket !== bucket) throw notFound('object', objectId);
  const merge = (base: Record<string, unknown>, patch: Record<string, unknown>) => {
    const out = { ...base };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = v;
    }
    return out;
  };
  const schema = await ns.ns.bucketSchema?.(bucket);
  const uk = await ns.ns.uniqueKey?.(bucket);
  const next = (o: ObjectRecord): ObjectRecord => {
    const { object_id: _i, bucket: _b, blobs, metadata, status: _s, error: _e, created_at: _c, updated_at: _u, content_hash: _h, unique_key_hash: _k, replaced_at: _r, ...extra } = o;
    const newExtra = merge(extra, open);
    let newMeta = merge(metadata ?? {}, (patchMeta as Record<string, unknown> | null | undefined) ?? {});
    if (schema) newMeta = checkMetadata(schema, bucket, blobs.map((b) => b.property), newMeta, newExtra, 'body');
    for (const f of uk?.fields ?? []) {
      const before = metadata?.[f] ?? extra[f];
      const after = newMeta[f] ?? newExtra[f];
      if (JSON.stringify(before) !== JSON.stringify(after)) {
        throw validationError(`body.metadata.${f}: bucket '${bucket}' identifies objects by ${uk!.fields.join(', ')} (spec.uniqueKey); it cannot be patched: create an object with the new key instead`, { field: `body.metadata.${f}` });
      }
    }
    const kept = Object.fromEntries(Object.entries(o).filter(([k]) => RECORD_FIELDS.has(k) || k === 'blobs'));
    return { ...newExtra, ...kept, metadata: newMeta } as ObjectRecord;
  };
  next(current); // a refused patch is a 422 before anything is written
  return objectResponse(await ns.updateObject(objectId, next));
}

/** The Bucket's unique key for this object: its values hashed, and the policy for an existing key. */
async function uniqueKeyOf(ns: NamespaceIngestion, bucket: string, metadata: Record<string, unknown>, extra: Record<string, unknown>, at: string) {
  const uk = await ns.ns.uniqueKey?.(bucket);
  if (!uk) return undefined;
  const values = uk.fields.map((f) => {
    const v = metadata[f] ?? extra[f];
    if (v === undefined || v === null) {
      throw validationError(`${at}.metadata.${f}: bucket '${bucket}' identifies objects by ${uk.fields.join(', ')} (spec.uniqueKey); give ${f}`, { field: `${at}.metadata.${f}` });
    }
    return v;
  });
  return { hash: createHash('sha256').update(JSON.stringify(values)).digest('hex'), policy: uk.defaultPolicy ?? 'insert', describe: uk.fields.map((f, i) => `${f}=${JSON.stringify(values[i])}`).join(', ') };
}

export async function createObjectIn(deps: ObjectCreateDeps, ns: NamespaceIngestion, bucket: string, input: Record<string, unknown>, at: string): Promise<ObjectCreated> {
  if (!Array.isArray(input.blobs) || input.blobs.length === 0) throw validationError(`${at}.blobs: give at least one blob {property, type, data | upload_id}`, { field: `${at}.blobs` });
  if (input.metadata !== undefined && (typeof input.metadata !== 'object' || input.metadata === null || Array.isArray(input.metadata))) {
    throw validationError(`${at}.metadata: must be an object`, { field: `${at}.metadata` });
  }
  const storage = await ns.ns.storageBucket(bucket);
  // Everything about the request is checked before the first byte is stored.
  const given: CreateBlob[] = (input.blobs as unknown[]).map((raw, i) => validateCreateBlob(raw, `${at}.blobs[${i}]`));
  const { blobs: _b, metadata: rawMetadata, skip_duplicates: _s, ...open } = input;
  // Extra top-level keys are kept (the reference's object model is open), except the record's own fields.
  const extra = Object.fromEntries(Object.entries(open).filter(([k]) => !RECORD_FIELDS.has(k)));
  let metadata = (rawMetadata as Record<string, unknown> | undefined) ?? {};
  const schema = await ns.ns.bucketSchema?.(bucket);
  if (schema) {
    checkBlobs(schema, bucket, given, at);
    metadata = checkMetadata(schema, bucket, given.map((b) => b.property), metadata, extra, at);
  }

  let objectId = newId('obj');
  let replacing: ObjectRecord | undefined;
  const ukey = await uniqueKeyOf(ns, bucket, metadata, extra, at);
  if (ukey) {
    const holder = await ns.claimIndexKey('ukey', bucket, ukey.hash, objectId);
    if (holder && ukey.policy === 'insert') return { ...objectResponse(holder), skipped_unique_key: true };
    if (holder) {
      replacing = holder;
      objectId = holder.object_id;
    } else if (ukey.policy === 'update') {
      await ns.releaseIndexKey('ukey', bucket, ukey.hash, objectId);
      throw new QuarryError('NotFoundError', `no object in bucket '${bucket}' has ${ukey.describe}; its unique-key policy is update (only existing objects change): use upsert to create it`, { field: `${at}.metadata` });
    }
  }
  const releaseKey = async () => {
    if (ukey && !replacing) await ns.releaseIndexKey('ukey', bucket, ukey.hash, objectId).catch(() => {});
  };

  const blobs: StoredBlob[] = [];
  const hashes: string[] = [];
  const storeBlobs = async () => {
    for (const [i, blob] of given.entries()) {
      if (blob.upload_id) {
        const up = await ns.kvGet<UploadRecord>(`upload.${blob.upload_id}`);
        if (!up || up.bucket_id !== bucket) throw notFound('upload', blob.upload_id);
        if (up.status !== 'COMPLETED') throw new QuarryError('BadRequestError', `upload ${blob.upload_id} is ${up.status}; confirm it first (POST /v1/buckets/${bucket}/uploads/${blob.upload_id}/confirm)`);
        blobs.push({
          blob_id: newId('blob'), property: blob.property, type: blob.type === 'auto' ? blobTypeFor(up.content_type) : blob.type, key: up.s3_key,
          content_type: up.content_type, size_bytes: up.file_size_bytes ?? 0, checksum: `sha256:${up.file_hash}`, filename: up.filename,
        });
        hashes.push(`sha256:${up.file_hash}`);
        continue;
      }
      if (isFetchableUrl(blob.data)) {
        const blobId = newId('blob');
        const key = await ns.blobKey(bucket, `${objectId}/${blobId}`);
        const got = await fetchUrlToStore(blob.data, `${at}.blobs[${i}]`, deps.objects, storage, key, { ...deps.urlFetch, maxBytes: deps.maxUploadBytes });
        const contentType = await sniffContentType(got.head, got.contentType);
        blobs.push({
          blob_id: blobId, property: blob.property, type: blob.type === 'auto' ? blobTypeFor(contentType) : blob.type, key, content_type: contentType,
          size_bytes: got.size, checksum: `sha256:${got.sha256}`, source_url: blob.data.trim(), ...(got.filename ? { filename: got.filename } : {}),
        });
        hashes.push(`sha256:${got.sha256}`);
        continue;
      }
      const { bytes, declaredType } = decodeInlineData(blob, `${at}.blobs[${i}]`);
      if (bytes.length > deps.maxUploadBytes) throw new QuarryError('BadRequestError', `${at}.blobs[${i}].data: ${bytes.length} bytes exceeds the ${deps.maxUploadBytes}-byte limit; use an upload`);
      const contentType = await sniffContentType(bytes, declaredType);
      const stored = await ns.storeBlob(bucket, objectId, blob.property, blob.type === 'auto' ? blobTypeFor(contentType) : blob.type, bytes, contentType);
      blobs.push(stored);
      hashes.push(stored.checksum);
    }
  };
  // The bytes stored for this object (under the Bucket's prefix; blobs referencing uploads are not its own).
  const own = await ns.blobKey(bucket, `${objectId}/`);
  const dropBlobs = async (which: StoredBlob[]) => {
    for (const b of which) if (b.key.startsWith(own)) await deps.objects.delete(storage, b.key).catch(() => {});
  };
  try {
    await storeBlobs();
    // 'auto' blobs have a type only now that their content was sniffed.
    if (schema) blobs.forEach((b, i) => checkResolvedBlob(schema, bucket, b, `${at}.blobs[${i}]`));
  } catch (err) {
    // A blob failed (a refused URL, bad base64, the wrong content): drop the bytes already stored for this object.
    await dropBlobs(blobs);
    await releaseKey();
    throw err;
  }
  const contentHash = createHash('sha256').update(hashes.join('|')).digest('hex');
  const skipDuplicates = input.skip_duplicates === true;
  if (skipDuplicates) {
    // The object being replaced already holds this content: nothing changes.
    const existing = replacing?.content_hash === contentHash ? replacing : await ns.claimIndexKey('hash', bucket, contentHash, objectId);
    if (existing) {
      await dropBlobs(blobs);
      await releaseKey();
      return { ...objectResponse(existing), is_duplicate: true };
    }
  }
  const fresh = {
    ...extra,
    object_id: objectId,
    bucket,
    blobs,
    metadata,
    content_hash: contentHash,
    ...(ukey ? { unique_key_hash: ukey.hash } : {}),
  };
  let written: { record: ObjectRecord; previous?: ObjectRecord };
  try {
    written = replacing ? await ns.replaceObject(fresh) : { record: await ns.putObject(fresh) };
  } catch (err) {
    if (skipDuplicates) await ns.releaseIndexKey('hash', bucket, contentHash, objectId).catch(() => {});
    await dropBlobs(blobs);
    await releaseKey();
    throw err;
  }
  const { record, previous } = written;
  if (!skipDuplicates) await ns.recordIndexKey('hash', bucket, contentHash, objectId);
  if (!replacing) return objectResponse(record);
  // Replaced in place: what the overwritten version owned and no longer uses goes, and so do its documents. That
  // version is whichever write came last before ours (a concurrent upsert's, perhaps), so no blob is orphaned.
  if (previous) {
    const kept = new Set(blobs.map((b) => b.key));
    await dropBlobs(previous.blobs.filter((b) => !kept.has(b.key)));
    if (previous.content_hash && previous.content_hash !== contentHash) await ns.releaseIndexKey('hash', bucket, previous.content_hash, objectId);
  } else if (ukey) {
    // The object was deleted while we replaced it (which released its key): ours holds the key again.
    await ns.recordIndexKey('ukey', bucket, ukey.hash, objectId);
  }
  await ns.deleteDocuments(objectId);
  return { ...objectResponse(record), updated: true };
}
