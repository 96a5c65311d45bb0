/** Server-sent events on a hijacked fastify reply: `data: {json}\n\n` events, comment lines, keepalives. */
import type { FastifyReply } from 'fastify';

export interface SseStream {
  event(data: unknown): void;
  comment(text: string): void;
  end(): void;
}

export function openSse(reply: FastifyReply, keepaliveMs = 15_000): SseStream {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  let open = true;
  const timer = setInterval(() => open && raw.write(': keepalive\n\n'), keepaliveMs);
  timer.unref();
  raw.on('close', () => {
    open = false;
    clearInterval(timer);
  });
  return {
    event: (data) => open && raw.write(`data: ${JSON.stringify(data)}\n\n`),
    comment: (text) => open && raw.write(`: ${text}\n\n`),
    end: () => {
      clearInterval(timer);
      if (open) raw.end();
      open = false;
    },
  };
}
