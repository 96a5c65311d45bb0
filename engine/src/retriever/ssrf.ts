/**
 * SSRF guard for every outbound request the engine makes on a caller's behalf (api_call, feature_search content
 * URLs): http/https only, no credentials in the URL, optionally an allow-listed host, and every address the host
 * resolves to must be public — loopback, private (RFC 1918, ULA), link-local, CGNAT, metadata (169.254.169.254,
 * fd00:ec2::254), multicast, reserved and unspecified ranges are refused. The socket is pinned to the address
 * that was checked (no DNS-rebinding window); redirects are followed by hand (at most 5) and checked again; the
 * response has a size cap and the request a timeout. node:http is used directly because fetch cannot pin the
 * connection to the checked address.
 *
 * Exemptions (EngineDeps.ssrfAllowCidrs, else the environment, see ssrfAllowCidrsFromEnv):
 * - QUARRY_FETCH_ALLOW_PRIVATE=true: loopback, RFC 1918, ULA and CGNAT become reachable (local mode on a laptop,
 *   tests). Link-local and the metadata endpoints stay blocked.
 * - QUARRY_FETCH_ALLOW_CIDRS=10.1.0.0/16,…: exactly these ranges (a deliberately exposed internal service).
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import dns from 'node:dns';
import { QuarryError, badRequest } from '../lib/errors.ts';
import type { LookupFn } from './types.ts';

const MAX_REDIRECTS = 5;

/** The ranges QUARRY_FETCH_ALLOW_PRIVATE opens: loopback, RFC 1918, CGNAT, ULA (never link-local / metadata). */
export const PRIVATE_CIDRS = ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '::1/128', 'fc00::/7'];

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());

/** CIDRs exempted from the block list by the environment (QUARRY_FETCH_ALLOW_PRIVATE, QUARRY_FETCH_ALLOW_CIDRS). */
export function ssrfAllowCidrsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const out = truthy(env.QUARRY_FETCH_ALLOW_PRIVATE) ? [...PRIVATE_CIDRS] : [];
  for (const c of (env.QUARRY_FETCH_ALLOW_CIDRS ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const [net, prefix] = c.split('/');
    const family = isIP(net ?? '');
    const max = family === 6 ? 128 : 32;
    if (family === 0 || (prefix !== undefined && !(/^\d+$/.test(prefix) && Number(prefix) <= max))) {
      throw badRequest(`QUARRY_FETCH_ALLOW_CIDRS: '${c}' is not a CIDR (e.g. 10.1.0.0/16 or fd00:1::/64)`, { field: 'QUARRY_FETCH_ALLOW_CIDRS' });
    }
    out.push(c);
  }
  return out;
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32],
] as const) blocked.addSubnet(net, prefix, 'ipv6');

/** Cloud metadata endpoints: blocked even when an allow-list opens the range around them. */
const metadata = new BlockList();
for (const a of ['169.254.169.254', '169.254.170.2', '100.100.100.200']) metadata.addAddress(a, 'ipv4');
metadata.addAddress('fd00:ec2::254', 'ipv6');

export interface SsrfPolicy {
  /** CIDRs exempted from the block list (deliberately reachable internal services; tests). */
  allowCidrs?: string[];
}

function allowList(policy: SsrfPolicy): BlockList | undefined {
  if (!policy.allowCidrs?.length) return undefined;
  const l = new BlockList();
  for (const c of policy.allowCidrs) {
    const [net, prefix] = c.split('/');
    const family = isIP(net!) === 6 ? 'ipv6' : 'ipv4';
    l.addSubnet(net!, Number(prefix ?? (family === 'ipv6' ? 128 : 32)), family);
  }
  return l;
}

/** True when the address is not publicly routable (and not exempted by the policy) or is a metadata endpoint. */
export function isBlockedAddress(address: string, policy: SsrfPolicy = {}): boolean {
  let addr = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) addr = mapped[1]!;
  const family = isIP(addr);
  if (family === 0) return true;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (metadata.check(addr, type)) return true;
  if (allowList(policy)?.check(addr, type)) return false;
  return blocked.check(addr, type);
}

/** Host allowed by the list: exact match or `*.example.com` wildcard (never a bare `*`). */
export function hostAllowed(host: string, allowed: string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return allowed.some((a) => {
    const p = a.toLowerCase().trim();
    if (p === '*' || p === '') return false;
    if (p.startsWith('*.')) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
    return h === p;
  });
}

const defaultLookup: LookupFn = async (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

export function refused(url: string, reason: string, who = 'api_call'): QuarryError {
  return new QuarryError('ForbiddenError', `${who} refused ${url}: ${reason}`, { url, reason });
}

/**
 * Resolves a hostname and returns the first address, after checking that ALL resolved addresses are public
 * (a name resolving to both a public and a private address is refused).
 */
export async function resolvePublic(hostname: string, url: string, policy: SsrfPolicy, lookup: LookupFn = defaultLookup, who = 'api_call'): Promise<{ address: string; family: number }> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  const hint = ' (local mode: set QUARRY_FETCH_ALLOW_PRIVATE=true or QUARRY_FETCH_ALLOW_CIDRS to permit it)';
  if (isIP(bare)) {
    if (isBlockedAddress(bare, policy)) throw refused(url, `address ${bare} is loopback, private, link-local or a metadata endpoint${hint}`, who);
    return { address: bare, family: isIP(bare) };
  }
  let addrs: { address: string; family: number }[];
  try {
    addrs = await lookup(bare);
  } catch (e) {
    throw new QuarryError('BadRequestError', `${who} could not resolve host '${bare}': ${(e as Error).message}`, { url });
  }
  if (addrs.length === 0) throw new QuarryError('BadRequestError', `${who} could not resolve host '${bare}'`, { url });
  const bad = addrs.find((a) => isBlockedAddress(a.address, policy));
  if (bad) throw refused(url, `host '${bare}' resolves to ${bad.address}, which is loopback, private, link-local or a metadata endpoint${hint}`, who);
  return addrs[0]!;
}

export interface GuardedRequestOptions {
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  maxBytes: number;
  /** Host allow-list (exact or `*.domain`); undefined = any host whose addresses are public. */
  allowed?: string[];
  policy: SsrfPolicy;
  lookup?: LookupFn;
  /** Who is asking, for messages (api_call, feature_search). */
  who?: string;
  /** The parameter names the size cap and timeout come from, for messages. */
  sizeParameter?: string;
  timeoutParameter?: string;
}

export interface GuardedResponse {
  status: number;
  bytes: Buffer;
  contentType: string;
}

/** One guarded request; follows redirects after re-checking scheme, host and addresses. */
export async function guardedRequest(url: string, o: GuardedRequestOptions): Promise<GuardedResponse> {
  const who = o.who ?? 'api_call';
  let current = url;
  let method = o.method;
  let body = o.body;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let u: URL;
    try {
      u = new URL(current);
    } catch {
      throw badRequest(`${who}: '${current}' is not a valid URL`, { parameter: 'url' });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw refused(current, 'only http and https URLs are allowed', who);
    if (u.username || u.password) throw refused(current, 'credentials in URLs are not allowed', who);
    if (o.allowed && !hostAllowed(u.hostname.replace(/^\[|\]$/g, ''), o.allowed)) throw refused(current, `host '${u.hostname}' is not in allowed_domains`, who);
    const addr = await resolvePublic(u.hostname, current, o.policy, o.lookup, who);
    const res = await new Promise<GuardedResponse & { location?: string }>((resolve, reject) => {
      const mod = u.protocol === 'https:' ? https : http;
      const req = mod.request(
        u,
        {
          method,
          headers: { ...o.headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
          // Pin the socket to the address the guard checked.
          lookup: (_host: string, opts: { all?: boolean }, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
            if (opts?.all) cb(null, [{ address: addr.address, family: addr.family }]);
            else cb(null, addr.address, addr.family);
          },
          timeout: o.timeoutMs,
        },
        (resp) => {
          const status = resp.statusCode ?? 0;
          if (status >= 300 && status < 400 && resp.headers.location) {
            resp.resume();
            resolve({ status, location: resp.headers.location, bytes: Buffer.alloc(0), contentType: '' });
            return;
          }
          const declared = Number(resp.headers['content-length']);
          const tooBig = () =>
            new QuarryError('BadRequestError', `${who}: the response from ${u.host} exceeds ${o.sizeParameter ?? 'the size limit'} (${o.maxBytes} bytes)`, { parameter: o.sizeParameter ?? 'url', max_bytes: o.maxBytes });
          if (Number.isFinite(declared) && declared > o.maxBytes) {
            req.destroy();
            reject(tooBig());
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          resp.on('data', (c: Buffer) => {
            size += c.length;
            if (size > o.maxBytes) {
              req.destroy();
              reject(tooBig());
              return;
            }
            chunks.push(c);
          });
          resp.on('end', () => resolve({ status, bytes: Buffer.concat(chunks), contentType: String(resp.headers['content-type'] ?? '') }));
          resp.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new QuarryError('TimeoutError', `${who}: the request to ${u.host} timed out after ${o.timeoutMs} ms`, { parameter: o.timeoutParameter ?? 'url' })));
      // Network failures (refused, reset, TLS) are about the URL the caller gave: a 4xx naming it, never a 500.
      req.on('error', (e) => reject(e instanceof QuarryError ? e : new QuarryError('BadRequestError', `${who}: could not fetch ${current}: ${e.message}`, { url: current })));
      if (body !== undefined) req.write(body);
      req.end();
    });
    if (res.location) {
      current = new URL(res.location, current).toString();
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
      continue;
    }
    return res;
  }
  throw refused(url, `more than ${MAX_REDIRECTS} redirects`, who);
}
