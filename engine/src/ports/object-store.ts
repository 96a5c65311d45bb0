/**
 * ObjectStore port: raw objects (S3 in cluster mode, local disk in local mode).
 * Contract suite: test/contract/object-store.contract.ts.
 */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  etag?: string;
  contentType?: string;
  lastModified?: Date;
  metadata?: Record<string, string>;
}

export interface PutOptions {
  contentType?: string;
  metadata?: Record<string, string>;
  /** Known length lets adapters avoid buffering; streams of unknown length are uploaded in parts. */
  contentLength?: number;
}

export interface ListPage {
  objects: ObjectInfo[];
  nextToken?: string;
}

export interface ObjectStore {
  readonly kind: string;
  ensureBucket(bucket: string): Promise<void>;
  bucketExists(bucket: string): Promise<boolean>;
  /** Deletes the bucket; with `force` it first deletes every object in it. */
  deleteBucket(bucket: string, opts?: { force?: boolean }): Promise<void>;

  put(bucket: string, key: string, body: Buffer | Uint8Array | Readable, opts?: PutOptions): Promise<ObjectInfo>;
  get(bucket: string, key: string): Promise<{ info: ObjectInfo; body: Readable }>;
  head(bucket: string, key: string): Promise<ObjectInfo | undefined>;
  list(bucket: string, opts?: { prefix?: string; maxKeys?: number; token?: string }): Promise<ListPage>;
  delete(bucket: string, key: string): Promise<void>;
  deletePrefix(bucket: string, prefix: string): Promise<number>;

  presignGet(bucket: string, key: string, expiresInSeconds?: number): Promise<string>;
  presignPut(bucket: string, key: string, opts?: { expiresInSeconds?: number; contentType?: string }): Promise<string>;

  close(): Promise<void>;
}
