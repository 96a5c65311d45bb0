/**
 * api_call (reference §4.5): one HTTP call per document to an allow-listed host, response stored at output_field.
 * Security: allowed_domains is required (never `*`); SSRF guard (../../ssrf.ts) after DNS resolution and on every
 * redirect (followed by hand, at most 5); timeout; response size cap; credentials only by secret reference.
 */
import { QuarryError, badRequest } from '#core/lib/errors.ts';
import { getPath, withPath } from '../../paths.ts';
import { guardedRequest } from '../../ssrf.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { applies, filterSchema } from '../common.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['allowed_domains'],
  properties: {
    url: { type: 'string', minLength: 1, default: 'https://httpbin.org/get' },
    allowed_domains: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1, not: { const: '*' } } },
    method: { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], default: 'GET' },
    auth: {
      type: 'object',
      properties: {
        type: { enum: ['none', 'api_key', 'bearer', 'basic', 'custom_header'], default: 'none' },
        secret_ref: { type: 'string' },
        location: { enum: ['header', 'query'], default: 'header' },
        key: { type: 'string' },
      },
    },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    body: {},
    output_field: { type: 'string', minLength: 1, default: 'metadata.api_response' },
    timeout: { type: 'number', minimum: 1, maximum: 60, default: 10 },
    max_response_size: { type: 'integer', minimum: 1024, default: 10485760 },
    response_path: { type: 'string' },
    rate_limit: { type: 'object', properties: { requests_per_minute: { type: 'integer', minimum: 1 }, requests_per_hour: { type: 'integer', minimum: 1 } } },
    when: filterSchema,
    on_error: { enum: ['skip', 'remove', 'raise'], default: 'skip' },
  },
};

/** Per-host request timestamps for `rate_limit` (process-wide, like the documented per-domain limit). */
const calls = new Map<string, number[]>();
export function rateLimited(host: string, limit: { requests_per_minute?: unknown; requests_per_hour?: unknown } | undefined, now = Date.now()): string | undefined {
  if (!limit) return undefined;
  const list = (calls.get(host) ?? []).filter((t) => now - t < 3_600_000);
  const perMin = typeof limit.requests_per_minute === 'number' ? limit.requests_per_minute : undefined;
  const perHour = typeof limit.requests_per_hour === 'number' ? limit.requests_per_hour : undefined;
  if (perMin !== undefined && list.filter((t) => now - t < 60_000).length >= perMin) return `rate limit of ${perMin} requests per minute to ${host} reached`;
  if (perHour !== undefined && list.length >= perHour) return `rate limit of ${perHour} requests per hour to ${host} reached`;
  list.push(now);
  calls.set(host, list);
  return undefined;
}

/** `$.a.b[0].c` subset of JSONPath. */
export function jsonPath(value: unknown, path: string): unknown {
  const parts = path.replace(/^\$\.?/, '').match(/[^.[\]]+|\[\d+\]/g) ?? [];
  let cur = value;
  for (const p of parts) {
    const key = p.startsWith('[') ? Number(p.slice(1, -1)) : p;
    cur = getPath(cur, String(key));
    if (cur === undefined) return undefined;
  }
  return cur;
}

async function authHeaders(ctx: StageContext, auth: Record<string, unknown> | undefined, url: URL, headers: Record<string, string>): Promise<void> {
  const type = (auth?.type as string | undefined) ?? 'none';
  if (type === 'none') return;
  const ref = auth?.secret_ref;
  if (typeof ref !== 'string' || !ref) throw badRequest(`stage '${ctx.stageName}': auth.secret_ref is required for auth type ${type}`, { stage: ctx.stageName, parameter: 'auth.secret_ref' });
  const secret = ctx.deps.secrets ? await ctx.deps.secrets(ref, ctx.namespace) : undefined;
  if (secret === undefined) throw badRequest(`stage '${ctx.stageName}': secret '${ref}' is not configured`, { stage: ctx.stageName, parameter: 'auth.secret_ref' });
  const key = auth?.key as string | undefined;
  if ((type === 'api_key' || type === 'custom_header') && !key) throw badRequest(`stage '${ctx.stageName}': auth.key is required for auth type ${type}`, { stage: ctx.stageName, parameter: 'auth.key' });
  if (type === 'bearer') headers.authorization = `Bearer ${secret}`;
  else if (type === 'basic') headers.authorization = `Basic ${Buffer.from(secret).toString('base64')}`;
  else if (type === 'custom_header') headers[key!.toLowerCase()] = secret;
  else if (auth?.location === 'query') url.searchParams.set(key!, secret);
  else headers[key!.toLowerCase()] = secret;
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const allowed = p.allowed_domains as string[];
  if (allowed.some((a) => a.trim() === '*')) throw badRequest(`stage '${ctx.stageName}': allowed_domains must list hosts; '*' is never allowed`, { stage: ctx.stageName, parameter: 'allowed_domains' });
  const out: Doc[] = [];
  const errors: { document_id: unknown; error: string }[] = [];
  for (const d of docs) {
    if (!applies(d, p.when)) {
      out.push(d);
      continue;
    }
    try {
      const rawUrl = String(ctx.renderForDoc(p.url, d, 'url') ?? '');
      let url: URL;
      try {
        url = new URL(rawUrl);
      } catch {
        throw badRequest(`stage '${ctx.stageName}': parameter 'url' rendered '${rawUrl}', which is not a valid URL`, { stage: ctx.stageName, parameter: 'url' });
      }
      const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'quarry-api-call/1' };
      for (const [k, v] of Object.entries((ctx.renderForDoc(p.headers ?? {}, d, 'headers') as Record<string, unknown>) ?? {})) {
        if (/^(authorization|cookie|host)$/i.test(k)) throw badRequest(`stage '${ctx.stageName}': header '${k}' may not be set in headers; use auth`, { stage: ctx.stageName, parameter: `headers.${k}` });
        headers[k.toLowerCase()] = String(v);
      }
      await authHeaders(ctx, p.auth as Record<string, unknown> | undefined, url, headers);
      const limited = rateLimited(url.host, p.rate_limit as Record<string, unknown> | undefined);
      if (limited) throw new QuarryError('TooManyRequestsError', `stage '${ctx.stageName}': ${limited}`, { stage: ctx.stageName, parameter: 'rate_limit' });
      let body: string | undefined;
      if (p.body !== undefined && p.method !== 'GET') {
        const rendered = ctx.renderForDoc(p.body, d, 'body');
        body = typeof rendered === 'string' ? rendered : JSON.stringify(rendered);
        headers['content-type'] ??= 'application/json';
      }
      const res = await guardedRequest(url.toString(), {
        method: p.method as string,
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs: (p.timeout as number) * 1000,
        maxBytes: p.max_response_size as number,
        allowed,
        policy: { allowCidrs: ctx.deps.ssrfAllowCidrs ?? [] },
        ...(ctx.deps.lookup ? { lookup: ctx.deps.lookup } : {}),
        sizeParameter: 'max_response_size',
        timeoutParameter: 'timeout',
      });
      if (res.status >= 400) throw new QuarryError('BadRequestError', `api_call to ${url.host} answered HTTP ${res.status}`, { status: res.status });
      const text = res.bytes.toString('utf8');
      let value: unknown = text;
      try {
        value = JSON.parse(text);
      } catch {
        // non-JSON responses are stored as text
      }
      if (typeof p.response_path === 'string') value = jsonPath(value, p.response_path);
      out.push(withPath(d, p.output_field as string, value));
    } catch (e) {
      const msg = (e as Error).message;
      if (p.on_error === 'raise') {
        if (e instanceof QuarryError) throw e;
        throw new QuarryError('BadRequestError', `stage '${ctx.stageName}': api_call failed: ${msg}`, { stage: ctx.stageName });
      }
      errors.push({ document_id: d.document_id ?? null, error: msg });
      if (p.on_error === 'skip') out.push(d);
    }
  }
  if (errors.length) ctx.metadata.errors = errors.slice(0, 20);
  return out;
}

export const stage: StageModule = {
  id: 'api_call',
  category: 'apply',
  description: 'Enrich documents with external API calls',
  icon: 'external-link',
  parameterSchema,
  perDocParameters: ['url', 'headers', 'body'],
  execute,
};
