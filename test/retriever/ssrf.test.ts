/**
 * api_call SSRF guard: loopback, private, metadata addresses, a name resolving to loopback and a redirect to
 * loopback are refused. The redirect test serves from 127.0.0.2, exempted by ssrfAllowCidrs, so the first hop is
 * allowed and only the redirect target (127.0.0.1) is refused; a positive control proves the first hop works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import { QuarryError } from '#core/lib/errors.ts';
import { isBlockedAddress } from '#engine/retriever/ssrf.ts';
import type { EngineDeps } from '#engine/retriever/types.ts';
import { seed, vectorSearch } from './fixtures.ts';

async function call(url: string, allowed: string[], extra: Partial<EngineDeps> = {}) {
  const s = await seed(extra);
  const def = normalizeDefinition({
    collection_identifiers: ['products'],
    stages: [vectorSearch([1, 0, 0, 0]), { stage_name: 'one', config: { stage_id: 'limit', parameters: { limit: 1 } } }, { stage_name: 'call', config: { stage_id: 'api_call', parameters: { url, allowed_domains: allowed, output_field: 'metadata.api', on_error: 'raise', timeout: 2 } } }],
  });
  return s.engine.execute(def, {});
}

const refused = (e: unknown) => e instanceof QuarryError && e.type === 'ForbiddenError' && /refused/.test(e.message);

test('api_call refuses 127.0.0.1', async () => {
  await assert.rejects(call('http://127.0.0.1:9/x', ['127.0.0.1']), refused);
});

test('api_call refuses private 10.x addresses', async () => {
  await assert.rejects(call('http://10.1.2.3/x', ['10.1.2.3']), refused);
});

test('api_call refuses the metadata address 169.254.169.254', async () => {
  await assert.rejects(call('http://169.254.169.254/latest/meta-data/', ['169.254.169.254']), refused);
  assert.equal(isBlockedAddress('::ffff:169.254.169.254'), true);
  assert.equal(isBlockedAddress('fd00:ec2::254'), true);
  assert.equal(isBlockedAddress('8.8.8.8'), false);
});

test('api_call refuses a name resolving to loopback (localhost)', async () => {
  await assert.rejects(call('http://localhost:9/x', ['localhost']), (e: unknown) => refused(e) && /resolves to/.test((e as Error).message));
});

test('api_call refuses hosts outside allowed_domains and the * wildcard', async () => {
  await assert.rejects(call('http://example.com/x', ['example.org']), (e: unknown) => refused(e) && /allowed_domains/.test((e as Error).message));
  await assert.rejects(call('http://example.com/x', ['*']), (e: unknown) => e instanceof QuarryError && e.status === 400);
});

test('api_call refuses a redirect to loopback', async () => {
  const target = http.createServer((_req, res) => res.end('{"secret": true}'));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const targetPort = (target.address() as AddressInfo).port;
  const server = http.createServer((req, res) => {
    if (req.url === '/ok') {
      res.setHeader('content-type', 'application/json');
      res.end('{"fine": 1}');
      return;
    }
    res.writeHead(302, { location: `http://127.0.0.1:${targetPort}/` });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
  const port = (server.address() as AddressInfo).port;
  const deps: Partial<EngineDeps> = { ssrfAllowCidrs: ['127.0.0.2/32'], lookup: async () => [{ address: '127.0.0.2', family: 4 }] };
  try {
    const ok = await call(`http://redirector.test:${port}/ok`, ['redirector.test', '127.0.0.1'], deps);
    assert.deepEqual((ok.body.documents as Record<string, Record<string, unknown>>[])[0]!.metadata!.api, { fine: 1 }, 'the allowed first hop works');
    await assert.rejects(call(`http://redirector.test:${port}/go`, ['redirector.test', '127.0.0.1'], deps), (e: unknown) => refused(e) && /127\.0\.0\.1/.test((e as Error).message));
  } finally {
    server.close();
    target.close();
  }
});

test('api_call rate_limit: requests beyond requests_per_minute to a host are refused', async () => {
  const { rateLimited } = await import('#engine/retriever/stages/apply/api_call.ts');
  const t = 1_000_000;
  assert.equal(rateLimited('rl.test', { requests_per_minute: 2 }, t), undefined);
  assert.equal(rateLimited('rl.test', { requests_per_minute: 2 }, t + 1), undefined);
  assert.match(String(rateLimited('rl.test', { requests_per_minute: 2 }, t + 2)), /2 requests per minute/);
  assert.equal(rateLimited('rl.test', { requests_per_minute: 2 }, t + 61_000), undefined, 'the window slides');
});

/** IPv6 spellings that carry an IPv4 address (issue 14 item 15): judged by the embedded address. */
const EMBEDDED_LOOPBACK = ['::ffff:7f00:1', '::ffff:127.0.0.1', '::127.0.0.1', '::7f00:1', '::ffff:0:7f00:1', '2002:7f00:1::1', '2001:0:808:808:0:0:80ff:fffe', '2001:0:7f00:1::f7f7:f7f7'];

test('IPv6 addresses embedding an IPv4 address are judged by it: mapped, compatible, translated, 6to4, Teredo', () => {
  for (const a of EMBEDDED_LOOPBACK) assert.equal(isBlockedAddress(a), true, `${a} embeds 127.0.0.1`);
  for (const a of ['::ffff:a9fe:a9fe', '::169.254.169.254', '2002:a9fe:a9fe::', '2002:0a00:0001::1', '2001:0:808:808::5601:5601']) {
    assert.equal(isBlockedAddress(a), true, `${a} embeds a link-local, metadata or private address`);
  }
  // The metadata endpoint stays refused inside a 6to4 address even when an allow-list opens link-local.
  assert.equal(isBlockedAddress('2002:a9fe:a9fe::', { allowCidrs: ['169.254.0.0/16'] }), true);
  // Positive controls: the same forms around a public address pass, and an allow-listed inner address passes.
  for (const a of ['::ffff:808:808', '::8.8.8.8', '2002:808:808::1', '2001:0:808:808::f7f7:f7f7']) assert.equal(isBlockedAddress(a), false, `${a} embeds 8.8.8.8`);
  assert.equal(isBlockedAddress('2002:7f00:1::1', { allowCidrs: ['127.0.0.0/8'] }), false);
  // Other non-global ranges ipaddr.js classifies: 6to4 relay anycast, benchmarking, ORCHID, NAT64, documentation.
  for (const a of ['192.88.99.1', '2001:2::1', '2001:20::1', '64:ff9b::808:808', '2001:db8::1', '0x7f.1', '255.255.255.255']) assert.equal(isBlockedAddress(a), true, a);
});

test('api_call refuses a host resolving to an IPv6 spelling of loopback (a real server listens there)', async () => {
  const server = http.createServer((_req, res) => res.end('{"secret": true}'));
  await new Promise<void>((r) => server.listen(0, '::', r)); // dual-stack: ::ffff:127.0.0.1 reaches it
  const port = (server.address() as AddressInfo).port;
  try {
    for (const address of EMBEDDED_LOOPBACK) {
      const deps: Partial<EngineDeps> = { lookup: async () => [{ address, family: 6 }] };
      await assert.rejects(call(`http://sneaky.test:${port}/`, ['sneaky.test'], deps), (e: unknown) => refused(e) && (e as Error).message.includes(address), address);
    }
  } finally {
    server.close();
  }
});
