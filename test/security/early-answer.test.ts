/**
 * An answer sent before the request body was read (a missing or wrong API key refused by the auth hook, an unknown
 * route, a part busboy gave up on) must reach a client that is still sending that body. The engine used to say
 * `Connection: close` and Node closed the socket as soon as the answer was written: the client's next write met a
 * reset (EPIPE / ECONNRESET) and fetch rejected with "fetch failed" instead of returning the 401. The fuzz suite saw
 * it as one request a run with no answer. Now the rest of the body is read and discarded (bounded) before the answer
 * goes out, and the connection stays usable.
 *
 * On a raw connection the client goes on sending its whole body in pieces after the answer could have come: every
 * write must succeed and the same connection must then answer a second request (this fails on the old behaviour every
 * time). With fetch, bodies streamed slowly and written at once must come back as the 401 every time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startLocalEngine, type LocalEngine } from '../manifest/local-engine.ts';

let e: LocalEngine;

before(async () => {
  e = await startLocalEngine();
});

after(async () => {
  await e?.stop();
});

/** A request body of `bytes` bytes, sent 64 KB at a time with a pause after each piece. */
function slowBody(bytes: number, pauseMs: number): ReadableStream<Uint8Array> {
  const piece = new Uint8Array(64 * 1024).fill(0x61);
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent >= bytes) return controller.close();
      await new Promise((r) => setTimeout(r, pauseMs));
      const n = Math.min(piece.length, bytes - sent);
      controller.enqueue(piece.subarray(0, n));
      sent += n;
    },
  });
}

interface RawOutcome {
  /** Everything the server sent. */
  text: string;
  /** The first write that failed, if one did. */
  writeError?: string;
  closed: boolean;
}

/**
 * Sends a request whose 3 MB body goes out in 64 KB pieces with a pause after each (whatever the server answers
 * meanwhile), then a GET /v1/health on the same connection; collects what the server sends for up to 10 s.
 */
function uploadThenAsk(port: number, head: string, bytes: number): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const out: RawOutcome = { text: '', closed: false };
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, 10_000);
    s.on('data', (d) => {
      out.text += d.toString('latin1');
      if ((out.text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= 2 && /"status":"ok"/.test(out.text)) done();
    });
    s.on('error', (err: NodeJS.ErrnoException) => (out.writeError ??= `${err.code}: ${err.message}`));
    s.on('close', () => {
      out.closed = true;
      done();
    });
    const write = (chunk: string | Buffer) => new Promise<void>((r) => s.write(chunk, (err) => (err && (out.writeError ??= `${(err as NodeJS.ErrnoException).code}: ${err.message}`), r())));
    void (async () => {
      await write(head);
      const piece = Buffer.alloc(64 * 1024, 0x61);
      for (let sent = 0; sent < bytes && !out.closed; sent += piece.length) {
        await write(piece.subarray(0, Math.min(piece.length, bytes - sent)));
        await new Promise((r) => setTimeout(r, 2));
      }
      if (!out.closed) await write('GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
    })();
  });
}

test('a body refused by the auth hook is read to its end: every write succeeds, the 401 arrives, and the connection answers the next request', async () => {
  const bytes = 3 * 1024 * 1024;
  const head = `PATCH /v1/namespaces/any HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer bogus\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\n\r\n`;
  const x = await uploadThenAsk(Number(new URL(e.url).port), head, bytes);
  assert.equal(x.writeError, undefined, `the upload was cut off: ${x.writeError}; the server sent ${JSON.stringify(x.text.slice(0, 300))}`);
  assert.match(x.text, /^HTTP\/1\.1 401 /, x.text.slice(0, 300));
  assert.match(x.text, /UnauthorizedError/);
  assert.doesNotMatch(x.text.slice(0, x.text.indexOf('\r\n\r\n')), /connection: close/i, 'the connection is kept');
  assert.match(x.text, /HTTP\/1\.1 200 [\s\S]*"status":"ok"/, `the second request on the connection is answered: ${JSON.stringify(x.text.slice(-300))}`);
});

const cases = [
  { what: 'no API key', method: 'POST', path: '/v1/buckets/any/objects', key: undefined },
  { what: 'a malformed API key', method: 'PATCH', path: '/v1/namespaces/any', key: 'bogus' },
];

for (const c of cases) {
  for (const how of ['streamed slowly', 'written at once'] as const) {
    test(`a 3 MB body refused early (${c.what}, ${how}): fetch gets the 401 every time, and the pool goes on working`, async () => {
      for (let i = 0; i < (how === 'streamed slowly' ? 3 : 20); i++) {
        const body = how === 'streamed slowly' ? slowBody(3 * 1024 * 1024, 2) : JSON.stringify({ metadata: { title: 'x'.repeat(3 * 1024 * 1024) } });
        let res: Response;
        try {
          res = await fetch(`${e.url}${c.path}`, {
            method: c.method,
            headers: { 'content-type': 'application/json', 'x-namespace': 'any', ...(c.key ? { authorization: `Bearer ${c.key}` } : {}) },
            body,
            duplex: 'half',
          } as RequestInit);
        } catch (err) {
          const cause = (err as Error).cause as NodeJS.ErrnoException | undefined;
          assert.fail(`attempt ${i + 1}: no answer: ${(err as Error).message} (${cause?.code ?? ''} ${cause?.message ?? ''})`);
        }
        const text = await res.text();
        assert.equal(res.status, 401, text);
        assert.equal((JSON.parse(text) as { error?: { type?: string } }).error?.type, 'UnauthorizedError', text);
        assert.equal((await fetch(`${e.url}/v1/health`)).status, 200);
      }
    });
  }
}
