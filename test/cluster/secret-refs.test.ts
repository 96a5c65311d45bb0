/**
 * Secret references across tenants in cluster mode, on the test apiserver: two QuarryNamespaces, `alpha` (the
 * attacker, with a key scoped to it) and `victim`, share one Kubernetes namespace, which also holds the engine's API
 * key Secrets. The engine (EngineRuntime + the HTTP app, reading Secrets through the Kubernetes API as main.ts does)
 * and the operator serve both. With alpha's key, through the manifest API, alpha points spec.llm, spec.webSearch and
 * spec.sqlConnections at loopback endpoints this test runs and at victim's Secrets (victim's quarry-secrets-victim,
 * Secrets labelled quarry.dev/namespace=victim, an API key Secret nobody labelled), then runs the stages: no endpoint
 * receives a value of them, every attempt is a 4xx naming the field; alpha's own Secrets (quarry-secrets-alpha, a
 * Secret labelled for alpha) work. The rule: engine/src/lib/secret-refs.ts; local mode: test/security/secret-refs.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { applyCrds, createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { closeTestEnvPorts, testEnvPorts } from '../harness/env-ports.ts';
import { eventually } from '../harness/eventually.ts';
import { llmStage, searchStage, secretSpec, sqlStage, startEndpoints, type Endpoints } from '../security/secret-ref-endpoints.ts';
import { Operator } from '#operator/runtime/operator.ts';
import { reconcilers } from '#operator/controllers/index.ts';
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import { QUARRY_KINDS, SECRET_KIND } from '#operator/runtime/kinds.ts';
import { EngineRuntime } from '#engine/app/engine-runtime.ts';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { waitForReady } from '#engine/app/seed.ts';
import { KubeSecretApiKeyStore, secretNameOf } from '#engine/auth/kube-secret-store.ts';
import { ensureBootstrapKey, keyId } from '#engine/auth/keys.ts';
import { secretReader } from '#engine/models/custom/secrets.ts';
import type { Models } from '#core/ports/models.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { VectorStore } from '#core/ports/vector-store.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const API = 'quarry.dev/v1alpha1';
const MARK = `vsecret${randomBytes(6).toString('hex')}`;
const OWN_KEY = 'alpha-own-provider-key';
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-secret-refs-'));
const savedAllow = process.env.QUARRY_FETCH_ALLOW_CIDRS;
let T: { name: string; cleanup(): Promise<void> };
let ports: { vs: VectorStore; objects: ObjectStore; queue: JobQueue };
let op: Operator;
let runtime: EngineRuntime;
let app: FastifyInstance;
let e: Endpoints;
let alphaKey = '';
let bootstrapSecret = '';
const store = new KubeResourceStore(kubeConfig(), { kinds: [...QUARRY_KINDS, SECRET_KIND], fieldManager: 'quarry-engine' });

const enc = (v: string) => Buffer.from(v).toString('base64');
const secret = (name: string, data: Record<string, string>, labels?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, ...(labels ? { labels } : {}) },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, enc(v)])),
});

const namespaceDoc = (name: string, extra: Json = {}) => ({ apiVersion: API, kind: 'QuarryNamespace', metadata: { name }, spec: { featureExtractors: [{ name: 'passthrough_extractor', version: 'v1' }], ...extra } });

before(async () => {
  e = await startEndpoints();
  await applyCrds();
  T = await createTestNamespace('secret-refs');
  ports = await testEnvPorts(path.join(scratch, 'vectors'));
  op = new Operator({ kubeConfig: kubeConfig(), reconcilers: reconcilers({ vectorStore: ports.vs, objectStore: ports.objects, jobQueue: ports.queue }), namespaces: [T.name] });
  await op.start();
  const docs = [
    namespaceDoc('victim'),
    namespaceDoc('alpha'),
    { apiVersion: API, kind: 'Bucket', metadata: { name: 'a-notes' }, spec: { namespaceRef: 'alpha', schema: { properties: { title: { type: 'string' } } } } },
    { apiVersion: API, kind: 'Collection', metadata: { name: 'a-docs' }, spec: { namespaceRef: 'alpha', source: { bucketRefs: ['a-notes'] }, featureExtractor: { name: 'passthrough_extractor', version: 'v1', fieldPassthrough: [{ sourcePath: 'title' }] } } },
    // victim's namespace secrets, Secrets victim labelled for itself, alpha's own.
    secret('quarry-secrets-victim', { apiKey: `${MARK}-ns`, url: `postgresql://v:${MARK}@127.0.0.1:${e.dbPort}/v` }),
    secret('victim-llm', { apiKey: `${MARK}-llm` }, { 'quarry.dev/namespace': 'victim' }),
    secret('victim-db', { url: `postgresql://v:${MARK}-db@127.0.0.1:${e.dbPort}/v` }, { 'quarry.dev/namespace': 'victim' }),
    secret('quarry-secrets-alpha', { llm_key: OWN_KEY }),
    secret('alpha-search', { apiKey: 'alpha-search-key' }, { 'quarry.dev/namespace': 'alpha' }),
  ];
  const applied = await kubectl(['apply', '-f', '-'], { namespace: T.name, input: docs.map((d) => JSON.stringify(d)).join('\n') });
  assert.equal(applied.code, 0, applied.stderr);
  await waitForReady(store, T.name, 'alpha', 120_000);
  // The engine's allow-lists (never a tenant's) open loopback, so only the Secret rule stands between alpha and victim.
  process.env.QUARRY_FETCH_ALLOW_CIDRS = '127.0.0.1/32';
  runtime = new EngineRuntime({
    resources: store,
    ports: { objects: ports.objects, vectors: ports.vs, queue: ports.queue, models: {} as Models },
    namespaces: [T.name],
    namespaceLlms: { readSecret: secretReader(store), allowCidrs: ['127.0.0.1/32'] },
  });
  await runtime.start();
  // API keys live in the same Kubernetes namespace: their Secrets are one more thing alpha must not borrow.
  const keyStore = new KubeSecretApiKeyStore(kubeConfig(), { namespace: T.name, cacheTtlMs: 0 });
  const admin = (await ensureBootstrapKey(keyStore))!;
  bootstrapSecret = secretNameOf(keyId(admin)!);
  app = await buildEngineApp({
    auth: { keys: keyStore },
    objects: ports.objects,
    namespace: (n) => runtime.namespace(n),
    findNamespaces: (ident, k8s) => runtime.findNamespaces(ident, k8s),
    objectName: (ns, kind, ident) => runtime.objectName(ns, kind, ident),
    retrievers: runtime.retrievers,
    resources: store,
    k8sNamespaces: [T.name],
    k8sNamespace: T.name,
  });
  await app.ready();
  const minted = await call('POST', '/v1/organizations/api-keys', admin, { body: { name: 'alpha-write', kubernetes_namespace: T.name, namespaces: ['alpha'] } });
  assert.equal(minted.status, 200, minted.text);
  alphaKey = minted.body.key;
  await eventually('alpha served', async () => (await run([searchStage])).status !== 404, 120_000);
});

after(async () => {
  await app?.close();
  await runtime?.stop();
  if (T) await kubectl(['delete', 'quarrynamespaces,buckets,collections', '--all', '--wait=true', '--timeout=60s'], { namespace: T.name });
  await op?.stop();
  await closeTestEnvPorts(ports);
  await T?.cleanup();
  await e?.close();
  if (savedAllow === undefined) delete process.env.QUARRY_FETCH_ALLOW_CIDRS;
  else process.env.QUARRY_FETCH_ALLOW_CIDRS = savedAllow;
  rmSync(scratch, { recursive: true, force: true });
});

async function call(method: 'GET' | 'POST', url: string, key: string, o: { ns?: string; body?: unknown; yaml?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}`, ...(o.ns ? { 'x-namespace': o.ns } : {}), ...(o.yaml ? { 'content-type': 'application/yaml' } : {}) };
  const res = await app.inject({ method, url, headers, ...(o.yaml ? { payload: o.yaml } : o.body !== undefined ? { payload: o.body as object } : {}) });
  return { status: res.statusCode, text: res.body, body: (res.body ? res.json() : {}) as Json };
}

const run = (stages: Json[]) => call('POST', '/v1/retrievers/execute', alphaKey, { ns: 'alpha', body: { collection_identifiers: ['a-docs'], inputs: { q: 'note' }, stages, cache_config: { enabled: false } } });

/** alpha's spec with each reference naming `refs` (alpha's own by default), applied with alpha's key; waits until served. */
async function setAlpha(refs: Partial<Parameters<typeof secretSpec>[1]> = {}) {
  const spec = secretSpec(e, { llm: { name: 'quarry-secrets-alpha', key: 'llm_key' }, webSearch: { name: 'alpha-search' }, sql: { name: 'quarry-secrets-alpha', key: 'url' }, ...refs });
  const r = await call('POST', '/v1/manifest/apply', alphaKey, { yaml: JSON.stringify(namespaceDoc('alpha', spec)) });
  if (r.status !== 200) return r;
  const names = (x: Json | undefined) => [x?.llm?.apiKeySecretRef?.name, x?.webSearch?.apiKeySecretRef?.name, x?.sqlConnections?.[0]?.urlSecretRef?.name].join();
  await eventually("the engine sees alpha's new spec", async () => names((runtime.resolve(`${T.name}/alpha`) as { spec?: Json }).spec) === names(spec));
  return r;
}

function nothingOfVictim(r: { text: string }, what: string) {
  assert.deepEqual(e.received.filter((x) => x.includes(MARK)), [], `${what}: an endpoint received victim's secret`);
  assert.ok(!r.text.includes(MARK), `${what}: the reply shows victim's secret`);
  assert.equal(e.dbConnections(), 0, `${what}: the engine connected to victim's database`);
}

function refused(r: { status: number; text: string }, field: string, what: string) {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: expected a 4xx, got ${r.status}: ${r.text.slice(0, 400)}`);
  assert.ok(r.text.includes(field), `${what}: the refusal names ${field}: ${r.text.slice(0, 400)}`);
  nothingOfVictim(r, what);
}

test("alpha's key cannot name victim's quarry-secrets-victim in any reference: 422 naming the field", async () => {
  for (const [k, field] of [['llm', 'spec.llm.apiKeySecretRef'], ['webSearch', 'spec.webSearch.apiKeySecretRef'], ['sql', 'spec.sqlConnections[0].urlSecretRef']] as const) {
    const r = await setAlpha({ [k]: { name: 'quarry-secrets-victim' } });
    refused(r, field, `${k} naming quarry-secrets-victim`);
  }
});

test("Secrets labelled for victim, and the API key Secret nobody labelled, are never used for alpha: the stage is a 400 naming the field", async () => {
  for (const name of ['victim-llm', bootstrapSecret]) {
    await setAlpha({ webSearch: { name } });
    refused(await run([searchStage]), 'spec.webSearch.apiKeySecretRef', `webSearch naming ${name}`);
    await setAlpha({ llm: { name } });
    refused(await run([searchStage, llmStage()]), 'spec.llm.apiKeySecretRef', `llm naming ${name}`);
  }
  await setAlpha({ sql: { name: 'victim-db' } });
  refused(await run([sqlStage]), 'spec.sqlConnections[0].urlSecretRef', 'sql naming victim-db');
});

test("alpha's own Secrets work: its quarry-secrets-alpha key reaches its provider, the Secret labelled for it its search engine", async () => {
  await setAlpha();
  const before = e.received.length;
  const r = await run([searchStage, llmStage()]);
  assert.equal(r.status, 200, r.text);
  const seen = e.received.slice(before);
  assert.ok(seen.some((x) => x.includes('alpha-search-key')), 'the search engine received the key labelled for alpha');
  assert.ok(seen.some((x) => x.includes(`Bearer ${OWN_KEY}`)), "the provider received alpha's own key");
  nothingOfVictim(r, 'own secrets');
});
