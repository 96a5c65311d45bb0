/**
 * Presigned two-phase uploads (reference §7.1): create (one or a batch) → PUT to the presigned URL → confirm (one or
 * a batch), then the file becomes an object (create_object_on_confirm, default true) or stays a file an object can
 * reference by upload_id. Records live in the namespace state store under `upload.<id>`. List, get and delete
 * (a pending upload is canceled; a file an object still uses is kept and the delete refused).
 */
import { createHash } from 'node:crypto';
import { QuarryError, notFound, validationError } from '../lib/errors.ts';
import { BLOB_TYPES, blobTypeFor, sniffContentType } from './blob-input.ts';
import { streamToStore } from './blob-url.ts';
import { newId } from './ids.ts';
import { createObjectIn, type ObjectCreateDeps, type UploadRecord } from './object-create.ts';
import { checkMetadata, contentPropertiesFor, defaultBlobProperty, type BucketSchema } from './object-schema.ts';
import type { NamespaceIngestion } from './pipeline.ts';
import type { BlobType } from './types.ts';

const fileStem = (filename: string) => filename.replace(/\.[^.]*$/, '') || filename;

/**
 * The object-creation options of an upload request (reference CreateUploadRequest), checked before any byte moves:
 * with a bucket schema, the blob property (named, or defaulted) and the object metadata are checked as an object
 * create would check them, so a confirm does not fail on what was knowable up front.
 */
function uploadOptions(b: Record<string, unknown>, filename: string, contentType: string, bucket: string, schema: BucketSchema | undefined, at: string): Partial<UploadRecord> {
  const out: Partial<UploadRecord> = {};
  // Both default to true and are recorded resolved (a record without them predates these options).
  const bool = (f: 'create_object_on_confirm' | 'skip_duplicates') => {
    if (b[f] !== undefined && typeof b[f] !== 'boolean') throw validationError(`${at}.${f}: true or false`, { field: `${at}.${f}` });
    out[f] = b[f] !== false;
  };
  bool('create_object_on_confirm');
  bool('skip_duplicates');
  for (const f of ['metadata', 'object_metadata'] as const) {
    const v = b[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) throw validationError(`${at}.${f}: must be an object`, { field: `${at}.${f}` });
    out[f] = v as Record<string, unknown>;
  }
  if (b.file_hash !== undefined) {
    if (typeof b.file_hash !== 'string' || !/^[0-9a-f]{64}$/i.test(b.file_hash)) throw validationError(`${at}.file_hash: the file's sha256 as 64 hex characters`, { field: `${at}.file_hash` });
    out.file_hash = b.file_hash.toLowerCase();
  }
  if (b.blob_type !== undefined) {
    if (!BLOB_TYPES.includes(b.blob_type as BlobType)) throw validationError(`${at}.blob_type: one of ${BLOB_TYPES.join(', ')} (default: from content_type, here ${blobTypeFor(contentType)})`, { field: `${at}.blob_type` });
    out.blob_type = b.blob_type as BlobType;
  }
  if (b.blob_property !== undefined) {
    if (typeof b.blob_property !== 'string' || b.blob_property.length < 1 || b.blob_property.length > 100) {
      throw validationError(`${at}.blob_property: the bucket schema property the file becomes (1–100 characters)`, { field: `${at}.blob_property` });
    }
    out.blob_property = b.blob_property;
  }
  if (out.create_object_on_confirm === false) return out;
  const blobType = out.blob_type && out.blob_type !== 'auto' ? out.blob_type : blobTypeFor(contentType);
  if (!schema) {
    out.blob_property ??= fileStem(filename).slice(0, 100);
    return out;
  }
  const fits = contentPropertiesFor(schema, blobType);
  if (out.blob_property === undefined) {
    const picked = defaultBlobProperty(schema, fileStem(filename), blobType);
    if (!picked) {
      throw validationError(
        `${at}.blob_property: bucket '${bucket}' has ${fits.length ? `several ${blobType} properties (${fits.join(', ')})` : `no ${blobType} property`}; name the property the file fills${fits.length ? '' : ', or send create_object_on_confirm: false'}`,
        { field: `${at}.blob_property` },
      );
    }
    out.blob_property = picked;
  }
  if (!fits.includes(out.blob_property)) {
    throw validationError(`${at}.blob_property: '${out.blob_property}' is not a ${blobType} property of bucket '${bucket}'${fits.length ? `; use ${fits.join(' or ')}` : ''}`, { field: `${at}.blob_property` });
  }
  checkMetadata(schema, bucket, [out.blob_property], out.object_metadata ?? {}, {}, at, `${at}.object_metadata`);
  return out;
}


export class Uploads {
  private readonly deps: ObjectCreateDeps;

  constructor(deps: ObjectCreateDeps) {
    this.deps = deps;
  }

  /** Records an upload and answers its presigned PUT URL; `at` names the request field in errors. */
  async create(ns: NamespaceIngestion, bucket: string, b: Record<string, unknown>, at: string): Promise<UploadRecord & { presigned_url_expiration: number }> {
    if (typeof b.filename !== 'string' || !b.filename || b.filename.length > 255 || /(^|[\\/])\.\.([\\/]|$)|[\\/]/.test(b.filename)) {
      throw validationError(`${at}.filename: required, 1–255 characters, no path separators or ..`, { field: `${at}.filename` });
    }
    if (typeof b.content_type !== 'string' || !/^[\w.+-]+\/[\w.+-]+/.test(b.content_type)) throw validationError(`${at}.content_type: a MIME type such as image/png`, { field: `${at}.content_type` });
    const size = b.file_size_bytes;
    if (size !== undefined && (!Number.isInteger(size) || (size as number) < 1 || (size as number) > this.deps.maxUploadBytes)) {
      throw validationError(`${at}.file_size_bytes: an integer in 1–${this.deps.maxUploadBytes}`, { field: `${at}.file_size_bytes` });
    }
    const exp = b.presigned_url_expiration === undefined ? 3600 : Number(b.presigned_url_expiration);
    if (!Number.isInteger(exp) || exp < 60 || exp > 86400) throw validationError(`${at}.presigned_url_expiration: seconds in 60–86400`, { field: `${at}.presigned_url_expiration` });
    const options = uploadOptions(b, b.filename, b.content_type, bucket, await ns.ns.bucketSchema?.(bucket), at);
    const uploadId = newId('upl');
    const storage = await ns.ns.storageBucket(bucket);
    const key = await ns.blobKey(bucket, `_uploads/${uploadId}/${b.filename}`);
    const record: UploadRecord = {
      upload_id: uploadId, bucket_id: bucket, filename: b.filename, content_type: b.content_type, s3_key: key, status: 'PENDING',
      presigned_url: await this.deps.objects.presignPut(storage, key, { expiresInSeconds: exp, contentType: b.content_type }),
      created_at: new Date().toISOString(), expires_at: new Date(Date.now() + exp * 1000).toISOString(),
      ...(size !== undefined ? { file_size_bytes: size as number } : {}),
      ...options,
    };
    await ns.kvPut(`upload.${uploadId}`, record);
    return { ...record, presigned_url_expiration: exp };
  }

  /**
   * A file streamed through the engine (multipart) straight to the object store, recorded as a COMPLETED upload an
   * object can reference by upload_id; over the size limit it is refused.
   */
  async storeStreamed(ns: NamespaceIngestion, bucket: string, file: NodeJS.ReadableStream & { truncated?: boolean }, name: string | undefined, mimetype: string): Promise<UploadRecord> {
    const storage = await ns.ns.storageBucket(bucket);
    const uploadId = newId('upl');
    const filename = (name || 'file').replace(/[\\/]/g, '_');
    const key = await ns.blobKey(bucket, `_uploads/${uploadId}/${filename}`);
    const result = await streamToStore(this.deps.objects, storage, key, file, mimetype, this.deps.maxUploadBytes);
    if (file.truncated) throw new QuarryError('BadRequestError', `file ${filename} exceeds the ${this.deps.maxUploadBytes}-byte limit`);
    const contentType = await sniffContentType(result.head, mimetype === 'application/octet-stream' ? undefined : mimetype);
    const now = new Date().toISOString();
    const rec: UploadRecord = {
      upload_id: uploadId, bucket_id: bucket, filename, content_type: contentType, s3_key: key, status: 'COMPLETED',
      file_size_bytes: result.size, file_hash: result.sha256, created_at: now, completed_at: now,
    };
    await ns.kvPut(`upload.${uploadId}`, rec);
    return rec;
  }

  async get(ns: NamespaceIngestion, bucket: string, uploadId: string): Promise<UploadRecord> {
    const up = await ns.kvGet<UploadRecord>(`upload.${uploadId}`);
    if (!up || up.bucket_id !== bucket) throw notFound('upload', uploadId);
    return up;
  }

  /** The bucket's uploads, newest first. */
  async list(ns: NamespaceIngestion, bucket: string): Promise<UploadRecord[]> {
    const records = await Promise.all((await ns.kvKeys('upload.')).map((k) => ns.kvGet<UploadRecord>(k)));
    return records.filter((r): r is UploadRecord => !!r && r.bucket_id === bucket).sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  }

  /**
   * Checks the stored bytes (size: the confirm's `file_size_bytes`, else the one the upload declared; file_hash),
   * records the upload COMPLETED, then creates its object. Idempotent. `at` names the confirm body in errors.
   */
  async confirm(ns: NamespaceIngestion, bucket: string, uploadId: string, given: { file_size_bytes?: unknown } = {}, at = 'body'): Promise<UploadRecord & { verified_at?: string }> {
    const size = given.file_size_bytes;
    if (size !== undefined && size !== null && (!Number.isInteger(size) || (size as number) < 1)) {
      throw validationError(`${at}.file_size_bytes: the file's size in bytes (a positive integer)`, { field: `${at}.file_size_bytes` });
    }
    const up = await this.get(ns, bucket, uploadId);
    if (up.status === 'CANCELED') throw new QuarryError('BadRequestError', `upload ${up.upload_id} was canceled; create a new upload`);
    if (up.status === 'COMPLETED') {
      if (up.is_duplicate !== undefined || up.create_object_on_confirm === undefined) return up;
      // A confirm that stopped between recording the file and creating its object: finish it.
      const finished = { ...up, ...(await this.afterConfirm(ns, up)) };
      await ns.kvPut(`upload.${up.upload_id}`, finished);
      return finished;
    }
    const storage = await ns.ns.storageBucket(up.bucket_id);
    const head = await this.deps.objects.head(storage, up.s3_key);
    if (!head) throw new QuarryError('BadRequestError', `upload ${up.upload_id} has no data yet: PUT the file to its presigned_url, then confirm`);
    if (head.size > this.deps.maxUploadBytes) throw new QuarryError('BadRequestError', `upload ${up.upload_id} is ${head.size} bytes, over the ${this.deps.maxUploadBytes}-byte limit`);
    const expected = typeof size === 'number' ? { bytes: size, field: `${at}.file_size_bytes` } : up.file_size_bytes !== undefined ? { bytes: up.file_size_bytes, field: 'file_size_bytes' } : undefined;
    if (expected && expected.bytes !== head.size) {
      throw validationError(`upload ${up.upload_id}: ${head.size} bytes were uploaded, not the ${expected.bytes} given as file_size_bytes; PUT the whole file again, then confirm`, { field: expected.field });
    }
    const { body: stream } = await this.deps.objects.get(storage, up.s3_key);
    const hash = createHash('sha256');
    for await (const c of stream) hash.update(c as Buffer);
    const digest = hash.digest('hex');
    if (up.file_hash && up.file_hash !== digest) {
      throw validationError(`upload ${up.upload_id}: the uploaded bytes have sha256 ${digest}, not the file_hash given (${up.file_hash}); PUT the right file again, then confirm`, { field: 'file_hash' });
    }
    const completedAt = new Date().toISOString();
    let done: UploadRecord = { ...up, status: 'COMPLETED', file_size_bytes: head.size, file_hash: digest, completed_at: completedAt };
    // Recorded before the object is created, so the object can reference the upload as confirmed.
    await ns.kvPut(`upload.${up.upload_id}`, done);
    done = { ...done, ...(await this.afterConfirm(ns, done)) };
    await ns.kvPut(`upload.${up.upload_id}`, done);
    return { ...done, verified_at: completedAt };
  }

  /**
   * Deletes an upload. A pending one is canceled (its URL stops being confirmable) and any bytes already PUT are
   * removed; a confirmed one goes with its file, unless an object still uses that file (400 naming the object).
   */
  async remove(ns: NamespaceIngestion, bucket: string, uploadId: string): Promise<{ success: true; upload_id: string; status: string }> {
    const up = await this.get(ns, bucket, uploadId);
    const users = (await ns.listObjects()).filter((o) => o.bucket === bucket && o.blobs.some((b) => b.key === up.s3_key));
    if (users.length) {
      throw new QuarryError('BadRequestError', `upload ${up.upload_id} is the file of object ${users[0]!.object_id}${users.length > 1 ? ` and ${users.length - 1} more` : ''}; delete the object first`, { upload_id: up.upload_id });
    }
    await this.deps.objects.delete(await ns.ns.storageBucket(bucket), up.s3_key);
    if (up.status === 'PENDING') {
      await ns.kvPut(`upload.${up.upload_id}`, { ...up, status: 'CANCELED', presigned_url: undefined });
      return { success: true, upload_id: up.upload_id, status: 'CANCELED' };
    }
    await ns.kvDelete(`upload.${up.upload_id}`);
    return { success: true, upload_id: up.upload_id, status: 'DELETED' };
  }

  /** What confirming a file does besides recording it: create its object, or report it as a duplicate. */
  private async afterConfirm(ns: NamespaceIngestion, up: UploadRecord): Promise<Partial<UploadRecord>> {
    const skip = up.skip_duplicates !== false;
    if (up.create_object_on_confirm !== false) {
      const blob = { property: up.blob_property ?? fileStem(up.filename).slice(0, 100), type: up.blob_type ?? blobTypeFor(up.content_type), upload_id: up.upload_id };
      const o = await createObjectIn(this.deps, ns, up.bucket_id, { blobs: [blob], metadata: up.object_metadata ?? {}, skip_duplicates: skip }, 'upload');
      if (o.is_duplicate) return { object_id: o.object_id, is_duplicate: true, existing_object_id: o.object_id, message: `the same content is already object ${o.object_id}; no new object was created` };
      if (o.skipped_unique_key) return { object_id: o.object_id, is_duplicate: false, skipped_unique_key: true, existing_object_id: o.object_id, message: `object ${o.object_id} already has this unique key; it was kept (policy insert)` };
      return { object_id: o.object_id, is_duplicate: false, ...(o.updated ? { message: `object ${o.object_id} had this unique key and was replaced` } : {}) };
    }
    if (!skip) return { is_duplicate: false };
    const first = await ns.claimUploadContent(up.bucket_id, up.file_hash!, up.upload_id);
    return first === up.upload_id
      ? { is_duplicate: false }
      : { is_duplicate: true, duplicate_of_upload_id: first, message: `the same content was uploaded as ${first}` };
  }
}
