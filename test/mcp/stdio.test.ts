/**
 * Issue #20 (MCP): `quarry mcp` over stdio with the SDK's own client (StdioClientTransport spawning the CLI), proxying
 * to a running local engine with QUARRY_API_KEY: lists alpha's retriever tool, calls it, gets the document; tells the
 * client when the tool set changes (notifications/tools/list_changed); a bad key exits with an error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { eventually } from '../manifest/local-engine.ts';
import { startMcpWorld, type McpWorld } from './fixture.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'engine/src/cli/main.ts');

let w: McpWorld;
const clients: Client[] = [];

before(async () => {
  w = await startMcpWorld();
});

after(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await w?.e.stop();
});

function env(key: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('QUARRY_')) out[k] = v;
  return { ...out, QUARRY_API_KEY: key, QUARRY_URL: w.e.url };
}

async function spawnMcp(key: string, extra: string[] = []): Promise<Client> {
  const transport = new StdioClientTransport({ command: process.execPath, args: ['--import', 'tsx', CLI, 'mcp', ...extra], env: env(key), cwd: ROOT, stderr: 'pipe' });
  const client = new Client({ name: 'quarry-mcp-stdio-test', version: '1.0.0' });
  await client.connect(transport);
  clients.push(client);
  return client;
}

test('quarry mcp over stdio: lists the key\'s retriever tools and runs one', async () => {
  const client = await spawnMcp(w.alphaKey);
  assert.equal(client.getServerVersion()?.name, 'quarry');
  const names = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(names.includes('alpha__by-title'), names.join(', '));
  assert.ok(names.includes('search_documents'), names.join(', '));
  assert.ok(!names.some((n) => n.startsWith('victim')), names.join(', '));
  const res = await client.callTool({ name: 'alpha__by-title', arguments: { title: 'cobalt meadow' } });
  assert.ok(!res.isError, JSON.stringify(res.content));
  const docs = (res.structuredContent as { documents: Record<string, unknown>[] }).documents;
  assert.deepEqual(docs.map((d) => d.title), ['cobalt meadow']);
  // Links point at the engine the CLI talks to.
  assert.ok(String(docs[0]!.url).startsWith(`${w.e.url}/v1/collections/`), String(docs[0]!.url));
  await assert.rejects(client.callTool({ name: 'victim__by-title', arguments: { title: 'cobalt meadow' } }), /unknown tool/);
});

test('quarry mcp sends tools/list_changed when a retriever appears, and lists it', async () => {
  const client = await spawnMcp(w.alphaKey, ['--watch-seconds', '1']);
  let changed = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
    changed++;
  });
  const before = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(!before.includes('alpha__everything'));
  // Let the watcher take its first reading before the change.
  await new Promise((r) => setTimeout(r, 2500));
  const created = await w.e.call('POST', '/v1/retrievers', {
    headers: { 'x-namespace': 'alpha' },
    body: {
      retriever_name: 'everything',
      description: 'every alpha note',
      collection_identifiers: ['alpha-docs'],
      input_schema: {},
      stages: [{ stage_name: 'all', stage_type: 'filter', config: { stage_id: 'attribute_filter', parameters: { field: 'title', operator: 'exists', value: true } } }],
    },
  });
  assert.ok([200, 201].includes(created.status), created.text);
  await eventually('tools/list_changed received', async () => changed > 0, 60_000);
  const after = await eventually('alpha__everything listed', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    return names.includes('alpha__everything') && names;
  });
  assert.ok(after.includes('alpha__by-title'));
  const all = await client.callTool({ name: 'alpha__everything', arguments: {} });
  assert.equal((all.structuredContent as { documents: unknown[] }).documents.length, 3);
});

/** Runs the CLI to its end (asynchronously: the engine lives in this process and must keep answering). */
function run(args: string[], key: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: env(key), cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end();
  });
}

test('quarry mcp with a bad key exits 1 with the API error on stderr, before serving', async () => {
  const r = await run(['mcp'], 'sk_' + 'z'.repeat(40));
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /UnauthorizedError/);
  assert.equal(r.stdout, '', 'nothing on stdout (the MCP channel)');
});
