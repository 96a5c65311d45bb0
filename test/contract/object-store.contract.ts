/**
 * The ObjectStore contract: every adapter (S3 on MinIO, local disk) runs this one suite.
 * `open()` returns a store; presigned URLs are exercised with fetch, so the local runner serves them.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { ObjectStore } from '#core/ports/object-store.ts';

export interface ObjectStoreBackend {
  open(): Promise<ObjectStore>;
  /** Extra assertions on a 12 MiB upload of unknown length (e.g. that S3 stored it in several parts). */
  checkLargeUpload?(info: { etag?: string }): void;
}

const MiB = 1024 * 1024;

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/** `total` bytes of deterministic pseudo-random data in 256 KiB chunks, with no length known up front. */
function unknownLengthStream(total: number, hash: ReturnType<typeof createHash>): Readable {
  let sent = 0;
  let n = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const size = Math.min(256 * 1024, total - sent);
      const chunk = createHash('sha256').update(String(n++)).digest();
      const buf = Buffer.alloc(size);
      for (let i = 0; i < size; i += chunk.length) chunk.copy(buf, i);
      hash.update(buf);
      sent += size;
      this.push(buf);
    },
  });
}

const isNotFound = (e: unknown) => (e as { status?: number; type?: string }).status === 404 && (e as { type?: string }).type === 'NotFoundError';

export function objectStoreContract(name: string, backend: ObjectStoreBackend): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    const bucket = `quarry-ct-${randomBytes(4).toString('hex')}`;
    before(async () => {
      store = await backend.open();
      await store.ensureBucket(bucket);
    });
    after(async () => {
      await store.deleteBucket(bucket, { force: true });
      await store.close();
    });

    it('ensures, finds and deletes buckets', async () => {
      const b = `quarry-ct-${randomBytes(4).toString('hex')}`;
      assert.equal(await store.bucketExists(b), false);
      await store.ensureBucket(b);
      await store.ensureBucket(b); // idempotent
      assert.equal(await store.bucketExists(b), true);
      await store.put(b, 'x/1', Buffer.from('one'));
      await assert.rejects(store.deleteBucket(b), 'a bucket with objects is not deleted without force');
      assert.equal(await store.bucketExists(b), true);
      await store.deleteBucket(b, { force: true });
      assert.equal(await store.bucketExists(b), false);
      await store.deleteBucket(b); // deleting a missing bucket is fine
      await assert.rejects(store.get(b, 'x/1'), isNotFound);
      await assert.rejects(store.put(b, 'x/2', Buffer.from('two')), isNotFound);
      await assert.rejects(store.list(b), isNotFound);
    });

    it('puts and gets bytes with content type and metadata round trip', async () => {
      const body = Buffer.from('{"hello":"world"}');
      const put = await store.put(bucket, 'docs/a.json', body, { contentType: 'application/json', metadata: { source: 'unit', 'Doc-Id': 'd1' } });
      assert.equal(put.key, 'docs/a.json');
      assert.equal(put.size, body.length);
      assert.ok(put.etag);
      const head = await store.head(bucket, 'docs/a.json');
      assert.equal(head?.size, body.length);
      assert.equal(head?.contentType, 'application/json');
      assert.deepEqual(head?.metadata, { source: 'unit', 'doc-id': 'd1' }, 'metadata keys are lowercased, as S3 stores them');
      assert.equal(head?.etag, put.etag);
      assert.ok(head?.lastModified instanceof Date && Math.abs(head.lastModified.getTime() - Date.now()) < 60_000);
      const got = await store.get(bucket, 'docs/a.json');
      assert.deepEqual(await readAll(got.body), body);
      assert.equal(got.info.contentType, 'application/json');
      assert.deepEqual(got.info.metadata, { source: 'unit', 'doc-id': 'd1' });
      assert.equal(got.info.size, body.length);
    });

    it('overwrites an object with a new body and new metadata', async () => {
      await store.put(bucket, 'ow', Buffer.from('first'), { metadata: { v: '1' } });
      await store.put(bucket, 'ow', new Uint8Array(Buffer.from('second!')), { metadata: { v: '2' } });
      const got = await store.get(bucket, 'ow');
      assert.equal((await readAll(got.body)).toString(), 'second!');
      assert.deepEqual(got.info.metadata, { v: '2' });
    });

    it('a missing key is a clear not-found error on get, undefined on head, and a no-op on delete', async () => {
      await assert.rejects(store.get(bucket, 'nope/missing.bin'), (e: Error) => isNotFound(e) && /missing\.bin/.test(e.message));
      assert.equal(await store.head(bucket, 'nope/missing.bin'), undefined);
      await store.delete(bucket, 'nope/missing.bin');
    });

    it('lists by prefix in key order, page by page with continuation tokens', async () => {
      const keys = Array.from({ length: 23 }, (_, i) => `list/p/${String(i).padStart(2, '0')}.txt`);
      await Promise.all(keys.map((k) => store.put(bucket, k, Buffer.from(k))));
      await store.put(bucket, 'list/q/other.txt', Buffer.from('x'));
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await store.list(bucket, { prefix: 'list/p/', maxKeys: 10, ...(token ? { token } : {}) });
        pages++;
        assert.ok(page.objects.length <= 10);
        for (const o of page.objects) {
          seen.push(o.key);
          assert.equal(o.size, Buffer.byteLength(o.key));
        }
        token = page.nextToken;
      } while (token);
      assert.equal(pages, 3);
      assert.deepEqual(seen, keys);
      const all = await store.list(bucket, { prefix: 'list/' });
      assert.equal(all.objects.length, 24);
      assert.equal(all.nextToken, undefined);
      assert.deepEqual((await store.list(bucket, { prefix: 'list/zzz' })).objects, []);
    });

    it('deletes one object and everything under a prefix', async () => {
      await Promise.all(['del/a/1', 'del/a/2', 'del/a/3/x', 'del/b/1'].map((k) => store.put(bucket, k, Buffer.from('v'))));
      await store.delete(bucket, 'del/b/1');
      assert.equal(await store.head(bucket, 'del/b/1'), undefined);
      assert.equal(await store.deletePrefix(bucket, 'del/a/'), 3);
      assert.deepEqual((await store.list(bucket, { prefix: 'del/' })).objects, []);
      assert.equal(await store.deletePrefix(bucket, 'del/'), 0);
    });

    it('uploads a 12 MiB stream of unknown length and reads back the same bytes', async () => {
      const sent = createHash('sha256');
      const info = await store.put(bucket, 'big/stream.bin', unknownLengthStream(12 * MiB, sent), { contentType: 'application/octet-stream' });
      assert.equal(info.size, 12 * MiB);
      backend.checkLargeUpload?.(info);
      const got = await store.get(bucket, 'big/stream.bin');
      assert.equal(got.info.size, 12 * MiB);
      const back = createHash('sha256');
      for await (const c of got.body) back.update(c as Buffer);
      assert.equal(back.digest('hex'), sent.digest('hex'));
    });

    it('streams of known length upload too', async () => {
      const data = randomBytes(300 * 1024);
      const info = await store.put(bucket, 'known/len.bin', Readable.from([data.subarray(0, 1000), data.subarray(1000)]), { contentLength: data.length });
      assert.equal(info.size, data.length);
      assert.deepEqual(await readAll((await store.get(bucket, 'known/len.bin')).body), data);
    });

    it('presigned PUT then presigned GET work with plain fetch; a tampered URL is refused', async () => {
      const key = 'presigned/photo 1.png';
      const body = randomBytes(4096);
      const putUrl = await store.presignPut(bucket, key, { expiresInSeconds: 300, contentType: 'image/png' });
      const wrongType = await fetch(putUrl, { method: 'PUT', body, headers: { 'content-type': 'text/html' } });
      assert.equal(wrongType.status, 403, 'the signed content type is enforced');
      await wrongType.arrayBuffer();
      assert.equal(await store.head(bucket, key), undefined);
      const put = await fetch(putUrl, { method: 'PUT', body, headers: { 'content-type': 'image/png' } });
      assert.equal(put.status, 200, await put.text());
      const head = await store.head(bucket, key);
      assert.equal(head?.size, body.length);
      assert.equal(head?.contentType, 'image/png');

      const getUrl = await store.presignGet(bucket, key, 300);
      const res = await fetch(getUrl);
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), body);

      await store.put(bucket, 'presigned/other.png', Buffer.from('secret'));
      const tampered = getUrl.replace('photo%201.png', 'other.png');
      assert.notEqual(tampered, getUrl);
      const bad = await fetch(tampered);
      assert.equal(bad.status, 403);
      await bad.arrayBuffer();
      const wrongMethod = await fetch(getUrl, { method: 'PUT', body: 'overwrite' });
      assert.equal(wrongMethod.status, 403);
      await wrongMethod.arrayBuffer();
      assert.deepEqual(await readAll((await store.get(bucket, key)).body), body);
    });

    it('an expired presigned URL is refused', async () => {
      await store.put(bucket, 'presigned/exp.txt', Buffer.from('x'));
      const url = await store.presignGet(bucket, 'presigned/exp.txt', 1);
      await new Promise((r) => setTimeout(r, 2100));
      const res = await fetch(url);
      assert.equal(res.status, 403);
      await res.arrayBuffer();
    });

    it('keys with spaces, unicode and dots round trip through list and get', async () => {
      const keys = ['odd/.hidden', 'odd/a b/ç.txt', 'odd/~tilde', `odd/${'long-segment/'.repeat(20)}end`];
      for (const k of keys) await store.put(bucket, k, Buffer.from(k));
      const listed = (await store.list(bucket, { prefix: 'odd/' })).objects.map((o) => o.key);
      assert.deepEqual([...listed].sort(), [...keys].sort());
      for (const k of keys) assert.equal((await readAll((await store.get(bucket, k)).body)).toString(), k);
    });
  });
}
