/** Streamable HTTP at /mcp on the engine: stateless, one MCP server per request acting with the caller's API key. */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { QuarryError } from '../lib/errors.ts';
import { namespaceHeader } from '../http/request-params.ts';
import { injectApi } from './api.ts';
import { createQuarryMcpServer } from './server.ts';

export const MCP_PATH = '/mcp';
const MAX_BATCH = 20;

/** The caller's identity headers, replayed on every API call the MCP server makes for it. */
const FORWARDED = ['authorization', 'x-kubernetes-namespace'];

function identityHeaders(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of FORWARDED) {
    const v = req.headers[h];
    if (typeof v === 'string') out[h] = v;
  }
  return out;
}

/** The engine's URL as the caller reached it, for document links. */
function baseUrlOf(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

const ACCEPT = 'application/json, text/event-stream';

/**
 * The answer is always JSON (enableJsonResponse), so a client that does not list both media types the transport
 * insists on (curl, a plain JSON client, no Accept at all) is served rather than refused with 406. The transport
 * reads the raw header list, so both forms are set.
 */
function acceptJsonAnswer(raw: IncomingMessage): void {
  const accept = raw.headers.accept ?? '';
  if (accept.includes('application/json') && accept.includes('text/event-stream')) return;
  const kept: string[] = [];
  for (let i = 0; i + 1 < raw.rawHeaders.length; i += 2) if (raw.rawHeaders[i]!.toLowerCase() !== 'accept') kept.push(raw.rawHeaders[i]!, raw.rawHeaders[i + 1]!);
  raw.rawHeaders.splice(0, raw.rawHeaders.length, ...kept, 'Accept', ACCEPT);
  raw.headers.accept = ACCEPT;
}

/**
 * `POST /mcp`: JSON-RPC messages (initialize, tools/list, tools/call, …) answered as JSON. The auth hook has already
 * checked the Bearer key (401 without one); each API call the tools make is authorised again as that key, so a key
 * scoped to namespace A lists and runs only A's retrievers; `X-Namespace` narrows the tools to one namespace. Sessions are not kept (stateless mode), so there is no
 * server-initiated stream: `GET` and `DELETE /mcp` answer 405.
 */
export function registerMcpRoutes(app: FastifyInstance): void {
  app.post(MCP_PATH, async (req: FastifyRequest, reply: FastifyReply) => {
    const body = req.body;
    if (typeof body !== 'object' || body === null) {
      throw new QuarryError('BadRequestError', 'the body must be a JSON-RPC 2.0 message (or a batch of them) sent as application/json', { field: 'body' });
    }
    // Each message may list or run every retriever the key sees: a batch is bounded like the API's batch execute.
    if (Array.isArray(body) && (body.length === 0 || body.length > MAX_BATCH)) {
      throw new QuarryError('BadRequestError', `a JSON-RPC batch holds 1 to ${MAX_BATCH} messages; send more in several requests`, { field: 'body' });
    }
    const ns = namespaceHeader(req);
    const server = createQuarryMcpServer(injectApi(app, identityHeaders(req), baseUrlOf(req)), ns ? { namespace: ns } : {});
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    acceptJsonAnswer(req.raw);
    reply.hijack();
    reply.raw.on('close', () => {
      void transport.close().catch(() => undefined);
      void server.close().catch(() => undefined);
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req.raw, reply.raw, body);
    } catch (e) {
      req.log.error({ err: e }, 'MCP request failed');
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify(new QuarryError('InternalServerError', `internal error; see the engine log for request ${req.id}`).toBody()));
      } else reply.raw.end();
    }
  });
  const notAllowed = async (req: FastifyRequest, reply: FastifyReply) =>
    reply
      .code(405)
      .header('allow', 'POST')
      .send({ success: false, status: 405, error: { type: 'MethodNotAllowedError', message: `${req.method} ${MCP_PATH}: this MCP endpoint is stateless (no sessions, no server-initiated stream); send JSON-RPC messages with POST` } });
  app.get(MCP_PATH, notAllowed);
  app.delete(MCP_PATH, notAllowed);
}
