/**
 * SSRF guard for outbound calls (api_call): the host must be allow-listed, and every address it resolves to must be
 * public — loopback, private (RFC 1918, ULA), link-local, CGNAT, metadata (169.254.169.254, fd00:ec2::254),
 * multicast, reserved and unspecified ranges are refused. The check runs inside the socket's DNS lookup, so the
 * connection uses exactly the address that was checked (no DNS-rebinding window), and again on every redirect.
 */
import { BlockList, isIP } from 'node:net';
import dns from 'node:dns';
import { QuarryError } from '../lib/errors.ts';
import type { LookupFn } from './types.ts';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32],
] as const) blocked.addSubnet(net, prefix, 'ipv6');

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

/** True when the address is not publicly routable (or is a metadata endpoint). */
export function isBlockedAddress(address: string, policy: SsrfPolicy = {}): boolean {
  let addr = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) addr = mapped[1]!;
  const family = isIP(addr);
  if (family === 0) return true;
  const type = family === 6 ? 'ipv6' : 'ipv4';
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

export function refused(url: string, reason: string): QuarryError {
  return new QuarryError('ForbiddenError', `api_call refused ${url}: ${reason}`, { url, reason });
}

/**
 * Resolves a hostname and returns the first address, after checking that ALL resolved addresses are public
 * (a name resolving to both a public and a private address is refused).
 */
export async function resolvePublic(hostname: string, url: string, policy: SsrfPolicy, lookup: LookupFn = defaultLookup): Promise<{ address: string; family: number }> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (isIP(bare)) {
    if (isBlockedAddress(bare, policy)) throw refused(url, `address ${bare} is loopback, private, link-local or a metadata endpoint`);
    return { address: bare, family: isIP(bare) };
  }
  let addrs: { address: string; family: number }[];
  try {
    addrs = await lookup(bare);
  } catch (e) {
    throw new QuarryError('BadRequestError', `api_call could not resolve host '${bare}': ${(e as Error).message}`, { url });
  }
  if (addrs.length === 0) throw new QuarryError('BadRequestError', `api_call could not resolve host '${bare}'`, { url });
  const bad = addrs.find((a) => isBlockedAddress(a.address, policy));
  if (bad) throw refused(url, `host '${bare}' resolves to ${bad.address}, which is loopback, private, link-local or a metadata endpoint`);
  return addrs[0]!;
}
