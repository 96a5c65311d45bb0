/**
 * Issue #20 (MCP): the engine's streamable HTTP endpoint /mcp with the SDK's own client. A key scoped to alpha lists
 * alpha's retriever as a tool (its input schema as the tool's), runs it and gets the matching document as structured
 * content with a link; it sees none of victim's tools and calling one is an MCP error; no key or a bad key is a 401.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startMcpWorld, type McpWorld } from './fixture.ts';

let w: McpWorld;
const clients: Client[] = [];

before(async () => {
  w = await startMcpWorld();
});

after(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await w?.e.stop();
});

async function connect(key: string | undefined, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'quarry-mcp-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${w.e.url}/mcp`), { requestInit: { headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } } });
  await client.connect(transport);
  clients.push(client);
  return client;
}

type Docs = { documents: Record<string, unknown>[]; namespace: string; retriever: string };

test('tools/list over HTTP: the generic tools and alpha__by-title with the retriever input schema, nothing of victim', async () => {
  const client = await connect(w.alphaKey);
  assert.equal(client.getServerVersion()?.name, 'quarry');
  assert.ok(client.getServerCapabilities()?.tools?.listChanged, 'the server announces tools.listChanged');
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const g of ['list_namespaces', 'list_retrievers', 'list_collections', 'search_documents']) assert.ok(names.includes(g), `${g} in ${names.join(', ')}`);
  const tool = tools.find((t) => t.name === 'alpha__by-title');
  assert.ok(tool, `alpha__by-title in ${names.join(', ')}`);
  assert.match(tool.description ?? '', /Finds the alpha notes with exactly this title/);
  assert.deepEqual(tool.inputSchema.required, ['title']);
  assert.deepEqual(tool.inputSchema.properties, { title: { type: 'string', description: 'the exact title' }, limit: { type: 'integer' } });
  assert.ok(!names.some((n) => n.startsWith('victim')), `no victim tool in ${names.join(', ')}`);
  for (const n of names) assert.match(n, /^[A-Za-z0-9_.-]{1,128}$/);
});

test('tools/call of a retriever tool over HTTP returns its documents as structured content with links', async () => {
  const client = await connect(w.alphaKey);
  const res = await client.callTool({ name: 'alpha__by-title', arguments: { title: 'basalt river' } });
  assert.ok(!res.isError, JSON.stringify(res.content));
  const out = res.structuredContent as Docs;
  assert.equal(out.namespace, 'alpha');
  assert.equal(out.retriever, 'by-title');
  assert.equal(out.documents.length, 1, JSON.stringify(out));
  const first = out.documents[0]!;
  assert.equal(first.title, 'basalt river');
  assert.match(String(first.document_id), /.+/);
  assert.match(String(first.url), new RegExp(`^${w.e.url}/v1/collections/[^/]+/documents/${String(first.document_id)}$`));
  const text = (res.content as { type: string; text?: string }[]).find((c) => c.type === 'text')?.text ?? '';
  assert.match(text, /1 document/);
  assert.match(text, /basalt river/);
  assert.ok((res.content as { type: string }[]).some((c) => c.type === 'resource_link'), 'a resource_link to the document');
  // The link works with the same key and namespace.
  const doc = await w.e.call('GET', new URL(String(first.url)).pathname, { key: w.alphaKey, headers: { 'x-namespace': 'alpha' } });
  assert.equal(doc.status, 200, doc.text);
  assert.equal(doc.body.document_id, first.document_id);
});

test('a missing required input is a tool error naming it, not a crash', async () => {
  const client = await connect(w.alphaKey);
  const res = await client.callTool({ name: 'alpha__by-title', arguments: {} });
  assert.equal(res.isError, true);
  assert.match(JSON.stringify(res.content), /title/);
});

test('generic tools: list_namespaces shows only alpha; list_retrievers names the tool; search_documents finds by text', async () => {
  const client = await connect(w.alphaKey);
  const ns = (await client.callTool({ name: 'list_namespaces', arguments: {} })).structuredContent as { namespaces: { namespace_name: string }[] };
  assert.deepEqual(ns.namespaces.map((n) => n.namespace_name), ['alpha']);
  const rs = (await client.callTool({ name: 'list_retrievers', arguments: { namespace: 'alpha' } })).structuredContent as { retrievers: Record<string, unknown>[] };
  assert.deepEqual(rs.retrievers.map((r) => [r.retriever_name, r.tool]), [['by-title', 'alpha__by-title']]);
  const cols = (await client.callTool({ name: 'list_collections', arguments: { namespace: 'alpha' } })).structuredContent as { collections: Record<string, unknown>[] };
  assert.deepEqual(cols.collections.map((c) => c.collection_name), ['alpha-docs']);
  const found = await client.callTool({ name: 'search_documents', arguments: { namespace: 'alpha', collection: 'alpha-docs', query: 'COBALT' } });
  assert.ok(!found.isError, JSON.stringify(found.content));
  assert.deepEqual((found.structuredContent as Docs).documents.map((d) => d.title), ['cobalt meadow']);
  // Another tenant's namespace through the generic tools: the API's refusal, nothing of victim.
  for (const [name, args] of [
    ['list_retrievers', { namespace: 'victim' }],
    ['search_documents', { namespace: 'victim', collection: 'victim-docs', query: 'note' }],
  ] as const) {
    const r = await client.callTool({ name, arguments: args });
    assert.equal(r.isError, true, `${name} on victim: ${JSON.stringify(r)}`);
    assert.ok(!JSON.stringify(r).includes('victim: the'), 'no victim document text');
  }
});

test('a key scoped to victim sees none of alpha tools, and calling alpha__by-title is an MCP error like an unknown tool', async () => {
  const client = await connect(w.victimKey);
  const names = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(names.includes('victim__by-title'), names.join(', '));
  assert.ok(!names.some((n) => n.startsWith('alpha')), names.join(', '));
  const forbidden = await client.callTool({ name: 'alpha__by-title', arguments: { title: 'basalt river' } }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(forbidden, 'calling another tenant tool fails');
  const unknown = await client.callTool({ name: 'nowhere__nothing', arguments: {} }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(unknown);
  // The same error as for a tool that does not exist (only the name differs): its existence is not disclosed.
  assert.equal(forbidden.message.replace('alpha__by-title', 'X'), unknown.message.replace('nowhere__nothing', 'X'));
  // Its own retriever works and returns its own document.
  const own = await client.callTool({ name: 'victim__by-title', arguments: { title: 'amber lantern' } });
  assert.equal((own.structuredContent as Docs).documents[0]?.title, 'amber lantern');
});

test('a key on every namespace lists the tools of each; X-Namespace narrows them to one, and a key outside it is a 403', async () => {
  const all = (await (await connect(w.e.admin)).listTools()).tools.map((t) => t.name);
  assert.ok(all.includes('alpha__by-title') && all.includes('victim__by-title'), all.join(', '));
  const narrowed = (await (await connect(w.e.admin, { 'x-namespace': 'victim' })).listTools()).tools.map((t) => t.name);
  assert.ok(narrowed.includes('victim__by-title'), narrowed.join(', '));
  assert.ok(!narrowed.some((n) => n.startsWith('alpha')), narrowed.join(', '));
  await assert.rejects(connect(w.alphaKey, { 'x-namespace': 'victim' }));
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
  const r = await w.e.call('POST', '/mcp', { key: w.alphaKey, body: init, headers: { accept: 'application/json, text/event-stream', 'x-namespace': 'victim' } });
  assert.equal(r.status, 403, r.text);
});

test('/mcp needs a valid key (401 in the documented shape); bad input is a 4xx; GET is 405', async () => {
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
  const accept = { accept: 'application/json, text/event-stream' };
  const none = await w.e.call('POST', '/mcp', { key: null, body: init, headers: accept });
  assert.equal(none.status, 401, none.text);
  assert.equal(none.body.error.type, 'UnauthorizedError');
  const bad = await w.e.call('POST', '/mcp', { key: 'sk_' + 'x'.repeat(40), body: init, headers: accept });
  assert.equal(bad.status, 401, bad.text);
  await assert.rejects(connect('sk_' + 'y'.repeat(40)));
  const notJson = await w.e.call('POST', '/mcp', { key: w.alphaKey, body: 'not json', contentType: 'application/json', headers: accept });
  assert.equal(notJson.status, 400, notJson.text);
  assert.equal(notJson.body.success, false);
  const scalar = await w.e.call('POST', '/mcp', { key: w.alphaKey, body: '42', contentType: 'application/json', headers: accept });
  assert.equal(scalar.status, 400, scalar.text);
  const notRpc = await w.e.call('POST', '/mcp', { key: w.alphaKey, body: { hello: 'world' }, headers: accept });
  assert.ok(notRpc.status >= 400 && notRpc.status < 500, `${notRpc.status} ${notRpc.text}`);
  // Hostile bodies: deep nesting, a huge batch, a huge value: 4xx, quickly.
  const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
  const list = { jsonrpc: '2.0', method: 'tools/list', params: {} };
  for (const [what, raw] of [
    ['deep nesting', deep],
    ['a batch of 500', JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ ...list, id: i })))],
    ['an empty batch', '[]'],
  ] as const) {
    const started = Date.now();
    const r = await w.e.call('POST', '/mcp', { key: w.alphaKey, body: raw, contentType: 'application/json', headers: accept });
    assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.ok(Date.now() - started < 2000, `${what}: ${Date.now() - started} ms`);
  }
  // An unknown method (a megabyte long) is the JSON-RPC error, without the name echoed back.
  const huge = await w.e.call('POST', '/mcp', { key: w.alphaKey, body: { jsonrpc: '2.0', id: 1, method: 'x'.repeat(1_000_000) }, headers: accept });
  assert.equal(huge.body.error?.code, -32601, huge.text.slice(0, 200));
  assert.ok(huge.text.length < 1000);
  // A plain JSON-RPC client (no session, no initialize, no Accept header) is answered in JSON.
  const plain = await w.e.call('POST', '/mcp', { key: w.alphaKey, body: { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'alpha__by-title', arguments: { title: 'amber lantern' } } } });
  assert.equal(plain.status, 200, plain.text);
  assert.equal(plain.body.id, 7);
  assert.equal(plain.body.result.structuredContent.documents[0].title, 'amber lantern');
  const get = await w.e.call('GET', '/mcp', { key: w.alphaKey });
  assert.equal(get.status, 405, get.text);
  assert.equal(get.body.error.type, 'MethodNotAllowedError');
});
