/** Publish API on a local engine: publish/unpublish, display_config validation, password, rate limit, tenant isolation. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startLocalEngine, type LocalEngine } from '../manifest/local-engine.ts';
import { RateLimiter } from '#engine/publish/rate-limit.ts';
import { checkPassword, hashPassword, slugOf } from '#engine/publish/publish-api.ts';
import { CSP } from '#engine/publish/public-routes.ts';

let eng: LocalEngine;
const fx = { feature_extractor_name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };
const stages = [{ stage_name: 'lim', stage_id: 'limit', parameters: { limit: 5 } }];
const displayConfig = {
  title: 'Docs search',
  inputs: [{ field_name: 'query', label: 'Query', field_schema: { type: 'text' } }],
  exposed_fields: ['title', 'thumbnail_url', 'createdAt'],
  layout: { results_layout: 'grid', columns: 2 },
  field_config: {
    thumbnail_url: { format: 'image', format_options: { width: 400, aspect_ratio: '16/9' } },
    createdAt: { format: 'date', format_options: { date_format: 'iso', label: 'Created' } },
  },
};

async function retriever(ns: string, name: string) {
  const r = await eng.call('POST', '/v1/retrievers', { body: { retriever_name: name, input_schema: { query: { type: 'text' } }, stages, display_config: displayConfig }, headers: { 'x-namespace': ns } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.retriever;
}

before(async () => {
  eng = await startLocalEngine();
  for (const n of ['alpha', 'beta']) {
    const r = await eng.call('POST', '/v1/namespaces', { body: { namespace_name: n, feature_extractors: [fx] } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  await retriever('alpha', 'docs');
  await retriever('beta', 'other');
});

after(async () => {
  await eng?.stop();
});

test('display_config: field_config and layout.results_layout are accepted and read back as sent (field names kept)', async () => {
  const r = await eng.call('GET', '/v1/retrievers/docs', { headers: { 'x-namespace': 'alpha' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.display_config.layout.results_layout, 'grid');
  assert.equal(r.body.display_config.layout.columns, 2);
  assert.equal(r.body.display_config.field_config.thumbnail_url.format, 'image');
  assert.equal(r.body.display_config.field_config.thumbnail_url.format_options.aspect_ratio, '16/9');
  assert.equal(r.body.display_config.field_config.createdAt.format_options.label, 'Created', 'the field name createdAt is not snake-cased');
  assert.deepEqual(r.body.display_config.inputs[0].field_schema, { type: 'text', required: false }, 'field_schema comes back from input_schema (the SDK shape)');
  assert.equal(r.body.is_published, false);
});

test('display_config validation errors name the field', async () => {
  const bad = async (dc: unknown, field: RegExp) => {
    const r = await eng.call('PATCH', '/v1/retrievers/docs', { body: { display_config: dc }, headers: { 'x-namespace': 'alpha' } });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    const fields = JSON.stringify(r.body.error);
    assert.match(fields, field);
  };
  await bad({ ...displayConfig, field_config: { title: { format: 'sparkle' } } }, /display_config\.field_config/);
  await bad({ ...displayConfig, field_config: { price: { format: 'number' } } }, /field_config keys must be listed in spec\.displayConfig\.exposedFields|display_config\.field_config/);
  await bad({ ...displayConfig, layout: { results_layout: 'carousel' } }, /display_config\.layout\.results_layout/);
  await bad({ ...displayConfig, exposed_fields: [] }, /display_config\.exposed_fields/);
});

test('publish: slug, public URL, password and rate limit; GET reads it back; the retriever says it is published', async () => {
  const r = await eng.call('POST', '/v1/retrievers/docs/publish', { body: { public_name: 'docs-search', password: 'open sesame', rate_limit_config: { requests_per_minute: 3 } }, headers: { 'x-namespace': 'alpha' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.public_id, 'docs-search');
  assert.equal(r.body.public_url, `${eng.url}/p/docs-search`);
  assert.equal(r.body.password_protected, true);
  assert.equal(r.body.rate_limit_config.requests_per_minute, 3);
  const got = await eng.call('GET', '/v1/retrievers/docs/publish', { headers: { 'x-namespace': 'alpha' } });
  assert.equal(got.body.public_name, 'docs-search');
  const ret = await eng.call('GET', '/v1/retrievers/docs', { headers: { 'x-namespace': 'alpha' } });
  assert.equal(ret.body.is_published, true);
  assert.equal(ret.body.public_name, 'docs-search');
  assert.equal(JSON.stringify(ret.body).includes('scrypt'), false, 'the password hash is never answered');
  const page = await fetch(`${eng.url}/p/docs-search`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-security-policy'), CSP);
  assert.match(await page.text(), /<title>Docs search<\/title>/);
});

test('publish refuses bad input with the documented 4xx shape', async () => {
  const bad = async (body: unknown, status: number, field: string) => {
    const r = await eng.call('POST', '/v1/retrievers/other/publish', { body, headers: { 'x-namespace': 'beta' } });
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.success, false);
    assert.equal(r.body.error.details.field, field);
  };
  await bad({ public_name: 'Not A Slug' }, 422, 'public_name');
  await bad({ public_name: 'docs-search' }, 409, 'public_name');
  await bad({ password: 'x' }, 422, 'password');
  await bad({ rate_limit_config: { requests_per_minute: 0 } }, 422, 'rate_limit_config.requests_per_minute');
  await bad({ password_secret_name: 'pw' }, 422, 'password_secret_name');
  await bad({ stages: [] }, 422, 'stages');
});

test('the public search needs the password (401 without it or wrong) and is rate limited per client (429 with Retry-After)', async () => {
  const search = (pw?: string) =>
    fetch(`${eng.url}/p/docs-search/api/search`, { method: 'POST', headers: { 'content-type': 'application/json', ...(pw ? { 'x-retriever-password': pw } : {}) }, body: JSON.stringify({ inputs: { query: 'x' } }) });
  const none = await search();
  assert.equal(none.status, 401);
  assert.equal(((await none.json()) as { error: { details: { reason: string } } }).error.details.reason, 'password_required');
  const wrong = await search('guess');
  assert.equal(wrong.status, 401);
  assert.equal(((await wrong.json()) as { error: { message: string } }).error.message, 'wrong password');
  await (await search('guess2')).text();
  const limited = await search('open sesame');
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  assert.equal(((await limited.json()) as { error: { type: string } }).error.type, 'TooManyRequestsError');
});

test('the public search never takes a namespace, retriever or stages from the browser', async () => {
  // A fresh slug so the rate limit above does not answer first.
  const r = await eng.call('POST', '/v1/retrievers/other/publish', { body: { public_name: 'other-search' }, headers: { 'x-namespace': 'beta' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  for (const body of [{ inputs: { query: 'x' }, stages: [] }, { inputs: { query: 'x' }, namespace: 'alpha' }, { inputs: { secret: 'x' } }, { inputs: { query: 'x' }, page_size: 500 }]) {
    const res = await fetch(`${eng.url}/p/other-search/api/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 400, JSON.stringify(body));
  }
  const missing = await fetch(`${eng.url}/p/no-such-page`);
  assert.equal(missing.status, 404);
});

test('tenant isolation: a key scoped to another namespace cannot publish, read or unpublish this one\'s retriever', async () => {
  const betaKey = await eng.keyFor(['beta']);
  for (const [method, url] of [['POST', '/v1/retrievers/docs/publish'], ['GET', '/v1/retrievers/docs/publish'], ['DELETE', '/v1/retrievers/docs/publish']] as const) {
    const r = await eng.call(method, url, { key: betaKey, headers: { 'x-namespace': 'alpha' }, ...(method === 'POST' ? { body: { public_name: 'stolen' } } : {}) });
    assert.equal(r.status, 403, `${method} ${url}: ${JSON.stringify(r.body)}`);
  }
  const still = await eng.call('GET', '/v1/retrievers/docs/publish', { headers: { 'x-namespace': 'alpha' } });
  assert.equal(still.body.public_name, 'docs-search');
  const noKey = await eng.call('DELETE', '/v1/retrievers/docs/publish', { key: null, headers: { 'x-namespace': 'alpha' } });
  assert.equal(noKey.status, 401);
});

test('a read-only key of the namespace reads the publication but cannot change it', async () => {
  const reader = await eng.keyFor(['alpha'], ['read']);
  const got = await eng.call('GET', '/v1/retrievers/docs/publish', { key: reader, headers: { 'x-namespace': 'alpha' } });
  assert.equal(got.status, 200);
  const post = await eng.call('POST', '/v1/retrievers/docs/publish', { key: reader, body: { public_name: 'mine-now' }, headers: { 'x-namespace': 'alpha' } });
  assert.equal(post.status, 403);
  assert.equal(post.body.error.details.permission, 'write');
});

test('an input with enum values is offered as a select (api/config); availability tells free and taken names', async () => {
  const patch = await eng.call('PATCH', '/v1/retrievers/other', {
    headers: { 'x-namespace': 'beta' },
    body: {
      input_schema: { query: { type: 'text' }, kind: { type: 'string', enum: ['guide', 'faq'] } },
      display_config: { ...displayConfig, inputs: [...displayConfig.inputs, { field_name: 'kind', label: 'Kind', input_type: 'select', required: false, order: 1 }] },
    },
  });
  assert.equal(patch.status, 200, JSON.stringify(patch.body));
  const cfg = (await (await fetch(`${eng.url}/p/other-search/api/config`)).json()) as { inputs: { field_name: string; enum: unknown; required: boolean }[]; password_required: boolean };
  assert.deepEqual(cfg.inputs.map((i) => [i.field_name, i.enum, i.required]), [['query', null, true], ['kind', ['guide', 'faq'], false]]);
  assert.equal(cfg.password_required, false);
  const free = await eng.call('GET', '/v1/retrievers/other/publish/availability?public_name=fresh-name', { headers: { 'x-namespace': 'beta' } });
  assert.deepEqual(free.body, { public_name: 'fresh-name', available: true });
  const taken = await eng.call('GET', '/v1/retrievers/other/publish/availability?public_name=docs-search', { headers: { 'x-namespace': 'beta' } });
  assert.equal(taken.body.available, false);
});

test('unpublish removes the page; a second unpublish is a 404', async () => {
  const r = await eng.call('DELETE', '/v1/retrievers/docs/publish', { headers: { 'x-namespace': 'alpha' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.public_name, 'docs-search');
  assert.equal((await fetch(`${eng.url}/p/docs-search`)).status, 404);
  assert.equal((await fetch(`${eng.url}/p/docs-search/api/config`)).status, 404);
  const again = await eng.call('DELETE', '/v1/retrievers/docs/publish', { headers: { 'x-namespace': 'alpha' } });
  assert.equal(again.status, 404);
});

test('helpers: scrypt password check, slugs, the fixed-window limiter', async () => {
  const h = await hashPassword('pw-1234');
  assert.match(h, /^scrypt\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
  assert.equal(await checkPassword('pw-1234', h), true);
  assert.equal(await checkPassword('pw-1235', h), false);
  assert.equal(slugOf('Peptide Evidence Search!'), 'peptide-evidence-search');
  let now = 0;
  const lim = new RateLimiter(60_000, () => now);
  assert.equal(lim.take('a', 2), 0);
  assert.equal(lim.take('a', 2), 0);
  assert.equal(lim.take('a', 2), 60);
  assert.equal(lim.take('b', 2), 0, 'another client has its own window');
  now = 60_000;
  assert.equal(lim.take('a', 2), 0, 'a new window');
});
