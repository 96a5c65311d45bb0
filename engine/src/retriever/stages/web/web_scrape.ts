/**
 * web_scrape (reference §4.5): fetches each document's page (url_field, or the templated `url`, which also creates a
 * document when there are none) through the SSRF guard — public addresses only unless the engine's allow-list opens a
 * range, redirects re-checked, a size cap and a timeout — and stores `{text, title, url, final_url, content_length,
 * metadata, strategy_used}` at output_field. Quarry runs no browser: `strategy: javascript` and crawl mode are refused
 * with a 400 naming the parameter; `auto` fetches statically.
 */
import { createHash } from 'node:crypto';
import { QuarryError, badRequest } from '#core/lib/errors.ts';
import { getPath, withPath } from '../../paths.ts';
import { guardedRequest } from '../../ssrf.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias, applies, filterSchema } from '../common.ts';
import { htmlToText } from './html-text.ts';

const MAX_BYTES = 10 * 1024 * 1024;

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    url: { type: 'string', minLength: 1 },
    url_field: { type: 'string', minLength: 1, default: 'metadata.url' },
    output_field: { type: 'string', minLength: 1, default: 'metadata.web_content' },
    strategy: { enum: ['static', 'javascript', 'auto'], default: 'auto' },
    timeout: { type: 'number', minimum: 1, maximum: 60, default: 10 },
    include_html: { type: 'boolean', default: false },
    min_content_length: { type: 'integer', minimum: 100, default: 500 },
    batch_size: { type: 'integer', minimum: 1, maximum: 20, default: 5 },
    max_depth: { type: 'integer', minimum: 0, maximum: 5 },
    max_pages: { type: 'integer', minimum: 1, maximum: 100 },
    same_domain_only: { type: 'boolean', default: true },
    url_patterns: { type: 'object' },
    delay_between_requests: { type: 'number', minimum: 0, maximum: 5, default: 0.5 },
    when: filterSchema,
    on_error: { enum: ['skip', 'remove', 'raise'], default: 'skip' },
  },
};

export interface ScrapedPage {
  text: string;
  title: string;
  url: string;
  final_url: string;
  content_length: number;
  metadata: Record<string, unknown>;
  strategy_used: 'static';
  html?: string;
}

/** One page through the SSRF guard (shared with tests and other stages). */
export async function scrape(ctx: StageContext, url: string): Promise<ScrapedPage> {
  const p = ctx.params;
  const res = await guardedRequest(url, {
    method: 'GET',
    headers: { accept: 'text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5', 'user-agent': 'quarry-web-scrape/1' },
    timeoutMs: (p.timeout as number) * 1000,
    maxBytes: MAX_BYTES,
    policy: { allowCidrs: ctx.deps.ssrfAllowCidrs ?? [] },
    ...(ctx.deps.lookup ? { lookup: ctx.deps.lookup } : {}),
    who: 'web_scrape',
    sizeParameter: `the page size limit`,
    timeoutParameter: 'timeout',
    signal: ctx.signal,
  });
  if (res.status >= 400) throw new QuarryError('BadRequestError', `web_scrape: ${url} answered HTTP ${res.status}`, { url, status: res.status });
  const raw = res.bytes.toString('utf8');
  const html = /html|xml/i.test(res.contentType) || /^\s*</.test(raw);
  const page = html ? htmlToText(raw) : { title: '', text: raw.trim() };
  return {
    text: page.text,
    title: page.title,
    url,
    final_url: res.url ?? url,
    content_length: page.text.length,
    metadata: {
      status_code: res.status,
      content_type: res.contentType,
      ...('description' in page && page.description ? { description: page.description } : {}),
      below_min_content_length: page.text.length < (p.min_content_length as number),
    },
    strategy_used: 'static',
    ...(p.include_html ? { html: raw } : {}),
  };
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const refuse = (parameter: string, why: string) => badRequest(`stage '${ctx.stageName}': ${why}`, { stage: ctx.stageName, parameter });
  if (p.strategy === 'javascript') throw refuse('strategy', "strategy 'javascript' needs a browser, which Quarry does not run: use 'static' or 'auto' (pages are fetched as served)");
  if ((typeof p.max_depth === 'number' && p.max_depth > 0) || p.max_pages !== undefined) throw refuse(p.max_pages !== undefined ? 'max_pages' : 'max_depth', 'crawl mode (max_depth, max_pages) is not supported: scrape the listed URLs one document each');
  const direct = typeof p.url === 'string';
  // With `url` and no input documents, the page becomes a document of its own.
  const input: Doc[] = direct && docs.length === 0 ? [{ document_id: `web_${createHash('sha256').update(String(p.url)).digest('hex').slice(0, 16)}` }] : docs;
  const errors: { document_id: unknown; error: string }[] = [];
  const one = async (d: Doc): Promise<Doc | undefined> => {
    if (!applies(d, p.when)) return d;
    try {
      const url = direct ? String(ctx.renderForDoc(p.url, d, 'url') ?? '') : getPath(d, p.url_field as string);
      if (typeof url !== 'string' || url === '') {
        if (direct) throw refuse('url', "'url' rendered an empty string");
        return d; // a document without a URL passes through
      }
      return withPath(d, p.output_field as string, await scrape(ctx, url));
    } catch (e) {
      if (p.on_error === 'raise') throw e instanceof QuarryError ? e : new QuarryError('BadRequestError', `stage '${ctx.stageName}': web_scrape failed: ${(e as Error).message}`, { stage: ctx.stageName });
      errors.push({ document_id: d.document_id ?? null, error: (e as Error).message });
      return p.on_error === 'remove' ? undefined : d;
    }
  };
  const out: Doc[] = [];
  const size = p.batch_size as number;
  for (let i = 0; i < input.length; i += size) {
    for (const d of await Promise.all(input.slice(i, i + size).map(one))) if (d) out.push(d);
  }
  if (errors.length) ctx.metadata.errors = errors.slice(0, 20);
  ctx.metadata.pages_scraped = input.length - errors.length;
  return out;
}

export const stage: StageModule = {
  id: 'web_scrape',
  category: 'apply',
  description: 'Fetch web pages and extract their text (static fetch through the SSRF guard)',
  icon: 'globe',
  parameterSchema,
  normalize: (params) => alias(params, { result_field: 'output_field' }),
  perDocParameters: ['url'],
  execute,
};
