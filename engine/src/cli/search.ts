/**
 * `quarry search <retriever> <query> [--input k=v …]`: executes a named retriever (POST
 * /v1/retrievers/{id}/execute) and shows the hits as a table: rank, score, document id, a text snippet and the
 * thumbnail or blob URL (presigned by the server) when the document has one.
 */
import { Option, type Command } from 'commander';
import { seg } from './client.ts';
import { UsageError, ctxOf, keyValue, positiveInt } from './context.ts';
import { print, type Column } from './output.ts';

type Doc = Record<string, unknown>;

const SNIPPET_FIELDS = ['text', 'content', 'title', 'caption', 'description', 'abstract', 'name'];

export function snippet(d: Doc): string {
  for (const f of SNIPPET_FIELDS) if (typeof d[f] === 'string' && d[f]) return d[f] as string;
  const any = Object.entries(d).find(([k, v]) => typeof v === 'string' && !k.startsWith('_') && !/(_id|_url|uri)$/.test(k) && (v as string).length > 20);
  return (any?.[1] as string | undefined) ?? '';
}

/** The thumbnail (or first blob) URL of a hit: presigned when the server presigned it, else the stored URL. */
export function thumbnailUrl(d: Doc): string {
  const blobs = Array.isArray(d.document_blobs) ? (d.document_blobs as Doc[]) : [];
  const thumb = blobs.find((b) => b.role === 'thumbnail') ?? blobs[0];
  const candidates = [d.thumbnail_presigned_url, thumb?.presigned_url, d.thumbnail_url, thumb?.url, d.presigned_url];
  return (candidates.find((c) => typeof c === 'string' && c) as string | undefined) ?? '';
}

const scoreOf = (d: Doc) => (typeof d.score === 'number' ? d.score.toFixed(4) : '');

const COLUMNS: Column<{ rank: number; doc: Doc }>[] = [
  { header: '#', value: (r) => r.rank },
  { header: 'score', value: (r) => scoreOf(r.doc) },
  { header: 'document', value: (r) => r.doc.document_id },
  { header: 'text', value: (r) => snippet(r.doc), max: 80 },
  { header: 'url', value: (r) => thumbnailUrl(r.doc) },
];

interface SearchOptions {
  input?: Record<string, unknown>;
  queryInput: string;
  limit: number;
  page: number;
  filters?: string;
  presign: boolean;
}

export function registerSearch(program: Command): void {
  program
    .command('search')
    .description('run a retriever with a query and show the ranked hits')
    .argument('<retriever>', 'retriever name or id')
    .argument('<query>', 'the query text (sent as the input named by --query-input)')
    .option('-i, --input <key=value>', 'another retriever input (repeatable; numbers, booleans and JSON keep their type)', keyValue)
    .option('--query-input <name>', 'input name the query goes to', 'query')
    .addOption(new Option('-l, --limit <n>', 'results per page').default(10).argParser(positiveInt('--limit')))
    .addOption(new Option('--page <n>', 'page number').default(1).argParser(positiveInt('--page')))
    .option('--filters <json>', 'request-level filters, e.g. \'{"AND":[{"field":"year","operator":"gte","value":2020}]}\'')
    .option('--no-presign', 'do not ask the server for presigned blob URLs')
    .action(async (retriever: string, query: string, o: SearchOptions, cmd: Command) => {
      const ctx = ctxOf(cmd);
      ctx.requireNamespace();
      let filters: unknown;
      if (o.filters !== undefined) {
        try {
          filters = JSON.parse(o.filters);
        } catch {
          throw new UsageError('--filters must be JSON, e.g. \'{"field":"year","operator":"gte","value":2020}\'');
        }
      }
      const res = await ctx.client().post<{ documents?: Doc[]; results?: Doc[]; execution_id?: string; pagination?: Record<string, unknown>; stage_statistics?: { total_time_ms?: number } }>(
        `/v1/retrievers/${seg(retriever)}/execute`,
        {
          inputs: { ...(o.input ?? {}), [o.queryInput]: query },
          pagination: { method: 'offset', page_size: o.limit, page_number: o.page },
          ...(filters !== undefined ? { filters } : {}),
        },
        { query: o.presign ? { return_presigned_urls: true } : {} },
      );
      const docs = res.documents ?? res.results ?? [];
      print(ctx.opts.output, res, { rows: docs.map((doc, i) => ({ rank: (o.page - 1) * o.limit + i + 1, doc })), columns: COLUMNS, empty: 'No results.' });
      if (ctx.opts.output === 'table' && docs.length) {
        const total = res.pagination?.total;
        const ms = res.stage_statistics?.total_time_ms;
        process.stdout.write(`${docs.length} result(s)${typeof total === 'number' ? ` of ${total}` : ''}${res.execution_id ? `, execution ${res.execution_id}` : ''}${typeof ms === 'number' ? `, ${Math.round(ms)} ms` : ''}\n`);
      }
    });
}
