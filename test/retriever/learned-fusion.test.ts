/**
 * `fusion: learned` fed by interaction records, end to end over HTTP on a local-mode engine (issue 16, reference
 * §4.1/§7.4): a retriever whose feature_search has two searches (arms) — one for the `a` input, one for `b`, each
 * keeping its best document — is executed before any interaction (cold start: plain RRF, the first arm's document on
 * top), after clicks on the second arm's document (it moves to the top), after more purchases of the first arm's
 * document (it returns), and for the user whose own clicks favour the second arm (context_features INPUT.user_id).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../harness/eventually.ts';
import { freePort } from '../harness/test-env.ts';
import { startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const URI = 'quarry://text_extractor@v1/all_minilm_l6_v2';
const NS = 'fusion';
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-learned-'));
let rt: LocalRuntime;
const docs = { coffee: '', bike: '' };
let retrieverId = '';

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; body: Json; text: string }> {
  for (let i = 0; ; i++) {
    const res = await fetch(`${rt.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${rt.apiKey}`, 'x-namespace': NS, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    // A resource still reconciling answers 503 with Retry-After.
    if (res.status === 503 && i < 240) {
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, text };
  }
}

async function ok(method: string, url: string, body?: unknown): Promise<Json> {
  const r = await call(method, url, body);
  assert.ok(r.status < 300, `${method} ${url}: ${r.status} ${r.text}`);
  return r.body;
}

before(async () => {
  const manifestsDir = path.join(scratch, 'manifests');
  mkdirSync(manifestsDir, { recursive: true });
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir, host: '127.0.0.1', port: await freePort(), seed: false, resyncMs: 1000, manifestDebounceMs: 100 });
  await ok('POST', '/v1/namespaces', { namespace_name: NS, feature_extractors: [{ feature_extractor_name: 'text_extractor', version: 'v1' }] });
  await ok('POST', '/v1/buckets', { bucket_name: 'notes', bucket_schema: { properties: { body: { type: 'text' }, topic: { type: 'string' } } } });
  const notes = [
    ['coffee', 'The espresso machine needs descaling every month to keep the coffee tasting right.'],
    ['bike', 'A flat bicycle tyre is fixed by patching the inner tube after finding the puncture.'],
    ['garden', 'Tomato seedlings want warm soil and plenty of sunlight before planting out.'],
  ];
  for (const [topic, text] of notes) await ok('POST', '/v1/buckets/notes/objects', { metadata: { topic }, blobs: [{ property: 'body', type: 'text', data: text }] });
  await ok('POST', '/v1/collections', {
    collection_name: 'notes-text',
    source: { type: 'bucket', bucket_ids: ['notes'] },
    feature_extractor: { feature_extractor_name: 'text_extractor', version: 'v1', input_mappings: { text: 'body' }, field_passthrough: [{ source_path: 'metadata.topic' }] },
  });
  await ok('POST', '/v1/collections/notes-text/trigger', {});
  const written = await eventually('every note embedded', async () => {
    const list = await ok('POST', '/v1/collections/notes-text/documents/list', {});
    return (list.results ?? []).length >= notes.length && (list.results as Json[]);
  }, 120_000);
  for (const d of written) if (d.topic === 'coffee' || d.topic === 'bike') docs[d.topic as 'coffee' | 'bike'] = d.document_id as string;
  const search = (input: string) => ({ feature_uri: URI, query: { input_mode: 'text', value: `{{INPUT.${input}}}` }, top_k: 1 });
  const created = await ok('POST', '/v1/retrievers', {
    retriever_name: 'learned',
    collection_identifiers: ['notes-text'],
    input_schema: { a: { type: 'text', required: true }, b: { type: 'text', required: true }, user_id: { type: 'string' } },
    stages: [
      {
        stage_name: 'search',
        stage_type: 'filter',
        config: {
          stage_id: 'feature_search',
          parameters: { searches: [search('a'), search('b')], final_top_k: 2, fusion: 'learned', learning_config: { min_interactions: 5, reward_signal: 'click,purchase', context_features: ['INPUT.user_id'] } },
        },
      },
    ],
  });
  retrieverId = (created.retriever_id ?? created.retriever?.retriever_id) as string;
  assert.ok(retrieverId && docs.coffee && docs.bike);
});

after(async () => {
  await rt?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function run(userId?: string): Promise<{ top: string; fusion: Json }> {
  const r = await ok('POST', `/v1/retrievers/${retrieverId}/execute`, { inputs: { a: 'espresso coffee machine', b: 'bicycle tyre puncture', ...(userId ? { user_id: userId } : {}) } });
  const fusion = r.stage_statistics?.search?.metadata?.fusion_used as Json;
  assert.ok(fusion, `no fusion_used in ${JSON.stringify(r.stage_statistics)}`);
  return { top: r.documents[0].document_id as string, fusion };
}

async function interact(documentId: string, type: string, n: number, userId: string): Promise<void> {
  const interactions = Array.from({ length: n }, (_, i) => ({ feature_id: documentId, interaction_type: [type], position: 0, retriever_id: retrieverId, user_id: userId, session_id: `s${i}` }));
  const r = await ok('POST', '/v1/retrievers/interactions/batch', { interactions });
  assert.equal(r.created, n, JSON.stringify(r));
}

test('interaction records set the learned fusion weights: cold start, then the rewarded search leads', async () => {
  const cold = await run();
  assert.equal(cold.fusion.method, 'rrf', JSON.stringify(cold.fusion));
  assert.match(String(cold.fusion.reason), /cold start/);
  assert.equal(cold.top, docs.coffee, 'cold start: equal weights, the first search first');

  // Views are not a reward signal: still a cold start.
  await interact(docs.bike, 'view', 10, 'u-bike');
  assert.equal((await run()).fusion.method, 'rrf');

  await interact(docs.bike, 'click', 8, 'u-bike');
  const afterClicks = await run();
  assert.equal(afterClicks.fusion.method, 'learned', JSON.stringify(afterClicks.fusion));
  assert.equal(afterClicks.fusion.interactions, 8);
  assert.ok(afterClicks.fusion.weights[1] > afterClicks.fusion.weights[0], JSON.stringify(afterClicks.fusion));
  assert.equal(afterClicks.top, docs.bike, 'the clicked search now leads');

  await interact(docs.coffee, 'purchase', 30, 'u-coffee');
  const afterPurchases = await run();
  assert.equal(afterPurchases.fusion.scope, 'global');
  assert.equal(afterPurchases.top, docs.coffee, 'more rewards for the first search bring it back');

  // The user whose own clicks favour the second search gets it first (personal scope, ≥ min_interactions).
  const personal = await run('u-bike');
  assert.equal(personal.fusion.scope, 'personal', JSON.stringify(personal.fusion));
  assert.equal(personal.top, docs.bike);
});
