/**
 * external_web_search (reference §4.5): asks the configured web search service — an Exa-compatible `POST <url>`
 * (`{query, numResults, useAutoprompt, startPublishedDate, category, includeDomains, excludeDomains, contents}` →
 * `{results: [{url, title, text, publishedDate, author, score}]}`) — and appends one document per result with
 * `metadata.{url, title, text, published_date, author, search_query, search_position}` and `score`. The service is
 * the engine's (QUARRY_WEB_SEARCH_URL, key in QUARRY_WEB_SEARCH_API_KEY_FILE or QUARRY_WEB_SEARCH_API_KEY, sent as
 * x-api-key); only its host is reached, through the SSRF guard (a private address only within the engine's allow-list).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { QuarryError, badRequest } from '#core/lib/errors.ts';
import { guardedRequest } from '../../ssrf.ts';
import { singleBraces } from '../../template.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';

export interface WebSearchService {
  /** Exa-compatible search endpoint, e.g. https://api.exa.ai/search. */
  url: string;
  apiKey?: string;
}

export function webSearchFromEnv(env: NodeJS.ProcessEnv = process.env): WebSearchService | undefined {
  if (!env.QUARRY_WEB_SEARCH_URL) return undefined;
  const apiKey = env.QUARRY_WEB_SEARCH_API_KEY_FILE ? readFileSync(env.QUARRY_WEB_SEARCH_API_KEY_FILE, 'utf8').trim() : env.QUARRY_WEB_SEARCH_API_KEY;
  return { url: env.QUARRY_WEB_SEARCH_URL, ...(apiKey ? { apiKey } : {}) };
}

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

interface Result {
  url?: unknown;
  title?: unknown;
  text?: unknown;
  publishedDate?: unknown;
  author?: unknown;
  score?: unknown;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const service = ctx.deps.webSearch ?? webSearchFromEnv();
  if (!service) throw new QuarryError('NotEnabledError', `stage '${ctx.stageName}' needs a web search service and none is configured: set QUARRY_WEB_SEARCH_URL (an Exa-compatible search endpoint) and its key in QUARRY_WEB_SEARCH_API_KEY_FILE`, { stage: ctx.stageName });
  const query = typeof p.query === 'string' ? p.query.trim() : '';
  if (!query) throw badRequest(`stage '${ctx.stageName}': parameter 'query' is empty (it defaults to {{INPUT.query}}: send that input or set query)`, { stage: ctx.stageName, parameter: 'query' });
  let host: string;
  try {
    host = new URL(service.url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    throw new QuarryError('NotEnabledError', `QUARRY_WEB_SEARCH_URL '${service.url}' is not a URL`, { stage: ctx.stageName });
  }
  const body = {
    query,
    numResults: p.num_results,
    useAutoprompt: p.use_autoprompt,
    ...(p.start_published_date ? { startPublishedDate: p.start_published_date } : {}),
    ...(p.category ? { category: p.category } : {}),
    ...(p.include_domains ? { includeDomains: p.include_domains } : {}),
    ...(p.exclude_domains ? { excludeDomains: p.exclude_domains } : {}),
    ...(p.include_text ? { contents: { text: { maxCharacters: 1500 } } } : {}),
  };
  const res = await guardedRequest(service.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'quarry-web-search/1', ...(service.apiKey ? { 'x-api-key': service.apiKey } : {}) },
    body: JSON.stringify(body),
    timeoutMs: (p.timeout as number) * 1000,
    maxBytes: 8 * 1024 * 1024,
    allowed: [host],
    policy: { allowCidrs: ctx.deps.ssrfAllowCidrs ?? [] },
    ...(ctx.deps.lookup ? { lookup: ctx.deps.lookup } : {}),
    who: 'external_web_search',
    timeoutParameter: 'timeout',
    signal: ctx.signal,
  });
  if (res.status === 429) throw new QuarryError('TooManyRequestsError', `stage '${ctx.stageName}': the web search service is rate limiting (HTTP 429); retry later`, { stage: ctx.stageName });
  if (res.status >= 400) throw new QuarryError('InferenceServiceUnavailableError', `stage '${ctx.stageName}': the web search service answered HTTP ${res.status}`, { stage: ctx.stageName, status: res.status });
  let results: Result[];
  try {
    const parsed = JSON.parse(res.bytes.toString('utf8')) as { results?: unknown };
    if (!Array.isArray(parsed.results)) throw new Error('no results array');
    results = parsed.results as Result[];
  } catch (e) {
    throw new QuarryError('InferenceServiceUnavailableError', `stage '${ctx.stageName}': the web search service answered something other than {results: [...]}: ${(e as Error).message}`, { stage: ctx.stageName });
  }
  const found: Doc[] = results.slice(0, p.num_results as number).map((r, i) => {
    const url = str(r.url) ?? '';
    return {
      document_id: `web_${createHash('sha256').update(url || `${query}#${i}`).digest('hex').slice(0, 16)}`,
      score: typeof r.score === 'number' && Number.isFinite(r.score) ? r.score : 0,
      metadata: {
        url,
        title: str(r.title),
        text: p.include_text ? str(r.text) : null,
        published_date: str(r.publishedDate),
        author: str(r.author),
        search_query: query,
        search_position: i,
      },
    };
  });
  ctx.metadata.results_returned = found.length;
  return [...docs, ...found];
}

export const stage: StageModule = {
  id: 'external_web_search',
  category: 'apply',
  description: 'Search the web with the configured (Exa-compatible) search service; results are appended as documents',
  icon: 'globe',
  parameterSchema,
  // The documented examples write `{INPUT.query}` (single braces, as api_call's URLs do).
  normalize: (params) => (typeof params.query === 'string' ? { ...params, query: singleBraces(params.query) } : params),
  execute,
};
