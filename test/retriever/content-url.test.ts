/**
 * feature_search content queries by URL: the fetch goes through the SSRF guard api_call uses. A URL on a local
 * test server is refused by default (loopback) with a 403 in the documented error shape; with private addresses
 * permitted (QUARRY_FETCH_ALLOW_PRIVATE's ranges) the same URL is fetched and ranks exactly as the same content
 * sent inline. Redirects to blocked addresses, other schemes, the size cap and the metadata endpoint stay refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '#engine/http/app.ts';
import { QuarryError } from '#core/lib/errors.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import { PRIVATE_CIDRS, isBlockedAddress, ssrfAllowCidrsFromEnv } from '#engine/retriever/ssrf.ts';
import type { EngineDeps } from '#engine/retriever/types.ts';
import { DIMS, URI, fakeModels, seed } from './fixtures.ts';

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('pretend image pixels: red fox')]);

/** Image "embedding" derived from the bytes, so different content gives different rankings. */
function bytesVector(b: Buffer): Float32Array {
  const h = createHash('sha256').update(b).digest();
  return Float32Array.from({ length: DIMS }, (_, i) => h[i]! / 255);
}

async function serve(host = '127.0.0.1', handler?: http.RequestListener) {
  const server = http.createServer(
    handler ??
      ((req, res) => {
        if (req.url === '/query.txt') {
          res.setHeader('content-type', 'text/plain; charset=utf-8');
          res.end('wireless headphones');
        } else if (req.url === '/fox.png') {
          res.setHeader('content-type', 'image/png');
          res.end(PNG);
        } else if (req.url === '/big') {
          res.setHeader('content-type', 'text/plain');
          res.end('x'.repeat(5000));
        } else {
          res.statusCode = 404;
          res.end();
        }
      }),
  );
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, base: `http://${host}:${(server.address() as AddressInfo).port}` };
}

const contentSearch = (value: string) =>
  normalizeDefinition({
    collection_identifiers: ['products'],
    stages: [{ stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'content', value }, top_k: 10 }], final_top_k: 6, cache_behavior: 'disabled' } } }],
    cache_config: { enabled: false },
  });

const ranking = (body: Record<string, unknown>) => (body.documents as { document_id: string; score: number }[]).map((d) => [d.document_id, Math.round(d.score * 1e6)]);

async function engineWith(extra: Partial<EngineDeps>) {
  const models = fakeModels();
  models.embedImage = async (_m, imgs) => imgs.map(bytesVector);
  return (await seed({ models, ...extra })).engine;
}

test('content URL on loopback is refused by default with a 403 naming the address and the setting', async () => {
  const { server, base } = await serve();
  try {
    const engine = await engineWith({ ssrfAllowCidrs: [] });
    await assert.rejects(engine.execute(contentSearch(`${base}/query.txt`), {}), (e: unknown) => {
      assert.ok(e instanceof QuarryError);
      assert.equal(e.status, 403);
      assert.match(e.message, /127\.0\.0\.1 is loopback/);
      assert.match(e.message, /QUARRY_FETCH_ALLOW_PRIVATE/);
      assert.match(e.message, /searches\[0\]\.query/);
      return true;
    });
    // Over HTTP: the documented error shape, not a 5xx.
    const s = await seed({ ssrfAllowCidrs: [] });
    const app = await buildApp(s.deps);
    const r = await app.inject({
      method: 'POST',
      url: '/v1/retrievers/execute',
      payload: {
        collection_identifiers: ['products'],
        input_schema: { url: { type: 'string', required: true } },
        inputs: { url: `${base}/query.txt` },
        stages: [{ stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'content', value: '{{INPUT.url}}' } }] } } }],
      },
    });
    assert.equal(r.statusCode, 403);
    const body = r.json();
    assert.equal(body.success, false);
    assert.equal(body.error.type, 'ForbiddenError');
    assert.match(body.error.message, /loopback/);
    await app.close();
  } finally {
    server.close();
  }
});

test('with private addresses permitted, a content URL ranks exactly like the same content inline (text and image)', async () => {
  const { server, base } = await serve();
  let fetched = 0;
  server.on('request', () => fetched++);
  try {
    const engine = await engineWith({ ssrfAllowCidrs: ssrfAllowCidrsFromEnv({ QUARRY_FETCH_ALLOW_PRIVATE: 'true' }) });
    const byUrl = await engine.execute(contentSearch(`${base}/query.txt`), {});
    const inline = await engine.execute(contentSearch(`data:text/plain;base64,${Buffer.from('wireless headphones').toString('base64')}`), {});
    assert.equal(fetched, 1, 'the URL was fetched');
    assert.deepEqual(ranking(byUrl.body), ranking(inline.body));
    const asText = normalizeDefinition({
      collection_identifiers: ['products'],
      stages: [{ stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: 'wireless headphones' }, top_k: 10 }], final_top_k: 6 } } }],
      cache_config: { enabled: false },
    });
    assert.deepEqual(ranking(byUrl.body), ranking((await engine.execute(asText, {})).body), 'text/plain content is embedded as text');

    const imgUrl = await engine.execute(contentSearch(`${base}/fox.png`), {});
    const imgInline = await engine.execute(contentSearch(`data:image/png;base64,${PNG.toString('base64')}`), {});
    const imgRaw = await engine.execute(contentSearch(PNG.toString('base64')), {});
    assert.deepEqual(ranking(imgUrl.body), ranking(imgInline.body));
    assert.deepEqual(ranking(imgUrl.body), ranking(imgRaw.body));
    assert.notDeepEqual(ranking(imgUrl.body), ranking(byUrl.body), 'image and text content rank differently');

    // A 404 from the content URL is the caller's problem: 400 naming the status.
    await assert.rejects(engine.execute(contentSearch(`${base}/missing`), {}), (e: unknown) => e instanceof QuarryError && e.status === 400 && /HTTP 404/.test(e.message));
  } finally {
    server.close();
  }
});

test('content URLs: other schemes, s3, the size cap, redirects to blocked addresses and the metadata endpoint are refused', async () => {
  const { server, base } = await serve();
  const target = base;
  const redirector = await serve('127.0.0.2', (_req, res) => {
    res.writeHead(302, { location: `${target}/query.txt` });
    res.end();
  });
  try {
    // Only 127.0.0.2 is exempt: the redirect to 127.0.0.1 is checked again and refused.
    const engine = await engineWith({ ssrfAllowCidrs: ['127.0.0.2/32'], contentFetch: { maxBytes: 1000 } });
    await assert.rejects(engine.execute(contentSearch(`${redirector.base}/go`), {}), (e: unknown) => e instanceof QuarryError && e.status === 403 && /127\.0\.0\.1/.test(e.message));
    await assert.rejects(engine.execute(contentSearch('file:///etc/passwd'), {}), (e: unknown) => e instanceof QuarryError && e.status === 403 && /only http and https/.test(e.message));
    await assert.rejects(engine.execute(contentSearch('s3://bucket/key.png'), {}), (e: unknown) => e instanceof QuarryError && e.status === 400 && /s3:\/\//.test(e.message));
    await assert.rejects(engine.execute(contentSearch('http://169.254.169.254/latest/meta-data/'), {}), (e: unknown) => e instanceof QuarryError && e.status === 403);

    const open = await engineWith({ ssrfAllowCidrs: PRIVATE_CIDRS, contentFetch: { maxBytes: 1000 } });
    await assert.rejects(open.execute(contentSearch(`${base}/big`), {}), (e: unknown) => e instanceof QuarryError && e.status === 400 && /exceeds/.test(e.message));
    await assert.rejects(open.execute(contentSearch('not base64 !!'), {}), (e: unknown) => e instanceof QuarryError && e.status === 400);
    // Nothing listens there (the port of a closed server): a 400 naming the URL, not a 500.
    const closed = await serve();
    closed.server.close();
    await assert.rejects(open.execute(contentSearch(`${closed.base}/query.txt`), {}), (e: unknown) => e instanceof QuarryError && e.status === 400 && /could not fetch/.test(e.message));
    await assert.rejects(open.execute(contentSearch('data:application/pdf;base64,JVBERi0xLjQK'), {}), (e: unknown) => e instanceof QuarryError && e.status === 400 && /application\/pdf/.test(e.message));
  } finally {
    server.close();
    redirector.server.close();
  }
});

test('QUARRY_FETCH_ALLOW_PRIVATE opens loopback/private ranges but never link-local or metadata; QUARRY_FETCH_ALLOW_CIDRS is validated', () => {
  const cidrs = ssrfAllowCidrsFromEnv({ QUARRY_FETCH_ALLOW_PRIVATE: 'true' });
  assert.equal(isBlockedAddress('127.0.0.1', { allowCidrs: cidrs }), false);
  assert.equal(isBlockedAddress('192.168.1.10', { allowCidrs: cidrs }), false);
  assert.equal(isBlockedAddress('169.254.169.254', { allowCidrs: cidrs }), true);
  assert.equal(isBlockedAddress('fd00:1::5', { allowCidrs: cidrs }), false, 'ULA is opened by the private switch');
  assert.equal(isBlockedAddress('fd00:ec2::254', { allowCidrs: cidrs }), true, 'the metadata address inside ULA stays blocked');
  assert.equal(isBlockedAddress('169.254.169.254', { allowCidrs: ['0.0.0.0/0'] }), true, 'no allow-list opens a metadata endpoint');
  assert.deepEqual(ssrfAllowCidrsFromEnv({}), []);
  assert.deepEqual(ssrfAllowCidrsFromEnv({ QUARRY_FETCH_ALLOW_PRIVATE: 'false', QUARRY_FETCH_ALLOW_CIDRS: '10.1.0.0/16, fd00:1::/64' }), ['10.1.0.0/16', 'fd00:1::/64']);
  assert.throws(() => ssrfAllowCidrsFromEnv({ QUARRY_FETCH_ALLOW_CIDRS: 'intranet' }), (e: unknown) => e instanceof QuarryError && e.status === 400 && /QUARRY_FETCH_ALLOW_CIDRS/.test(e.message));
});
