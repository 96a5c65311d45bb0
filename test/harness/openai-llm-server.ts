/**
 * A real OpenAI-compatible chat-completions server on loopback for the HTTP adapter's tests: it serves the local
 * GGUF model (LocalLlama, node-llama-cpp) at POST /v1/chat/completions with `response_format: json_schema`
 * enforced by a grammar and real token usage, checks a bearer key, and rate limits like a hosted provider: while
 * `maxInFlight` requests run, another gets 429 with `Retry-After: retryAfterSeconds`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LLM } from '#core/ports/llm.ts';

export interface LlmServerOptions {
  llm: LLM;
  apiKey?: string;
  maxInFlight?: number;
  retryAfterSeconds?: number;
}

export interface LlmServer {
  baseUrl: string;
  /** Status codes answered, in order. */
  statuses: number[];
  close(): Promise<void>;
}

export async function startLlmServer(o: LlmServerOptions): Promise<LlmServer> {
  const statuses: number[] = [];
  let inFlight = 0;
  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    statuses.push(status);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return send(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
        if (o.apiKey && req.headers.authorization !== `Bearer ${o.apiKey}`) return send(res, 401, { error: { message: 'invalid api key', type: 'invalid_request_error' } });
        if (inFlight >= (o.maxInFlight ?? Infinity)) return send(res, 429, { error: { message: 'rate limited', type: 'rate_limit_error' } }, { 'retry-after': String(o.retryAfterSeconds ?? 1) });
        let body: { stream?: boolean; model?: string; messages?: { role: 'system' | 'user' | 'assistant'; content: string }[]; max_tokens?: number; temperature?: number; response_format?: { type?: string; json_schema?: { schema?: Record<string, unknown> } } };
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return send(res, 400, { error: { message: 'body is not JSON' } });
        }
        if (!Array.isArray(body.messages) || body.messages.length === 0) return send(res, 400, { error: { message: 'messages is required' } });
        inFlight++;
        let streaming = false;
        // Streaming (`stream: true`): server-sent chat.completion.chunk events, the usage in the last one.
        const chunk = (payload: Record<string, unknown>) => {
          if (!streaming) {
            streaming = true;
            statuses.push(200);
            res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          }
          res.write(`data: ${JSON.stringify({ id: 'chatcmpl-stream', object: 'chat.completion.chunk', model: o.llm.model, ...payload })}\n\n`);
        };
        // A client that disconnects cancels its generation (as llama.cpp's server does).
        const ac = new AbortController();
        res.on('close', () => {
          if (!res.writableFinished) ac.abort();
        });
        try {
          const schema = body.response_format?.type === 'json_schema' ? body.response_format.json_schema?.schema : undefined;
          const r = await o.llm.complete({
            messages: body.messages,
            ...(schema ? { jsonSchema: schema } : {}),
            ...(body.max_tokens !== undefined ? { maxTokens: body.max_tokens } : {}),
            ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
            signal: ac.signal,
            ...(body.stream ? { onText: (t: string) => chunk({ choices: [{ index: 0, delta: { content: t }, finish_reason: null }] }) } : {}),
          });
          if (body.stream) {
            chunk({ choices: [{ index: 0, delta: {}, finish_reason: r.finish_reason }] });
            chunk({ choices: [], usage: r.usage });
            res.end('data: [DONE]\n\n');
            return;
          }
          send(res, 200, {
            id: `chatcmpl-${statuses.length}`,
            object: 'chat.completion',
            created: Math.floor(Date.now() / 1000),
            model: o.llm.model,
            choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: r.finish_reason }],
            usage: r.usage,
          });
        } catch (e) {
          if (ac.signal.aborted) return;
          if (streaming) return void res.end();
          send(res, 500, { error: { message: (e as Error).message } });
        } finally {
          inFlight--;
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    statuses,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
