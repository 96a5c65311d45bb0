/**
 * The Qdrant adapter's HTTP edge (issue 24 item 4): how it maps what comes back from the other end of QDRANT_URL.
 * A small HTTP server stands in for the far end, answering exactly as the cases need (a Qdrant refusing the API key,
 * a Qdrant saying a collection does not exist, and something that is not Qdrant at all), and records what the
 * adapter asks for (item 7's transport). The schema-cache refresh across processes (item 1), the client-side filter
 * bound and the response encoding need a real Qdrant and run when QDRANT_URL is set.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { QdrantVectorStore } from '#engine/vector/qdrant/qdrant-store.ts';

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))));

/** A far end answering every request with `status` and `body` (JSON unless a string); its base URL. */
async function farEnd(status: number, body: unknown): Promise<string> {
  const server = createServer((_req, res) => {
    if (typeof body === 'string') res.writeHead(status, { 'content-type': 'text/html' }).end(body);
    else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function failure(url: string): Promise<QuarryError> {
  const store = new QdrantVectorStore({ url, timeoutMs: 5000 });
  try {
    await store.count('missing');
  } catch (e) {
    assert.ok(e instanceof QuarryError, `a QuarryError, got ${String(e)}`);
    return e;
  } finally {
    await store.close();
  }
  assert.fail('the call succeeded');
}

test('Qdrant rejecting the API key (401, 403) is a 500 StorageError naming QDRANT_API_KEY, not a 400', async () => {
  for (const [status, error] of [[401, 'Must provide an API key or an Authorization bearer token'], [403, 'Forbidden']] as const) {
    const e = await failure(await farEnd(status, { status: { error }, time: 0 }));
    assert.equal(e.status, 500, `${status}: ${e.status} ${e.message}`);
    assert.equal(e.type, 'StorageError');
    assert.match(e.message, /QDRANT_API_KEY/);
  }
});

test("Qdrant's own 'collection not found' is a 404 NotFoundError", async () => {
  const e = await failure(await farEnd(404, { status: { error: "Not found: Collection `missing` doesn't exist!" }, time: 0 }));
  assert.equal(e.status, 404);
  assert.equal(e.type, 'NotFoundError');
});

test('a 404 from something that is not Qdrant (a wrong QDRANT_URL) is a 500 naming QDRANT_URL, not "collection not found"', async () => {
  const e = await failure(await farEnd(404, '<html><body>Not Found</body></html>'));
  assert.equal(e.status, 500, `${e.status} ${e.message}`);
  assert.match(e.message, /QDRANT_URL/);
});

const url = process.env.QDRANT_URL;
test('schema changed by another process: upserts and searches use the fresh schema (needs QDRANT_URL)', async (t) => {
  if (!url) {
    t.diagnostic('QDRANT_URL is not set: the cross-process schema refresh was not run against a real Qdrant');
    assert.equal(process.env.QDRANT_URL, undefined);
    return;
  }
  const collectionPrefix = `quarry_cache_${randomBytes(3).toString('hex')}_`;
  const opts = { url, collectionPrefix, ...(process.env.QDRANT_API_KEY ? { apiKey: process.env.QDRANT_API_KEY } : {}) };
  const engine = new QdrantVectorStore(opts);
  const operator = new QdrantVectorStore(opts);
  try {
    await operator.ensureCollection({ name: 'c', vectors: [{ name: 'a', size: 2, distance: 'cosine' }] });
    await engine.upsert('c', [{ id: 'p1', vectors: { a: [1, 0] }, payload: {} }]); // the engine caches the schema
    await operator.ensureCollection({ name: 'c', vectors: [{ name: 'a', size: 2, distance: 'cosine' }, { name: 'b', size: 3, distance: 'cosine' }] });
    await engine.upsert('c', [{ id: 'p2', vectors: { a: [0, 1], b: [1, 2, 3] }, payload: {} }]);
    assert.deepEqual((await engine.search('c', { using: 'b', vector: [1, 2, 3], limit: 3 })).map((h) => h.id), ['p2']);
    await operator.dropCollection('c');
    await operator.ensureCollection({ name: 'c', vectors: [{ name: 'a', size: 4, distance: 'cosine' }] });
    await engine.upsert('c', [{ id: 'p3', vectors: { a: [1, 0, 0, 0] }, payload: {} }]);
    assert.equal(await engine.count('c'), 1);
  } finally {
    await operator.dropCollection('c').catch(() => undefined);
  }
});

test('a filter Qdrant cannot run is checked here on a bounded number of points, else a 400 saying how to narrow it (needs QDRANT_URL)', async (t) => {
  if (!url) {
    t.diagnostic('QDRANT_URL is not set: the client-side filter bound was not run against a real Qdrant');
    assert.equal(process.env.QDRANT_URL, undefined);
    return;
  }
  const collectionPrefix = `quarry_bound_${randomBytes(3).toString('hex')}_`;
  const store = new QdrantVectorStore({ url, collectionPrefix, maxClientFilterScan: 10, ...(process.env.QDRANT_API_KEY ? { apiKey: process.env.QDRANT_API_KEY } : {}) });
  try {
    await store.ensureCollection({ name: 'c', vectors: [{ name: 'v', size: 2, distance: 'cosine' }], payloadIndexes: [{ field: 'g', type: 'keyword' }] });
    await store.upsert('c', Array.from({ length: 20 }, (_, i) => ({ id: `p${i}`, vectors: { v: [1, i] }, payload: { g: i < 5 ? 'small' : 'big', title: `clip ${i}` } })));
    const contains = { field: 'title', operator: 'contains' as const, value: 'clip 1' };
    await assert.rejects(store.count('c', contains), (e: unknown) => e instanceof QuarryError && e.status === 400 && /more than 10 points/.test(e.message));
    assert.equal(await store.count('c', { AND: [{ field: 'g', value: 'small' }, contains] }), 1, 'narrowed by an indexed condition: answered');
  } finally {
    await store.dropCollection('c').catch(() => undefined);
  }
});

/**
 * Transport (item 7): Node's fetch asks for gzip by default, and Qdrant then streams a compressed answer in two
 * writes (headers, then body) whose second waits on the client's delayed ACK under Nagle: 44 ms per search on
 * loopback instead of 1.5. The adapter asks for uncompressed answers on every request.
 */
test('every request asks for an uncompressed answer (accept-encoding: identity)', async () => {
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers['accept-encoding']);
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ status: { error: "Not found: Collection `missing` doesn't exist!" }, time: 0 }));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await failure(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  assert.ok(seen.length > 0, 'the adapter called the far end');
  assert.deepEqual([...new Set(seen)], ['identity']);
});

test('Qdrant answers the adapter uncompressed (needs QDRANT_URL)', async (t) => {
  if (!url) {
    t.diagnostic('QDRANT_URL is not set: the response encoding was not checked against a real Qdrant');
    assert.equal(process.env.QDRANT_URL, undefined);
    return;
  }
  // A recording proxy in front of the real server: what Qdrant sends back to the adapter, headers included.
  const target = new URL(url);
  const responses: string[] = [];
  const proxy = createNetServer((client) => {
    const upstream = connect(Number(target.port || 80), target.hostname);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => responses.push(chunk.toString('latin1')));
    upstream.pipe(client);
    const end = () => (client.destroy(), upstream.destroy());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const collectionPrefix = `quarry_enc_${randomBytes(3).toString('hex')}_`;
  const store = new QdrantVectorStore({ url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, collectionPrefix, ...(process.env.QDRANT_API_KEY ? { apiKey: process.env.QDRANT_API_KEY } : {}) });
  try {
    await store.ensureCollection({ name: 'c', vectors: [{ name: 'v', size: 8, distance: 'cosine' }] });
    await store.upsert('c', Array.from({ length: 50 }, (_, i) => ({ id: `p${i}`, vectors: { v: Array.from({ length: 8 }, (_, j) => Math.sin(i + j)) }, payload: { text: 'x'.repeat(200) } })));
    for (let i = 0; i < 5; i++) assert.equal((await store.search('c', { using: 'v', vector: [1, 2, 3, 4, 5, 6, 7, 8], limit: 20, withPayload: true })).length, 20);
    const heads = responses.join('').split(/(?=HTTP\/1\.1 )/).filter((r) => r.startsWith('HTTP/1.1'));
    assert.ok(heads.length >= 7, `${heads.length} responses seen`);
    for (const h of heads) assert.doesNotMatch(h.slice(0, h.indexOf('\r\n\r\n')), /content-encoding/i);
  } finally {
    await store.dropCollection('c').catch(() => undefined);
    await new Promise<void>((r) => proxy.close(() => r()));
  }
});
