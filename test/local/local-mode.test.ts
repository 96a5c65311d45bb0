/**
 * Local mode end to end on a copy of examples/: the operator's reconcilers run in-process on the LocalResourceStore
 * and write status there; the sample is seeded on first start and the printed curl returns results; a restart on
 * the same data directory keeps objects, documents and status and does not seed again; an edited manifests folder
 * reconciles (a new Retriever appears, becomes Ready and executes; a removed one goes away).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort } from '../harness/test-env.ts';
import { LOCAL_K8S_NAMESPACE, startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';
import { vectorCollectionName } from '#core/naming.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import { eventually as poll } from '../harness/eventually.ts';
const eventually = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000) => poll(what, fn, timeoutMs);

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-local-'));
const dataDir = path.join(scratch, 'data');
const manifestsDir = path.join(scratch, 'examples');
const KINDS = ['QuarryNamespace', 'Bucket', 'Collection', 'Retriever', 'Taxonomy'];
let port: number;
let rt: LocalRuntime | undefined;

type Cond = { type: string; status: string; reason?: string; message?: string };
const ready = (o: Resource | undefined) => (o?.status as { conditions?: Cond[] } | undefined)?.conditions?.find((c) => c.type === 'Ready');


async function execute(r: LocalRuntime, name: string, query: string) {
  const res = await fetch(`${r.url}/v1/retrievers/${name}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'quickstart', ...(r.apiKey ? { authorization: `Bearer ${r.apiKey}` } : {}) },
    body: JSON.stringify({ inputs: { query } }),
  });
  return { status: res.status, body: (await res.json()) as { documents?: Record<string, unknown>[] } };
}

before(async () => {
  cpSync(path.join(ROOT, 'examples'), manifestsDir, { recursive: true, filter: (src) => !src.includes(`${path.sep}gitops`) });
  port = await freePort();
});

after(async () => {
  await rt?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test('first start: reconcilers make every example Ready in the local store, the sample is seeded and the printed curl returns results', async () => {
  rt = await startLocal({ dataDir, manifestsDir, host: '127.0.0.1', port, manifestDebounceMs: 100 });
  const health = await fetch(`${rt.url}/v1/health`);
  assert.equal(health.status, 200);

  // Status is written by the real reconcilers: every example object reaches Ready=True at its generation.
  for (const kind of KINDS) {
    const objs = await rt.store.list(kind, { namespace: LOCAL_K8S_NAMESPACE });
    assert.ok(objs.length > 0, `no ${kind} loaded`);
    for (const o of objs) {
      await eventually(`${kind} ${o.metadata.name} Ready`, async () => {
        const cur = await rt!.store.get(kind, { namespace: LOCAL_K8S_NAMESPACE, name: o.metadata.name });
        const st = cur?.status as { observedGeneration?: number } | undefined;
        return ready(cur)?.status === 'True' && st?.observedGeneration === cur?.metadata.generation;
      });
    }
  }
  const qn = await rt.store.get('QuarryNamespace', { namespace: LOCAL_K8S_NAMESPACE, name: 'quickstart' });
  assert.deepEqual(qn?.metadata.finalizers, ['quarry.dev/finalizer'], 'the reconciler put its finalizer on');
  assert.equal((qn?.status as { vectorCollection?: string }).vectorCollection, vectorCollectionName({ k8sNamespace: LOCAL_K8S_NAMESPACE, name: 'quickstart' }));

  // Seeded once, every batch completed.
  assert.ok(rt.seed, 'the sample was seeded');
  assert.equal(rt.seed.batches.length, 3);
  for (const b of rt.seed.batches) assert.equal(b.status, 'COMPLETED', `batch of ${b.bucket}`);
  assert.ok(readFileSync(path.join(dataDir, 'seeded.json'), 'utf8').includes(rt.seed.seededAt));

  // The printed curl, executed with fetch.
  assert.ok(rt.curl && rt.example);
  assert.ok(rt.curl.includes(rt.example.url) && rt.curl.includes(JSON.stringify(rt.example.body)), rt.curl);
  const res = await fetch(rt.example.url, { method: rt.example.method, headers: rt.example.headers, body: JSON.stringify(rt.example.body) });
  const body = (await res.json()) as { documents: Record<string, unknown>[] };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.ok(body.documents.length > 0, 'the example retriever returns results for the sample');
  assert.equal(body.documents[0]!.title, 'Fixing a flat tyre', JSON.stringify(body.documents.map((d) => d.title)));
  // The key is required: the printed curl carries it, a request without it is refused.
  assert.ok(rt.apiKey?.startsWith('sk_') && rt.curl.includes(`Authorization: Bearer ${rt.apiKey}`), rt.curl);
  const { Authorization: _a, ...noKey } = rt.example.headers;
  const refused = await fetch(rt.example.url, { method: 'POST', headers: noKey, body: JSON.stringify(rt.example.body) });
  assert.equal(refused.status, 401);

  // The PDF and the photos were ingested too: a question about the manual finds its page, a caption its photo.
  const pump = await execute(rt, 'quickstart-search', 'the pump motor hums but the impeller does not turn');
  assert.equal(pump.body.documents?.[0]?.title, 'Garden pump manual', JSON.stringify(pump.body));
  const moon = await execute(rt, 'quickstart-search', 'moon and stars at night');
  assert.equal(moon.body.documents?.[0]?.title, 'Night sky', JSON.stringify(moon.body));
});

test('restart on the same data directory keeps objects, documents and status, and does not seed again', async () => {
  assert.ok(rt);
  const before = rt.seed!;
  const qnBefore = await rt.store.get('QuarryNamespace', { namespace: LOCAL_K8S_NAMESPACE, name: 'quickstart' });
  const vc = vectorCollectionName({ k8sNamespace: LOCAL_K8S_NAMESPACE, name: 'quickstart' });
  const docsBefore = await rt.vectors.count(vc);
  const objectsBefore = (await (await rt.namespace('quickstart')).listObjects()).length;
  const first = await execute(rt, 'quickstart-search', 'espresso grind size');
  const apiKeyBefore = rt.apiKey;
  await rt.stop();
  rt = undefined;

  rt = await startLocal({ dataDir, manifestsDir, host: '127.0.0.1', port, manifestDebounceMs: 100 });
  assert.equal(rt.seed?.seededAt, before.seededAt, 'not seeded again');
  assert.equal(rt.apiKey, apiKeyBefore, 'the same local key after a restart');
  const qnAfter = await rt.store.get('QuarryNamespace', { namespace: LOCAL_K8S_NAMESPACE, name: 'quickstart' });
  assert.equal(qnAfter?.metadata.uid, qnBefore?.metadata.uid, 'the same object, not a recreated one');
  assert.equal(ready(qnAfter)?.status, 'True', 'status survived the restart');
  assert.equal(await rt.vectors.count(vc), docsBefore);
  assert.equal(docsBefore, 9, 'four notes, three photo captions, two PDF pages');
  assert.equal((await (await eventually('namespace served', () => rt!.namespace('quickstart'))).listObjects()).length, objectsBefore);
  const again = await execute(rt, 'quickstart-search', 'espresso grind size');
  assert.equal(again.status, 200);
  assert.deepEqual(
    again.body.documents?.map((d) => d.document_id),
    first.body.documents?.map((d) => d.document_id),
  );
});

test('an edited manifests folder reconciles: a new Retriever appears and executes, a removed one is deleted', async () => {
  assert.ok(rt);
  const file = path.join(manifestsDir, 'sample-data', 'zz-notes-only.yaml');
  writeFileSync(
    file,
    `apiVersion: quarry.dev/v1alpha1
kind: Retriever
metadata:
  name: quickstart-notes-only
spec:
  namespaceRef: quickstart
  collectionRefs: [quickstart-notes]
  inputSchema:
    query: {type: text, required: true}
  stages:
    - stageName: search
      stageType: filter
      config:
        stageId: feature_search
        parameters:
          searches:
            - feature_uri: quarry://text_extractor@v1/all_minilm_l6_v2
              query: {input_mode: text, value: "{{INPUT.query}}"}
              top_k: 3
`,
  );
  await eventually('the new Retriever Ready', async () => ready(await rt!.store.get('Retriever', { namespace: LOCAL_K8S_NAMESPACE, name: 'quickstart-notes-only' }))?.status === 'True');
  const r = await execute(rt, 'quickstart-notes-only', 'bread starter');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.documents?.[0]?.title, 'Baking sourdough');
  assert.ok(r.body.documents!.every((d) => d.collection_id === 'quickstart-notes' || d.collection === 'quickstart-notes' || d.title !== 'Garden pump manual'));

  // Edit: the spec changes in place (generation moves), as `kubectl apply` of an edited file would.
  writeFileSync(file, readFileSync(file, 'utf8').replace('top_k: 3', 'top_k: 1'));
  await eventually('generation 2 observed', async () => {
    const o = await rt!.store.get('Retriever', { namespace: LOCAL_K8S_NAMESPACE, name: 'quickstart-notes-only' });
    return o?.metadata.generation === 2 && (o.status as { observedGeneration?: number }).observedGeneration === 2;
  });
  const one = await execute(rt, 'quickstart-notes-only', 'bread starter');
  assert.equal(one.body.documents?.length, 1, JSON.stringify(one.body));

  unlinkSync(file);
  await eventually('the Retriever deleted', async () => !(await rt!.store.get('Retriever', { namespace: LOCAL_K8S_NAMESPACE, name: 'quickstart-notes-only' })));
  const gone = await execute(rt, 'quickstart-notes-only', 'bread starter');
  assert.equal(gone.status, 404);
  // The rest of the folder is untouched.
  assert.ok(await rt.store.get('Retriever', { namespace: LOCAL_K8S_NAMESPACE, name: 'quickstart-search' }));
});

test('a namespace added to the folder is served once Ready (ingest over HTTP, search), and removing it stops serving it and drops its data', async () => {
  assert.ok(rt);
  const file = path.join(manifestsDir, 'zz-scratchpad.yaml');
  writeFileSync(
    file,
    `apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata: {name: scratchpad}
spec:
  featureExtractors: [{name: text_extractor, version: v1}]
---
apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata: {name: scratch-notes}
spec:
  namespaceRef: scratchpad
  schema: {properties: {body: {type: text}}}
---
apiVersion: quarry.dev/v1alpha1
kind: Collection
metadata: {name: scratch-passages}
spec:
  namespaceRef: scratchpad
  source: {bucketRefs: [scratch-notes]}
  featureExtractor: {name: text_extractor, version: v1, inputMappings: {text: body}}
`,
  );
  const h = { 'content-type': 'application/json', 'x-namespace': 'scratchpad', authorization: `Bearer ${rt.apiKey}` };
  const post = async (p: string, body: unknown) => {
    const res = await fetch(`${rt!.url}${p}`, { method: 'POST', headers: h, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  await eventually('the Collection Ready', async () => ready(await rt!.store.get('Collection', { namespace: LOCAL_K8S_NAMESPACE, name: 'scratch-passages' }))?.status === 'True');
  const obj = await eventually('the namespace served', async () => {
    const r = await post('/v1/buckets/scratch-notes/objects', { blobs: [{ property: 'body', type: 'text', data: 'Glaciers carve U-shaped valleys as they move.' }] });
    return r.status < 300 ? r : undefined;
  });
  const batch = await post('/v1/buckets/scratch-notes/batches', { object_ids: [obj.body.object_id] });
  await post(`/v1/buckets/scratch-notes/batches/${String(batch.body.batch_id)}/submit`, {});
  await eventually('the batch completed', async () => {
    const res = await fetch(`${rt!.url}/v1/buckets/scratch-notes/batches/${String(batch.body.batch_id)}`, { headers: h });
    return ((await res.json()) as { status: string }).status === 'COMPLETED';
  });
  const vc = vectorCollectionName({ k8sNamespace: LOCAL_K8S_NAMESPACE, name: 'scratchpad' });
  assert.equal(await rt.vectors.count(vc), 1);

  unlinkSync(file);
  await eventually('the namespace deleted (finalizers ran)', async () => !(await rt!.store.get('QuarryNamespace', { namespace: LOCAL_K8S_NAMESPACE, name: 'scratchpad' })));
  assert.ok(!(await rt.vectors.listCollections()).includes(vc), 'the vector collection was dropped');
  const gone = await post('/v1/buckets/scratch-notes/objects/list', {});
  assert.equal(gone.status, 404);
  assert.ok(!rt.namespaces.has('scratchpad'));
  assert.ok(rt.namespaces.has('quickstart'));
});
