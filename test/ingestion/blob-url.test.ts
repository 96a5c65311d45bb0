/**
 * Blobs by URL through the engine app (POST /v1/buckets/{bucket}/objects with `data: "http://…"`), against a local
 * HTTP server: refused by default (loopback is private), fetched when QUARRY_FETCH_ALLOW_PRIVATE=true, and every
 * failure (HTTP error, too large, timeout) a 4xx naming the blob and the reason, with nothing left in storage.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { constantModels } from './constant-models.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { MemoryJobQueue } from '#engine/queue/memory.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { NamespaceIngestion } from '#engine/ingestion/pipeline.ts';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { notFound } from '#core/lib/errors.ts';

const models = constantModels;

describe('blobs by URL', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-blob-url-'));
  const PREFIX = '/v1/_objects';
  const objects = new LocalObjectStore({ root: path.join(dir, 'o'), baseUrl: `http://localhost${PREFIX}`, presignSecret: 'test-secret' });
  const queue = new MemoryJobQueue();
  const vectors = new ExactVectorStore();
  const ns = new NamespaceIngestion({ queue, objects, vectors, models }, {
    key: { k8sNamespace: 'default', name: 'web' },
    collections: async () => [],
    storageBucket: async (b) => {
      if (b !== 'files') throw notFound('bucket', b);
      return 'web-store';
    },
  });
  const LIMIT = 64 * 1024;
  let app: FastifyInstance;
  let server: http.Server;
  let base = '';
  let png: Buffer;
  const H = { 'x-namespace': 'web' };
  const saved = { allow: process.env.QUARRY_FETCH_ALLOW_PRIVATE, timeout: process.env.QUARRY_FETCH_TIMEOUT_SECONDS };

  before(async () => {
    png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#336699' } }).png().toBuffer();
    server = http.createServer((req, res) => {
      switch (req.url) {
        case '/notes/hello.txt':
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('hello from a URL');
          return;
        case '/img':
          // No useful content type: the type comes from sniffing the bytes.
          res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(png);
          return;
        case '/moved':
          res.writeHead(302, { location: '/notes/hello.txt' }).end();
          return;
        case '/big-declared':
          res.writeHead(200, { 'content-length': String(LIMIT * 2) }).end(Buffer.alloc(LIMIT * 2, 1));
          return;
        case '/big-chunked':
          // No content-length: the cap has to stop the stream itself.
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          for (let i = 0; i < 8; i++) res.write(Buffer.alloc(LIMIT / 4, 2));
          res.end();
          return;
        case '/slow':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first bytes, then nothing');
          return; // never ends
        default:
          res.writeHead(404).end('no such thing');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await objects.ensureBucket('web-store');
    await ns.init();
    app = await buildEngineApp({ objects, namespace: async (n) => (n === 'web' ? ns : Promise.reject(notFound('namespace', n))), maxUploadBytes: LIMIT, localPresignPrefix: PREFIX });
  });
  after(async () => {
    process.env.QUARRY_FETCH_ALLOW_PRIVATE = saved.allow;
    process.env.QUARRY_FETCH_TIMEOUT_SECONDS = saved.timeout;
    if (saved.allow === undefined) delete process.env.QUARRY_FETCH_ALLOW_PRIVATE;
    if (saved.timeout === undefined) delete process.env.QUARRY_FETCH_TIMEOUT_SECONDS;
    await app.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const create = (data: string, type = 'text') => app.inject({ method: 'POST', url: '/v1/buckets/files/objects', headers: H, payload: { blobs: [{ property: 'content', type, data }] } });
  const stored = async () => (await objects.list('web-store')).objects.map((o) => o.key);
  const fails = (res: { statusCode: number; json(): unknown }, status: number, message: RegExp) => {
    assert.equal(res.statusCode, status);
    const body = res.json() as { success: boolean; error: { message: string; details?: { field?: string } } };
    assert.equal(body.success, false);
    assert.match(body.error.message, message);
    assert.equal(body.error.details?.field, 'body.blobs[0].data');
  };

  test('a loopback URL is refused by default, naming the blob and the switch that allows it', async () => {
    delete process.env.QUARRY_FETCH_ALLOW_PRIVATE;
    const res = await create(`${base}/notes/hello.txt`);
    fails(res, 403, /^body\.blobs\[0\]\.data: could not fetch http:\/\/127\.0\.0\.1:\d+\/notes\/hello\.txt: address 127\.0\.0\.1 is loopback.*QUARRY_FETCH_ALLOW_PRIVATE=true/);
    const named = await create('http://localhost:9/x');
    fails(named, 403, /host 'localhost' resolves to (127\.0\.0\.1|::1)/);
    assert.deepEqual(await stored(), []);
  });

  test('with private addresses allowed: text and image URLs are fetched into storage, types sniffed, redirects followed', async () => {
    process.env.QUARRY_FETCH_ALLOW_PRIVATE = 'true';
    const text = await create(`${base}/moved`);
    assert.equal(text.statusCode, 200, text.body);
    const obj = text.json();
    assert.equal(obj.blobs[0].content_type, 'text/plain; charset=utf-8');
    assert.equal(obj.blobs[0].size_bytes, 16);
    assert.equal(obj.blobs[0].filename, 'hello.txt');
    assert.equal(obj.blobs[0].source_url, `${base}/moved`);
    const got = await app.inject({ method: 'GET', url: `/v1/buckets/files/objects/${obj.object_id}?return_url=true`, headers: H });
    const url = new URL(got.json().blobs[0].presigned_url);
    assert.equal((await app.inject({ method: 'GET', url: url.pathname + url.search })).body, 'hello from a URL');

    const image = await create(`${base}/img`, 'auto');
    assert.equal(image.statusCode, 200, image.body);
    assert.equal(image.json().blobs[0].type, 'image');
    assert.equal(image.json().blobs[0].content_type, 'image/png');
    assert.equal(image.json().blobs[0].size_bytes, png.length);

    // Allowing private addresses never opens the cloud metadata endpoint.
    fails(await create('http://169.254.169.254/latest/meta-data/'), 403, /could not fetch http:\/\/169\.254\.169\.254\/latest\/meta-data\/: address 169\.254\.169\.254/);
  });

  test('HTTP errors, bodies over the limit and stalled transfers are 400s naming the blob; nothing is left stored', async () => {
    process.env.QUARRY_FETCH_ALLOW_PRIVATE = 'true';
    process.env.QUARRY_FETCH_TIMEOUT_SECONDS = '1';
    const before = (await stored()).length;
    fails(await create(`${base}/missing`, 'image'), 400, /could not fetch .*\/missing: the server answered HTTP 404/);
    fails(await create(`${base}/big-declared`, 'image'), 400, new RegExp(`${LIMIT * 2} bytes exceeds the ${LIMIT}-byte limit`));
    fails(await create(`${base}/big-chunked`, 'image'), 400, new RegExp(`the body exceeds the ${LIMIT}-byte limit`));
    fails(await create(`${base}/slow`), 400, /could not fetch .*\/slow: timed out after 1000 ms/);
    fails(await create('http://127.0.0.1:1/closed'), 400, /could not fetch .*: ECONNREFUSED/);
    assert.deepEqual((await stored()).length, before);
  });
});
