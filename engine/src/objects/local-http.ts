/**
 * Serves presigned GET/PUT requests for the local-disk store on a plain Node request/response pair (the
 * engine mounts it under the store's base URL; Fastify hands over `request.raw`/`reply.raw`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { QuarryError } from '../lib/errors.ts';
import type { LocalObjectStore } from './local.ts';

function send(res: ServerResponse, err: unknown): void {
  const e = err instanceof QuarryError ? err : new QuarryError('StorageError', err instanceof Error ? err.message : String(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(e.status, { 'content-type': 'application/json' }).end(JSON.stringify(e.toBody()));
}

export async function handlePresignedRequest(store: LocalObjectStore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const method = (req.method ?? 'GET').toUpperCase();
    const target = store.verifyPresigned(req.url ?? '/', method);
    if (method === 'PUT') {
      const type = req.headers['content-type'];
      if (target.contentType && type !== target.contentType) {
        throw new QuarryError('ForbiddenError', `presigned URL requires content-type '${target.contentType}'`);
      }
      const len = req.headers['content-length'];
      const info = await store.put(target.bucket, target.key, req, {
        ...(type ? { contentType: type } : {}),
        ...(len !== undefined ? { contentLength: Number(len) } : {}),
      });
      res.writeHead(200, { etag: info.etag ?? '' }).end();
      return;
    }
    const { info, body } = await store.get(target.bucket, target.key);
    res.writeHead(200, {
      'content-length': String(info.size),
      'content-type': info.contentType ?? 'application/octet-stream',
      ...(info.etag ? { etag: info.etag } : {}),
      ...(info.lastModified ? { 'last-modified': info.lastModified.toUTCString() } : {}),
    });
    if (method === 'HEAD') {
      body.destroy();
      res.end();
      return;
    }
    await pipeline(body, res);
  } catch (err) {
    send(res, err);
  }
}
