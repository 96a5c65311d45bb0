/**
 * ObjectStore on local disk, for local mode. Layout under `root`:
 *   <bucket>/data/<name>        object bytes
 *   <bucket>/meta/<name>.json   sidecar: key, size, etag, content type, metadata, last modified
 *   <bucket>/tmp/               uploads in progress (same filesystem, so the final rename is atomic)
 * <name> is the key URI-encoded (one flat directory: no clash between keys "a" and "a/b"), or a hash of
 * the key when that would be too long for a file name. Writes go to a temp file, are flushed, then renamed,
 * so readers see the old object or the new one, never a partial one. Presigned URLs are HMAC-signed URLs
 * under `baseUrl`, which the engine serves with `handlePresignedRequest`.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { notFound, QuarryError } from '../lib/errors.ts';
import { logger } from '../lib/log.ts';
import type { ListPage, ObjectInfo, ObjectStore, PutOptions } from '../ports/object-store.ts';
import { checkBucket, checkKey, normalizeMetadata } from './names.ts';
import { presignUrl, verifyPresigned, type PresignedTarget } from './presign.ts';

const log = logger('objects.local');

export interface LocalObjectStoreConfig {
  root: string;
  /** Base URL under which the engine serves presigned requests, e.g. http://localhost:8080/v1/objects. */
  baseUrl?: string;
  /** HMAC secret for presigned URLs; a random per-process secret when absent (URLs die with the process). */
  presignSecret?: string;
}

interface Sidecar {
  key: string;
  size: number;
  etag: string;
  contentType?: string;
  lastModified: string;
  metadata: Record<string, string>;
}

const HASHED = '~h-';

function fileName(key: string): string {
  let name = encodeURIComponent(key);
  // A leading '.' would allow "." and ".."; a leading '~' would clash with hashed names.
  if (name.startsWith('.') || name.startsWith('~')) name = `%${name.charCodeAt(0).toString(16).toUpperCase()}${name.slice(1)}`;
  if (name.length > 200) name = HASHED + createHash('sha256').update(key).digest('hex');
  return name;
}

const isEnoent = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export class LocalObjectStore implements ObjectStore {
  readonly kind = 'local';
  private readonly root: string;
  private baseUrl?: string;
  private readonly secret: string | Buffer;

  constructor(cfg: LocalObjectStoreConfig) {
    this.root = path.resolve(cfg.root);
    if (cfg.baseUrl !== undefined) this.baseUrl = cfg.baseUrl;
    if (cfg.presignSecret) this.secret = cfg.presignSecret;
    else {
      this.secret = randomBytes(32);
      if (cfg.baseUrl) log.warn('no presign secret configured: presigned URLs are valid for this process only');
    }
  }

  /** Sets the URL presigned URLs are issued under (once the serving address is known). */
  setBaseUrl(url: string): void {
    this.baseUrl = url;
  }

  private dir(bucket: string, sub: 'data' | 'meta' | 'tmp' | '' = ''): string {
    checkBucket(bucket);
    return path.join(this.root, bucket, sub);
  }

  private async requireBucket(bucket: string): Promise<void> {
    if (!(await this.bucketExists(bucket))) throw notFound('bucket', bucket);
  }

  async ensureBucket(bucket: string): Promise<void> {
    for (const sub of ['data', 'meta', 'tmp'] as const) await mkdir(this.dir(bucket, sub), { recursive: true });
  }

  async bucketExists(bucket: string): Promise<boolean> {
    try {
      return (await stat(this.dir(bucket, 'data'))).isDirectory();
    } catch (err) {
      if (isEnoent(err)) return false;
      throw err;
    }
  }

  async deleteBucket(bucket: string, opts: { force?: boolean } = {}): Promise<void> {
    if (!(await this.bucketExists(bucket))) return;
    if (!opts.force && (await readdir(this.dir(bucket, 'data'))).length > 0) {
      throw new QuarryError('AlreadyExistsError', `bucket '${bucket}' is not empty`, { bucket });
    }
    await rm(this.dir(bucket), { recursive: true, force: true });
  }

  /**
   * After a crash (kill -9): removes what interrupted writes left behind in every bucket — temp files of puts in
   * progress, and a data file whose sidecar was never renamed into place (or the reverse), i.e. a put that never
   * completed. Only for a store no other process writes to (local mode runs one); call it before serving.
   */
  async recover(): Promise<{ tempFiles: number; partialWrites: number }> {
    let tempFiles = 0;
    let partialWrites = 0;
    const list = async (dir: string) => readdir(dir).catch((err: unknown) => (isEnoent(err) ? [] : Promise.reject(err)));
    for (const bucket of await list(this.root)) {
      if (!(await this.bucketExists(bucket).catch(() => false))) continue;
      for (const f of await list(this.dir(bucket, 'tmp'))) {
        await rm(path.join(this.dir(bucket, 'tmp'), f), { force: true });
        tempFiles++;
      }
      const data = new Set(await list(this.dir(bucket, 'data')));
      const meta = new Set((await list(this.dir(bucket, 'meta'))).filter((m) => m.endsWith('.json')).map((m) => m.slice(0, -'.json'.length)));
      for (const d of data) {
        if (meta.has(d)) continue;
        await rm(path.join(this.dir(bucket, 'data'), d), { force: true });
        partialWrites++;
      }
      for (const m of meta) {
        if (data.has(m)) continue;
        await rm(path.join(this.dir(bucket, 'meta'), `${m}.json`), { force: true });
        partialWrites++;
      }
    }
    if (tempFiles || partialWrites) log.warn({ tempFiles, partialWrites }, 'removed what interrupted writes left behind');
    return { tempFiles, partialWrites };
  }

  async put(bucket: string, key: string, body: Buffer | Uint8Array | Readable, opts: PutOptions = {}): Promise<ObjectInfo> {
    checkKey(key);
    await this.requireBucket(bucket);
    const name = fileName(key);
    const tmp = path.join(this.dir(bucket, 'tmp'), `${randomUUID()}`);
    const md5 = createHash('md5');
    let size = 0;
    try {
      const source = body instanceof Readable ? body : Readable.from([Buffer.from(body.buffer, body.byteOffset, body.byteLength)]);
      const count = new Transform({
        transform(chunk: Buffer | string, enc, cb) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk, enc) : chunk;
          md5.update(buf);
          size += buf.length;
          cb(null, buf);
        },
      });
      await pipeline(source, count, createWriteStream(tmp, { flush: true }));
      if (opts.contentLength !== undefined && opts.contentLength !== size) {
        throw new QuarryError('BadRequestError', `object '${key}': body has ${size} bytes, contentLength says ${opts.contentLength}`);
      }
      const side: Sidecar = {
        key,
        size,
        etag: `"${md5.digest('hex')}"`,
        ...(opts.contentType ? { contentType: opts.contentType } : {}),
        lastModified: new Date().toISOString(),
        metadata: normalizeMetadata(opts.metadata),
      };
      const tmpMeta = `${tmp}.json`;
      await writeFile(tmpMeta, JSON.stringify(side), { flush: true });
      await rename(tmp, path.join(this.dir(bucket, 'data'), name));
      await rename(tmpMeta, path.join(this.dir(bucket, 'meta'), `${name}.json`));
      return this.info(side);
    } catch (err) {
      await rm(tmp, { force: true });
      await rm(`${tmp}.json`, { force: true });
      throw err;
    }
  }

  private info(s: Sidecar): ObjectInfo {
    return {
      key: s.key,
      size: s.size,
      etag: s.etag,
      ...(s.contentType ? { contentType: s.contentType } : {}),
      lastModified: new Date(s.lastModified),
      metadata: { ...s.metadata },
    };
  }

  private async sidecar(bucket: string, name: string): Promise<Sidecar | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.dir(bucket, 'meta'), `${name}.json`), 'utf8')) as Sidecar;
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw err;
    }
  }

  async head(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    checkKey(key);
    await this.requireBucket(bucket);
    const name = fileName(key);
    const side = await this.sidecar(bucket, name);
    if (!side) return undefined;
    try {
      await stat(path.join(this.dir(bucket, 'data'), name));
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw err;
    }
    return this.info(side);
  }

  async get(bucket: string, key: string): Promise<{ info: ObjectInfo; body: Readable }> {
    checkKey(key);
    await this.requireBucket(bucket);
    const name = fileName(key);
    const side = await this.sidecar(bucket, name);
    if (!side) throw notFound('object', `${bucket}/${key}`);
    // Open before returning so a concurrent delete/overwrite cannot make the body vanish half-way.
    const stream = createReadStream(path.join(this.dir(bucket, 'data'), name));
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (err) => reject(isEnoent(err) ? notFound('object', `${bucket}/${key}`) : err));
    });
    return { info: this.info(side), body: stream };
  }

  private async keysOf(bucket: string): Promise<string[]> {
    const names = await readdir(this.dir(bucket, 'data'));
    const keys: string[] = [];
    for (const n of names) {
      if (n.startsWith(HASHED)) {
        const side = await this.sidecar(bucket, n);
        if (side) keys.push(side.key);
      } else keys.push(decodeURIComponent(n));
    }
    return keys.sort(byteOrder);
  }

  async list(bucket: string, opts: { prefix?: string; maxKeys?: number; token?: string } = {}): Promise<ListPage> {
    await this.requireBucket(bucket);
    const prefix = opts.prefix ?? '';
    const max = Math.max(1, Math.min(opts.maxKeys ?? 1000, 1000));
    const after = opts.token ? Buffer.from(opts.token, 'base64url').toString('utf8') : undefined;
    const keys = (await this.keysOf(bucket)).filter((k) => k.startsWith(prefix) && (after === undefined || byteOrder(k, after) > 0));
    const page = keys.slice(0, max);
    const objects: ObjectInfo[] = [];
    for (const k of page) {
      const side = await this.sidecar(bucket, fileName(k));
      if (side) objects.push(this.info(side));
    }
    const last = page.at(-1);
    return keys.length > max && last !== undefined ? { objects, nextToken: Buffer.from(last).toString('base64url') } : { objects };
  }

  async delete(bucket: string, key: string): Promise<void> {
    checkKey(key);
    await this.requireBucket(bucket);
    const name = fileName(key);
    for (const f of [path.join(this.dir(bucket, 'data'), name), path.join(this.dir(bucket, 'meta'), `${name}.json`)]) {
      try {
        await unlink(f);
      } catch (err) {
        if (!isEnoent(err)) throw err;
      }
    }
  }

  async deletePrefix(bucket: string, prefix: string): Promise<number> {
    await this.requireBucket(bucket);
    const keys = (await this.keysOf(bucket)).filter((k) => k.startsWith(prefix));
    for (const k of keys) await this.delete(bucket, k);
    return keys.length;
  }

  private presign(method: 'GET' | 'PUT', bucket: string, key: string, expiresInSeconds: number, contentType?: string): string {
    checkBucket(bucket);
    checkKey(key);
    if (!this.baseUrl) throw new QuarryError('NotEnabledError', 'presigned URLs need the local object store base URL (QUARRY_OBJECTS_BASE_URL)');
    return presignUrl(this.baseUrl, this.secret, { method, bucket, key, expiresInSeconds, ...(contentType ? { contentType } : {}) });
  }

  async presignGet(bucket: string, key: string, expiresInSeconds = 3600): Promise<string> {
    return this.presign('GET', bucket, key, expiresInSeconds);
  }

  async presignPut(bucket: string, key: string, opts: { expiresInSeconds?: number; contentType?: string } = {}): Promise<string> {
    return this.presign('PUT', bucket, key, opts.expiresInSeconds ?? 3600, opts.contentType);
  }

  /** Checks a presigned URL (absolute or path + query) for a request method; throws ForbiddenError if invalid. */
  verifyPresigned(url: string, method = 'GET'): PresignedTarget {
    if (!this.baseUrl) throw new QuarryError('NotEnabledError', 'presigned URLs are not enabled');
    return verifyPresigned(this.baseUrl, this.secret, url, method);
  }

  async close(): Promise<void> {}
}
