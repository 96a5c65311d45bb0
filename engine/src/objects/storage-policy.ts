/**
 * What the cluster admin allows Buckets to point at (operator configuration, never the Bucket's own spec, which
 * any namespace editor can write):
 * - QUARRY_STORAGE_ENDPOINTS: S3 endpoints the operator may open clients to without further checks, as hosts
 *   (`minio.storage.svc`, `minio.storage.svc:9000`, `*.r2.cloudflarestorage.com`). Only these may be used without
 *   spec.storage.credentialsSecretRef (the operator's own credentials, e.g. the AWS default chain, go nowhere else).
 *   Any other spec.storage.endpoint must be http(s) without credentials in the URL and resolve only to public
 *   addresses: the engine's SSRF guard (engine/src/retriever/ssrf.ts), so 169.254.169.254, loopback, private,
 *   link-local and the IPv6 spellings of them are refused.
 * - QUARRY_STORAGE_ALLOW_CIDRS: address ranges exempted from that guard for spec.storage.endpoint (an in-cluster
 *   S3 reached by Buckets with their own credentials). Metadata endpoints stay refused.
 * - QUARRY_SHARED_STORAGE: S3 buckets (or bucket/prefix) the admin deliberately shares: any Bucket may store
 *   there without claiming it, and no Bucket's deletion empties or deletes anything in it.
 */
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { hostAllowed, isBlockedAddress, resolvePublic, type SsrfPolicy } from '../retriever/ssrf.ts';
import type { LookupFn } from '../retriever/types.ts';
import { prefixesOverlap } from './storage-ownership.ts';

export interface StoragePolicy {
  /** Trusted endpoint hosts (host, host:port or `*.domain`). */
  endpoints: string[];
  /** CIDRs exempted from the SSRF guard for spec.storage.endpoint. */
  allowCidrs: string[];
  /** Deliberately shared storage: `bucket` or `bucket/prefix`. */
  shared: string[];
  /** DNS resolution (tests). */
  lookup?: LookupFn;
}

const list = (v: string | undefined) => (v ?? '').split(',').map((x) => x.trim()).filter(Boolean);

export function storagePolicyFromEnv(env: NodeJS.ProcessEnv = process.env): StoragePolicy {
  return { endpoints: list(env.QUARRY_STORAGE_ENDPOINTS), allowCidrs: list(env.QUARRY_STORAGE_ALLOW_CIDRS), shared: list(env.QUARRY_SHARED_STORAGE) };
}

/** True when (bucket, prefix) lies in storage the admin shares (QUARRY_SHARED_STORAGE). */
export function isSharedStorage(policy: StoragePolicy, bucket: string, prefix: string): boolean {
  return policy.shared.some((entry) => {
    const slash = entry.indexOf('/');
    const b = slash < 0 ? entry : entry.slice(0, slash);
    const p = slash < 0 ? '' : entry.slice(slash + 1);
    return b === bucket && prefix.startsWith(p);
  });
}

/** True when the shared entries overlap (bucket, prefix) at all: then deletion must leave it alone. */
export function touchesSharedStorage(policy: StoragePolicy, bucket: string, prefix: string): boolean {
  return policy.shared.some((entry) => {
    const slash = entry.indexOf('/');
    return (slash < 0 ? entry : entry.slice(0, slash)) === bucket && prefixesOverlap(slash < 0 ? '' : entry.slice(slash + 1), prefix);
  });
}

/** The endpoint's host (or host:port) is on the admin's allow-list (QUARRY_STORAGE_ENDPOINTS). */
export function endpointTrusted(endpoint: string, policy: StoragePolicy): boolean {
  if (!URL.canParse(endpoint)) return false;
  const u = new URL(endpoint);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return hostAllowed(host, policy.endpoints) || (!!u.port && hostAllowed(`${host}:${u.port}`, policy.endpoints));
}

export interface EndpointRefusal {
  reason: 'EndpointNotAllowed';
  message: string;
}

/**
 * Checks a Bucket's spec.storage.endpoint before the operator opens a client to it; undefined when allowed.
 * The S3 client resolves the host again on every connection: for endpoints off the allow-list it does so through
 * guardedLookup, so a name re-pointed at a private address after this check (DNS rebinding) is refused too.
 */
export async function checkEndpoint(endpoint: string, withOwnCredentials: boolean, policy: StoragePolicy): Promise<EndpointRefusal | undefined> {
  const fix = 'use an endpoint on the operator allow-list (QUARRY_STORAGE_ENDPOINTS, chart value storage.endpoints) or ask the cluster admin to add it';
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    return { reason: 'EndpointNotAllowed', message: `spec.storage.endpoint '${endpoint}' is not a URL: give one such as https://s3.eu-west-1.amazonaws.com` };
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { reason: 'EndpointNotAllowed', message: `spec.storage.endpoint '${endpoint}' must be an http or https URL` };
  if (u.username || u.password) return { reason: 'EndpointNotAllowed', message: `spec.storage.endpoint must not carry credentials: put them in the Secret named by spec.storage.credentialsSecretRef` };
  if (endpointTrusted(endpoint, policy)) return undefined;
  if (!withOwnCredentials) {
    return {
      reason: 'EndpointNotAllowed',
      message: `spec.storage.endpoint '${endpoint}' is not on the operator's allow-list, and without spec.storage.credentialsSecretRef the operator would send its own credentials there: name a credentials Secret, or ${fix}`,
    };
  }
  try {
    const ssrf: SsrfPolicy = { allowCidrs: policy.allowCidrs };
    await resolvePublic(host, endpoint, ssrf, policy.lookup, 'spec.storage.endpoint');
    return undefined;
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/ \(local mode:[^)]*\)/, '') : String(err);
    return { reason: 'EndpointNotAllowed', message: `${why}; ${fix}` };
  }
}

/** DNS resolution for S3 clients to untrusted endpoints: every answer must pass the SSRF guard, on every connection. */
export function guardedLookup(policy: StoragePolicy): LookupFunction {
  const ssrf: SsrfPolicy = { allowCidrs: policy.allowCidrs };
  return ((hostname: string, options: dns.LookupOptions, cb: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void) => {
    dns.lookup(hostname, { all: true, verbatim: true }, (err, addrs) => {
      if (err) return cb(err, '');
      const bad = addrs.find((a) => isBlockedAddress(a.address, ssrf));
      if (bad || !addrs.length) return cb(Object.assign(new Error(`spec.storage.endpoint host '${hostname}' resolves to ${bad?.address ?? 'nothing'}, which is not a public address`), { code: 'EAI_FAIL' }), '');
      if (options?.all) return cb(null, addrs);
      return cb(null, addrs[0]!.address, addrs[0]!.family);
    });
  }) as LookupFunction;
}
