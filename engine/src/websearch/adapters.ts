/**
 * Web search adapters (engine/src/ports/web-search.ts), each speaking one engine's documented HTTP API:
 * - exa:     POST <url> (default https://api.exa.ai/search) {query, numResults, useAutoprompt, startPublishedDate,
 *            category, includeDomains, excludeDomains, contents} → {results: [{url, title, text, publishedDate,
 *            author, score}]}; key in `x-api-key`.
 * - searxng: GET <url> (an instance's /search) ?q&format=json&pageno&categories&time_range → {results: [{url, title,
 *            content, publishedDate, score}]}; JSON output must be enabled in the instance's settings (search.formats),
 *            else it answers 403. A key, if the instance sits behind an authenticating proxy, is sent as a bearer token.
 * - brave:   GET <url> (default https://api.search.brave.com/res/v1/web/search) ?q&count (≤ 20)&offset&freshness
 *            → {web: {results: [{url, title, description, page_age}]}}; key in `X-Subscription-Token`.
 * - json:    any JSON endpoint: GET with the query (and count) as URL parameters or POST as a JSON body, results at
 *            `resultsPath`, each result's fields named in `fields`.
 * What an engine cannot do itself is done on its results: domain include/exclude lists, a start date (results dated
 * before it are dropped; undated ones kept), the count. Engines without scores get 1/(1 + position).
 * Only the endpoint's host is reached, through the SSRF guard (a private address only within the engine's allow-list).
 */
import { QuarryError } from '../lib/errors.ts';
import type { WebSearch, WebSearchQuery, WebSearchResult } from '../ports/web-search.ts';
import { WEB_SEARCH_ENGINES } from '../resources/kinds/quarry-namespace.ts';
import { getPath } from '../retriever/paths.ts';
import { guardedRequest } from '../retriever/ssrf.ts';
import type { LookupFn } from '../retriever/types.ts';

export { WEB_SEARCH_ENGINES };
export type WebSearchEngine = (typeof WEB_SEARCH_ENGINES)[number];

export const DEFAULT_URLS: Partial<Record<WebSearchEngine, string>> = {
  exa: 'https://api.exa.ai/search',
  brave: 'https://api.search.brave.com/res/v1/web/search',
};

/** The json engine's request and result description. */
export interface JsonEndpointSpec {
  method?: 'GET' | 'POST';
  queryParam?: string;
  countParam?: string;
  resultsPath?: string;
  fields?: Partial<Record<'url' | 'title' | 'text' | 'publishedDate' | 'author' | 'score', string>>;
  /** Header the key goes in (default Authorization, as `Bearer <key>`; any other header gets the key as is). */
  apiKeyHeader?: string;
}

export interface WebSearchConfig {
  engine: WebSearchEngine;
  url: string;
  apiKey?: string;
  json?: JsonEndpointSpec;
  /** The engine's SSRF allow-list (never a tenant's). */
  allowCidrs: string[];
  lookup?: LookupFn;
}

const MAX_BYTES = 8 * 1024 * 1024;
const MAX_PAGES = 5;

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() && Number.isFinite(Number(v)) ? Number(v) : null);
// Brave marks matches with <strong>: snippets are text.
const plain = (v: unknown): string | null => str(v)?.replace(/<[^>]*>/g, '').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&') ?? null;

async function getJson(c: WebSearchConfig, q: WebSearchQuery, url: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<unknown> {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    throw new QuarryError('NotEnabledError', `external_web_search: the ${c.engine} endpoint '${url}' is not a URL`, { engine: c.engine });
  }
  const res = await guardedRequest(url, {
    method: init.method,
    headers: { accept: 'application/json', 'user-agent': 'quarry-web-search/1', ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
    ...(init.body ? { body: init.body } : {}),
    timeoutMs: q.timeoutMs,
    maxBytes: MAX_BYTES,
    allowed: [host],
    policy: { allowCidrs: c.allowCidrs },
    ...(c.lookup ? { lookup: c.lookup } : {}),
    who: 'external_web_search',
    timeoutParameter: 'timeout',
    ...(q.signal ? { signal: q.signal } : {}),
  });
  if (res.status === 429) throw new QuarryError('TooManyRequestsError', `external_web_search: the ${c.engine} search engine is rate limiting (HTTP 429); retry later`, { engine: c.engine });
  if (res.status >= 400) {
    const hint = c.engine === 'searxng' && res.status === 403 ? ' (enable the json format in the instance settings: search.formats)' : res.status === 401 || res.status === 403 ? ' (check the API key)' : '';
    throw new QuarryError('InferenceServiceUnavailableError', `external_web_search: the ${c.engine} search engine answered HTTP ${res.status}${hint}`, { engine: c.engine, status: res.status });
  }
  try {
    return JSON.parse(res.bytes.toString('utf8'));
  } catch {
    throw new QuarryError('InferenceServiceUnavailableError', `external_web_search: the ${c.engine} search engine answered something other than JSON`, { engine: c.engine });
  }
}

function shapeError(c: WebSearchConfig, expected: string): QuarryError {
  return new QuarryError('InferenceServiceUnavailableError', `external_web_search: the ${c.engine} search engine answered something other than ${expected}`, { engine: c.engine });
}

const withParams = (base: string, params: Record<string, string | number | undefined>): string => {
  const u = new URL(base);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.searchParams.set(k, String(v));
  return u.toString();
};

const daysSince = (date: string): number => Math.max(0, (Date.now() - Date.parse(`${date}T00:00:00Z`)) / 86_400_000);

function domainOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return '';
  }
}
const matches = (host: string, domain: string) => {
  const d = domain.toLowerCase().replace(/^\*\./, '').replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return host === d || host.endsWith(`.${d}`);
};

/** What every engine's results go through: domain lists, start date, count, rank scores. */
export function finish(results: WebSearchResult[], q: WebSearchQuery): WebSearchResult[] {
  const since = q.startPublishedDate ? Date.parse(`${q.startPublishedDate}T00:00:00Z`) : undefined;
  const seen = new Set<string>();
  return results
    .filter((r) => {
      if (!r.url || seen.has(r.url)) return false;
      seen.add(r.url);
      const host = domainOf(r.url);
      if (q.includeDomains?.length && !q.includeDomains.some((d) => matches(host, d))) return false;
      if (q.excludeDomains?.some((d) => matches(host, d))) return false;
      const at = r.publishedDate ? Date.parse(r.publishedDate) : NaN;
      return since === undefined || Number.isNaN(at) || at >= since;
    })
    .slice(0, q.numResults)
    .map((r, i) => ({ ...r, text: q.includeText ? r.text : null, score: r.score ?? 1 / (1 + i) }));
}

function exa(c: WebSearchConfig): WebSearch {
  return {
    engine: 'exa',
    async search(q) {
      const body = {
        query: q.query,
        numResults: q.numResults,
        useAutoprompt: q.useAutoprompt ?? true,
        ...(q.startPublishedDate ? { startPublishedDate: q.startPublishedDate } : {}),
        ...(q.category ? { category: q.category } : {}),
        ...(q.includeDomains ? { includeDomains: q.includeDomains } : {}),
        ...(q.excludeDomains ? { excludeDomains: q.excludeDomains } : {}),
        ...(q.includeText ? { contents: { text: { maxCharacters: 1500 } } } : {}),
      };
      const out = (await getJson(c, q, c.url, { method: 'POST', headers: c.apiKey ? { 'x-api-key': c.apiKey } : {}, body: JSON.stringify(body) })) as { results?: unknown };
      if (!Array.isArray(out?.results)) throw shapeError(c, '{results: [...]}');
      return finish(out.results.map((r: Record<string, unknown>) => ({ url: str(r.url) ?? '', title: str(r.title), text: str(r.text), publishedDate: str(r.publishedDate), author: str(r.author), score: num(r.score) })), q);
    },
  };
}

const SEARXNG_CATEGORIES: Record<string, string> = { news: 'news', 'research paper': 'science', github: 'it' };

function searxng(c: WebSearchConfig): WebSearch {
  return {
    engine: 'searxng',
    async search(q) {
      const days = q.startPublishedDate ? daysSince(q.startPublishedDate) : undefined;
      const timeRange = days === undefined ? undefined : days <= 1 ? 'day' : days <= 31 ? 'month' : days <= 366 ? 'year' : undefined;
      const found: WebSearchResult[] = [];
      for (let page = 1; page <= MAX_PAGES && finish(found, q).length < q.numResults; page++) {
        const url = withParams(c.url, { q: q.query, format: 'json', pageno: page, categories: q.category ? (SEARXNG_CATEGORIES[q.category] ?? 'general') : undefined, time_range: timeRange });
        const out = (await getJson(c, q, url, { method: 'GET', headers: c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {} })) as { results?: unknown };
        if (!Array.isArray(out?.results)) throw shapeError(c, '{results: [...]}');
        if (!out.results.length) break;
        for (const r of out.results as Record<string, unknown>[]) found.push({ url: str(r.url) ?? '', title: str(r.title), text: str(r.content), publishedDate: str(r.publishedDate) ?? str(r.pubdate), author: str(r.author), score: num(r.score) });
      }
      return finish(found, q);
    },
  };
}

function brave(c: WebSearchConfig): WebSearch {
  return {
    engine: 'brave',
    async search(q) {
      const freshness = q.startPublishedDate ? `${q.startPublishedDate}to${new Date().toISOString().slice(0, 10)}` : undefined;
      const found: WebSearchResult[] = [];
      for (let offset = 0; offset < MAX_PAGES && finish(found, q).length < q.numResults; offset++) {
        const url = withParams(c.url, { q: q.query, count: Math.min(20, q.numResults), offset, freshness });
        const out = (await getJson(c, q, url, { method: 'GET', headers: c.apiKey ? { 'x-subscription-token': c.apiKey } : {} })) as { web?: { results?: unknown } };
        const results = out?.web?.results;
        if (results === undefined && out && typeof out === 'object' && !('web' in out)) break; // no web results for this query
        if (!Array.isArray(results)) throw shapeError(c, '{web: {results: [...]}}');
        if (!results.length) break;
        for (const r of results as Record<string, unknown>[]) found.push({ url: str(r.url) ?? '', title: plain(r.title), text: plain(r.description), publishedDate: str(r.page_age), author: null, score: null });
      }
      return finish(found, q);
    },
  };
}

function jsonEndpoint(c: WebSearchConfig): WebSearch {
  const spec = c.json ?? {};
  const f = { url: 'url', title: 'title', text: 'text', publishedDate: 'publishedDate', author: 'author', score: 'score', ...spec.fields };
  const keyHeader = (spec.apiKeyHeader ?? 'authorization').toLowerCase();
  return {
    engine: 'json',
    async search(q) {
      const params: Record<string, string | number> = { [spec.queryParam ?? 'q']: q.query, ...(spec.countParam ? { [spec.countParam]: q.numResults } : {}) };
      const headers = c.apiKey ? { [keyHeader]: keyHeader === 'authorization' ? `Bearer ${c.apiKey}` : c.apiKey } : {};
      const out = spec.method === 'POST'
        ? await getJson(c, q, c.url, { method: 'POST', headers, body: JSON.stringify(params) })
        : await getJson(c, q, withParams(c.url, params), { method: 'GET', headers });
      const results = spec.resultsPath ? getPath(out, spec.resultsPath) : out;
      if (!Array.isArray(results)) throw shapeError(c, `a list at '${spec.resultsPath ?? '(the root)'}'`);
      const at = (r: unknown, k: keyof typeof f) => getPath(r, f[k]);
      return finish(results.map((r) => ({ url: str(at(r, 'url')) ?? '', title: str(at(r, 'title')), text: str(at(r, 'text')), publishedDate: str(at(r, 'publishedDate')), author: str(at(r, 'author')), score: num(at(r, 'score')) })), q);
    },
  };
}

/** The adapter for a configured engine. */
export function webSearchAdapter(c: WebSearchConfig): WebSearch {
  switch (c.engine) {
    case 'exa':
      return exa(c);
    case 'searxng':
      return searxng(c);
    case 'brave':
      return brave(c);
    case 'json':
      return jsonEndpoint(c);
  }
}
