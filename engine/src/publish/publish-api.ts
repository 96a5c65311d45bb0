/** Publish API (reference §3.10): POST|GET|PATCH|DELETE /v1/retrievers/{id}/publish and …/publish/availability. */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { QuarryError, validationError } from '../lib/errors.ts';
import type { Resource } from '../ports/resource-store.ts';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const SLUG = /^[a-z0-9][a-z0-9-]*[a-z0-9]$/;

/** spec.publish as stored in the Retriever resource (see resources/kinds/retriever.ts). */
export interface PublishSpec {
  slug: string;
  passwordHash?: string;
  rateLimitPerMinute?: number;
  maxResultsPerQuery?: number;
}

/** A salted scrypt hash, `scrypt$<salt>$<hash>` (hex): what spec.publish.passwordHash keeps. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('hex')}$${(await scrypt(password, salt, 32)).toString('hex')}`;
}

/** Whether `password` matches a stored hash (constant-time comparison of the derived keys). */
export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [alg, salt, hash] = stored.split('$');
  if (alg !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'hex');
  const got = await scrypt(password, Buffer.from(salt, 'hex'), want.length);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A slug from a display name: lowercase words joined by hyphens. */
export function slugOf(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50).replace(/-+$/, '');
}

export interface PublishRouteDeps {
  /** The retriever route item path, e.g. /v1/retrievers/:retriever_id. */
  item: string;
  /** The Retriever the request names (404/403 as the management routes answer). */
  find(req: FastifyRequest): Promise<Resource>;
  /** Every Retriever the engine serves (slug uniqueness). */
  all(): Promise<Resource[]>;
  /** Validates and stores a new spec for `current` (422 naming API fields); `displayConfig` is the API's display_config. */
  save(req: FastifyRequest, current: Resource, spec: Record<string, unknown>, displayConfig?: unknown): Promise<Resource>;
  /** The retriever's API id. */
  idOf(r: Resource): string;
}

/** The public URL of a page: the request's own origin, /p/<slug>. */
export function publicUrl(req: FastifyRequest, slug: string): string {
  const proto = (req.headers['x-forwarded-proto'] as string | undefined)?.split(',')[0]?.trim() || req.protocol;
  return `${proto}://${req.headers.host ?? 'localhost'}/p/${slug}`;
}

const PUBLISH_FIELDS = ['display_name', 'public_name', 'description', 'icon_base64', 'display_config', 'rate_limit_config', 'password', 'password_secret_name', 'include_metadata', 'tags', 'category'];
const TIERS: Record<string, number> = { standard: 60, elevated: 300, enterprise: 1000, unlimited: 100000 };

function rateLimitIn(v: unknown, prev: PublishSpec | undefined): Pick<PublishSpec, 'rateLimitPerMinute' | 'maxResultsPerQuery'> {
  const out = { rateLimitPerMinute: prev?.rateLimitPerMinute ?? 60, maxResultsPerQuery: prev?.maxResultsPerQuery ?? 100 };
  if (v === undefined || v === null) return out;
  if (!isObj(v)) throw validationError('rate_limit_config must be an object such as {"requests_per_minute": 60}', { field: 'rate_limit_config' });
  const known = ['enabled', 'tier', 'requests_per_minute', 'requests_per_hour', 'requests_per_day', 'max_results_per_query', 'enable_ip_limits', 'max_requests_per_ip_hour'];
  for (const k of Object.keys(v)) if (!known.includes(k)) throw validationError(`rate_limit_config.${k} is not a known field (known: ${known.join(', ')})`, { field: `rate_limit_config.${k}` });
  if (v.tier !== undefined && v.tier !== null) {
    if (typeof v.tier !== 'string' || !(v.tier in TIERS)) throw validationError(`rate_limit_config.tier must be one of ${Object.keys(TIERS).join(', ')}`, { field: 'rate_limit_config.tier' });
    out.rateLimitPerMinute = TIERS[v.tier]!;
  }
  if (v.enabled === false) out.rateLimitPerMinute = TIERS.unlimited!;
  const int = (x: unknown, field: string, max: number) => {
    if (!Number.isInteger(x) || (x as number) < 1 || (x as number) > max) throw validationError(`rate_limit_config.${field} must be an integer between 1 and ${max}`, { field: `rate_limit_config.${field}` });
    return x as number;
  };
  if (v.requests_per_minute !== undefined && v.requests_per_minute !== null) out.rateLimitPerMinute = int(v.requests_per_minute, 'requests_per_minute', 100000);
  if (v.max_results_per_query !== undefined && v.max_results_per_query !== null) out.maxResultsPerQuery = int(v.max_results_per_query, 'max_results_per_query', 1000);
  return out;
}

/** The publication view answered by the publish routes (the SDK's PublishRetrieverResponse plus Quarry's settings). */
function view(req: FastifyRequest, r: Resource, idOf: (r: Resource) => string) {
  const p = (r.spec as { publish?: PublishSpec }).publish!;
  const url = publicUrl(req, p.slug);
  return {
    public_id: p.slug,
    public_name: p.slug,
    retriever_id: idOf(r),
    public_url: url,
    short_url: url,
    password_protected: !!p.passwordHash,
    rate_limit_config: { enabled: true, requests_per_minute: p.rateLimitPerMinute ?? 60, max_results_per_query: p.maxResultsPerQuery ?? 100 },
  };
}

export function registerPublishRoutes(app: FastifyInstance, deps: PublishRouteDeps): void {
  const slugTaken = async (slug: string, self: Resource) =>
    (await deps.all()).some((x) => (x.spec as { publish?: PublishSpec } | undefined)?.publish?.slug === slug && x.metadata.uid !== self.metadata.uid && !x.metadata.deletionTimestamp);

  const publish = async (req: FastifyRequest) => {
    const current = await deps.find(req);
    const body = req.body ?? {};
    if (!isObj(body)) throw validationError('the body must be a JSON object {public_name, password, rate_limit_config, display_config}', { field: 'body' });
    for (const k of Object.keys(body)) {
      if (!PUBLISH_FIELDS.includes(k)) throw validationError(`${k} is not a field of a publish request (fields: ${PUBLISH_FIELDS.join(', ')})`, { field: k });
    }
    if (body.password_secret_name !== undefined && body.password_secret_name !== null) {
      throw validationError('password_secret_name is not supported: send the password itself in password (only its scrypt hash is stored)', { field: 'password_secret_name' });
    }
    const spec = structuredClone((current.spec ?? {}) as Record<string, unknown>);
    const prev = spec.publish as PublishSpec | undefined;
    let slug = prev?.slug;
    if (body.public_name !== undefined && body.public_name !== null) {
      if (typeof body.public_name !== 'string' || body.public_name.length < 3 || body.public_name.length > 50 || !SLUG.test(body.public_name)) {
        throw validationError('public_name must be 3 to 50 lowercase letters, digits and hyphens, starting and ending with a letter or digit, e.g. product-search', { field: 'public_name' });
      }
      slug = body.public_name;
    }
    if (!slug && typeof body.display_name === 'string') slug = slugOf(body.display_name);
    if (!slug) slug = slugOf(current.metadata.name);
    if (slug.length < 3 || !SLUG.test(slug)) throw validationError(`cannot derive a public name from '${current.metadata.name}': send public_name`, { field: 'public_name' });
    if (await slugTaken(slug, current)) throw new QuarryError('AlreadyExistsError', `public name '${slug}' is taken by another published retriever: choose another public_name`, { field: 'public_name', public_name: slug });
    let passwordHash = prev?.passwordHash;
    if (body.password === null) passwordHash = undefined;
    else if (body.password !== undefined) {
      if (typeof body.password !== 'string' || body.password.length < 4 || body.password.length > 200) throw validationError('password must be a string of 4 to 200 characters (null removes it)', { field: 'password' });
      passwordHash = await hashPassword(body.password);
    }
    spec.publish = { slug, ...(passwordHash ? { passwordHash } : {}), ...rateLimitIn(body.rate_limit_config, prev) };
    const saved = await deps.save(req, current, spec, body.display_config ?? undefined);
    return view(req, saved, deps.idOf);
  };

  app.post(`${deps.item}/publish`, publish);
  app.patch(`${deps.item}/publish`, publish);
  app.get(`${deps.item}/publish`, async (req) => {
    const r = await deps.find(req);
    if (!(r.spec as { publish?: unknown }).publish) throw new QuarryError('NotFoundError', `retriever '${deps.idOf(r)}' is not published: POST …/publish publishes it`, { resource: 'publication', id: deps.idOf(r) });
    return view(req, r, deps.idOf);
  });
  app.delete(`${deps.item}/publish`, async (req) => {
    const current = await deps.find(req);
    const spec = structuredClone((current.spec ?? {}) as Record<string, unknown>);
    const was = (spec.publish as PublishSpec | undefined)?.slug;
    if (!was) throw new QuarryError('NotFoundError', `retriever '${deps.idOf(current)}' is not published`, { resource: 'publication', id: deps.idOf(current) });
    delete spec.publish;
    await deps.save(req, current, spec);
    return { success: true, retriever_id: deps.idOf(current), public_name: was, message: `retriever unpublished: /p/${was} is gone` };
  });
  app.get(`${deps.item}/publish/availability`, async (req) => {
    const current = await deps.find(req);
    const name = (req.query as Record<string, unknown>).public_name;
    if (typeof name !== 'string' || name.length < 3 || name.length > 50 || !SLUG.test(name)) throw validationError('public_name (query) must be 3 to 50 lowercase letters, digits and hyphens', { field: 'public_name', in: 'query' });
    return { public_name: name, available: !(await slugTaken(name, current)) };
  });
}
