/**
 * external_web_search over each web search adapter (engine/src/websearch/), against a real HTTP server on loopback
 * that speaks the engine's documented API: SearXNG's JSON API (GET /search?q&format=json&pageno, 403 when the json
 * format is not enabled, {results: [{url, title, content, publishedDate, score, engine, …}]}), the Brave Search API
 * (GET /res/v1/web/search?q&count&offset&freshness, X-Subscription-Token, {type: 'search', web: {results: [{title,
 * url, description, page_age, …}]}}, 429 when rate limited) and a described JSON endpoint. These servers are fakes of
 * third-party services — none is reachable from here — built from the engines' published API documentation; the
 * adapters, the SSRF guard, the per-namespace configuration and the stage around them are the real code.
 * Each namespace gets the engine its QuarryNamespace spec.webSearch names, with the key from a Secret in its own
 * Kubernetes namespace (a real ResourceStore); only the configured host is reached.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { secretReader } from '#engine/models/custom/secrets.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import type { Doc } from '#engine/retriever/types.ts';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { namespaceWebSearch, type NamespaceWebSearchSpec, type WebSearchNamespace } from '#engine/websearch/namespace-web-search.ts';
import { seed, vectorSearch, type Seeded } from './fixtures.ts';

interface Seen {
  method: string;
  path: string;
  params: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  body?: unknown;
}
const seen: Seen[] = [];
let server: http.Server;
let base: string;
let port: number;
let s: Seeded;
const BRAVE_KEY = 'brave-key-of-b';

/** SearXNG: 12 results over two pages (10 + 2), one off-domain, one dated 2019, one undated. */
function searxngPage(q: string, page: number): Record<string, unknown>[] {
  const all = Array.from({ length: 12 }, (_, i) => ({
    url: i === 3 ? `https://elsewhere.net/${i}` : `https://docs.example.org/${i}`,
    title: `SearXNG ${i} for ${q}`,
    content: `Snippet ${i}`,
    engine: 'duckduckgo',
    engines: ['duckduckgo', 'bing'],
    parsed_url: ['https', 'docs.example.org', `/${i}`, '', '', ''],
    template: 'default.html',
    positions: [i + 1],
    score: 2 - i / 10,
    category: 'general',
    publishedDate: i === 5 ? '2019-05-01T00:00:00' : i === 6 ? null : '2024-06-01T00:00:00',
  }));
  return page === 1 ? all.slice(0, 10) : page === 2 ? all.slice(10) : [];
}

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url!, 'http://x');
      const params = Object.fromEntries(u.searchParams);
      const text = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method!, path: u.pathname, params, headers: req.headers, ...(text ? { body: JSON.parse(text) } : {}) });
      const json = (status: number, v: unknown, headers: Record<string, string> = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(v));
      if (u.pathname === '/searxng/search') {
        if (params.format !== 'json') return void res.writeHead(403).end('Forbidden');
        const page = Number(params.pageno ?? 1);
        return void json(200, { query: params.q, number_of_results: 0, results: searxngPage(params.q!, page), answers: [], corrections: [], infoboxes: [], suggestions: [], unresponsive_engines: [] });
      }
      if (u.pathname === '/searxng-html/search') return void res.writeHead(403).end('Forbidden');
      if (u.pathname === '/res/v1/web/search') {
        if (req.headers['x-subscription-token'] !== BRAVE_KEY) return void json(422, { type: 'ErrorResponse', error: { code: 'SUBSCRIPTION_TOKEN_INVALID', status: 422 } });
        if (params.q === 'rate limited') return void json(429, { type: 'ErrorResponse', error: { code: 'RATE_LIMITED', status: 429 } }, { 'x-ratelimit-remaining': '0' });
        const offset = Number(params.offset ?? 0);
        const count = Number(params.count ?? 20);
        const results = offset > 1 ? [] : Array.from({ length: count }, (_, i) => ({
          type: 'search_result',
          subtype: 'generic',
          title: `<strong>Brave</strong> ${offset * count + i}`,
          url: `https://brave.example.com/${offset * count + i}`,
          description: `How to fix a <strong>flat</strong> tyre &amp; more`,
          page_age: '2024-03-01T00:00:00',
          age: 'March 1, 2024',
          profile: { name: 'Example' },
          language: 'en',
          family_friendly: true,
        }));
        return void json(200, { type: 'search', query: { original: params.q }, web: { type: 'search', results, family_friendly: true } });
      }
      if (u.pathname === '/api/find' && req.method === 'POST') {
        if (req.headers['x-token'] !== 'json-key') return void json(401, { error: 'no' });
        const b = JSON.parse(text) as { query: string; limit: number };
        return void json(200, { data: { items: Array.from({ length: b.limit }, (_, i) => ({ link: `https://kb.example.net/${i}`, name: `Item ${i}`, snippet: `About ${b.query}`, date: '2024-02-02', by: 'KB', relevance: 0.9 - i / 100 })) } });
      }
      if (u.pathname === '/redirect/search') return void res.writeHead(302, { location: `http://localhost:${port}/searxng/search?q=x&format=json` }).end();
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  const store = new LocalResourceStore({ fieldManager: 'test' });
  // Handed to QuarryNamespace docs by the label (engine/src/lib/secret-refs.ts).
  const key = (ns: string, name: string, value: string) => store.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: ns, name, labels: { 'quarry.dev/namespace': 'docs' } }, data: { apiKey: Buffer.from(value).toString('base64') } });
  await key('team-b', 'search-key', BRAVE_KEY);
  await key('team-j', 'search-key', 'json-key');
  const qns = new Map<string, WebSearchNamespace>();
  const ns = (k8s: string, webSearch?: NamespaceWebSearchSpec) => qns.set(`${k8s}/docs`, { metadata: { namespace: k8s, name: 'docs' }, spec: webSearch ? { webSearch } : {} });
  ns('team-a', { engine: 'searxng', url: `${base}/searxng/search` });
  ns('team-b', { engine: 'brave', url: `${base}/res/v1/web/search`, apiKeySecretRef: { name: 'search-key' } });
  ns('team-c');
  // Names team-b's Secret, but in its own Kubernetes namespace, where there is none.
  ns('team-d', { engine: 'brave', url: `${base}/res/v1/web/search`, apiKeySecretRef: { name: 'search-key' } });
  ns('team-h', { engine: 'searxng', url: `${base}/searxng-html/search` });
  ns('team-j', { engine: 'json', url: `${base}/api/find`, apiKeySecretRef: { name: 'search-key' }, json: { method: 'POST', queryParam: 'query', countParam: 'limit', resultsPath: 'data.items', apiKeyHeader: 'X-Token', fields: { url: 'link', title: 'name', text: 'snippet', publishedDate: 'date', author: 'by', score: 'relevance' } } });
  ns('team-r', { engine: 'searxng', url: `${base}/redirect/search` });
  const resolve = (n: string) => qns.get(n) ?? (() => { throw new QuarryError('NotFoundError', `namespace '${n}' not found`); })();
  s = await seed({ ssrfAllowCidrs: ['127.0.0.1/32'], webSearch: namespaceWebSearch({ resolve, readSecret: secretReader(store), allowCidrs: ['127.0.0.1/32'] }) });
});

after(() => new Promise<void>((r) => server.close(() => r())));

type Body = { documents: Doc[]; stage_statistics: { stages: Record<string, { metadata?: Record<string, unknown> }> } };
const search = (params: Record<string, unknown>, namespace: string, stages: unknown[] = []) =>
  s.engine
    .execute({ ...normalizeDefinition({ collection_identifiers: ['products'], input_schema: { query: { type: 'text' } }, stages: [...stages, { stage_name: 'web', config: { stage_id: 'external_web_search', parameters: params } }], cache_config: { enabled: false } }), namespace }, { inputs: { query: 'flat tyre' } })
    .then((r) => r.body as unknown as Body);
const meta = (d: Doc) => d.metadata as Record<string, unknown>;
const last = () => seen[seen.length - 1]!;
const fails = (status: number, re: RegExp) => (e: unknown) => e instanceof QuarryError && e.status === status && re.test(e.message);

describe('external_web_search engines', () => {
  it('searxng: the JSON API with q, format=json, pages until num_results; domain and date filters applied to its results', async () => {
    seen.length = 0;
    const b = await search({ num_results: 9, category: 'news', start_published_date: '2020-01-01', include_domains: ['example.org'] }, 'team-a/docs');
    assert.deepEqual(seen.map((x) => [x.path, x.params.q, x.params.format, x.params.pageno, x.params.categories]), [
      ['/searxng/search', 'flat tyre', 'json', '1', 'news'],
      ['/searxng/search', 'flat tyre', 'json', '2', 'news'],
    ]);
    const urls = b.documents.map((d) => meta(d).url);
    assert.equal(urls.length, 9);
    assert.ok(!urls.includes('https://elsewhere.net/3'), 'include_domains drops other hosts');
    assert.ok(!urls.includes('https://docs.example.org/5'), 'a result dated before start_published_date is dropped');
    assert.ok(urls.includes('https://docs.example.org/6'), 'an undated one is kept');
    assert.deepEqual(b.documents[0]!.metadata, { url: 'https://docs.example.org/0', title: 'SearXNG 0 for flat tyre', text: 'Snippet 0', published_date: '2024-06-01T00:00:00', author: null, search_query: 'flat tyre', search_position: 0 });
    assert.equal(b.documents[0]!.score, 2);
    assert.equal(b.stage_statistics.stages.web!.metadata?.search_engine, 'searxng');
  });

  it('searxng without the json format enabled: a 503 that says how to enable it', async () => {
    await assert.rejects(search({}, 'team-h/docs'), fails(503, /searxng.*HTTP 403.*search\.formats/));
  });

  it("brave: X-Subscription-Token from the namespace's Secret, count ≤ 20 with offset pages, freshness from the start date, snippets as text", async () => {
    seen.length = 0;
    const b = await search({ num_results: 25, start_published_date: '2024-01-01', include_text: true }, 'team-b/docs');
    assert.deepEqual(seen.map((x) => [x.path, x.headers['x-subscription-token'], x.params.count, x.params.offset]), [
      ['/res/v1/web/search', BRAVE_KEY, '20', '0'],
      ['/res/v1/web/search', BRAVE_KEY, '20', '1'],
    ]);
    assert.match(seen[0]!.params.freshness!, /^2024-01-01to\d{4}-\d{2}-\d{2}$/);
    assert.equal(b.documents.length, 25);
    assert.deepEqual(b.documents[0]!.metadata, { url: 'https://brave.example.com/0', title: 'Brave 0', text: 'How to fix a flat tyre & more', published_date: '2024-03-01T00:00:00', author: null, search_query: 'flat tyre', search_position: 0 });
    // Brave gives no scores: rank order, 1/(1 + position).
    assert.deepEqual(b.documents.slice(0, 3).map((d) => d.score), [1, 1 / 2, 1 / 3]);
  });

  it('brave rate limiting is a 429; a bad key the engine refuses is a 503 that names the key', async () => {
    await assert.rejects(search({ query: 'rate limited' }, 'team-b/docs'), fails(429, /brave.*rate limiting/));
    await assert.rejects(search({}, 'team-d/docs'), fails(400, /Secret 'search-key'.*team-d/));
  });

  it('json: a described endpoint — POST body with its own parameter names, results at resultsPath, fields mapped, key in its header', async () => {
    seen.length = 0;
    const b = await search({ num_results: 3 }, 'team-j/docs', [vectorSearch([1, 0, 0, 0], { final_top_k: 1 })]);
    assert.deepEqual(last().body, { query: 'flat tyre', limit: 3 });
    assert.equal(last().headers['x-token'], 'json-key');
    assert.equal(b.documents.length, 4, 'appended after the input document');
    assert.deepEqual(b.documents[1]!.metadata, { url: 'https://kb.example.net/0', title: 'Item 0', text: 'About flat tyre', published_date: '2024-02-02', author: 'KB', search_query: 'flat tyre', search_position: 0 });
    assert.equal(b.documents[1]!.score, 0.9);
  });

  it('a namespace without spec.webSearch uses the engine default (none here: 403); another host than the configured one is never reached', async () => {
    await assert.rejects(search({}, 'team-c/docs'), fails(403, /spec\.webSearch/));
    // A redirect from the configured endpoint to another host (localhost) is refused by the SSRF guard's allow-list.
    await assert.rejects(search({}, 'team-r/docs'), fails(403, /not in allowed_domains/));
  });
});
