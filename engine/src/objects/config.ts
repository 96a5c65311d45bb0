/**
 * ObjectStore configuration and factory: S3 (cluster mode) or local disk (local mode).
 * Credentials come from the environment or files, never from code.
 */
import { readFileSync } from 'node:fs';
import { LocalObjectStore, type LocalObjectStoreConfig } from './local.ts';
import { S3ObjectStore, type S3ObjectStoreConfig } from './s3.ts';
import type { ObjectStore } from '../ports/object-store.ts';

export type ObjectStoreConfig = ({ kind: 's3' } & S3ObjectStoreConfig) | ({ kind: 'local' } & LocalObjectStoreConfig);

export function createObjectStore(config: ObjectStoreConfig): ObjectStore {
  switch (config.kind) {
    case 's3':
      return new S3ObjectStore(config);
    case 'local':
      return new LocalObjectStore(config);
    default:
      throw new Error(`unknown object store kind '${(config as { kind: string }).kind}'`);
  }
}

/** Reads a credentials file: JSON `{ "accessKey", "secretKey", "sessionToken"? }` or `NAME=value` lines. */
export function readS3CredentialsFile(file: string): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
  const text = readFileSync(file, 'utf8');
  let rec: Record<string, string>;
  if (text.trimStart().startsWith('{')) {
    rec = JSON.parse(text) as Record<string, string>;
  } else {
    rec = {};
    for (const line of text.split('\n')) {
      const m = line.match(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/);
      if (m) rec[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
    }
  }
  const pick = (...names: string[]) => names.map((n) => rec[n]).find((v) => v !== undefined && v !== '');
  const accessKeyId = pick('accessKey', 'accessKeyId', 'S3_ACCESS_KEY', 'AWS_ACCESS_KEY_ID');
  const secretAccessKey = pick('secretKey', 'secretAccessKey', 'S3_SECRET_KEY', 'AWS_SECRET_ACCESS_KEY');
  const sessionToken = pick('sessionToken', 'S3_SESSION_TOKEN', 'AWS_SESSION_TOKEN');
  if (!accessKeyId || !secretAccessKey) throw new Error(`S3 credentials file ${file} has no access key and secret key`);
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

const fileValue = (file: string) => readFileSync(file, 'utf8').trim();

/**
 * From the environment. S3 when S3_ENDPOINT (MinIO etc.) is set
 * or QUARRY_OBJECT_STORE=s3 (AWS), with S3_REGION, S3_FORCE_PATH_STYLE and credentials from S3_ACCESS_KEY /
 * S3_SECRET_KEY, S3_ACCESS_KEY_FILE / S3_SECRET_KEY_FILE (mounted Secret keys), or S3_CREDENTIALS_FILE;
 * without any, the AWS SDK's default chain (AWS_* env, profile, web identity). Otherwise local disk under
 * QUARRY_OBJECTS_DIR (or `<dataDir>/objects`), presigned URLs under QUARRY_OBJECTS_BASE_URL signed with
 * QUARRY_PRESIGN_SECRET or the contents of QUARRY_PRESIGN_SECRET_FILE.
 */
export function objectStoreConfigFromEnv(env: NodeJS.ProcessEnv = process.env, dataDir = '.quarry'): ObjectStoreConfig {
  if (env.S3_ENDPOINT || env.QUARRY_OBJECT_STORE === 's3') {
    let creds: { accessKeyId?: string; secretAccessKey?: string; sessionToken?: string } = {};
    if (env.S3_ACCESS_KEY && env.S3_SECRET_KEY) creds = { accessKeyId: env.S3_ACCESS_KEY, secretAccessKey: env.S3_SECRET_KEY };
    else if (env.S3_ACCESS_KEY_FILE && env.S3_SECRET_KEY_FILE) creds = { accessKeyId: fileValue(env.S3_ACCESS_KEY_FILE), secretAccessKey: fileValue(env.S3_SECRET_KEY_FILE) };
    else if (env.S3_CREDENTIALS_FILE) creds = readS3CredentialsFile(env.S3_CREDENTIALS_FILE);
    if (env.S3_SESSION_TOKEN) creds.sessionToken = env.S3_SESSION_TOKEN;
    return {
      kind: 's3',
      ...(env.S3_ENDPOINT ? { endpoint: env.S3_ENDPOINT } : {}),
      region: env.S3_REGION ?? env.AWS_REGION ?? 'us-east-1',
      ...(env.S3_FORCE_PATH_STYLE ? { forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true' } : {}),
      ...creds,
    };
  }
  const secret = env.QUARRY_PRESIGN_SECRET ?? (env.QUARRY_PRESIGN_SECRET_FILE ? fileValue(env.QUARRY_PRESIGN_SECRET_FILE) : undefined);
  return {
    kind: 'local',
    root: env.QUARRY_OBJECTS_DIR ?? `${dataDir}/objects`,
    ...(env.QUARRY_OBJECTS_BASE_URL ? { baseUrl: env.QUARRY_OBJECTS_BASE_URL } : {}),
    ...(secret ? { presignSecret: secret } : {}),
  };
}
