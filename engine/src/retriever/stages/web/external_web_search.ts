/**
 * external_web_search (reference §4.5): asks the namespace's web search engine (the WebSearch port: exa, searxng,
 * brave or a described JSON endpoint — QuarryNamespace spec.webSearch, else the engine's QUARRY_WEB_SEARCH_*; see
 * engine/src/websearch/) and appends one document per result with `metadata.{url, title, text, published_date,
 * author, search_query, search_position}` and `score`. Only the configured endpoint's host is reached, through the
 * SSRF guard.
 */
import { createHash } from 'node:crypto';
import { QuarryError, badRequest } from '#core/lib/errors.ts';
import { webSearchFromEnv } from '#engine/websearch/namespace-web-search.ts';
import { singleBraces } from '../../template.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';

const CATEGORIES = ['research paper', 'news', 'github', 'tweet', 'company', 'pdf', 'personal site', 'blog'];

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    query: { type: 'string', default: '{{INPUT.query}}' },
    num_results: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    use_autoprompt: { type: 'boolean', default: true },
    start_published_date: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
    category: { enum: CATEGORIES },
    include_text: { type: 'boolean', default: true },
    include_domains: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100 },
    exclude_domains: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100 },
    timeout: { type: 'number', minimum: 1, maximum: 60, default: 15 },
  },
};

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const service = ctx.deps.webSearch ? await ctx.deps.webSearch(ctx.namespace) : webSearchFromEnv(process.env, ctx.deps.ssrfAllowCidrs ?? [], ctx.deps.lookup);
  if (!service) {
    throw new QuarryError('NotEnabledError', `stage '${ctx.stageName}' needs a web search engine and none is configured: set spec.webSearch in the QuarryNamespace ({engine: exa|searxng|brave|json, url, apiKeySecretRef}) or QUARRY_WEB_SEARCH_ENGINE / QUARRY_WEB_SEARCH_URL for the engine`, { stage: ctx.stageName });
  }
  const query = typeof p.query === 'string' ? p.query.trim() : '';
  if (!query) throw badRequest(`stage '${ctx.stageName}': parameter 'query' is empty (it defaults to {{INPUT.query}}: send that input or set query)`, { stage: ctx.stageName, parameter: 'query' });
  const results = await service.search({
    query,
    numResults: p.num_results as number,
    useAutoprompt: p.use_autoprompt as boolean,
    ...(p.start_published_date ? { startPublishedDate: p.start_published_date as string } : {}),
    ...(p.category ? { category: p.category as string } : {}),
    ...(p.include_domains ? { includeDomains: p.include_domains as string[] } : {}),
    ...(p.exclude_domains ? { excludeDomains: p.exclude_domains as string[] } : {}),
    includeText: p.include_text as boolean,
    timeoutMs: (p.timeout as number) * 1000,
    signal: ctx.signal,
  });
  const found: Doc[] = results.map((r, i) => ({
    document_id: `web_${createHash('sha256').update(r.url || `${query}#${i}`).digest('hex').slice(0, 16)}`,
    score: r.score ?? 0,
    metadata: { url: r.url, title: r.title, text: r.text, published_date: r.publishedDate, author: r.author, search_query: query, search_position: i },
  }));
  ctx.metadata.results_returned = found.length;
  ctx.metadata.search_engine = service.engine;
  return [...docs, ...found];
}

export const stage: StageModule = {
  id: 'external_web_search',
  category: 'apply',
  description: "Search the web with the namespace's search engine (Exa, SearXNG, Brave or a JSON endpoint); results are appended as documents",
  icon: 'globe',
  parameterSchema,
  // The documented examples write `{INPUT.query}` (single braces, as api_call's URLs do).
  normalize: (params) => (typeof params.query === 'string' ? { ...params, query: singleBraces(params.query) } : params),
  execute,
};
