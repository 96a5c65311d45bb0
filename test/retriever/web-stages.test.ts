/**
 * web_scrape and external_web_search against a real HTTP server on loopback that this test starts and explicitly
 * allows (EngineDeps.ssrfAllowCidrs: 127.0.0.1/32): pages fetched and reduced to text, redirects followed, the
 * search service called with the reference's parameters and its key, results appended with the documented fields;
 * without the allow-list the SSRF guard refuses loopback (403).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import { webSearchFromEnv } from '#engine/websearch/namespace-web-search.ts';
import type { Doc } from '#engine/retriever/types.ts';
import { seed, vectorSearch, type Seeded } from './fixtures.ts';

const PAGE = `<!doctype html><html><head><title>Quarry &amp; friends</title><meta name="description" content="A test page">
<script>var secret = "script text";</script><style>body { color: red }</style></head>
<body><h1>Hello web</h1><!-- a comment --><p>Flat tyres are fixed with a patch&nbsp;kit.</p><ul><li>one</li><li>two</li></ul></body></html>`;

let server: http.Server;
let base: string;
const seen: { method: string; url: string; key?: string; body?: Record<string, unknown> }[] = [];
let allowed: Seeded;
let strict: Seeded;

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : undefined;
      seen.push({ method: req.method!, url: req.url!, ...(req.headers['x-api-key'] ? { key: String(req.headers['x-api-key']) } : {}), ...(body ? { body } : {}) });
      if (req.url === '/redirect') return void res.writeHead(302, { location: '/page' }).end();
      if (req.url?.startsWith('/page')) return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      if (req.url === '/missing') return void res.writeHead(404).end('no');
      if (req.method === 'POST' && req.url === '/search') {
        if (req.headers['x-api-key'] !== 'search-key') return void res.writeHead(401).end('{}');
        const n = Number(body?.numResults ?? 10);
        const results = Array.from({ length: n }, (_, i) => ({ url: `https://example.org/${i}`, title: `Result ${i}`, text: `About ${String(body?.query)}`, publishedDate: '2024-01-02', author: 'A. Writer', score: 1 - i / 10 }));
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results }));
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The engine's own search, from its environment (exa, the default engine), as the engine runtime wires it.
  const exa = (allowCidrs: string[]) => async () => webSearchFromEnv({ QUARRY_WEB_SEARCH_URL: `${base}/search`, QUARRY_WEB_SEARCH_API_KEY: 'search-key' }, allowCidrs);
  allowed = await seed({ ssrfAllowCidrs: ['127.0.0.1/32'], webSearch: exa(['127.0.0.1/32']) });
  strict = await seed({ ssrfAllowCidrs: [], webSearch: exa([]) });
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const stage = (name: string, id: string, parameters: Record<string, unknown>) => ({ stage_name: name, config: { stage_id: id, parameters } });
const def = (stages: unknown[]) => normalizeDefinition({ collection_identifiers: ['products'], input_schema: { query: { type: 'text' } }, stages, cache_config: { enabled: false } });
const run = async (s: Seeded, stages: unknown[], inputs: Record<string, unknown> = { query: 'quarry' }) =>
  (await s.engine.execute(def(stages), { inputs })).body as unknown as { documents: Doc[]; stage_statistics: { stages: Record<string, { metadata?: Record<string, unknown> }> } };
const content = (d: Doc) => (d.metadata as { web_content?: Record<string, unknown> } | undefined)?.web_content;

describe('web_scrape', () => {
  it('a direct url with no input documents becomes a document: readable text, title, final URL after the redirect', async () => {
    const b = await run(allowed, [stage('scrape', 'web_scrape', { url: `${base}/redirect` })]);
    assert.equal(b.documents.length, 1);
    const c = content(b.documents[0]!)!;
    assert.equal(c.title, 'Quarry & friends');
    assert.equal(c.url, `${base}/redirect`);
    assert.equal(c.final_url, `${base}/page`);
    assert.equal(c.strategy_used, 'static');
    assert.match(String(c.text), /Hello web\nFlat tyres are fixed with a patch kit\.\none\ntwo/);
    assert.doesNotMatch(String(c.text), /script text|color: red|a comment/);
    assert.equal(c.content_length, String(c.text).length);
    assert.equal((c.metadata as Record<string, unknown>).description, 'A test page');
    assert.equal(c.html, undefined);
  });

  it('per document: the templated url is rendered for each one and its page stored at output_field', async () => {
    const before = seen.length;
    const b = await run(allowed, [vectorSearch([1, 0, 0, 0], { final_top_k: 3 }), stage('scrape', 'web_scrape', { url: `${base}/page?doc={{DOC.document_id}}`, output_field: 'page', include_html: true })]);
    assert.equal(b.documents.length, 3);
    for (const d of b.documents) {
      const page = (d as Record<string, unknown>).page as Record<string, unknown>;
      assert.equal(page.title, 'Quarry & friends');
      assert.equal(page.html, PAGE);
    }
    assert.deepEqual(seen.slice(before).map((r) => r.url).sort(), b.documents.map((d) => `/page?doc=${d.document_id}`).sort());
  });

  it('a failing page is skipped (on_error skip) with the error in the stage metadata, or raised (on_error raise)', async () => {
    const b = await run(allowed, [stage('scrape', 'web_scrape', { url: `${base}/missing` })]);
    assert.equal(b.documents.length, 1);
    assert.equal(content(b.documents[0]!), undefined);
    assert.match(JSON.stringify(b.stage_statistics.stages.scrape!.metadata?.errors), /HTTP 404/);
    await assert.rejects(run(allowed, [stage('scrape', 'web_scrape', { url: `${base}/missing`, on_error: 'raise' })]), (e: unknown) => e instanceof QuarryError && e.status === 400);
  });

  it('loopback is refused by the SSRF guard when the engine does not allow it (403), and nothing is fetched', async () => {
    const before = seen.length;
    await assert.rejects(run(strict, [stage('scrape', 'web_scrape', { url: `${base}/page`, on_error: 'raise' })]), (e: unknown) => e instanceof QuarryError && e.status === 403 && /loopback/.test(e.message));
    await assert.rejects(run(strict, [stage('scrape', 'web_scrape', { url: 'http://169.254.169.254/latest/meta-data/', on_error: 'raise' })]), (e: unknown) => e instanceof QuarryError && e.status === 403);
    assert.equal(seen.length, before);
  });

  it('strategy javascript and crawl mode are refused with a 400 naming the parameter', async () => {
    await assert.rejects(run(allowed, [stage('scrape', 'web_scrape', { url: `${base}/page`, strategy: 'javascript' })]), (e: unknown) => e instanceof QuarryError && e.status === 400 && (e.details as Record<string, unknown>).parameter === 'strategy');
    await assert.rejects(run(allowed, [stage('scrape', 'web_scrape', { url: `${base}/page`, max_depth: 2 })]), (e: unknown) => e instanceof QuarryError && e.status === 400 && (e.details as Record<string, unknown>).parameter === 'max_depth');
  });
});

describe('external_web_search', () => {
  it("calls the configured service with the reference's parameters and its key; results are documents with the documented fields", async () => {
    const before = seen.length;
    const b = await run(allowed, [stage('web', 'external_web_search', { num_results: 3, category: 'news', start_published_date: '2024-01-01', include_domains: ['example.org'] })], { query: 'flat tyre' });
    const call = seen.slice(before).find((r) => r.url === '/search')!;
    assert.equal(call.key, 'search-key');
    assert.deepEqual(call.body, { query: 'flat tyre', numResults: 3, useAutoprompt: true, startPublishedDate: '2024-01-01', category: 'news', includeDomains: ['example.org'], contents: { text: { maxCharacters: 1500 } } });
    assert.equal(b.documents.length, 3);
    b.documents.forEach((d, i) => {
      assert.deepEqual(d.metadata, { url: `https://example.org/${i}`, title: `Result ${i}`, text: 'About flat tyre', published_date: '2024-01-02', author: 'A. Writer', search_query: 'flat tyre', search_position: i });
      assert.equal(typeof d.score, 'number');
    });
  });

  it('results are appended after the input documents; the single-brace {INPUT.query} of the documented example works', async () => {
    const b = await run(allowed, [vectorSearch([1, 0, 0, 0], { final_top_k: 2 }), stage('web', 'external_web_search', { query: '{INPUT.query}', num_results: 2, include_text: false })], { query: 'bikes' });
    assert.equal(b.documents.length, 4);
    assert.equal((b.documents[2]!.metadata as Record<string, unknown>).search_query, 'bikes');
    assert.equal((b.documents[2]!.metadata as Record<string, unknown>).text, null);
  });

  it('a service on a private address the engine did not allow is refused (403); none configured is a 403 naming the setting', async () => {
    await assert.rejects(run(strict, [stage('web', 'external_web_search', {})]), (e: unknown) => e instanceof QuarryError && e.status === 403 && /loopback/.test(e.message));
    const bare = await seed({});
    const saved = { url: process.env.QUARRY_WEB_SEARCH_URL, engine: process.env.QUARRY_WEB_SEARCH_ENGINE };
    delete process.env.QUARRY_WEB_SEARCH_URL;
    delete process.env.QUARRY_WEB_SEARCH_ENGINE;
    try {
      await assert.rejects(run(bare, [stage('web', 'external_web_search', {})]), (e: unknown) => e instanceof QuarryError && e.status === 403 && /spec\.webSearch.*QUARRY_WEB_SEARCH_URL/.test(e.message));
    } finally {
      if (saved.url !== undefined) process.env.QUARRY_WEB_SEARCH_URL = saved.url;
      if (saved.engine !== undefined) process.env.QUARRY_WEB_SEARCH_ENGINE = saved.engine;
    }
  });
});
