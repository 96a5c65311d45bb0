/**
 * SSRF guard for every outbound request the engine makes on a caller's behalf (api_call, feature_search content
 * URLs): http/https only, no credentials in the URL, optionally an allow-listed host, and every address the host
 * resolves to must be public — loopback, private (RFC 1918, ULA), link-local, CGNAT, metadata (169.254.169.254,
 * fd00:ec2::254), multicast, reserved and unspecified ranges are refused, and IPv6 forms carrying an IPv4 address
 * (mapped, compatible, 6to4, Teredo) are judged by that address. The socket is pinned to the address
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
import ipaddr from 'ipaddr.js';
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

/**
 * Cloud metadata endpoints: blocked even when an allow-list opens the range around them. Node's BlockList (exact
 * addresses); the classification below uses ipaddr.js, which knows the special-purpose ranges (IANA registries).
 */
const metadata = new BlockList();
for (const a of ['169.254.169.254', '169.254.170.2', '100.100.100.200']) metadata.addAddress(a, 'ipv4');
metadata.addAddress('fd00:ec2::254', 'ipv6');

export interface SsrfPolicy {
  /** CIDRs exempted from the block list (deliberately reachable internal services; tests). */
  allowCidrs?: string[];
}

function allowList(policy: SsrfPolicy): [ipaddr.IPv4 | ipaddr.IPv6, number][] {
  return (policy.allowCidrs ?? []).map((c) => (c.includes('/') ? ipaddr.parseCIDR(c) : ([ipaddr.parse(c), ipaddr.parse(c).kind() === 'ipv6' ? 128 : 32] as [ipaddr.IPv4 | ipaddr.IPv6, number])));
}

const v4 = (hi: number, lo: number) => ipaddr.IPv4.parse(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);

/**
 * The IPv4 addresses an IPv6 address carries, which decide where it really goes: IPv4-mapped (::ffff:0:0/96,
 * in any spelling), IPv4-compatible (::a.b.c.d, ::/96), IPv4-translated (::ffff:0:0:0/96), 6to4 (2002::/16, bits
 * 16-47) and Teredo (2001::/32: the server at bits 32-63 and the client, inverted, in the last 32 bits). ipaddr.js
 * classifies the prefixes; extracting the embedded address per RFC is done here (the library does it only for
 * IPv4-mapped).
 */
export function embeddedIPv4(a: ipaddr.IPv6): ipaddr.IPv4[] {
  const p = a.parts;
  switch (a.range()) {
    case 'ipv4Mapped':
    case 'rfc6145':
      return [v4(p[6]!, p[7]!)];
    case '6to4':
      return [v4(p[1]!, p[2]!)];
    case 'teredo':
      return [v4(p[2]!, p[3]!), v4(~p[6]! & 0xffff, ~p[7]! & 0xffff)];
    default:
      // ::/96 minus :: and ::1 (their own ranges): the deprecated IPv4-compatible form.
      if (p.slice(0, 6).every((x) => x === 0) && a.range() === 'unicast') return [v4(p[6]!, p[7]!)];
      return [];
  }
}

/**
 * True when the address is not publicly routable (and not exempted by the policy) or is a metadata endpoint.
 * Anything ipaddr.js does not classify as global 'unicast' is refused: loopback, private, CGNAT, link-local,
 * ULA, multicast, broadcast, reserved, documentation, benchmarking, NAT64 and unspecified ranges. IPv6 addresses
 * embedding an IPv4 address are judged by that address (all of them, for Teredo).
 */
export function isBlockedAddress(address: string, policy: SsrfPolicy = {}): boolean {
  const addr = address.replace(/^\[|\]$/g, '');
  // Node's strict parser first: ipaddr.js also accepts classful IPv4 spellings (0x7f.1) that nothing should send.
  if (isIP(addr.replace(/%.*$/, '')) === 0 || !ipaddr.isValid(addr)) return true;
  const parsed = ipaddr.parse(addr);
  if (parsed.kind() === 'ipv6') {
    const inner = embeddedIPv4(parsed as ipaddr.IPv6);
    if (inner.length) return inner.some((x) => isBlockedAddress(x.toString(), policy));
  }
  const plain = parsed.toString().replace(/%.*$/, '');
  if (metadata.check(plain, parsed.kind())) return true;
  if (allowList(policy).some(([net, bits]) => net.kind() === parsed.kind() && parsed.match(net, bits))) return false;
  return parsed.range() !== 'unicast';
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
  /** Aborting destroys the request (the caller gave up: a timed-out LLM call). */
  signal?: AbortSignal;
  /** Streaming: each chunk of the final response's body as it arrives, with the response status. */
  onChunk?: (chunk: Buffer, status: number) => void;
}

export interface GuardedResponse {
  status: number;
  bytes: Buffer;
  contentType: string;
  /** Response headers (e.g. Retry-After for the LLM adapter). */
  headers?: http.IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url?: string;
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
            o.onChunk?.(c, status);
          });
          resp.on('end', () => resolve({ status, bytes: Buffer.concat(chunks), contentType: String(resp.headers['content-type'] ?? ''), headers: resp.headers }));
          resp.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new QuarryError('TimeoutError', `${who}: the request to ${u.host} timed out after ${o.timeoutMs} ms`, { parameter: o.timeoutParameter ?? 'url' })));
      // Network failures (refused, reset, TLS) are about the URL the caller gave: a 4xx naming it, never a 500.
      req.on('error', (e) => reject(e instanceof QuarryError ? e : new QuarryError('BadRequestError', `${who}: could not fetch ${current}: ${e.message}`, { url: current })));
      if (o.signal) {
        if (o.signal.aborted) req.destroy(o.signal.reason instanceof Error ? o.signal.reason : new Error('aborted'));
        else o.signal.addEventListener('abort', () => req.destroy(o.signal!.reason instanceof Error ? o.signal!.reason : new Error('aborted')), { once: true });
      }
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
    return { ...res, url: current };
  }
  throw refused(url, `more than ${MAX_REDIRECTS} redirects`, who);
}
