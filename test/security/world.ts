/**
 * Two tenants in one local-mode engine for the security suites: namespace A (`alpha`, the attacker's, with a
 * read-only key RK and a read-write key WK scoped to it) and namespace V (`victim`, another tenant), each with a
 * bucket, a collection (passthrough extractor: no model needed), a retriever and a taxonomy; V holds objects,
 * extracted documents, a pending upload, an open batch, a finished task, execution history and a blob. Every value
 * V stores carries a secret marker, so any response that shows V's data is caught by a substring check.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startEngine, type EngineProcess } from './engine.ts';
import { eventually as poll } from '../harness/eventually.ts';
const eventually = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000) => poll(what, fn, timeoutMs);

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Reply {
  status: number;
  text: string;
  body: Json;
  ms: number;
}

export interface CallOptions {
  ns?: string;
  body?: unknown;
  /** A raw body (string or bytes) sent as is with `contentType`. */
  raw?: string | Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export async function call(base: string, key: string | undefined, method: string, url: string, o: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(o.ns !== undefined ? { 'x-namespace': o.ns } : {}), ...o.headers };
  let body: string | Uint8Array | undefined;
  if (o.raw !== undefined) {
    body = o.raw;
    if (o.contentType) headers['content-type'] = o.contentType;
  } else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] = 'application/json';
  }
  const started = performance.now();
  const res = await fetch(`${base}${url}`, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(o.timeoutMs ?? 30_000) });
  const text = await res.text();
  const ms = performance.now() - started;
  let parsed: Json = {};
  try {
    parsed = text ? (JSON.parse(text) as Json) : {};
  } catch {
    parsed = { _text: text };
  }
  return { status: res.status, text, body: parsed, ms };
}

const SECRET = `vsecret${randomBytes(6).toString('hex')}`;

/** The manifests folder of both tenants. V's descriptions carry the secret marker (a disclosed spec shows it). */
export function manifests(): Record<string, string> {
  const tenant = (ns: string, p: string, description: string) => `apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata:
  name: ${ns}
spec:
  description: ${description}
  featureExtractors:
    - name: passthrough_extractor
      version: v1
  payloadIndexes:
    - field: title
      type: keyword
---
apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata:
  name: ${p}-notes
spec:
  namespaceRef: ${ns}
  description: ${description}
  schema:
    properties:
      title:
        type: string
        required: true
      body:
        type: text
---
apiVersion: quarry.dev/v1alpha1
kind: Collection
metadata:
  name: ${p}-docs
spec:
  namespaceRef: ${ns}
  description: ${description}
  source:
    bucketRefs: [${p}-notes]
  featureExtractor:
    name: passthrough_extractor
    version: v1
    fieldPassthrough:
      - sourcePath: title
      - sourcePath: body
---
apiVersion: quarry.dev/v1alpha1
kind: Retriever
metadata:
  name: ${p}-search
spec:
  namespaceRef: ${ns}
  description: ${description}
  collectionRefs: [${p}-docs]
  inputSchema:
    q:
      type: text
  stages:
    - stageName: all
      stageType: filter
      config:
        stageId: attribute_filter
        parameters:
          field: title
          operator: exists
          value: true
---
apiVersion: quarry.dev/v1alpha1
kind: Taxonomy
metadata:
  name: ${p}-tax
spec:
  namespaceRef: ${ns}
  description: ${description}
  type: flat
  retrieverRef: ${p}-search
  inputMappings:
    - inputKey: q
      sourceType: payload
      path: title
  sourceCollection:
    collectionRef: ${p}-docs
`;
  return {
    '00-alpha.yaml': tenant('alpha', 'a', 'the attacker tenant'),
    '10-victim.yaml': tenant('victim', 'v', `victim tenant ${SECRET}`),
  };
}

export interface World {
  engine: EngineProcess;
  /** The secret marker in every V value. */
  secret: string;
  admin: string;
  /** Read-only and read-write keys scoped to namespace A (alpha). */
  rk: string;
  wk: string;
  /** A key scoped to V (victim), to check V still works for its owner. */
  vk: string;
  a: Ids & { presignedUrl?: string };
  v: Ids & { objectIds: string[]; documentIds: string[]; uploadId: string; openBatchId: string; taskId: string; executionId: string; namedExecutionId: string; failedNoHeaderExecution: string | undefined; interactionId: string; presignedUrl: string; storageBucket: string; storagePrefix?: string; blobKey: string };
  api(key: string | undefined, method: string, url: string, o?: CallOptions): Promise<Reply>;
  stop(): Promise<void>;
}

export interface Ids {
  ns: string;
  nsId: string;
  bucket: string;
  bucketId: string;
  collection: string;
  collectionId: string;
  retriever: string;
  retrieverId: string;
  taxonomy: string;
  taxonomyId: string;
  /** A batch that was created and not submitted. */
  openBatchId: string;
}


function must(r: Reply, status: number | number[], what: string): Json {
  const ok = Array.isArray(status) ? status.includes(r.status) : r.status === status;
  if (!ok) throw new Error(`${what}: HTTP ${r.status}: ${r.text.slice(0, 500)}`);
  return r.body;
}

/** Starts the engine with both tenants, creates the keys and fills V (and A, a little) with data. */
export async function startWorld(name: string, env?: Record<string, string>): Promise<World> {
  const engine = await startEngine({ manifests: manifests(), name, ...(env ? { env } : {}) });
  // V's namespace secret ({{SECRET.token}}, local secrets store): its value carries the marker, so a response showing it is caught.
  mkdirSync(path.join(engine.dataDir, 'secrets', 'quarry-secrets-victim'), { recursive: true });
  writeFileSync(path.join(engine.dataDir, 'secrets', 'quarry-secrets-victim', 'token'), `${SECRET}-token`);
  const api = (key: string | undefined, method: string, url: string, o?: CallOptions) => call(engine.url, key, method, url, o);
  const admin = engine.adminKey;
  try {
    const key = async (n: string, namespaces: string[], permissions?: string[]) =>
      must(await api(admin, 'POST', '/v1/organizations/api-keys', { body: { name: n, namespaces, ...(permissions ? { permissions } : {}) } }), 200, `key ${n}`).key as string;
    const rk = await key('alpha-read', ['alpha'], ['read']);
    const wk = await key('alpha-write', ['alpha'], ['read', 'write', 'delete']);
    const vk = await key('victim-owner', ['victim']);

    const ids = async (ns: string, p: string): Promise<Ids> => {
      const nsBody = await eventually(`namespace ${ns} ACTIVE`, async () => {
        const r = await api(admin, 'GET', `/v1/namespaces/${ns}`);
        return r.status === 200 && r.body.status === 'ACTIVE' && r.body;
      });
      const col = await eventually(`collection ${p}-docs ACTIVE`, async () => {
        const r = await api(admin, 'GET', `/v1/collections/${p}-docs`, { ns });
        return r.status === 200 && r.body.status === 'ACTIVE' && r.body;
      });
      const bucket = must(await api(admin, 'GET', `/v1/buckets/${p}-notes`, { ns }), 200, 'bucket');
      const ret = await eventually(`retriever ${p}-search`, async () => {
        const r = await api(admin, 'GET', `/v1/retrievers/${p}-search`, { ns });
        return r.status === 200 && r.body;
      });
      const tax = await eventually(`taxonomy ${p}-tax`, async () => {
        const r = await api(admin, 'GET', `/v1/taxonomies/${p}-tax`, { ns });
        return r.status === 200 && r.body;
      });
      // The namespace must be served by the data routes too (Ready in the engine runtime).
      await eventually(`namespace ${ns} served`, async () => (await api(admin, 'POST', `/v1/buckets/${p}-notes/objects/list`, { ns, body: {} })).status === 200);
      return {
        ns,
        nsId: nsBody.namespace_id,
        bucket: `${p}-notes`,
        bucketId: bucket.bucket_id,
        collection: `${p}-docs`,
        collectionId: col.collection_id,
        retriever: `${p}-search`,
        retrieverId: (ret.retriever ?? ret).retriever_id,
        taxonomy: `${p}-tax`,
        taxonomyId: tax.taxonomy_id,
        openBatchId: '',
      };
    };
    const a: Ids & { presignedUrl?: string } = await ids('alpha', 'a');
    const vIds = await ids('victim', 'v');

    // A's own data (so A's lists are not trivially empty).
    const aObject = must(await api(admin, 'POST', `/v1/buckets/${a.bucket}/objects`, { ns: 'alpha', body: { metadata: { title: 'alpha note' }, blobs: [{ property: 'body', type: 'text', data: 'alpha body' }] } }), [200, 201], 'alpha object');
    // A's document (so A's retrievers run their per-document stages) and an open batch of A.
    const aBatch = must(await api(admin, 'POST', `/v1/buckets/${a.bucket}/batches`, { ns: 'alpha', body: { object_ids: [aObject.object_id] } }), 200, 'alpha batch');
    const aTask = must(await api(admin, 'POST', `/v1/buckets/${a.bucket}/batches/${aBatch.batch_id}/submit`, { ns: 'alpha', body: {} }), 200, 'alpha submit').task_id as string;
    await eventually('alpha task COMPLETED', async () => (await api(admin, 'GET', `/v1/tasks/${aTask}`, { ns: 'alpha' })).body.status === 'COMPLETED');
    a.openBatchId = must(await api(admin, 'POST', `/v1/buckets/${a.bucket}/batches`, { ns: 'alpha', body: { object_ids: [aObject.object_id] } }), 200, 'alpha open batch').batch_id;
    const aObj = must(await api(admin, 'GET', `/v1/buckets/${a.bucket}/objects/${aObject.object_id}?return_url=true`, { ns: 'alpha' }), 200, 'alpha object with url');
    a.presignedUrl = (aObj.blobs as Json[])[0]!.presigned_url;

    // V's objects (with a text blob), extracted into documents by a submitted batch (its task finishes).
    const objectIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const o = must(
        await api(vk, 'POST', `/v1/buckets/${vIds.bucket}/objects`, { ns: 'victim', body: { metadata: { title: `${SECRET}-title-${i}` }, blobs: [{ property: 'body', type: 'text', data: `${SECRET} body ${i}` }] } }),
        [200, 201],
        'victim object',
      );
      objectIds.push(o.object_id);
    }
    const batch = must(await api(vk, 'POST', `/v1/buckets/${vIds.bucket}/batches`, { ns: 'victim', body: { object_ids: objectIds } }), 200, 'victim batch');
    const submitted = must(await api(vk, 'POST', `/v1/buckets/${vIds.bucket}/batches/${batch.batch_id}/submit`, { ns: 'victim', body: {} }), 200, 'submit');
    const taskId = submitted.task_id as string;
    await eventually('victim task COMPLETED', async () => (await api(vk, 'GET', `/v1/tasks/${taskId}`, { ns: 'victim' })).body.status === 'COMPLETED');
    const docs = must(await api(vk, 'POST', `/v1/collections/${vIds.collection}/documents/list`, { ns: 'victim', body: { limit: 100 } }), 200, 'victim documents');
    const documentIds = (docs.results as Json[]).map((d) => d.document_id as string);
    if (documentIds.length !== 3) throw new Error(`expected 3 victim documents, got ${JSON.stringify(docs)}`);
    const openBatch = must(await api(vk, 'POST', `/v1/buckets/${vIds.bucket}/batches`, { ns: 'victim', body: { object_ids: [objectIds[0]] } }), 200, 'open batch');
    const upload = must(await api(vk, 'POST', `/v1/buckets/${vIds.bucket}/uploads`, { ns: 'victim', body: { filename: `${SECRET}.txt`, content_type: 'text/plain', object_metadata: { title: `${SECRET}-upload` } } }), 200, 'victim upload');
    // A search interaction of V's (the learned fusion reads these).
    const interaction = must(
      await api(vk, 'POST', '/v1/retrievers/interactions', { ns: 'victim', body: { feature_id: documentIds[0], interaction_type: ['click'], position: 0, metadata: { note: SECRET } } }),
      200,
      'victim interaction',
    );
    // Execution history: a named run and an anonymous one.
    const named = must(await api(vk, 'POST', `/v1/retrievers/${vIds.retriever}/execute`, { ns: 'victim', body: { inputs: { q: SECRET } } }), 200, 'victim named execute');
    const adhoc = must(
      await api(vk, 'POST', '/v1/retrievers/execute', { ns: 'victim', body: { collection_identifiers: [vIds.collection], stages: [{ stage_id: 'attribute_filter', parameters: { field: 'title', operator: 'exists', value: true } }], inputs: { q: SECRET } } }),
      200,
      'victim adhoc execute',
    );
    // A failed anonymous run without X-Namespace (issue 14 #13: such runs were kept under no namespace, readable by any key).
    must(await api(vk, 'POST', '/v1/retrievers/execute', { body: { collection_identifiers: ['no-such-collection'], stages: [{ stage_id: 'limit', parameters: { limit: 1 } }], inputs: { q: SECRET } } }), [400, 403, 404, 422], 'failed adhoc without namespace');
    const history = await api(admin, 'POST', '/v1/retrievers/executions/list', { body: {} });
    const failedNoHeaderExecution = ((history.body.results ?? []) as Json[])[0]?.execution_id as string | undefined;
    const obj = must(await api(vk, 'GET', `/v1/buckets/${vIds.bucket}/objects/${objectIds[0]}?return_url=true`, { ns: 'victim' }), 200, 'victim object with url');
    const blob = (obj.blobs as Json[])[0]!;
    const bucketView = must(await api(admin, 'GET', `/v1/buckets/${vIds.bucket}`, { ns: 'victim' }), 200, 'victim bucket');
    const storage = (bucketView.storage_location ?? {}) as Json;
    return {
      engine,
      secret: SECRET,
      admin,
      rk,
      wk,
      vk,
      a,
      v: {
        ...vIds,
        objectIds,
        documentIds,
        uploadId: upload.upload_id,
        openBatchId: openBatch.batch_id,
        failedNoHeaderExecution,
        interactionId: interaction.interaction_id,
        taskId,
        executionId: adhoc.execution_id,
        namedExecutionId: named.execution_id,
        presignedUrl: blob.presigned_url,
        blobKey: blob.key ?? blob.s3_key ?? '',
        storageBucket: storage.bucket ?? storage.bucket_name ?? '',
        ...(storage.prefix ? { storagePrefix: storage.prefix } : {}),
      },
      api,
      stop: () => engine.stop(),
    };
  } catch (err) {
    const out = engine.output();
    await engine.stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nengine output (tail):\n${out.slice(-4000)}`);
  }
}

/** Files (path → size) under a directory, recursively; [] when it does not exist. */
export function filesUnder(dir: string): [string, number][] {
  const out: [string, number][] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.push([path.relative(dir, p), st.size]);
    }
  };
  walk(dir);
  return out.sort((x, y) => x[0].localeCompare(y[0]));
}
