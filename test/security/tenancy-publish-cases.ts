/**
 * Tenancy cases of published retrievers (engine/src/publish/): with A's keys, V's retriever can be neither
 * published, unpublished, re-configured nor read through the publish routes (by name, by id, with V's namespace in
 * the header); the public page routes answer only for a published slug, and V's retriever is not published, so
 * its name, id or namespace as a slug finds nothing, and a search body naming V's namespace, retriever or stages
 * is refused (the page runs only its own retriever).
 */
import type { Case, Expect } from './tenancy-cases.ts';
import type { World } from './world.ts';
import { allDocs, both } from './tenancy-attacks.ts';

type Gen = (w: World) => Case[];

/** The public routes take no key: an anonymous request, as a visitor's browser sends it. */
const visitor = (what: string, c: Omit<Case, 'key' | 'what'>): Case => ({ ...c, what: `anonymous, ${what}`, key: undefined });

/** Slugs that would find V's retriever if slugs were names, ids or namespaced names. */
const vSlugs = (w: World) => [w.v.retriever, w.v.retrieverId, `${w.v.ns}__${w.v.retriever}`, w.v.ns];

function publicCases(method: string, suffix: string, body?: (w: World) => unknown): Gen {
  return (w) => [
    ...vSlugs(w).map((slug) => visitor(`V's retriever as slug ${slug}`, { method, url: `/p/${encodeURIComponent(slug)}${suffix}`, ...(body ? { body: body(w) } : {}), expect: 'deny' as Expect })),
    ...vSlugs(w).flatMap((slug) => both(w, { what: `with a key, V's retriever as slug ${slug}`, method, url: `/p/${encodeURIComponent(slug)}${suffix}`, ns: w.v.ns, ...(body ? { body: body(w) } : {}), expect: 'deny' })),
  ];
}

/** What a hostile page visitor puts in the search body: V's namespace, retriever and stages beside the inputs. */
const hostileSearch = (w: World) => ({ inputs: { q: 'x' }, namespace: w.v.ns, retriever_id: w.v.retrieverId, collection_identifiers: [w.v.collection], stages: [allDocs] });

/** A route's entry for a pattern written with a query string: the route is the pattern without it. */
const withQuery = ([route, gen]: [string, Gen]): [string, Gen] => [route.replace(/\?.*$/, ''), gen];

export function publishCases(data: (method: string, pattern: string, o?: { body?: (w: World) => unknown }) => [string, Gen]): [string, Gen][] {
  return [
    data('POST', '/v1/retrievers/:id/publish', { body: () => ({ public_name: 'stolen-victim-page' }) }),
    data('PATCH', '/v1/retrievers/:id/publish', { body: () => ({ rate_limit_config: { requests_per_minute: 1000 } }) }),
    data('GET', '/v1/retrievers/:id/publish'),
    data('HEAD', '/v1/retrievers/:id/publish'),
    data('DELETE', '/v1/retrievers/:id/publish'),
    withQuery(data('GET', '/v1/retrievers/:id/publish/availability?public_name=victim')),
    withQuery(data('HEAD', '/v1/retrievers/:id/publish/availability?public_name=victim')),
    ['GET /p/:slug', publicCases('GET', '')],
    ['HEAD /p/:slug', publicCases('HEAD', '')],
    ['GET /p/:slug/assets/:file', publicCases('GET', '/assets/page.js')],
    ['HEAD /p/:slug/assets/:file', publicCases('HEAD', '/assets/page.js')],
    ['GET /p/:slug/api/config', publicCases('GET', '/api/config')],
    ['HEAD /p/:slug/api/config', publicCases('HEAD', '/api/config')],
    ['POST /p/:slug/api/search', publicCases('POST', '/api/search', hostileSearch)],
  ];
}
