/**
 * Tenancy cases of the MCP endpoint (engine/src/mcp/http.ts): with A's keys, tools/list shows none of V's tools,
 * calling V's retriever tool is the unknown-tool error, the generic tools asked about V's namespace, collection or
 * documents answer the API's refusal as a tool error, and X-Namespace naming V is refused by the auth hook.
 */
import type { Case } from './tenancy-cases.ts';
import type { World } from './world.ts';
import { both, vHeaders } from './tenancy-attacks.ts';

type Gen = (w: World) => Case[];

const rpc = (method: string, params: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id: 1, method, params });
const call = (name: string, args: Record<string, unknown>) => rpc('tools/call', { name, arguments: args });

function postCases(w: World): Case[] {
  const vTool = `${w.v.ns}__${w.v.retriever}`;
  const asks: [string, unknown][] = [
    ['initialize', rpc('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'attacker', version: '1' } })],
    ["V's retriever tool by its name", call(vTool, { q: 'x' })],
    ["V's retriever tool by its id", call(`${w.v.ns}__${w.v.retrieverId}`, { q: 'x' })],
    ...[w.v.ns, w.v.nsId].flatMap((ns): [string, unknown][] => [
      [`list_retrievers of ${ns}`, call('list_retrievers', { namespace: ns })],
      [`list_collections of ${ns}`, call('list_collections', { namespace: ns })],
      [`search_documents of ${ns}`, call('search_documents', { namespace: ns, collection: w.v.collection, query: 'vsecret' })],
    ]),
    ["search_documents in alpha of V's collection id", call('search_documents', { namespace: w.a.ns, collection: w.v.collectionId, query: 'vsecret' })],
    ["A's own retriever tool", call(`${w.a.ns}__${w.a.retriever}`, { q: 'x' })],
  ];
  return [
    ...both(w, { what: 'tools/list', method: 'POST', url: '/mcp', body: rpc('tools/list'), expect: 'noleak', forbidden: [vTool, `${w.v.ns}__`] }),
    ...asks.flatMap(([what, body]) => both(w, { what, method: 'POST', url: '/mcp', body, expect: 'noleak' })),
    ...vHeaders(w).flatMap((ns) => both(w, { what: `tools/list with X-Namespace ${ns}`, method: 'POST', url: '/mcp', ns, body: rpc('tools/list'), expect: 'deny' })),
  ];
}

export const MCP_CASES: [string, Gen][] = [
  ['POST /mcp', postCases],
  ['GET /mcp', (w) => both(w, { what: 'no stream (stateless)', method: 'GET', url: '/mcp', ns: w.v.ns, expect: 'noleak' })],
  ['DELETE /mcp', (w) => both(w, { what: 'no session (stateless)', method: 'DELETE', url: '/mcp', ns: w.v.ns, expect: 'noleak' })],
];
