/**
 * Issue 14, retriever area, on the real path: local mode (startLocal: reconcilers, embedded store, real models, API
 * keys) over HTTP, two namespaces `a` and `v`, and a read-only key scoped to `a`.
 * - #1 a nested retriever (document_enrich retriever_config, normalised form with `namespace: v`, inline or in a
 *   stored retriever) runs in the caller's namespace: nothing of `v` is read;
 * - #6 a backtracking regex in documents/list filters, attribute_filter and pre_filters answers fast; health stays up;
 * - #7 a wildcard `search` with many stars answers fast;
 * - #8/#9/#18 template regex literals, padStart amplification and native function source are refused or inert;
 * - #13 a failed anonymous run without X-Namespace is not readable by anyone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../harness/test-env.ts';
import { startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-sec-retriever-'));
let rt: LocalRuntime | undefined;
let rk = '';
const TEXT_FX = { feature_extractor_name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };
// 30 characters that `^(a+)+$` backtracks on for ~10 s on the JavaScript engine (issue 14 #6).
const EVIL = `${'a'.repeat(30)}!`;

async function call(method: string, url: string, body?: unknown, ns?: string, key = rt!.apiKey!): Promise<{ status: number; body: Json; text: string; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${rt!.url}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(ns ? { 'x-namespace': ns } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, text, ms: performance.now() - t0 };
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function namespaceWithDocs(ns: string, texts: string[]): Promise<void> {
  const created = await call('POST', '/v1/namespaces', { namespace_name: ns, feature_extractors: [TEXT_FX] });
  assert.equal(created.status, 200, created.text);
  await eventually(`${ns} ACTIVE`, async () => (await call('GET', `/v1/namespaces/${ns}`)).body.status === 'ACTIVE');
  const bucket = await call('POST', '/v1/buckets', { bucket_name: `${ns}-notes`, bucket_schema: { properties: { body: { type: 'text', required: true } } } }, ns);
  assert.equal(bucket.status, 200, bucket.text);
  const col = await call('POST', '/v1/collections', { collection_name: `${ns}-text`, source: { type: 'bucket', bucket_ids: [bucket.body.bucket_id] }, feature_extractor: { ...TEXT_FX, input_mappings: { text: 'body' } } }, ns);
  assert.equal(col.status, 200, col.text);
  await eventually(`${ns} collection ACTIVE`, async () => (await call('GET', `/v1/collections/${ns}-text`, undefined, ns)).body.status === 'ACTIVE');
  for (const t of texts) assert.equal((await call('POST', `/v1/buckets/${ns}-notes/objects`, { blobs: [{ property: 'body', type: 'text', data: t }] }, ns)).status, 200);
  const trig = await call('POST', `/v1/collections/${ns}-text/trigger`, {}, ns);
  assert.equal(trig.status, 202, trig.text);
  await eventually(`${ns} batch`, async () => (await call('GET', `/v1/tasks/${trig.body.task_id}`, undefined, ns)).body.status === 'COMPLETED');
  await eventually(`${ns} documents`, async () => (await call('POST', `/v1/collections/${ns}-text/documents/list`, {}, ns)).body.total_documents === texts.length);
}

before(async () => {
  const manifestsDir = path.join(scratch, 'manifests');
  mkdirSync(manifestsDir, { recursive: true });
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir, host: '127.0.0.1', port: await freePort(), seed: false, resyncMs: 1000, manifestDebounceMs: 100 });
  await namespaceWithDocs('v', ['V payroll secret: the salaries of the other tenant']);
  await namespaceWithDocs('a', ['A public note about bicycles', EVIL]);
  const key = await call('POST', '/v1/organizations/api-keys', { name: 'a-reader', namespaces: ['a'], permissions: ['read'] });
  assert.equal(key.status, 200, key.text);
  rk = key.body.key ?? key.body.api_key;
  assert.match(rk, /^sk_/);
});

after(async () => {
  await rt?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const ALL = ({ stage_name: 'all', stage_id: 'attribute_filter', parameters: { field: 'collection_id', operator: 'exists', value: true } });
const enrichWith = (config: Json) => ({
  collection_identifiers: ['a-text'],
  stages: [
    { stage_name: 'mine', config: { stage_id: 'attribute_filter', parameters: { field: 'text', operator: 'contains', value: 'bicycles' } } },
    { stage_name: 'join', config: { stage_id: 'document_enrich', parameters: { retriever_config: config, strategy: 'append', output_field: 'joined' } } },
  ],
});

test('#1 a nested retriever runs in the caller namespace: a namespace in retriever_config (inline or stored) reads nothing of another tenant', async () => {
  // Control: the nested path works within the caller's own namespace.
  const own = await call('POST', '/v1/retrievers/execute', enrichWith({ collection_identifiers: ['a-text'], input_schema: {}, stages: [ALL] }), 'a', rk);
  assert.equal(own.status, 200, own.text);
  assert.equal(own.body.documents[0].joined.length, 2);

  const foreign = { namespace: 'v', collection_identifiers: ['v-text'], input_schema: {}, stages: [ALL] };
  const inline = await call('POST', '/v1/retrievers/execute', enrichWith(foreign), 'a', rk);
  assert.ok(inline.status >= 400 && inline.status < 500, `inline: ${inline.status} ${inline.text}`);
  assert.doesNotMatch(inline.text, /payroll/);

  const stored = await call('POST', '/v1/retrievers', { retriever_name: 'sneaky', ...enrichWith(foreign) }, 'a');
  assert.equal(stored.status, 200, stored.text);
  const named = await call('POST', '/v1/retrievers/sneaky/execute', { inputs: {} }, 'a', rk);
  assert.ok(named.status >= 400 && named.status < 500, `stored: ${named.status} ${named.text}`);
  assert.doesNotMatch(named.text, /payroll/);
});

async function fastWithHealth(label: string, req: () => Promise<{ status: number; ms: number; text: string }>): Promise<{ status: number; text: string }> {
  const [r, health] = await Promise.all([req(), new Promise((res) => setTimeout(res, 50)).then(() => call('GET', '/v1/health'))]);
  assert.ok(r.ms < 2000, `${label} took ${Math.round(r.ms)} ms`);
  assert.equal(health.status, 200);
  assert.ok(health.ms < 1000, `health took ${Math.round(health.ms)} ms during ${label}`);
  assert.ok(r.status < 500, `${label}: ${r.status} ${r.text}`);
  return r;
}

test('#6 a backtracking regex answers fast on documents/list, attribute_filter, pre_filters and management lists; health stays responsive', async () => {
  const evil = { field: 'text', operator: 'regex', value: '^(a+)+$' };
  const list = await fastWithHealth('documents/list', () => call('POST', '/v1/collections/a-text/documents/list', { filters: evil }, 'a', rk));
  assert.equal(list.status, 200);
  const stage = await fastWithHealth('attribute_filter', () =>
    call('POST', '/v1/retrievers/execute', { collection_identifiers: ['a-text'], stages: [{ stage_name: 'f', config: { stage_id: 'attribute_filter', parameters: evil } }] }, 'a', rk),
  );
  assert.equal(stage.status, 200, stage.text);
  const pre = await fastWithHealth('pre_filters', () =>
    call('POST', '/v1/retrievers/execute', { collection_identifiers: ['a-text'], stages: [ALL, { stage_name: 'lim', config: { stage_id: 'limit', parameters: { limit: 5 }, pre_filters: evil } }] }, 'a', rk),
  );
  assert.equal(pre.status, 200, pre.text);
  const mgmt = await fastWithHealth('collections/list', () => call('POST', '/v1/collections/list', { filters: { field: 'collection_name', operator: 'regex', value: '^(a+)+$' } }, 'a', rk));
  assert.equal(mgmt.status, 200, mgmt.text);
  // Same results as before for ordinary patterns; backtracking-only syntax is a 4xx naming the field.
  const ok = await call('POST', '/v1/collections/a-text/documents/list', { filters: { field: 'text', operator: 'regex', value: 'BICYCLE', case_sensitive: false } }, 'a', rk);
  assert.equal(ok.body.total_documents, 1, ok.text);
  const bad = await call('POST', '/v1/collections/a-text/documents/list', { filters: { field: 'text', operator: 'regex', value: '(a)\\1' } }, 'a', rk);
  assert.ok(bad.status >= 400 && bad.status < 500, bad.text);
  assert.match(bad.text, /backreferences/);
});

test('#7 a wildcard search with many stars answers fast, and wildcards still match', async () => {
  const r = await fastWithHealth('search', () => call('POST', '/v1/collections/list', { search: '**********************#' }, 'a', rk));
  assert.equal(r.status, 200);
  const hit = await call('POST', '/v1/collections/list', { search: 'a-*x*' }, 'a', rk);
  assert.deepEqual(hit.body.results.map((c: Json) => c.collection_name), ['a-text']);
  assert.equal((await call('POST', '/v1/collections/list', { search: 'a-*z' }, 'a', rk)).body.results.length, 0);
});

const templated = (value: string, extra: Json = {}) => ({
  collection_identifiers: ['a-text'],
  input_schema: { q: { type: 'string' } },
  stages: [{ stage_name: 'f', config: { stage_id: 'attribute_filter', parameters: { field: 'text', operator: 'eq', value } } }],
  inputs: { q: EVIL },
  ...extra,
});

test('#8 #9 #18 templates: regex literals refused fast, amplification refused before allocating, no function source', async () => {
  const regex = await fastWithHealth('template regex', () => call('POST', '/v1/retrievers/execute', templated('{{ INPUT.q.replace(r/^(a+)+$/, "z") }}'), 'a', rk));
  assert.equal(regex.status, 400, regex.text);
  assert.match(regex.text, /regular expression literals/);

  const rss0 = process.memoryUsage().rss;
  const bombs = await Promise.all(['{{ "x".padStart(200000000) }}', '{{ INPUT.q.padEnd(150000000) }}', 'x{{ ""|center(300000000) }}'].map((t) => call('POST', '/v1/retrievers/execute', templated(t), 'a', rk)));
  for (const b of bombs) {
    assert.equal(b.status, 400, b.text);
    assert.ok(b.text.length < 10_000);
  }
  assert.ok(process.memoryUsage().rss - rss0 < 150 * 1024 * 1024, `RSS grew by ${Math.round((process.memoryUsage().rss - rss0) / 1048576)} MB`);

  const leaks = await call(
    'POST',
    '/v1/retrievers/execute',
    {
      collection_identifiers: ['a-text'],
      stages: [ALL, { stage_name: 't', config: { stage_id: 'json_transform', parameters: { template: '{"a": {{ ([""]|sum("constructor")) | tojson }}, "b": {{ ("x" ~ "".upper) | tojson }}, "c": {{ ([""]|sum("toString")) | tojson }}}' } } }],
    },
    'a',
    rk,
  );
  assert.equal(leaks.status, 200, leaks.text);
  assert.doesNotMatch(leaks.text, /native code|function [A-Za-z(]|=>/);
  const fnArg = await call('POST', '/v1/retrievers/execute', templated('{{ "abc"|replace("a", "".upper) }}'), 'a', rk);
  assert.equal(fnArg.status, 400, fnArg.text);
});

test('#13 a failed anonymous run without X-Namespace is recorded nowhere and no key reads it', async () => {
  const failed = await call('POST', '/v1/retrievers/execute', { ...templated('x'), inputs: { q: 'private input 4711' } }, undefined, rk);
  assert.ok(failed.status >= 400 && failed.status < 500, failed.text);
  const noHeader = await call('POST', '/v1/retrievers/executions/list', {}, undefined, rk);
  assert.equal(noHeader.status, 400, noHeader.text);
  assert.doesNotMatch(noHeader.text, /4711/);
  for (const ns of ['a', 'v']) {
    const l = await call('POST', '/v1/retrievers/executions/list', { status: 'failed' }, ns);
    assert.equal(l.status, 200, l.text);
    assert.doesNotMatch(l.text, /4711/);
  }
  // Runs in a namespace are listed there (by id, name alike) and only there.
  const ran = await call('POST', '/v1/retrievers/execute', templated('nothing'), 'a', rk);
  assert.equal(ran.status, 200, ran.text);
  const nsId = (await call('GET', '/v1/namespaces/a')).body.namespace_id as string;
  const mine = await call('POST', '/v1/retrievers/executions/list', {}, nsId, rk);
  assert.ok(mine.body.results.some((r: Json) => r.execution_id === ran.body.execution_id), mine.text);
  const theirs = await call('GET', `/v1/retrievers/executions/${ran.body.execution_id}`, undefined, 'v');
  assert.equal(theirs.status, 404);
});
