/**
 * `quarry upload <bucket> <files or dirs…>`: concurrent, resumable uploads into a bucket, one object per file.
 *
 * Each file goes through the documented two-phase upload (POST …/uploads → PUT to the presigned URL → POST
 * …/uploads/{id}/confirm, `create_object_on_confirm: false`), then becomes an object (POST …/objects with `upload_id`,
 * its property, type and metadata, and `skip_duplicates: true`).
 *
 * Resuming relies on two things, so that neither an interrupt nor a lost journal write can duplicate an object:
 *  - a journal (JSON lines, append-only; under ~/.cache/quarry/uploads/, one per server + namespace + bucket, or
 *    --journal) of files already done, keyed by absolute path and content sha256: a re-run skips them without
 *    touching the network;
 *  - the server's duplicate detection by content hash: a file uploaded before the interrupt but missing from the
 *    journal (killed between the object's creation and the journal append) comes back as `is_duplicate: true`
 *    with the existing object's id instead of a second object.
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdir, open, readdir, stat } from 'node:fs/promises';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { sniffContentType } from '../ingestion/blob-input.ts';
import { ApiError, UnreachableError, seg, type QuarryClient } from './client.ts';
import { EXIT, FailedError, UsageError, ctxOf, keyValue, positiveInt } from './context.ts';
import { print } from './output.ts';
import { watchBatch } from './batch.ts';

const BLOB_TYPES = ['auto', 'text', 'image', 'video', 'audio', 'pdf', 'excel'];
const SCHEMA_BLOB_TYPES = new Set(['text', 'image', 'video', 'audio', 'pdf', 'excel']);

/** Content types by extension for formats without magic bytes (binary formats are sniffed from their bytes). */
const TEXT_TYPES: Record<string, string> = {
  '.txt': 'text/plain', '.text': 'text/plain', '.md': 'text/markdown', '.markdown': 'text/markdown', '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values', '.json': 'application/json', '.jsonl': 'application/x-ndjson', '.html': 'text/html',
  '.htm': 'text/html', '.xml': 'application/xml', '.yaml': 'application/yaml', '.yml': 'application/yaml', '.svg': 'image/svg+xml',
};

interface UploadOptions {
  property?: string;
  type: string;
  concurrency: number;
  metadata?: Record<string, unknown>;
  journal?: string;
  batch?: boolean;
  watch?: boolean;
  progress: boolean;
  resume: boolean;
}

interface JournalEntry {
  path: string;
  sha256: string;
  size: number;
  object_id: string;
  duplicate?: boolean;
  at: string;
}

interface Failure {
  path: string;
  error: string;
  type?: string;
}

/** Every regular file under the given paths (directories recursively, hidden entries skipped), sorted, once each. */
export async function collectFiles(paths: string[]): Promise<string[]> {
  const out = new Set<string>();
  const walk = async (p: string): Promise<void> => {
    const entries = await readdir(p, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(p, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.add(full);
    }
  };
  for (const raw of paths) {
    const p = path.resolve(raw);
    const s = await stat(p).catch(() => undefined);
    if (!s) throw new UsageError(`no such file or directory: ${raw}`);
    if (s.isDirectory()) await walk(p);
    else if (s.isFile()) out.add(p);
    else throw new UsageError(`not a regular file or directory: ${raw}`);
  }
  return [...out];
}

export function defaultJournalPath(server: string, namespace: string | undefined, bucket: string): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const key = createHash('sha256').update(`${server.replace(/\/+$/, '')}\n${namespace ?? ''}\n${bucket}`).digest('hex').slice(0, 24);
  return path.join(base, 'quarry', 'uploads', `${bucket.replace(/[^\w.-]/g, '_')}-${key}.jsonl`);
}

/** The journal's entries by `path\0sha256`; a torn last line (killed mid-append) is ignored. */
export function readJournal(file: string): Map<string, JournalEntry> {
  const done = new Map<string, JournalEntry>();
  if (!existsSync(file)) return done;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as JournalEntry;
      if (e.path && e.sha256 && e.object_id) done.set(`${e.path}\0${e.sha256}`, e);
    } catch {
      // torn write from an interrupted run
    }
  }
  return done;
}

/** The bucket schema's blob property, when the bucket can be read and it has exactly one. */
async function resolveProperty(client: QuarryClient, bucket: string): Promise<string> {
  let res: Record<string, unknown>;
  try {
    res = await client.get<Record<string, unknown>>(`/v1/buckets/${seg(bucket)}`);
  } catch (err) {
    if (err instanceof UnreachableError) throw err;
    if (err instanceof ApiError && err.status !== 404) throw err;
    throw new UsageError(`could not read bucket '${bucket}' to find its blob property: pass --property <name> (the bucket schema property the files go into)`);
  }
  const spec = (res.spec ?? {}) as Record<string, unknown>;
  const schema = (res.bucket_schema ?? res.schema ?? spec.schema ?? {}) as { properties?: Record<string, { type?: string }> };
  const candidates = Object.entries(schema.properties ?? {}).filter(([, f]) => SCHEMA_BLOB_TYPES.has(f?.type ?? '')).map(([k]) => k);
  if (candidates.length === 1) return candidates[0]!;
  throw new UsageError(
    candidates.length
      ? `bucket '${bucket}' has several blob properties (${candidates.join(', ')}): pass --property <name>`
      : `bucket '${bucket}' has no blob property (text, image, video, audio, pdf, excel) in its schema: pass --property <name>`,
  );
}

/** sha256 of a file, streamed (files are never held in memory whole). */
async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The first bytes of a file, for content-type sniffing. */
async function readHead(file: string, n: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** --metadata values with per-file placeholders filled in: {filename}, {stem} (name without extension), {path}. */
export function fileMetadata(metadata: Record<string, unknown> | undefined, file: string): Record<string, unknown> {
  const vars: Record<string, string> = { filename: path.basename(file), stem: path.basename(file, path.extname(file)), path: file };
  return Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v.replace(/\{(filename|stem|path)\}/g, (_, n: string) => vars[n]!) : v]));
}

const RETRYABLE = (err: unknown) => err instanceof ApiError && (err.status >= 500 || err.status === 429);
/** Errors that would fail every file the same way (auth, unknown bucket or namespace): stop the run at once. */
const FATAL = (err: unknown) => err instanceof UnreachableError || (err instanceof ApiError && [401, 403, 404].includes(err.status));

async function withRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 3 || !RETRYABLE(err)) throw err;
      await new Promise((r) => setTimeout(r, 300 * attempt));
    }
  }
}

interface Counters {
  done: number;
  uploaded: number;
  duplicates: number;
  skipped: number;
  failed: number;
}

/** Progress on stderr: a bar on a terminal; otherwise plain lines about every 5 % (logs, CI, pipes). */
function progressReporter(total: number, enabled: boolean) {
  if (!enabled) return { update: (_c: Counters) => {}, stop: () => {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: 'upload [{bar}] {percentage}% | {value}/{total} files | {uploaded} new, {duplicates} dup, {skipped} skipped, {failed} failed | ETA {eta_formatted}', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { uploaded: 0, duplicates: 0, skipped: 0, failed: 0 });
    return { update: (c: Counters) => bar.update(c.done, { ...c }), stop: () => bar.stop() };
  }
  const step = Math.max(1, Math.ceil(total / 20));
  let last = -1;
  const line = (c: Counters) => {
    last = c.done;
    process.stderr.write(`progress: ${c.done}/${total} files (${total ? Math.floor((c.done / total) * 100) : 100}%) uploaded=${c.uploaded} duplicates=${c.duplicates} skipped=${c.skipped} failed=${c.failed}\n`);
  };
  return {
    update: (c: Counters) => {
      if (c.done === total || c.done - last >= step) line(c);
    },
    stop: () => {},
  };
}

export function registerUpload(program: Command): void {
  program
    .command('upload')
    .description('upload files (and directories, recursively) into a bucket, one object per file; resumable: re-run the same command after an interrupt')
    .argument('<bucket>', 'bucket name or id')
    .argument('<paths...>', 'files or directories')
    .option('-p, --property <name>', "bucket schema property the files go into (default: the bucket schema's only blob property)")
    .addOption(new Option('-t, --type <type>', 'blob type').choices(BLOB_TYPES).default('auto'))
    .addOption(new Option('-c, --concurrency <n>', 'files in flight at once').default(4).argParser(positiveInt('--concurrency')))
    .option('-m, --metadata <key=value>', 'object metadata for every file (repeatable); {filename}, {stem} and {path} are replaced per file, e.g. -m doc_id={stem}', keyValue)
    .option('--journal <file>', 'resume journal (default: ~/.cache/quarry/uploads/<bucket>-<hash>.jsonl)')
    .option('--no-resume', "ignore the journal and send every file again (the server's duplicate check still prevents duplicate objects)")
    .option('--batch', 'create and submit a batch of the uploaded objects when done')
    .option('--watch', 'with --batch: follow the batch until it finishes')
    .option('--no-progress', 'no progress output')
    .action(async (bucket: string, paths: string[], o: UploadOptions, cmd: Command) => {
      const ctx = ctxOf(cmd);
      ctx.requireNamespace();
      if (o.watch && !o.batch) throw new UsageError('--watch follows the batch that --batch creates: add --batch');
      const client = ctx.client();
      const files = await collectFiles(paths);
      if (!files.length) throw new UsageError(`no files under ${paths.join(', ')}`);
      const property = o.property ?? (await resolveProperty(client, bucket));
      const journalFile = path.resolve(o.journal ?? defaultJournalPath(client.server, client.namespace, bucket));
      await mkdir(path.dirname(journalFile), { recursive: true });
      const journal = o.resume ? readJournal(journalFile) : new Map<string, JournalEntry>();

      const counters: Counters = { done: 0, uploaded: 0, duplicates: 0, skipped: 0, failed: 0 };
      const objectIds = new Map<string, string>();
      const failures: Failure[] = [];
      const progress = progressReporter(files.length, o.progress);
      const abort = new AbortController();
      let stopping = false;
      let fatal: unknown;
      const onSignal = () => {
        if (stopping) {
          // Second Ctrl-C: stop now; whatever was in flight is found again by the server's duplicate check.
          abort.abort();
          progress.stop();
          process.stderr.write('\ninterrupted\n');
          process.exit(EXIT.interrupted);
        }
        stopping = true;
        process.stderr.write('\ninterrupt: finishing the files in flight (Ctrl-C again to stop now); re-run the same command to resume\n');
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);

      const base = `/v1/buckets/${seg(bucket)}`;
      // Files with the same content in flight at once: the server's duplicate check is a lookup before the
      // insert, so two concurrent creates could both miss it. The second waits for the first, then finds it.
      const sameContent = new Map<string, Promise<unknown>>();
      const uploadOne = async (file: string) => {
        const { size } = await stat(file);
        const sha256 = await hashFile(file);
        const known = journal.get(`${file}\0${sha256}`);
        if (known) {
          objectIds.set(file, known.object_id);
          counters.skipped++;
          return;
        }
        if (size === 0) throw new Error('empty file (objects need at least one byte)');
        const earlier = sameContent.get(sha256);
        const mine = (earlier ?? Promise.resolve()).catch(() => undefined).then(() => send(file, size, sha256));
        sameContent.set(sha256, mine);
        await mine;
      };
      const send = async (file: string, size: number, sha256: string) => {
        const contentType = await sniffContentType(await readHead(file, 4100), TEXT_TYPES[path.extname(file).toLowerCase()]);
        const signal = abort.signal;
        const up = await withRetry(() =>
          client.request<{ upload_id: string; presigned_url: string }>('POST', `${base}/uploads`, {
            json: { filename: path.basename(file).slice(0, 255), content_type: contentType, file_size_bytes: size, file_hash: sha256, create_object_on_confirm: false, skip_duplicates: false },
            signal,
          }),
        );
        const etag = await withRetry(() => client.putPresignedFile(up.presigned_url, file, size, contentType, signal));
        await withRetry(() => client.request('POST', `${base}/uploads/${seg(up.upload_id)}/confirm`, { json: { ...(etag ? { etag } : {}), file_size_bytes: size }, signal }));
        const obj = await withRetry(() =>
          client.request<{ object_id: string; is_duplicate?: boolean }>('POST', `${base}/objects`, {
            json: { blobs: [{ property, type: o.type, upload_id: up.upload_id }], metadata: { filename: path.basename(file), ...fileMetadata(o.metadata, file) }, skip_duplicates: true },
            signal,
          }),
        );
        const entry: JournalEntry = { path: file, sha256, size, object_id: obj.object_id, ...(obj.is_duplicate ? { duplicate: true } : {}), at: new Date().toISOString() };
        await appendFile(journalFile, JSON.stringify(entry) + '\n');
        objectIds.set(file, obj.object_id);
        if (obj.is_duplicate) counters.duplicates++;
        else counters.uploaded++;
      };

      let next = 0;
      const worker = async () => {
        while (!stopping && fatal === undefined && next < files.length) {
          const file = files[next++]!;
          try {
            await uploadOne(file);
          } catch (err) {
            if (FATAL(err)) {
              fatal ??= err;
              return;
            }
            counters.failed++;
            failures.push({ path: file, error: err instanceof Error ? err.message : String(err), ...(err instanceof ApiError ? { type: err.type } : {}) });
          }
          counters.done++;
          progress.update(counters);
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(o.concurrency, files.length) }, worker));
      } finally {
        progress.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      if (fatal !== undefined) throw fatal;
      if (stopping) {
        process.stderr.write(`interrupted after ${counters.done}/${files.length} files; re-run the same command to resume (journal: ${journalFile})\n`);
        process.exitCode = EXIT.interrupted;
        return;
      }

      const summary: Record<string, unknown> = {
        bucket, property, files: files.length, uploaded: counters.uploaded, duplicates: counters.duplicates, skipped: counters.skipped, failed: counters.failed,
        journal: journalFile, failures, object_ids: [...new Set(objectIds.values())],
      };
      let batchId: string | undefined;
      if (o.batch && objectIds.size) {
        const batch = await client.post<{ batch_id: string }>(`${base}/batches`, { object_ids: summary.object_ids });
        const task = await client.post<{ task_id?: string; status?: string }>(`${base}/batches/${seg(batch.batch_id)}/submit`, {});
        batchId = batch.batch_id;
        summary.batch = { batch_id: batch.batch_id, task_id: task.task_id, status: task.status };
      }
      if (ctx.opts.output === 'table') {
        const lines = [
          `Uploaded ${files.length} files to bucket '${bucket}' (property '${property}'): ${counters.uploaded} new objects, ${counters.duplicates} already there (same content), ${counters.skipped} skipped (journal), ${counters.failed} failed.`,
          ...failures.map((f) => `  failed: ${f.path}: ${f.error}${f.type ? ` (${f.type})` : ''}`),
          ...(summary.batch ? [`Batch ${batchId} submitted; follow it with: quarry batch status ${batchId} --bucket ${bucket} --watch`] : []),
        ];
        process.stdout.write(lines.join('\n') + '\n');
      } else print(ctx.opts.output, summary);
      if (batchId && o.watch) await watchBatch(ctx, client, batchId, bucket, { interval: 1000, progress: o.progress, quiet: ctx.opts.output !== 'table' });
      if (failures.length) throw new FailedError(`${failures.length} of ${files.length} files failed; re-run the same command to retry them`);
    });
}
