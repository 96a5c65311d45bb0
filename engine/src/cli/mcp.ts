/**
 * `quarry mcp`: an MCP server over stdio for agents and editors, acting with the API key (--api-key /
 * QUARRY_API_KEY) on a running engine (--server / --url / QUARRY_URL) through its REST API: one tool per Ready
 * retriever the key can see (of --namespace / QUARRY_NAMESPACE alone when given), plus list_namespaces, list_retrievers, list_collections and search_documents.
 * stdout carries only MCP messages; diagnostics go to stderr.
 */
import type { Command } from 'commander';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { fetchApi } from '../mcp/api.ts';
import { createQuarryMcpServer } from '../mcp/server.ts';
import { ApiError, UnreachableError } from './client.ts';
import { ctxOf, positiveInt, UsageError } from './context.ts';

/** The key must work before the client is told there are tools: a bad key or an unreachable engine exits at once. */
async function preflight(server: string, apiKey: string | undefined): Promise<void> {
  let res;
  try {
    res = await fetchApi(server, apiKey, 15_000).call('POST', '/v1/namespaces/list', { body: { limit: 1 } });
  } catch (e) {
    throw new UnreachableError(server, e);
  }
  if (res.status >= 300) {
    const err = (res.body.error ?? {}) as { type?: string; message?: string };
    throw new ApiError(res.status, err.type ?? `HTTP ${res.status}`, err.message ?? 'the engine refused the key');
  }
}

export function registerMcp(program: Command): void {
  program
    .command('mcp')
    .description('serve the Model Context Protocol over stdio: the retrievers the API key can see as tools (for agents and editors)')
    .option('--url <url>', 'engine URL (overrides --server / QUARRY_URL)')
    .option('--watch-seconds <n>', 'how often to re-read the retrievers and notify the client when its tools changed', positiveInt('--watch-seconds'), 30)
    .action(async (o: { url?: string; watchSeconds: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const server = o.url ?? ctx.opts.server;
      if (!/^https?:\/\//.test(server)) throw new UsageError(`--url must be an http(s) URL (got '${server}')`);
      await preflight(server, ctx.opts.apiKey);
      const mcp = createQuarryMcpServer(fetchApi(server, ctx.opts.apiKey), { watchMs: o.watchSeconds * 1000, ...(ctx.opts.namespace ? { namespace: ctx.opts.namespace } : {}) });
      const transport = new StdioServerTransport();
      const closed = new Promise<void>((resolve) => {
        const prev = mcp.onclose;
        mcp.onclose = () => {
          prev?.();
          resolve();
        };
        process.stdin.once('end', () => resolve());
        process.stdin.once('close', () => resolve());
      });
      await mcp.connect(transport);
      process.stderr.write(`quarry mcp: serving ${server} over stdio\n`);
      await closed;
      await mcp.close().catch(() => undefined);
    });
}
