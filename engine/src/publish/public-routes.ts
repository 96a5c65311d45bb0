/** Public pages of published retrievers: GET /p/{slug} (HTML), /p/{slug}/assets/*, /p/{slug}/api/config and /api/search. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { QuarryError, badRequest, notFound } from '../lib/errors.ts';
import { headerValue } from '../http/request-params.ts';
import type { Resource, ResourceStore } from '../ports/resource-store.ts';
import type { RetrieverEngine } from '../retriever/executor.ts';
import { SLUG, checkPassword, type PublishSpec } from './publish-api.ts';
import { RateLimiter } from './rate-limit.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ASSET_DIR = fileURLToPath(new URL('./assets/', import.meta.url));
const ASSETS: Record<string, string> = { 'page.js': 'text/javascript; charset=utf-8', 'page.css': 'text/css; charset=utf-8' };
/** No inline script or style; images from here and presigned object URLs; requests only back to this origin. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const MAX_PAGE_SIZE = 50;
const MAX_INPUT_CHARS = 2000;

export interface PublicRoutesDeps {
  resources: ResourceStore;
  engine: RetrieverEngine;
  /** The Kubernetes namespaces served (undefined: all). */
  served: readonly string[] | undefined;
  /** The path prefix of the pages; default /p. */
  prefix?: string;
}

interface DisplayConfig {
  title?: string;
  description?: string;
  logoUrl?: string;
  inputs?: { fieldName: string; label: string; inputType?: string; placeholder?: string; helperText?: string; required?: boolean; order?: number; suggestions?: string[] }[];
  exposedFields?: string[];
  layout?: { mode?: string; resultsLayout?: string; columns?: number; gap?: string; fullWidth?: boolean; pageSize?: number };
  fieldConfig?: Record<string, { format: string; formatOptions?: Record<string, unknown> }>;
  fieldMappings?: Record<string, string>;
  theme?: Record<string, unknown>;
  templateType?: string;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const snakeKeys = (o: Record<string, unknown> | undefined) => (o ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/([A-Z])/g, (_m, c: string) => `_${c.toLowerCase()}`), v])) : undefined);

/** A dot path of a document (top level first, then under metadata). */
export function fieldValue(doc: Record<string, unknown>, path: string): unknown {
  const walk = (root: unknown) => path.split('.').reduce<unknown>((v, k) => (isObj(v) ? v[k] : undefined), root);
  const v = walk(doc);
  return v !== undefined ? v : walk(doc.metadata);
}

export function registerPublicRoutes(app: FastifyInstance, deps: PublicRoutesDeps): void {
  const prefix = deps.prefix ?? '/p';
  const limiter = new RateLimiter();
  const assets = new Map(Object.keys(ASSETS).map((f) => [f, readFileSync(`${ASSET_DIR}${f}`)]));

  const published = async (slug: string): Promise<{ r: Resource; p: PublishSpec; d: DisplayConfig }> => {
    if (!SLUG.test(slug)) throw notFound('published retriever', slug);
    const lists = await Promise.all((deps.served ?? [undefined]).map((ns) => deps.resources.list('Retriever', ns === undefined ? {} : { namespace: ns })));
    const r = lists.flat().find((x) => !x.metadata.deletionTimestamp && (x.spec as { publish?: PublishSpec } | undefined)?.publish?.slug === slug);
    const spec = r?.spec as { publish?: PublishSpec; displayConfig?: DisplayConfig } | undefined;
    if (!r || !spec?.publish || !spec.displayConfig) throw notFound('published retriever', slug);
    return { r, p: spec.publish, d: spec.displayConfig };
  };
  const secure = (reply: FastifyReply) =>
    reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY');

  app.get(`${prefix}/:slug`, async (req, reply) => {
    const { slug } = req.params as { slug: string };
    const { d } = await published(slug);
    const base = `${prefix}/${slug}`;
    const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(d.title ?? slug)}</title>
${d.description ? `<meta name="description" content="${esc(d.description)}">` : ''}
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${base}/assets/page.css">
<script type="module" src="${base}/assets/page.js"></script>
</head>
<body data-base="${esc(base)}">
<a class="skip" href="#results">Skip to results</a>
<header class="head">
${d.logoUrl ? `<img class="logo" src="${esc(d.logoUrl)}" alt="">` : ''}
<h1>${esc(d.title ?? slug)}</h1>
${d.description ? `<p class="desc">${esc(d.description)}</p>` : ''}
</header>
<main>
<form id="search" class="search" role="search" novalidate>
<div id="fields"></div>
<div id="password-row" class="field" hidden>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
</div>
<button id="go" type="submit">Search</button>
</form>
<p id="status" class="status" role="status" aria-live="polite"></p>
<section id="results" class="results" aria-label="Results" tabindex="-1"></section>
<nav id="pager" class="pager" aria-label="Result pages" hidden>
<button id="prev" type="button">Previous</button>
<span id="page-info"></span>
<button id="next" type="button">Next</button>
</nav>
</main>
<noscript><p>This search page needs JavaScript.</p></noscript>
</body>
</html>
`;
    return secure(reply).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });

  app.get(`${prefix}/:slug/assets/:file`, async (req, reply) => {
    const { slug, file } = req.params as { slug: string; file: string };
    await published(slug);
    const body = assets.get(file);
    if (!body) throw notFound('asset', file);
    return secure(reply).type(ASSETS[file]!).header('cache-control', 'public, max-age=300').send(body);
  });

  app.get(`${prefix}/:slug/api/config`, async (req, reply) => {
    const { slug } = req.params as { slug: string };
    const { r, p, d } = await published(slug);
    const schema = ((r.spec as { inputSchema?: Record<string, Record<string, unknown>> }).inputSchema ?? {}) as Record<string, Record<string, unknown>>;
    const inputs = [...(d.inputs ?? [])]
      .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
      .map((i) => ({
        field_name: i.fieldName,
        label: i.label,
        input_type: i.inputType ?? 'text',
        placeholder: i.placeholder ?? null,
        helper_text: i.helperText ?? null,
        required: i.required ?? true,
        suggestions: i.suggestions ?? [],
        enum: Array.isArray(schema[i.fieldName]?.enum) ? schema[i.fieldName]!.enum : null,
      }));
    const layout = d.layout ?? {};
    return secure(reply).send({
      title: d.title ?? slug,
      description: d.description ?? null,
      inputs,
      exposed_fields: d.exposedFields ?? [],
      field_config: Object.fromEntries(Object.entries(d.fieldConfig ?? {}).map(([k, v]) => [k, { format: v.format, format_options: snakeKeys(v.formatOptions) ?? {} }])),
      field_mappings: d.fieldMappings ?? {},
      layout: { mode: layout.resultsLayout ?? layout.mode ?? 'grid', columns: layout.columns ?? 3, gap: layout.gap ?? '16px', full_width: layout.fullWidth ?? false, page_size: layout.pageSize ?? 10 },
      theme: d.theme ?? {},
      password_required: !!p.passwordHash,
      max_results: p.maxResultsPerQuery ?? 100,
    });
  });

  app.post(`${prefix}/:slug/api/search`, async (req: FastifyRequest, reply) => {
    const { slug } = req.params as { slug: string };
    const { r, p, d } = await published(slug);
    // Counted before the password check: guessing passwords is rate limited too.
    const wait = limiter.take(`${slug}|${req.ip}`, p.rateLimitPerMinute ?? 60);
    if (wait > 0) {
      void reply.header('retry-after', String(wait));
      throw new QuarryError('TooManyRequestsError', `Too many searches on this page: at most ${p.rateLimitPerMinute ?? 60} a minute; retry in ${wait} s`, { retry_after_seconds: wait, limit_per_minute: p.rateLimitPerMinute ?? 60 });
    }
    if (p.passwordHash) {
      const given = headerValue(req, 'x-retriever-password');
      if (!given) throw new QuarryError('UnauthorizedError', 'this page is password protected: send the password in X-Retriever-Password', { reason: 'password_required' });
      if (given.length > 200 || !(await checkPassword(given, p.passwordHash))) throw new QuarryError('UnauthorizedError', 'wrong password', { reason: 'wrong_password' });
    }
    const body = req.body ?? {};
    if (!isObj(body)) throw badRequest('the body must be a JSON object {inputs, page, page_size}', { field: 'body' });
    for (const k of Object.keys(body)) if (!['inputs', 'page', 'page_size'].includes(k)) throw badRequest(`${k} is not accepted here (send inputs, page, page_size)`, { field: k });
    const declared = new Map((d.inputs ?? []).map((i) => [i.fieldName, i]));
    const raw = body.inputs ?? {};
    if (!isObj(raw)) throw badRequest('inputs must be an object of the page\'s inputs', { field: 'inputs' });
    const inputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) {
      if (!declared.has(k)) throw badRequest(`inputs.${k} is not an input of this page (its inputs: ${[...declared.keys()].join(', ') || 'none'})`, { field: `inputs.${k}` });
      if (v === null || v === '') continue;
      if (!['string', 'number', 'boolean'].includes(typeof v)) throw badRequest(`inputs.${k} must be a string, number or boolean`, { field: `inputs.${k}` });
      if (typeof v === 'string' && v.length > MAX_INPUT_CHARS) throw badRequest(`inputs.${k} is longer than ${MAX_INPUT_CHARS} characters`, { field: `inputs.${k}` });
      inputs[k] = v;
    }
    for (const [k, i] of declared) if ((i.required ?? true) && inputs[k] === undefined) throw badRequest(`${i.label} is required`, { field: `inputs.${k}` });
    const int = (v: unknown, field: string, dflt: number, max: number) => {
      if (v === undefined || v === null) return dflt;
      if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) throw badRequest(`${field} must be an integer between 1 and ${max}`, { field });
      return v as number;
    };
    const maxResults = p.maxResultsPerQuery ?? 100;
    const pageSize = int(body.page_size, 'page_size', 10, MAX_PAGE_SIZE);
    const page = int(body.page, 'page', 1, Math.max(1, Math.ceil(maxResults / pageSize)));
    const offset = (page - 1) * pageSize;
    const limit = Math.min(pageSize, maxResults - offset);
    const k8s = r.metadata.namespace ?? '';
    const nsRef = (r.spec as { namespaceRef: string }).namespaceRef;
    const def = await deps.engine.load(r.metadata.name, k8s ? `${k8s}/${nsRef}` : nsRef);
    const res = await deps.engine.execute(def, { inputs, limit, offset, return_presigned_urls: true });
    const docs = (res.body.documents ?? []) as Record<string, unknown>[];
    const exposed = d.exposedFields ?? [];
    const total = Math.min(Number((res.body.pagination as { total?: unknown } | undefined)?.total ?? docs.length), maxResults);
    return secure(reply).header('cache-control', 'no-store').send({
      results: docs.map((doc) => ({
        document_id: doc.document_id ?? null,
        score: typeof doc.score === 'number' ? doc.score : null,
        fields: Object.fromEntries(exposed.map((f) => [f, fieldValue(doc, f) ?? null])),
      })),
      pagination: { page, page_size: pageSize, total, has_previous: page > 1, has_next: offset + docs.length < total },
      execution_id: res.body.execution_id ?? null,
    });
  });
}
