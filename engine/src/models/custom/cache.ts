/**
 * The on-disk cache of custom model files, content-addressed by sha256:
 *   <dir>/blobs/<sha256>        a verified file; only ever created by rename, after its hash matched
 *   <dir>/tmp/<sha256>.<n>.part a download in progress (never read; left-overs are removed on start)
 *   <dir>/models/<key>/         one Model's layout: symlinks to blobs under the names the runtime reads, plus
 *                               generated tokenizer_config.json / preprocessor_config.json; created in tmp and renamed
 * A file is downloaded once per runtime (a restart with the same cache directory downloads nothing) and shared by
 * every Model that lists the same hash. Nothing half-downloaded or unverified is ever at a path the runtime loads.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ModelFileError } from './errors.ts';
import type { FileSource } from './sources.ts';

export interface CacheStats {
  /** Files taken from the cache without a download. */
  hits: number;
  /** Files downloaded and verified. */
  downloads: number;
  /** Downloads refused for a wrong hash. */
  mismatches: number;
}

export class ModelCache {
  readonly dir: string;
  readonly stats: CacheStats = { hits: 0, downloads: 0, mismatches: 0 };
  private readonly inflight = new Map<string, Promise<string>>();
  private ready: Promise<void> | undefined;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  blobPath(sha256: string): string {
    return path.join(this.dir, 'blobs', sha256);
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(path.join(this.dir, 'blobs'), { recursive: true });
      // Left-overs of a process that died mid-download: never complete, never read.
      await rm(path.join(this.dir, 'tmp'), { recursive: true, force: true });
      await mkdir(path.join(this.dir, 'tmp'), { recursive: true });
      await mkdir(path.join(this.dir, 'models'), { recursive: true });
      await mkdir(path.join(this.dir, 'staging'), { recursive: true });
    })();
    return this.ready;
  }

  stagingDir(): string {
    return path.join(this.dir, 'staging');
  }

  /**
   * The verified blob of `file`: from the cache, or read from the source, hashed while written to a temp file,
   * flushed, and renamed into place only when the hash is the declared one (a wrong hash deletes the temp file and
   * throws HashMismatch naming the file). Concurrent requests for one hash share one download.
   */
  async fetch(file: { path: string; sha256: string; size?: number }, source: FileSource, maxBytes: number): Promise<string> {
    await this.init();
    const blob = this.blobPath(file.sha256);
    if (existsSync(blob)) {
      this.stats.hits++;
      return blob;
    }
    let p = this.inflight.get(file.sha256);
    if (!p) {
      p = this.download(file, source, Math.min(maxBytes, file.size ?? Infinity)).finally(() => this.inflight.delete(file.sha256));
      this.inflight.set(file.sha256, p);
    }
    return p;
  }

  private async download(file: { path: string; sha256: string }, source: FileSource, limit: number): Promise<string> {
    const tmp = path.join(this.dir, 'tmp', `${file.sha256}.${randomBytes(6).toString('hex')}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > limit) return cb(new ModelFileError(file.path, 'FileTooLarge', `more than ${limit} bytes (spec.files[].size or QUARRY_MODEL_MAX_FILE_BYTES)`));
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      const body = await source.open(file.path);
      await pipeline(body, meter, createWriteStream(tmp, { flags: 'wx' }));
      const got = hash.digest('hex');
      if (got !== file.sha256) {
        this.stats.mismatches++;
        throw new ModelFileError(file.path, 'HashMismatch', `sha256 of ${source.describe(file.path)} is ${got}, spec.files lists ${file.sha256}: the file was changed or corrupted; fix the file or its sha256`);
      }
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.blobPath(file.sha256));
      this.stats.downloads++;
      return this.blobPath(file.sha256);
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof ModelFileError) throw err;
      throw new ModelFileError(file.path, 'FetchFailed', `reading ${source.describe(file.path)} failed: ${(err as Error).message}`);
    }
  }

  /**
   * A Model's directory `models/<key>` with `links` (name → blob) and `generated` files (name → content), built in
   * tmp and renamed into place, so a directory that exists is complete. The key identifies the content (the caller
   * hashes the spec), so an existing directory is reused as is.
   */
  async layout(key: string, links: Record<string, string>, generated: Record<string, string>): Promise<string> {
    await this.init();
    const dir = path.join(this.dir, 'models', key);
    if (existsSync(dir)) return dir;
    const tmp = path.join(this.dir, 'tmp', `layout-${key}.${randomBytes(6).toString('hex')}`);
    await mkdir(tmp, { recursive: true });
    for (const [name, blob] of Object.entries(links)) await symlink(blob, path.join(tmp, name));
    for (const [name, content] of Object.entries(generated)) await writeFile(path.join(tmp, name), content);
    try {
      await rename(tmp, dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      if (!existsSync(dir)) throw err; // another delivery of the same content won the race: use its directory
    }
    return dir;
  }

  /** Model directories in the cache (for tests and housekeeping). */
  async layouts(): Promise<string[]> {
    await this.init();
    return readdir(path.join(this.dir, 'models'));
  }
}
