/**
 * ObjectStore on S3 (AWS or any S3-compatible server such as MinIO) with @aws-sdk/client-s3.
 * Streams of unknown or large length go through @aws-sdk/lib-storage's multipart Upload; presigned URLs
 * come from @aws-sdk/s3-request-presigner. Credentials are passed in from the environment or a file
 * (see config.ts) or, when absent, found by the SDK's default provider chain (env, profile, IRSA, ...).
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { BucketLocationConstraint } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { Readable as NodeReadable } from 'node:stream';
import { notFound, QuarryError } from '../lib/errors.ts';
import type { ListPage, ObjectInfo, ObjectStore, PutOptions } from '../ports/object-store.ts';
import { checkBucket, checkKey, normalizeMetadata } from './names.ts';

export interface S3ObjectStoreConfig {
  /** Custom endpoint (MinIO, Ceph, R2...); AWS when absent. */
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Path-style addressing (http://host/bucket/key): needed by MinIO; default true with a custom endpoint. */
  forcePathStyle?: boolean;
  /** Multipart part size for streamed uploads (≥ 5 MiB). */
  partSize?: number;
  /** Parts uploaded in parallel; memory use is at most queueSize × partSize. */
  queueSize?: number;
  /**
   * Name resolution for every connection (e.g. one that refuses private addresses, so a Bucket's own endpoint
   * cannot be re-pointed by DNS after it was checked).
   */
  lookup?: LookupFunction;
}

const MiB = 1024 * 1024;

function status(err: unknown): number | undefined {
  return err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
}

function isNotFound(err: unknown): boolean {
  return status(err) === 404 || (err instanceof Error && ['NotFound', 'NoSuchKey', 'NoSuchBucket'].includes(err.name));
}

function storageError(op: string, err: unknown): QuarryError {
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const e = new QuarryError('StorageError', `S3 ${op} failed: ${msg}`, { op });
  e.cause = err;
  return e;
}

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3';
  readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly region: string;

  constructor(cfg: S3ObjectStoreConfig = {}) {
    this.region = cfg.region ?? 'us-east-1';
    this.client = new S3Client({
      region: this.region,
      ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
      ...(cfg.lookup ? { requestHandler: { httpAgent: new http.Agent({ lookup: cfg.lookup }), httpsAgent: new https.Agent({ lookup: cfg.lookup }) } } : {}),
      forcePathStyle: cfg.forcePathStyle ?? !!cfg.endpoint,
      ...(cfg.accessKeyId && cfg.secretAccessKey
        ? {
            credentials: {
              accessKeyId: cfg.accessKeyId,
              secretAccessKey: cfg.secretAccessKey,
              ...(cfg.sessionToken ? { sessionToken: cfg.sessionToken } : {}),
            },
          }
        : {}),
      // Only the checksums S3 requires: S3-compatible servers differ in which flexible checksums they know,
      // and a default checksum would have to be sent by every presigned PUT.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.partSize = Math.max(5 * MiB, cfg.partSize ?? 8 * MiB);
    this.queueSize = Math.max(1, cfg.queueSize ?? 2);
  }

  async ensureBucket(bucket: string): Promise<void> {
    checkBucket(bucket);
    if (await this.bucketExists(bucket)) return;
    try {
      await this.client.send(
        new CreateBucketCommand({
          Bucket: bucket,
          // AWS wants the region spelled out everywhere except us-east-1.
          ...(this.region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: this.region as BucketLocationConstraint } } : {}),
        }),
      );
    } catch (err) {
      if (err instanceof Error && ['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(err.name) && (await this.bucketExists(bucket))) return;
      throw storageError('CreateBucket', err);
    }
  }

  async bucketExists(bucket: string): Promise<boolean> {
    checkBucket(bucket);
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw storageError('HeadBucket', err);
    }
  }

  async deleteBucket(bucket: string, opts: { force?: boolean } = {}): Promise<void> {
    checkBucket(bucket);
    if (!(await this.bucketExists(bucket))) return;
    if (opts.force) await this.deletePrefix(bucket, '');
    try {
      await this.client.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if (isNotFound(err)) return;
      if (err instanceof Error && err.name === 'BucketNotEmpty') throw new QuarryError('AlreadyExistsError', `bucket '${bucket}' is not empty`, { bucket });
      throw storageError('DeleteBucket', err);
    }
  }

  async put(bucket: string, key: string, body: Buffer | Uint8Array | Readable, opts: PutOptions = {}): Promise<ObjectInfo> {
    checkBucket(bucket);
    checkKey(key);
    const common = {
      Bucket: bucket,
      Key: key,
      ...(opts.contentType ? { ContentType: opts.contentType } : {}),
      Metadata: normalizeMetadata(opts.metadata),
    };
    try {
      if (!(body instanceof NodeReadable) || (opts.contentLength !== undefined && opts.contentLength <= this.partSize)) {
        const out = await this.client.send(
          new PutObjectCommand({ ...common, Body: body, ...(opts.contentLength !== undefined ? { ContentLength: opts.contentLength } : {}) }),
        );
        if (!(body instanceof NodeReadable)) {
          return {
            key,
            size: body.byteLength,
            ...(out.ETag ? { etag: out.ETag } : {}),
            ...(opts.contentType ? { contentType: opts.contentType } : {}),
            metadata: common.Metadata,
          };
        }
      } else {
        // Unknown or large length: lib-storage splits the stream into parts (a single PUT if it is small).
        const upload = new Upload({ client: this.client, params: { ...common, Body: body }, partSize: this.partSize, queueSize: this.queueSize });
        await upload.done();
      }
    } catch (err) {
      if (isNotFound(err)) throw notFound('bucket', bucket);
      throw storageError('PutObject', err);
    }
    const info = await this.head(bucket, key);
    if (!info) throw storageError('PutObject', new Error(`object '${key}' missing right after upload`));
    return info;
  }

  async get(bucket: string, key: string): Promise<{ info: ObjectInfo; body: Readable }> {
    checkBucket(bucket);
    checkKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const info: ObjectInfo = {
        key,
        size: out.ContentLength ?? 0,
        ...(out.ETag ? { etag: out.ETag } : {}),
        ...(out.ContentType ? { contentType: out.ContentType } : {}),
        ...(out.LastModified ? { lastModified: out.LastModified } : {}),
        metadata: out.Metadata ?? {},
      };
      // In Node the SDK's body is an http.IncomingMessage, i.e. a Readable.
      return { info, body: out.Body as Readable };
    } catch (err) {
      if (err instanceof Error && err.name === 'NoSuchBucket') throw notFound('bucket', bucket);
      if (isNotFound(err)) throw notFound('object', `${bucket}/${key}`);
      throw storageError('GetObject', err);
    }
  }

  async head(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    checkBucket(bucket);
    checkKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        key,
        size: out.ContentLength ?? 0,
        ...(out.ETag ? { etag: out.ETag } : {}),
        ...(out.ContentType ? { contentType: out.ContentType } : {}),
        ...(out.LastModified ? { lastModified: out.LastModified } : {}),
        metadata: out.Metadata ?? {},
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw storageError('HeadObject', err);
    }
  }

  async list(bucket: string, opts: { prefix?: string; maxKeys?: number; token?: string } = {}): Promise<ListPage> {
    checkBucket(bucket);
    try {
      const out = await this.client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          ...(opts.prefix ? { Prefix: opts.prefix } : {}),
          MaxKeys: Math.max(1, Math.min(opts.maxKeys ?? 1000, 1000)),
          ...(opts.token ? { ContinuationToken: opts.token } : {}),
        }),
      );
      const objects: ObjectInfo[] = (out.Contents ?? []).map((o) => ({
        key: o.Key ?? '',
        size: o.Size ?? 0,
        ...(o.ETag ? { etag: o.ETag } : {}),
        ...(o.LastModified ? { lastModified: o.LastModified } : {}),
      }));
      return out.IsTruncated && out.NextContinuationToken ? { objects, nextToken: out.NextContinuationToken } : { objects };
    } catch (err) {
      if (isNotFound(err)) throw notFound('bucket', bucket);
      throw storageError('ListObjectsV2', err);
    }
  }

  async delete(bucket: string, key: string): Promise<void> {
    checkBucket(bucket);
    checkKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      if (err instanceof Error && err.name === 'NoSuchBucket') throw notFound('bucket', bucket);
      if (isNotFound(err)) return;
      throw storageError('DeleteObject', err);
    }
  }

  async deletePrefix(bucket: string, prefix: string): Promise<number> {
    let deleted = 0;
    let token: string | undefined;
    do {
      const page = await this.list(bucket, { prefix, maxKeys: 1000, ...(token ? { token } : {}) });
      if (page.objects.length) {
        try {
          const out = await this.client.send(
            new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: page.objects.map((o) => ({ Key: o.key })), Quiet: true } }),
          );
          if (out.Errors?.length) {
            const e = out.Errors[0]!;
            throw new Error(`${out.Errors.length} objects not deleted, e.g. '${e.Key}': ${e.Code} ${e.Message}`);
          }
        } catch (err) {
          throw storageError('DeleteObjects', err);
        }
        deleted += page.objects.length;
      }
      token = page.nextToken;
    } while (token);
    return deleted;
  }

  async presignGet(bucket: string, key: string, expiresInSeconds = 3600): Promise<string> {
    checkBucket(bucket);
    checkKey(key);
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: expiresInSeconds });
  }

  async presignPut(bucket: string, key: string, opts: { expiresInSeconds?: number; contentType?: string } = {}): Promise<string> {
    checkBucket(bucket);
    checkKey(key);
    const cmd = new PutObjectCommand({ Bucket: bucket, Key: key, ...(opts.contentType ? { ContentType: opts.contentType } : {}) });
    return getSignedUrl(this.client, cmd, {
      expiresIn: opts.expiresInSeconds ?? 3600,
      // The uploader must send exactly this content type: sign it as a header, not a query parameter.
      ...(opts.contentType ? { signableHeaders: new Set(['content-type']) } : {}),
    });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
