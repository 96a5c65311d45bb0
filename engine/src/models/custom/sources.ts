/**
 * Where a Model's files come from (spec.source): one reader per source type, each handing back a byte stream of one
 * file. The cache (cache.ts) hashes what it reads and keeps nothing that does not match the declared sha256, so a
 * reader never has to be trusted with integrity.
 *
 * - volume: a directory under one of the roots the runtime allows (QUARRY_MODEL_VOLUME_ROOTS); the real path of every
 *   file (symlinks resolved) must stay inside that root, so a Model cannot read arbitrary files of the runtime.
 * - https: fetched through the engine's SSRF guard (ingestion/blob-url.ts fetchUrlToStore: every hop's address
 *   checked and pinned, redirects re-checked, size cap, deadline) into a staging store on the cache's disk.
 * - s3: an S3 client to spec.source.s3.endpoint with the credentials of the named Secret; an endpoint off the
 *   admin's allow-list must resolve to public addresses (the Bucket storage policy, QUARRY_STORAGE_ENDPOINTS /
 *   QUARRY_STORAGE_ALLOW_CIDRS), and the operator's own credentials are never sent to it.
 * - upload: the engine's object store, where the /v1/models upload API put the files.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fetchUrlToStore } from '../../ingestion/blob-url.ts';
import { LocalObjectStore } from '../../objects/local.ts';
import { S3ObjectStore } from '../../objects/s3.ts';
import type { ObjectStore } from '../../ports/object-store.ts';
import type { ModelSpec } from '../../resources/generated/types.ts';
import { checkEndpoint, endpointTrusted, guardedLookup, storagePolicyFromEnv, type StoragePolicy } from '../../objects/storage-policy.ts';
import { ModelFileError } from './errors.ts';
import { secretRefAllowed, secretRefFix, type SecretReader } from '../../lib/secret-refs.ts';

/** The object-store bucket the /v1/models upload API writes model files to (source.upload prefixes are keys in it). */
export const MODEL_UPLOADS_BUCKET = 'quarry-models';

export interface SourceDeps {
  /** Roots a volume source may lie under (default QUARRY_MODEL_VOLUME_ROOTS, comma-separated; none: volume sources are refused). */
  volumeRoots?: string[];
  /** Where https downloads are staged (a directory on the cache's filesystem). */
  stagingDir: string;
  /** CIDRs exempted from the SSRF guard for https sources (default: the environment, QUARRY_FETCH_ALLOW_PRIVATE / QUARRY_FETCH_ALLOW_CIDRS). */
  allowCidrs?: string[];
  /** S3 endpoint policy (default storagePolicyFromEnv()). */
  storagePolicy?: StoragePolicy;
  /** Reads a Secret (decoded data, labels) in the Model's Kubernetes namespace; undefined when it does not exist. */
  readSecret?: SecretReader;
  /** The engine's object store and the bucket uploads go to (source.upload). */
  uploads?: { store: ObjectStore; bucket: string };
  /** Largest file accepted (bytes; default QUARRY_MODEL_MAX_FILE_BYTES or 4 GiB). */
  maxFileBytes?: number;
}

export interface FileSource {
  /** Human description of where the file is read from, for messages. */
  describe(file: string): string;
  open(file: string): Promise<Readable>;
  close(): Promise<void>;
}

export function volumeRootsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.QUARRY_MODEL_VOLUME_ROOTS ?? '').split(',').map((x) => x.trim()).filter(Boolean).map((x) => path.resolve(x));
}

export function maxFileBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.QUARRY_MODEL_MAX_FILE_BYTES ?? 4 * 1024 ** 3);
  return Number.isFinite(n) && n > 0 ? n : 4 * 1024 ** 3;
}

const inside = (root: string, p: string) => p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

function s3Location(url: string): { bucket: string; prefix: string } {
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  let prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  return { bucket, prefix };
}

/** The reader of a Model's source; a source that cannot be used at all (bad root, missing Secret) throws a ModelFileError without a file. */
export async function openSource(namespace: string, spec: ModelSpec, deps: SourceDeps): Promise<FileSource> {
  const s = spec.source;
  const maxBytes = deps.maxFileBytes ?? maxFileBytesFromEnv();
  if (s.volume) {
    const roots = deps.volumeRoots ?? volumeRootsFromEnv();
    const dir = path.resolve(s.volume.path);
    const root = roots.find((r) => inside(r, dir));
    if (!root) {
      throw new ModelFileError(undefined, 'VolumeNotAllowed', `spec.source.volume.path '${s.volume.path}' is not under a model volume root this runtime allows (${roots.join(', ') || 'none: set QUARRY_MODEL_VOLUME_ROOTS'}): mount the models there or ask the admin to add the root`);
    }
    return {
      describe: (f) => path.join(dir, f),
      async open(f) {
        const p = path.join(dir, f);
        let real: string;
        try {
          real = await realpath(p);
        } catch {
          throw new ModelFileError(f, 'FileMissing', `${p} does not exist`);
        }
        if (!inside(await realpath(root), real)) throw new ModelFileError(f, 'VolumeNotAllowed', `${p} resolves to ${real}, outside the model volume root ${root}`);
        if ((await stat(real)).size > maxBytes) throw new ModelFileError(f, 'FileTooLarge', `${p} exceeds the ${maxBytes}-byte limit (QUARRY_MODEL_MAX_FILE_BYTES)`);
        return createReadStream(real);
      },
      close: async () => {},
    };
  }
  if (s.https) {
    const base = s.https.url.endsWith('/') ? s.https.url : `${s.https.url}/`;
    const staging = new LocalObjectStore({ root: deps.stagingDir });
    const bucket = 'https-staging';
    await staging.ensureBucket(bucket);
    return {
      describe: (f) => new URL(f, base).toString(),
      async open(f) {
        const url = new URL(f, base).toString();
        const key = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
        try {
          await fetchUrlToStore(url, 'spec.source.https', staging, bucket, key, { maxBytes, ...(deps.allowCidrs ? { allowCidrs: deps.allowCidrs } : {}), timeoutMs: 10 * 60_000 });
        } catch (err) {
          const reason = (err as { details?: { reason?: string; status?: number } }).details;
          throw new ModelFileError(f, reason?.status === 404 ? 'FileMissing' : 'FetchFailed', `${url}: ${reason?.reason ?? (err as Error).message}`);
        }
        const { body } = await staging.get(bucket, key);
        body.once('close', () => void staging.delete(bucket, key).catch(() => {}));
        return body;
      },
      close: () => staging.close(),
    };
  }
  if (s.s3) {
    const { bucket, prefix } = s3Location(s.s3.url);
    const policy = deps.storagePolicy ?? storagePolicyFromEnv();
    let creds: { accessKeyId: string; secretAccessKey: string } | undefined;
    const ref = s.s3.credentialsSecretRef;
    if (ref) {
      // Only a Secret this Model may use (lib/secret-refs.ts): one owned by its namespaceRefs, or, without them, one
      // no QuarryNamespace owns. Refused: SecretNotAllowed (Models are organisation-level: tenants cannot probe with one).
      const owners = spec.namespaceRefs ?? [];
      const found = deps.readSecret ? await deps.readSecret(namespace, ref.name) : undefined;
      const data = found && secretRefAllowed(owners, ref.name, found.labels) ? found.data : undefined;
      const id = data?.[ref.accessKeyIdKey ?? 'accessKeyId'];
      const secret = data?.[ref.secretAccessKeyKey ?? 'secretAccessKey'];
      if (!data) throw new ModelFileError(undefined, found ? 'SecretNotAllowed' : 'SecretMissing', `spec.source.s3.credentialsSecretRef: Secret '${ref.name}' not found in namespace '${namespace}' or not one this Model may use: ${secretRefFix(owners, ref.name, namespace)}`);
      if (!id || !secret) throw new ModelFileError(undefined, 'SecretMissing', `spec.source.s3.credentialsSecretRef: Secret '${ref.name}' lacks key ${!id ? (ref.accessKeyIdKey ?? 'accessKeyId') : (ref.secretAccessKeyKey ?? 'secretAccessKey')}`);
      creds = { accessKeyId: id, secretAccessKey: secret };
    }
    const endpoint = s.s3.endpoint;
    if (!creds) {
      throw new ModelFileError(undefined, 'SecretMissing', 'spec.source.s3.credentialsSecretRef is required: the runtime never sends its own credentials to a Model\'s storage; name a Secret with accessKeyId and secretAccessKey');
    }
    let lookup;
    if (endpoint) {
      const refusal = await checkEndpoint(endpoint, true, policy);
      if (refusal) throw new ModelFileError(undefined, 'EndpointNotAllowed', refusal.message.replaceAll('spec.storage.', 'spec.source.s3.'));
      // Trusted endpoints (QUARRY_STORAGE_ENDPOINTS) resolve normally; any other one through the SSRF guard on every connection.
      if (!endpointTrusted(endpoint, policy)) lookup = guardedLookup(policy);
    }
    const store = new S3ObjectStore({
      ...(endpoint ? { endpoint } : {}),
      region: s.s3.region ?? 'us-east-1',
      forcePathStyle: s.s3.forcePathStyle ?? !!endpoint,
      ...creds,
      ...(lookup ? { lookup } : {}),
    });
    return {
      describe: (f) => `s3://${bucket}/${prefix}${f}`,
      async open(f) {
        const head = await store.head(bucket, prefix + f).catch((err: Error) => {
          throw new ModelFileError(f, 'FetchFailed', `s3://${bucket}/${prefix}${f}: ${err.message}`);
        });
        if (!head) throw new ModelFileError(f, 'FileMissing', `s3://${bucket}/${prefix}${f} does not exist`);
        if (head.size > maxBytes) throw new ModelFileError(f, 'FileTooLarge', `s3://${bucket}/${prefix}${f} exceeds the ${maxBytes}-byte limit`);
        return (await store.get(bucket, prefix + f)).body;
      },
      close: () => store.close(),
    };
  }
  if (s.upload) {
    const up = deps.uploads;
    if (!up) throw new ModelFileError(undefined, 'SourceUnavailable', 'spec.source.upload: this runtime has no access to the engine\'s object store');
    const prefix = s.upload.prefix;
    return {
      describe: (f) => `upload ${prefix}${f}`,
      async open(f) {
        const head = await up.store.head(up.bucket, prefix + f);
        if (!head) throw new ModelFileError(f, 'FileMissing', `uploaded file ${prefix}${f} does not exist: upload it (POST /v1/models/uploads) and confirm`);
        if (head.size > maxBytes) throw new ModelFileError(f, 'FileTooLarge', `uploaded file ${prefix}${f} exceeds the ${maxBytes}-byte limit`);
        return (await up.store.get(up.bucket, prefix + f)).body;
      },
      close: async () => {},
    };
  }
  throw new ModelFileError(undefined, 'SourceUnavailable', 'spec.source: set one of upload, s3, https or volume');
}
