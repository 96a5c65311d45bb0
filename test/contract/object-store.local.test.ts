/** The ObjectStore contract on local disk, with its presigned URLs served over loopback HTTP. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { handlePresignedRequest } from '#engine/objects/local-http.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { objectStoreContract } from './object-store.contract.ts';

const root = mkdtempSync(path.join(tmpdir(), 'quarry-objects-'));
let server: Server;
let baseUrl = '';
const stores: LocalObjectStore[] = [];

before(async () => {
  server = createServer((req, res) => {
    const store = stores[0];
    if (!store) return void res.writeHead(503).end();
    void handlePresignedRequest(store, req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  baseUrl = `http://127.0.0.1:${port}/v1/objects`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

objectStoreContract('local disk', {
  open: async () => {
    const s = new LocalObjectStore({ root, baseUrl, presignSecret: 'test-secret' });
    stores.unshift(s);
    return s;
  },
});

describe('LocalObjectStore specifics', () => {
  it('leaves no temp file behind when a streamed upload fails, and keeps the previous object', async () => {
    const store = new LocalObjectStore({ root });
    await store.ensureBucket('atomic');
    await store.put('atomic', 'k', Buffer.from('old'));
    const { Readable } = await import('node:stream');
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024));
        this.destroy(new Error('client went away'));
      },
    });
    await assert.rejects(store.put('atomic', 'k', failing), /client went away/);
    assert.deepEqual(readdirSync(path.join(root, 'atomic', 'tmp')), []);
    const chunks: Buffer[] = [];
    for await (const c of (await store.get('atomic', 'k')).body) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'old');
  });

  it('counts bytes, not characters, of a stream of strings', async () => {
    const store = new LocalObjectStore({ root });
    await store.ensureBucket('strings');
    const { Readable } = await import('node:stream');
    const info = await store.put('strings', 'k', Readable.from(['héllo ', 'wörld']));
    assert.equal(info.size, Buffer.byteLength('héllo wörld'));
    assert.equal((await store.head('strings', 'k'))?.size, info.size);
  });

  it('verifyPresigned returns what a URL grants and refuses other secrets, paths outside the base and bad names', async () => {
    const a = new LocalObjectStore({ root, baseUrl: 'http://h:1/objs', presignSecret: 'one' });
    const b = new LocalObjectStore({ root, baseUrl: 'http://h:1/objs', presignSecret: 'two' });
    const url = await a.presignPut('bkt', 'a/b c.txt', { contentType: 'text/plain', expiresInSeconds: 60 });
    const t = a.verifyPresigned(url, 'PUT');
    assert.deepEqual({ ...t, expiresAt: undefined }, { method: 'PUT', bucket: 'bkt', key: 'a/b c.txt', contentType: 'text/plain', expiresAt: undefined });
    const u = new URL(url);
    assert.deepEqual(a.verifyPresigned(u.pathname + u.search, 'PUT').key, 'a/b c.txt', 'a server-side path + query verifies too');
    assert.throws(() => b.verifyPresigned(url, 'PUT'), (e: Error & { status?: number }) => e.status === 403);
    assert.throws(() => a.verifyPresigned(url.replace('/objs/', '/other/'), 'PUT'), /not under/);
    await assert.rejects(a.presignGet('../etc', 'passwd'), /invalid bucket name/);
  });
});
