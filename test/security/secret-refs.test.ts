/**
 * Secret references across tenants (local mode, engine/src/main.ts as a process, over HTTP; the tenancy suite's
 * world: A = alpha with its read-write key WK, V = victim). Every tenant shares local mode's one Kubernetes
 * namespace, and the engine reads the Secrets a spec names with its own privileges, then sends what they hold to
 * endpoints the same spec names. With WK, A points its own QuarryNamespace's spec.llm, spec.webSearch and
 * spec.sqlConnections at endpoints this test runs on loopback and at V's Secrets (V's namespace secrets
 * `quarry-secrets-victim`, and Secrets labelled quarry.dev/namespace=victim), declares Buckets and Models naming
 * them, and runs the stages that use them: no endpoint may ever receive anything V's Secrets hold, every attempt is
 * a 4xx naming the field, and A's own Secrets (its quarry-secrets-alpha, a Secret labelled for alpha) keep working.
 * The rule: engine/src/lib/secret-refs.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startWorld, type Json, type Reply, type World } from './world.ts';
import { allDocs } from './tenancy-attacks.ts';
import { llmStage, searchStage, secretSpec, sqlStage, startEndpoints, type Endpoints } from './secret-ref-endpoints.ts';
import { eventually } from '../harness/eventually.ts';

let w: World;
let e: Endpoints;
const OWN_KEY = 'alpha-own-provider-key';
const LABELLED_KEY = 'alpha-labelled-search-key';

/** A Secret of the local secrets store (<data dir>/secrets/<name>/<key>), with labels in its .labels file. */
function secret(name: string, data: Record<string, string>, labels?: Record<string, string>) {
  const dir = path.join(w.engine.dataDir, 'secrets', name);
  mkdirSync(dir, { recursive: true });
  for (const [k, v] of Object.entries(data)) writeFileSync(path.join(dir, k), v);
  if (labels) writeFileSync(path.join(dir, '.labels'), Object.entries(labels).map(([k, v]) => `${k}=${v}\n`).join(''));
}

before(async () => {
  e = await startEndpoints();
  // The engine's allow-lists (never a tenant's) open loopback, so only the Secret rule stands between A and V.
  w = await startWorld('secret-refs', { QUARRY_LLM_ALLOW_CIDRS: '127.0.0.1/32', QUARRY_FETCH_ALLOW_CIDRS: '127.0.0.1/32' });
  // V's Secrets: its namespace secrets (the world writes `token`) and Secrets V labelled for itself.
  secret('quarry-secrets-victim', { apiKey: `${w.secret}-nsapikey`, url: `postgresql://v:${w.secret}@127.0.0.1:${e.dbPort}/v` });
  secret('victim-llm', { apiKey: `${w.secret}-llm` }, { 'quarry.dev/namespace': 'victim' });
  secret('victim-db', { url: `postgresql://v:${w.secret}-db@127.0.0.1:${e.dbPort}/v` }, { 'quarry.dev/namespace': 'victim' });
  // A Secret nobody labelled (an administrator's): no tenant may use it.
  secret('admin-only', { apiKey: `${w.secret}-admin`, url: `postgresql://admin:${w.secret}-admin@127.0.0.1:${e.dbPort}/x` });
  // A's own.
  secret('quarry-secrets-alpha', { llm_key: OWN_KEY });
  secret('alpha-search', { apiKey: LABELLED_KEY }, { 'quarry.dev/namespace': 'alpha' });
});

after(async () => {
  await w?.stop();
  await e?.close();
});

/** A's QuarryNamespace as the world declares it, plus `extra` spec fields. */
const alpha = (extra: Json) =>
  JSON.stringify({
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'QuarryNamespace',
    metadata: { name: 'alpha' },
    spec: { description: 'the attacker tenant', featureExtractors: [{ name: 'passthrough_extractor', version: 'v1' }], payloadIndexes: [{ field: 'title', type: 'keyword' }], ...extra },
  });

const apply = (text: string) => w.api(w.wk, 'POST', '/v1/manifest/apply', { raw: text, contentType: 'application/yaml' });

/** A's own configuration of every Secret-reading feature; each attack replaces one of them. */
const own = () => secretSpec(e, { llm: { name: 'quarry-secrets-alpha', key: 'llm_key' }, webSearch: { name: 'alpha-search' }, sql: { name: 'quarry-secrets-alpha', key: 'db' } });

/** Applies A's spec (its own configuration with `extra` in place) and waits until the engine serves it. */
async function setAlpha(extra: Json): Promise<void> {
  const r = await apply(alpha({ ...own(), ...extra }));
  assert.equal(r.status, 200, r.text);
  await eventually('alpha serves the new spec', async () => {
    const g = await w.api(w.admin, 'GET', '/v1/namespaces/alpha');
    return g.status === 200 && g.body.status === 'ACTIVE';
  });
  // The runtime's cache follows the store's watch: give it a moment past the API's view.
  await new Promise((r) => setTimeout(r, 1500));
}

const run = (stages: Json[]): Promise<Reply> =>
  w.api(w.wk, 'POST', '/v1/retrievers/execute', { ns: 'alpha', body: { collection_identifiers: [w.a.collection], inputs: { q: 'note' }, stages, cache_config: { enabled: false } } });


/** Nothing V's Secrets hold reached an endpoint, and the reply shows none of it. */
function nothingOfV(r: Reply, what: string) {
  const leaked = e.received.filter((x) => x.includes(w.secret));
  assert.deepEqual(leaked, [], `${what}: an endpoint received V's secret`);
  assert.ok(!r.text.includes(w.secret), `${what}: the reply shows V's secret: ${r.text.slice(0, 300)}`);
  assert.equal(e.dbConnections(), 0, `${what}: the engine connected to V's database`);
}

const refusedNaming = (r: Reply, field: string, what: string) => {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: expected a 4xx, got ${r.status}: ${r.text.slice(0, 400)}`);
  assert.ok(r.text.includes(field), `${what}: the refusal names ${field}: ${r.text.slice(0, 400)}`);
};

test("A cannot declare V's namespace secrets (quarry-secrets-victim) in any Secret reference: 422 naming the field, nothing applied", async () => {
  const refs: [string, string, string][] = [
    ['spec.llm.apiKeySecretRef', alpha({ llm: { provider: 'openai', baseUrl: `${e.web}/v1`, model: 'm', apiKeySecretRef: { name: 'quarry-secrets-victim', key: 'token' } } }), 'spec.llm.apiKeySecretRef'],
    ['spec.webSearch.apiKeySecretRef', alpha({ webSearch: { engine: 'brave', url: `${e.web}/res/v1/web/search`, apiKeySecretRef: { name: 'quarry-secrets-victim' } } }), 'spec.webSearch.apiKeySecretRef'],
    ['spec.sqlConnections', alpha({ sqlConnections: [{ name: 'db', type: 'postgresql', urlSecretRef: { name: 'quarry-secrets-victim' } }] }), 'spec.sqlConnections[0].urlSecretRef'],
    [
      'Bucket spec.storage.credentialsSecretRef',
      JSON.stringify({ apiVersion: 'quarry.dev/v1alpha1', kind: 'Bucket', metadata: { name: 'a-stolen' }, spec: { namespaceRef: 'alpha', schema: { properties: { body: { type: 'text' } } }, storage: { endpoint: e.web, existingBucketName: 'victim-data', credentialsSecretRef: { name: 'quarry-secrets-victim' } } } }),
      'spec.storage.credentialsSecretRef',
    ],
  ];
  for (const [what, text, field] of refs) {
    const r = await apply(text);
    refusedNaming(r, field, what);
    nothingOfV(r, what);
  }
  // The management API's Bucket route too.
  const b = await w.api(w.wk, 'POST', '/v1/buckets', { ns: 'alpha', body: { bucket_name: 'a-stolen', bucket_schema: { properties: { body: { type: 'text' } } }, storage: { endpoint: e.web, existing_bucket_name: 'victim-data', credentials_secret_ref: { name: 'quarry-secrets-victim' } } } });
  refusedNaming(b, 'credentials', 'POST /v1/buckets');
  assert.equal((await w.api(w.admin, 'GET', '/v1/buckets/a-stolen', { ns: 'alpha' })).status, 404, 'no Bucket was created');
});

test("A's keys cannot declare a Model (organisation-level) reading V's Secret", async () => {
  const model = JSON.stringify({
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Model',
    metadata: { name: 'a-model' },
    spec: { namespaceRefs: ['alpha'], type: 'reranker', source: { s3: { url: 's3://victim-models/x/', endpoint: e.web, credentialsSecretRef: { name: 'victim-llm' } } }, files: [{ path: 'model.onnx', sha256: '0'.repeat(64), role: 'model' }, { path: 'tokenizer.json', sha256: '1'.repeat(64), role: 'tokenizer' }] },
  });
  const r = await apply(model);
  assert.ok(r.status === 403 || r.status === 404 || r.status === 422, `a namespace-scoped key declares a Model: ${r.status} ${r.text.slice(0, 300)}`);
  nothingOfV(r, 'Model');
});

test("spec.llm naming a Secret V labelled for itself: the LLM stage is a 400 naming spec.llm.apiKeySecretRef, the provider never sees V's key", async () => {
  await setAlpha({ llm: { provider: 'openai', baseUrl: `${e.web}/v1`, model: 'm', apiKeySecretRef: { name: 'victim-llm' } } });
  const r = await run([allDocs, llmStage()]);
  refusedNaming(r, 'spec.llm.apiKeySecretRef', 'llm_filter with victim-llm');
  nothingOfV(r, 'llm_filter with victim-llm');
  await setAlpha({ llm: { provider: 'openai', baseUrl: `${e.web}/v1`, model: 'm', apiKeySecretRef: { name: 'admin-only' } } });
  const admin = await run([allDocs, llmStage()]);
  refusedNaming(admin, 'spec.llm.apiKeySecretRef', 'llm_filter with an unlabelled Secret');
  nothingOfV(admin, 'llm_filter with an unlabelled Secret');
});

test("spec.webSearch naming V's labelled Secret: external_web_search is a 400 naming spec.webSearch.apiKeySecretRef, nothing sent", async () => {
  await setAlpha({ webSearch: { engine: 'brave', url: `${e.web}/res/v1/web/search`, apiKeySecretRef: { name: 'victim-llm' } } });
  const r = await run([searchStage]);
  refusedNaming(r, 'spec.webSearch.apiKeySecretRef', 'external_web_search with victim-llm');
  nothingOfV(r, 'external_web_search');
});

test("spec.sqlConnections naming V's labelled database Secret: sql_lookup is a 400 naming spec.sqlConnections, no connection made", async () => {
  for (const name of ['victim-db', 'admin-only']) {
    await setAlpha({ sqlConnections: [{ name: 'db', type: 'postgresql', urlSecretRef: { name } }] });
    const r = await run([allDocs, sqlStage]);
    refusedNaming(r, 'spec.sqlConnections', `sql_lookup with ${name}`);
    nothingOfV(r, `sql_lookup with ${name}`);
  }
});

test("A's own Secrets work: its quarry-secrets-alpha key reaches its provider, a Secret labelled for alpha its search engine", async () => {
  await setAlpha({});
  const before = e.received.length;
  const r = await run([allDocs, llmStage()]);
  assert.equal(r.status, 200, r.text);
  assert.ok(e.received.slice(before).some((x) => x.includes(`Bearer ${OWN_KEY}`)), "the provider received A's own key");
  const s = await run([searchStage]);
  assert.equal(s.status, 200, s.text);
  assert.ok(e.received.some((x) => x.includes(LABELLED_KEY)), 'the search engine received the key labelled for A');
  nothingOfV(s, 'own secrets');
});
