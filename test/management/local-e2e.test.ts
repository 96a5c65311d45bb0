/**
 * The management API end to end in local mode (startLocal: the operator's reconcilers on the LocalResourceStore,
 * real models): resources created through the API are reconciled, their status reaches the documented response
 * fields (ACTIVE, vector_indexes, output_schema, document/object counts), the ingestion and retriever APIs use them
 * by name, a PATCH of a retriever becomes a new version, and a DELETE lets the finalizer remove the documents.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../harness/test-env.ts';
import { LOCAL_K8S_NAMESPACE, startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';
import { objectBucketName, vectorCollectionName } from '#core/naming.ts';
import { eventually as poll } from '../harness/eventually.ts';
const eventually = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 180_000) => poll(what, fn, timeoutMs);

type Json = Record<string, unknown> & { [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-mgmt-e2e-'));
let rt: LocalRuntime | undefined;

const URI = 'quarry://text_extractor@v1/all_minilm_l6_v2';
const TEXT_FX = { feature_extractor_name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };

async function call(method: string, url: string, body?: unknown, ns?: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${rt!.url}${url}`, {
    method,
    headers: { authorization: `Bearer ${rt!.apiKey}`, ...(ns ? { 'x-namespace': ns } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
}


before(async () => {
  const manifestsDir = path.join(scratch, 'manifests');
  mkdirSync(manifestsDir, { recursive: true });
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir, host: '127.0.0.1', port: await freePort(), seed: false, resyncMs: 1000, manifestDebounceMs: 100 });
});

after(async () => {
  await rt?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test('resources created through the API are reconciled, used by ingestion and retrieval, patched and deleted', async () => {
  const ns = await call('POST', '/v1/namespaces', { namespace_name: 'e2e', description: 'end to end', feature_extractors: [TEXT_FX] });
  assert.equal(ns.status, 200, JSON.stringify(ns.body));
  const nsReady = await eventually('namespace ACTIVE', async () => {
    const r = await call('GET', `/v1/namespaces/${ns.body.namespace_id}`);
    return r.body.status === 'ACTIVE' && r.body;
  });
  assert.equal(nsReady.vector_collection, vectorCollectionName({ k8sNamespace: LOCAL_K8S_NAMESPACE, name: 'e2e' }));
  assert.ok(nsReady.vector_indexes.some((v: Json) => v.feature_uri === URI), JSON.stringify(nsReady.vector_indexes));

  const bucket = await call('POST', '/v1/buckets', { bucket_name: 'notes', bucket_schema: { properties: { body: { type: 'text', required: true }, category: { type: 'string' } } } }, 'e2e');
  assert.equal(bucket.status, 200, JSON.stringify(bucket.body));
  const col = await call(
    'POST',
    '/v1/collections',
    {
      collection_name: 'notes-text',
      source: { type: 'bucket', bucket_ids: [bucket.body.bucket_id] },
      feature_extractor: { ...TEXT_FX, input_mappings: { text: 'body' }, field_passthrough: [{ source_path: 'metadata.category' }, { source_path: 'metadata.thumbnail_url' }] },
    },
    'e2e',
  );
  assert.equal(col.status, 200, JSON.stringify(col.body));
  const colReady = await eventually('collection ACTIVE', async () => {
    const r = await call('GET', '/v1/collections/notes-text', undefined, 'e2e');
    return r.body.status === 'ACTIVE' && r.body;
  });
  // Published by the Collection reconciler, mapped into the documented fields.
  assert.equal(colReady.vector_indexes[0].feature_uri, URI);
  assert.equal(colReady.vector_indexes[0].index.dimensions, 384);
  assert.ok('category' in colReady.output_schema.properties && 'text' in colReady.output_schema.properties, JSON.stringify(colReady.output_schema));

  // A Bucket on its own S3 endpoint is refused by ingestion, naming the fields, instead of being written elsewhere.
  const remote = await call('POST', '/v1/buckets', { bucket_name: 'remote', bucket_schema: { properties: { body: { type: 'text' } } }, storage: { endpoint: 'https://s3.example.com', existing_bucket_name: 'theirs' } }, 'e2e');
  assert.equal(remote.status, 200, JSON.stringify(remote.body));
  const refused = await call('POST', '/v1/buckets/remote/objects', { blobs: [{ property: 'body', type: 'text', data: 'x' }] }, 'e2e');
  assert.equal(refused.status, 400, JSON.stringify(refused.body));
  assert.match(refused.body.error.message, /bucket 'remote' keeps its blobs on its own S3 storage \(spec\.storage\.endpoint/);
  const refusedUpload = await call('POST', '/v1/buckets/remote/uploads', { filename: 'a.txt', content_type: 'text/plain' }, 'e2e');
  assert.equal(refusedUpload.status, 400, JSON.stringify(refusedUpload.body));
  assert.equal((await call('DELETE', '/v1/buckets/remote', undefined, 'e2e')).status, 200);

  // A stored file the bike note points at (s3:// in its own storage), and a reference to storage it does not own.
  const cover = await call('POST', '/v1/buckets/notes/objects', { blobs: [{ property: 'body', type: 'text', data: 'Cover picture of a patched inner tube.' }], metadata: { category: 'cover' } }, 'e2e');
  assert.equal(cover.status, 200, JSON.stringify(cover.body));
  const ownUrl = `s3://${objectBucketName(LOCAL_K8S_NAMESPACE, 'notes')}/${cover.body.blobs[0].key}`;
  const foreignUrl = 's3://another-tenant/private/secret.jpg';
  const notes = [
    ['The espresso machine needs descaling every month to keep the coffee tasting right.', 'kitchen', foreignUrl],
    ['A flat bicycle tyre is fixed by patching the inner tube after finding the puncture.', 'bike', ownUrl],
    ['Tomato seedlings want warm soil and plenty of sunlight before planting out.', 'garden', undefined],
  ];
  for (const [text, category, thumbnail_url] of notes) {
    const o = await call('POST', '/v1/buckets/notes/objects', { blobs: [{ property: 'body', type: 'text', data: text }], metadata: { category, ...(thumbnail_url ? { thumbnail_url } : {}) } }, 'e2e');
    assert.equal(o.status, 200, JSON.stringify(o.body));
  }
  const trig = await call('POST', '/v1/collections/notes-text/trigger', {}, 'e2e');
  assert.equal(trig.status, 202, JSON.stringify(trig.body));
  await eventually('batch COMPLETED', async () => {
    const t = await call('GET', `/v1/tasks/${trig.body.task_id}`, undefined, 'e2e');
    assert.notEqual(t.body.status, 'FAILED', JSON.stringify(t.body));
    return t.body.status === 'COMPLETED';
  });
  // Counts come from status, refreshed by the reconcilers.
  await eventually('document_count', async () => (await call('GET', '/v1/collections/notes-text', undefined, 'e2e')).body.document_count >= 3);
  await eventually('object_count', async () => (await call('GET', '/v1/buckets/notes', undefined, 'e2e')).body.object_count === 4);
  // The documents API reads what extraction wrote (the embedded store in local mode).
  const docs = await call('POST', '/v1/collections/notes-text/documents/list', { filters: { field: 'category', value: 'bike' } }, 'e2e');
  assert.equal(docs.status, 200, JSON.stringify(docs.body));
  assert.equal(docs.body.total_documents, 1);
  assert.match(docs.body.results[0].text, /bicycle tyre/);

  const ret = await call(
    'POST',
    '/v1/retrievers',
    {
      retriever_name: 'notes-search',
      collection_identifiers: [colReady.collection_id],
      input_schema: { query: { type: 'text', required: true } },
      stages: [{ stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 10 }], final_top_k: 3 } } }],
    },
    'e2e',
  );
  assert.equal(ret.status, 200, JSON.stringify(ret.body));
  await eventually('retriever active', async () => (await call('GET', '/v1/retrievers/notes-search', undefined, 'e2e')).body.status === 'active');
  const exec = await call('POST', '/v1/retrievers/notes-search/execute', { inputs: { query: 'how do I repair a puncture' } }, 'e2e');
  assert.equal(exec.status, 200, JSON.stringify(exec.body));
  assert.equal(exec.body.documents[0].category, 'bike', JSON.stringify(exec.body.documents));
  assert.equal(exec.body.documents[0].thumbnail_url, ownUrl, 'stored URLs unless presigned URLs are asked for');

  // ?return_presigned_urls=true: the namespace's own s3:// URL becomes a working HTTP URL; another's stays as stored.
  const signed = await call('POST', '/v1/retrievers/notes-search/execute?return_presigned_urls=true', { inputs: { query: 'how do I repair a puncture' } }, 'e2e');
  assert.equal(signed.status, 200, JSON.stringify(signed.body));
  const bike = signed.body.documents.find((d: Json) => d.category === 'bike');
  assert.ok(String(bike.thumbnail_url).startsWith(`${rt!.url}/`), bike.thumbnail_url);
  const file = await fetch(bike.thumbnail_url);
  assert.equal(file.status, 200);
  assert.equal(await file.text(), 'Cover picture of a patched inner tube.');
  const kitchen = await call('POST', '/v1/retrievers/notes-search/execute', { inputs: { query: 'espresso coffee' }, return_urls: true }, 'e2e');
  assert.equal(kitchen.body.documents.find((d: Json) => d.category === 'kitchen').thumbnail_url, foreignUrl);
  const bad = await call('POST', '/v1/retrievers/notes-search/execute?return_presigned_urls=yes', { inputs: { query: 'x' } }, 'e2e');
  assert.equal(bad.status, 422);
  assert.match(bad.body.error.message, /query parameter return_presigned_urls must be true or false/);

  // A pipeline change through PATCH is a new revision (version) of the same retriever.
  const patched = await call('PATCH', `/v1/retrievers/${ret.body.retriever_id}`, {
    stages: [
      { stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 10 }], final_top_k: 3 } } },
      { stage_name: 'one', config: { stage_id: 'limit', parameters: { limit: 1 } } },
    ],
  }, 'e2e');
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  await eventually('version 2', async () => (await call('GET', '/v1/retrievers/notes-search', undefined, 'e2e')).body.version === 2);
  const one = await call('POST', '/v1/retrievers/notes-search/execute', { inputs: { query: 'coffee machine maintenance' } }, 'e2e');
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.equal(one.body.documents.length, 1);
  assert.equal(one.body.documents[0].category, 'kitchen');

  // DELETE through the store: the Collection finalizer removes its documents, then the object goes away.
  const vc = vectorCollectionName({ k8sNamespace: LOCAL_K8S_NAMESPACE, name: 'e2e' });
  assert.ok((await rt!.vectors.count(vc, { field: 'collection_id', value: 'notes-text' })) >= 3);
  assert.equal((await call('DELETE', '/v1/retrievers/notes-search', undefined, 'e2e')).status, 200);
  assert.equal((await call('DELETE', '/v1/collections/notes-text', undefined, 'e2e')).status, 200);
  await eventually('collection gone', async () => (await call('GET', '/v1/collections/notes-text', undefined, 'e2e')).status === 404);
  assert.equal(await rt!.vectors.count(vc, { field: 'collection_id', value: 'notes-text' }), 0, 'documents deleted by the finalizer');
});

test('X-Namespace takes the namespace id on every route: ingestion, tasks, documents, retriever execution', async () => {
  const ns = await call('POST', '/v1/namespaces', { namespace_name: 'by-id', feature_extractors: [TEXT_FX] });
  assert.equal(ns.status, 200, JSON.stringify(ns.body));
  const nsId: string = ns.body.namespace_id;
  await eventually('namespace ACTIVE', async () => (await call('GET', `/v1/namespaces/${nsId}`)).body.status === 'ACTIVE');
  const bucket = await call('POST', '/v1/buckets', { bucket_name: 'cards', bucket_schema: { properties: { body: { type: 'text', required: true } } } }, nsId);
  assert.equal(bucket.status, 200, JSON.stringify(bucket.body));
  const col = await call('POST', '/v1/collections', { collection_name: 'cards-text', source: { type: 'bucket', bucket_ids: ['cards'] }, feature_extractor: { ...TEXT_FX, input_mappings: { text: 'body' } } }, nsId);
  assert.equal(col.status, 200, JSON.stringify(col.body));
  await eventually('collection ACTIVE', async () => (await call('GET', '/v1/collections/cards-text', undefined, nsId)).body.status === 'ACTIVE');

  // Ingestion by id: objects, uploads listing, batches (through trigger) and tasks.
  const obj = await call('POST', '/v1/buckets/cards/objects', { blobs: [{ property: 'body', type: 'text', data: 'Sourdough bread needs a lively starter.' }] }, nsId);
  assert.equal(obj.status, 200, JSON.stringify(obj.body));
  assert.equal((await call('GET', `/v1/buckets/cards/objects/${obj.body.object_id}`, undefined, nsId)).status, 200);
  const trig = await call('POST', '/v1/collections/cards-text/trigger', {}, nsId);
  assert.equal(trig.status, 202, JSON.stringify(trig.body));
  await eventually('batch COMPLETED', async () => {
    const t = await call('GET', `/v1/tasks/${trig.body.task_id}`, undefined, nsId);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.notEqual(t.body.status, 'FAILED', JSON.stringify(t.body));
    return t.body.status === 'COMPLETED';
  });
  const docs = await call('POST', '/v1/collections/cards-text/documents/list', {}, nsId);
  assert.equal(docs.status, 200, JSON.stringify(docs.body));
  assert.equal(docs.body.total_documents, 1);

  // Retrievers: anonymous and named execution with the id in X-Namespace.
  const stages = [{ stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 5 }] } } }];
  const anon = await call('POST', '/v1/retrievers/execute', { collection_identifiers: ['cards-text'], input_schema: { query: { type: 'text', required: true } }, stages, inputs: { query: 'bread' } }, nsId);
  assert.equal(anon.status, 200, JSON.stringify(anon.body));
  assert.equal(anon.body.documents.length, 1);
  const ret = await call('POST', '/v1/retrievers', { retriever_name: 'cards-search', collection_identifiers: ['cards-text'], input_schema: { query: { type: 'text', required: true } }, stages }, nsId);
  assert.equal(ret.status, 200, JSON.stringify(ret.body));
  await eventually('retriever active', async () => (await call('GET', '/v1/retrievers/cards-search', undefined, nsId)).body.status === 'active');
  const exec = await call('POST', '/v1/retrievers/cards-search/execute', { inputs: { query: 'bread' } }, nsId);
  assert.equal(exec.status, 200, JSON.stringify(exec.body));
  assert.match(exec.body.documents[0].text, /Sourdough/);

  // The retriever id the management API returned executes, explains and batches too, and is the id reported back.
  const retId: string = ret.body.retriever_id;
  assert.match(retId, /^ret_[0-9a-f]{32}$/);
  assert.equal(exec.body.retriever_id, retId);
  const execById = await call('POST', `/v1/retrievers/${retId}/execute`, { inputs: { query: 'bread' } }, nsId);
  assert.equal(execById.status, 200, JSON.stringify(execById.body));
  assert.equal(execById.body.retriever_id, retId);
  assert.equal(execById.body.retriever_name, 'cards-search');
  assert.match(execById.body.documents[0].text, /Sourdough/);
  const explained = await call('POST', `/v1/retrievers/${retId}/execute/explain`, {}, nsId);
  assert.equal(explained.status, 200, JSON.stringify(explained.body));
  const batch = await call('POST', `/v1/retrievers/${retId}/execute/batch`, { queries: [{ inputs: { query: 'bread' } }] }, 'by-id');
  assert.equal(batch.status, 200, JSON.stringify(batch.body));
  assert.equal(JSON.stringify(batch.body).includes(retId), true, JSON.stringify(batch.body));
  // Another namespace's retriever id is not found in this one.
  assert.equal((await call('POST', `/v1/retrievers/${retId}/execute`, { inputs: { query: 'bread' } }, 'e2e')).status, 404);

  // An unknown id is a 404 naming it; a key scoped to another namespace is refused by id as by name.
  const unknown = await call('POST', '/v1/buckets/cards/objects', { blobs: [{ property: 'body', type: 'text', data: 'x' }] }, 'ns_00000000000000000000000000000000');
  assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
  const other = await call('POST', '/v1/organizations/api-keys', { name: 'only-e2e', namespaces: ['e2e'] });
  assert.equal(other.status, 200, JSON.stringify(other.body));
  for (const [method, url] of [['POST', '/v1/buckets/cards/objects/list'], ['POST', '/v1/retrievers/cards-search/execute'], ['GET', `/v1/tasks/${trig.body.task_id}`]] as const) {
    const res = await fetch(`${rt!.url}${url}`, { method, headers: { authorization: `Bearer ${other.body.key}`, 'x-namespace': nsId, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) }, ...(method === 'POST' ? { body: '{"inputs":{"query":"bread"}}' } : {}) });
    assert.equal(res.status, 403, `${method} ${url}: ${await res.text()}`);
  }
});

test('display names (reference §12.1) work on ingestion, trigger, tasks, documents and retrieval; the same bucket name in two namespaces stays apart', async () => {
  const mk = async (name: string) => {
    const ns = await call('POST', '/v1/namespaces', { namespace_name: name, feature_extractors: [TEXT_FX] });
    assert.equal(ns.status, 200, JSON.stringify(ns.body));
    await eventually(`namespace ${name} ACTIVE`, async () => (await call('GET', `/v1/namespaces/${ns.body.namespace_id}`)).body.status === 'ACTIVE');
    return ns.body as Json;
  };
  const demo = await mk('Demo_NS');
  const other = await mk('other-demo');
  const schema = { properties: { body: { type: 'text', required: true } } };
  const bucketIds: Record<string, string> = {};
  const collectionIds: Record<string, string> = {};
  for (const ns of ['Demo_NS', 'other-demo']) {
    const b = await call('POST', '/v1/buckets', { bucket_name: 'Docs', bucket_schema: schema }, ns);
    assert.equal(b.status, 200, JSON.stringify(b.body));
    bucketIds[ns] = b.body.bucket_id;
    const c = await call('POST', '/v1/collections', { collection_name: 'docs_text', source: { type: 'bucket', bucket_ids: ['Docs'] }, feature_extractor: { ...TEXT_FX, input_mappings: { text: 'body' } } }, ns);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    collectionIds[ns] = c.body.collection_id;
    await eventually('collection ACTIVE', async () => (await call('GET', '/v1/collections/docs_text', undefined, ns)).body.status === 'ACTIVE');
  }
  const texts: Record<string, string> = { 'Demo_NS': 'hello world, a friendly greeting', 'other-demo': 'quarterly tax forms are due in April' };
  for (const [ns, text] of Object.entries(texts)) {
    const o = await call('POST', '/v1/buckets/Docs/objects', { blobs: [{ property: 'body', type: 'text', data: text }], metadata: { category: 'greeting' } }, ns);
    assert.equal(o.status, 200, JSON.stringify(o.body));
    // Responses name the Bucket as the management API does (reference §1.3): its id, and its name beside it.
    assert.match(bucketIds[ns]!, /^bkt_/);
    assert.deepEqual([o.body.bucket_id, o.body.bucket_name, o.body.source_details[0].source_id], [bucketIds[ns], 'Docs', bucketIds[ns]]);
    const listed = (await call('POST', '/v1/buckets/Docs/objects/list', {}, ns)).body;
    assert.equal(listed.results.length, 1, 'each namespace sees its own object');
    assert.equal(listed.results[0].bucket_id, bucketIds[ns]);
    assert.equal((await call('GET', `/v1/buckets/${bucketIds[ns]}/objects/${o.body.object_id}`, undefined, ns)).body.bucket_name, 'Docs', 'the id names the bucket in paths too');
    const trig = await call('POST', '/v1/collections/docs_text/trigger', {}, ns);
    assert.equal(trig.status, 202, JSON.stringify(trig.body));
    // The trigger response names the collection and its source buckets by id (reference §1.5).
    assert.match(collectionIds[ns]!, /^col_/);
    assert.deepEqual([trig.body.collection_id, trig.body.collection_name, trig.body.source_bucket_ids], [collectionIds[ns], 'docs_text', [bucketIds[ns]]]);
    await eventually('batch COMPLETED', async () => {
      const t = await call('GET', `/v1/tasks/${trig.body.task_id}`, undefined, ns);
      assert.notEqual(t.body.status, 'FAILED', JSON.stringify(t.body));
      return t.body.status === 'COMPLETED';
    });
    const batch = await call('GET', `/v1/buckets/Docs/batches/${trig.body.batch_id}`, undefined, ns);
    assert.deepEqual([batch.body.bucket_id, batch.body.bucket_name], [bucketIds[ns], 'Docs']);
    const docs = await call('POST', '/v1/collections/docs_text/documents/list', {}, ns);
    assert.equal(docs.status, 200, JSON.stringify(docs.body));
    assert.equal(docs.body.total_documents, 1);
    assert.equal(docs.body.results[0].text, text);
  }

  const stages = [{ stage_name: 'search', stage_type: 'filter', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 5 }] } } }];
  const anon = await call('POST', '/v1/retrievers/execute', { collection_identifiers: ['docs_text'], input_schema: { query: { type: 'text', required: true } }, stages, inputs: { query: 'greeting' } }, 'Demo_NS');
  assert.equal(anon.status, 200, JSON.stringify(anon.body));
  assert.deepEqual(anon.body.documents.map((d: Json) => d.text), [texts.Demo_NS]);
  const ret = await call('POST', '/v1/retrievers', { retriever_name: 'docs_search', collection_identifiers: ['docs_text'], input_schema: { query: { type: 'text', required: true } }, stages }, demo.namespace_id);
  assert.equal(ret.status, 200, JSON.stringify(ret.body));
  await eventually('retriever active', async () => (await call('GET', '/v1/retrievers/docs_search', undefined, 'Demo_NS')).body.status === 'active');
  const exec = await call('POST', '/v1/retrievers/docs_search/execute', { inputs: { query: 'greeting' } }, 'Demo_NS');
  assert.equal(exec.status, 200, JSON.stringify(exec.body));
  assert.equal(exec.body.retriever_name, 'docs_search');
  assert.equal(exec.body.retriever_id, ret.body.retriever_id);
  assert.deepEqual(exec.body.documents.map((d: Json) => d.text), [texts.Demo_NS]);
  assert.equal((await call('POST', '/v1/retrievers/docs_search/execute', { inputs: { query: 'greeting' } }, other.namespace_id)).status, 404);
});
