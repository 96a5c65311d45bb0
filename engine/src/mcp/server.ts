/** The Quarry MCP server: one tool per Ready retriever the caller can see, plus list and search tools, over any transport. */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { QuarryApi } from './api.ts';
import { ApiCallError, ok, retrieverTools, type RetrieverTool } from './catalogue.ts';
import { GENERIC_TOOLS, runGenericTool } from './generic-tools.ts';
import { documentsResult, errorResult } from './results.ts';
import { isObj } from './schema.ts';

export const SERVER_INFO = { name: 'quarry', version: '0.1.0' } as const;

const INSTRUCTIONS =
  'Quarry is a multimodal data warehouse. Each tool named <namespace>__<retriever> runs one retriever (a search pipeline) ' +
  'of a namespace with the inputs of its schema and returns ranked documents. list_namespaces, list_retrievers and ' +
  'list_collections describe what the API key can see; search_documents finds documents of a collection by text.';

/** What retriever tools return: the documents (loosely typed: their fields depend on the collection). */
const RETRIEVER_OUTPUT = {
  type: 'object' as const,
  properties: {
    namespace: { type: 'string' },
    retriever: { type: 'string' },
    execution_id: { type: ['string', 'null'] },
    count: { type: 'integer' },
    documents: { type: 'array', items: { type: 'object' } },
  },
  required: ['documents'],
};

function toolOf(t: RetrieverTool): Tool {
  return { name: t.name, title: `${t.retrieverName} (${t.namespace})`, description: t.description, inputSchema: t.inputSchema as Tool['inputSchema'], outputSchema: RETRIEVER_OUTPUT, annotations: { readOnlyHint: true, openWorldHint: false } };
}

/** Runs a retriever tool through `POST /v1/retrievers/{id}/execute` in its namespace, as the caller. */
async function runRetriever(api: QuarryApi, t: RetrieverTool, args: Record<string, unknown>): Promise<CallToolResult> {
  const body = ok(await api.call('POST', `/v1/retrievers/${encodeURIComponent(t.retrieverId)}/execute`, { namespace: t.namespace, body: { inputs: args } }));
  const docs = Array.isArray(body.documents) ? body.documents : [];
  return documentsResult(api.baseUrl, docs, { namespace: t.namespace, retriever: t.retrieverName, execution_id: typeof body.execution_id === 'string' ? body.execution_id : null }, `Retriever ${t.retrieverName} in ${t.namespace}`);
}

export interface McpServerOptions {
  /** Only this namespace's retrievers (name or id) become tools; default: every namespace the key can see. */
  namespace?: string;
  /** Re-reads the catalogue this often and sends notifications/tools/list_changed when it changed (long-lived sessions: stdio). */
  watchMs?: number;
}

/** A signature of the tool set: names, descriptions and schemas (a changed input schema is a changed tool). */
const signature = (tools: RetrieverTool[]) => JSON.stringify(tools.map((t) => [t.name, t.description, t.inputSchema]));

/**
 * An MCP server acting with one caller's API key (`api`). The retriever tools are listed anew on every tools/list and
 * tools/call, so an unknown tool and another tenant's tool are the same "unknown tool" error.
 */
export function createQuarryMcpServer(api: QuarryApi, opts: McpServerOptions = {}): Server {
  const server = new Server(SERVER_INFO, { capabilities: { tools: { listChanged: true } }, instructions: INSTRUCTIONS });

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const tools = await retrieverTools(api, opts.namespace).catch(rethrow);
    return { tools: [...GENERIC_TOOLS, ...tools.map(toolOf)] };
  });

  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const { name } = req.params;
    const args = req.params.arguments ?? {};
    if (!isObj(args)) throw new McpError(ErrorCode.InvalidParams, 'arguments must be an object');
    const generic = GENERIC_TOOLS.find((t) => t.name === name);
    try {
      if (generic) return await runGenericTool(api, name, args);
      const tool = (await retrieverTools(api, opts.namespace)).find((t) => t.name === name);
      if (!tool) throw new McpError(ErrorCode.InvalidParams, `unknown tool '${name}': tools/list names the tools this API key can use`);
      return await runRetriever(api, tool, args);
    } catch (e) {
      if (e instanceof ApiCallError && e.status < 500 && e.status !== 401) return errorResult(`${e.type}: ${e.message}`);
      return rethrow(e);
    }
  });

  if (opts.watchMs && opts.watchMs > 0) watchTools(server, () => retrieverTools(api, opts.namespace), opts.watchMs);
  return server;
}

/** API failures the model cannot fix (bad key, engine down) as MCP errors; anything else as is. */
function rethrow(e: unknown): never {
  if (e instanceof ApiCallError) throw new McpError(e.status === 401 || e.status === 403 ? ErrorCode.InvalidRequest : ErrorCode.InternalError, `Quarry API: ${e.type}: ${e.message}`);
  throw e;
}

/** Polls the caller's catalogue; a change sends notifications/tools/list_changed. Stops when the server closes. */
function watchTools(server: Server, list: () => Promise<RetrieverTool[]>, everyMs: number): void {
  let last: string | undefined;
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const sig = signature(await list());
      if (last !== undefined && sig !== last) await server.sendToolListChanged();
      last = sig;
    } catch {
      // The engine is unreachable for a moment: the next tick tries again.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), everyMs);
  timer.unref();
  void tick();
  const prev = server.onclose;
  server.onclose = () => {
    clearInterval(timer);
    prev?.();
  };
}
