/**
 * The pure parts of the Bucket, Collection, Retriever and Taxonomy controllers: where a Bucket's blobs live, what a
 * Collection publishes before any document exists, which feature URIs a Retriever uses and how its revision moves,
 * what a Taxonomy references; and the operator's ports from the environment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { objectBucketName } from '#core/naming.ts';
import { BUCKET_CREATED_ANNOTATION, bucketLocation, ownStorage, type Bucket } from '#engine/objects/bucket-plan.ts';
import { outputSchema, paramsMismatch, vectorIndexes, type Collection } from '#operator/controllers/collection/plan.ts';
import { featureDependencies, revisionOf, type Retriever } from '#operator/controllers/retriever/reconcile.ts';
import { taxonomyRefs } from '#operator/controllers/taxonomy/reconcile.ts';
import type { QuarryNamespace } from '#operator/controllers/quarry-namespace/plan.ts';
import { lazyJobQueue, portsFromEnv } from '#operator/ports.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';

const meta = (name: string, generation = 1) => ({ name, namespace: 'team-a', generation });

test('Bucket: own bucket by default (objectBucketName), spec.storage.bucketName, or an existing bucket under a prefix', () => {
  const b = (storage?: Bucket['spec']['storage']): Bucket => ({
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Bucket',
    metadata: meta('products'),
    spec: { namespaceRef: 'catalog', schema: { properties: {} }, ...(storage ? { storage } : {}) },
  });
  assert.deepEqual(bucketLocation(b()), { bucket: objectBucketName('team-a', 'products'), prefix: '', owned: true, source: 'default' });
  assert.deepEqual(bucketLocation(b({ prefix: 'p/' })), { bucket: objectBucketName('team-a', 'products'), prefix: 'p/', owned: true, source: 'default' });
  // A named bucket is Quarry's (may be deleted) only when this Bucket recorded creating it.
  assert.deepEqual(bucketLocation(b({ bucketName: 'mine' })), { bucket: 'mine', prefix: '', owned: false, source: 'bucketName' });
  const marked = (name: string) => ({ ...b({ bucketName: 'mine' }), metadata: { ...meta('products'), annotations: { [BUCKET_CREATED_ANNOTATION]: name } } });
  assert.equal(bucketLocation(marked('mine')).owned, true);
  assert.equal(bucketLocation(marked('other')).owned, false, 'a marker for another bucket name proves nothing');
  assert.deepEqual(bucketLocation(b({ existingBucketName: 'theirs', prefix: 'x/' })), { bucket: 'theirs', prefix: 'x/', owned: false, source: 'existingBucketName' });
  assert.equal(ownStorage(b({ credentialsSecretRef: { name: 's' } })), true, 'own credentials: own S3 client');
  assert.equal(ownStorage(b({ endpoint: 'http://minio:9000' })), true);
  assert.equal(ownStorage(b({ prefix: 'p/', bucketName: 'mine' })), false, 'the operator default store');
});

const collection = (fe: Partial<Collection['spec']['featureExtractor']> = {}): Collection => ({
  apiVersion: 'quarry.dev/v1alpha1',
  kind: 'Collection',
  metadata: meta('passages'),
  spec: {
    namespaceRef: 'research',
    source: { bucketRefs: ['abstracts'] },
    featureExtractor: {
      name: 'text_extractor',
      version: 'v1',
      fieldPassthrough: [{ sourcePath: 'doc_id', required: true }, { sourcePath: 'title', targetPath: 'paper_title' }, { sourcePath: 'meta.author' }],
      ...fe,
    },
  },
});

test('Collection: output schema = passthrough fields typed from the source + extractor outputs; vector indexes from the registry', () => {
  const bucket = {
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Bucket',
    metadata: meta('abstracts'),
    spec: { namespaceRef: 'research', schema: { properties: { doc_id: { type: 'string' as const }, title: { type: 'text' as const } } } },
  } satisfies Bucket;
  const schema = outputSchema(collection(), { buckets: [bucket], collections: [] });
  assert.equal(schema.doc_id?.type, 'string');
  assert.match(schema.doc_id?.description ?? '', /doc_id of abstracts \(required\)/);
  assert.equal(schema.paper_title?.type, 'text', 'targetPath names the output field');
  assert.equal(schema.author?.type, undefined, 'a nested path the bucket schema does not type stays untyped');
  assert.equal(schema.text?.type, 'text');
  assert.equal(schema.chunk_index?.type, 'integer');
  const idx = vectorIndexes(collection());
  assert.equal(idx.length, 1);
  assert.equal(idx[0]!.featureUri, 'quarry://text_extractor@v1/all_minilm_l6_v2');
  assert.equal(idx[0]!.name, 'text_extractor_v1_embedding');
  assert.ok((idx[0]!.dimensions ?? 0) > 0);
  assert.deepEqual(vectorIndexes(collection({ name: 'passthrough_extractor' })), []);
});

test('Collection: index-affecting params must equal the namespace entry of the extractor', () => {
  const ns = (params?: Record<string, unknown>): QuarryNamespace => ({
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'QuarryNamespace',
    metadata: meta('research'),
    spec: { featureExtractors: [{ name: 'text_extractor', version: 'v1', ...(params ? { params } : {}) }] },
  });
  assert.equal(paramsMismatch(collection(), ns({ embedding_model: 'all_minilm_l6_v2' })), undefined, 'no params: the namespace decides');
  assert.equal(paramsMismatch(collection({ params: { embedding_model: 'all_minilm_l6_v2' } }), ns({ embedding_model: 'all_minilm_l6_v2' })), undefined);
  assert.match(paramsMismatch(collection({ params: { embedding_model: 'other' } }), ns({ embedding_model: 'all_minilm_l6_v2' })) ?? '', /QuarryNamespace research/);
});

test('Retriever: feature URIs of the stages (templated ones excluded); revision follows the generation and never goes back', () => {
  const r = (generation: number, revision?: number): Retriever => ({
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Retriever',
    metadata: meta('search', generation),
    spec: {
      namespaceRef: 'research',
      stages: [
        { stageName: 'a', config: { stageId: 'feature_search', parameters: { searches: [{ feature_uri: 'quarry://text_extractor@v1/bm25' }, { feature_uri: 'quarry://image_extractor@v1/clip_vit_b32' }, { feature_uri: '{{INPUT.uri}}' }] } } },
        { stageName: 'b', config: { stageId: 'mmr', parameters: { diversity_feature_uri: 'quarry://image_extractor@v1/clip_vit_b32' } } },
      ],
    },
    ...(revision !== undefined ? { status: { revision } } : {}),
  });
  assert.deepEqual(featureDependencies(r(1)), ['quarry://image_extractor@v1/clip_vit_b32', 'quarry://text_extractor@v1/bm25']);
  assert.equal(revisionOf(r(1)), 1);
  assert.equal(revisionOf(r(3, 2)), 3);
  assert.equal(revisionOf(r(1, 4)), 4, 'a recorded revision is never lowered');
});

test('Taxonomy: references of flat and hierarchical taxonomies', () => {
  assert.deepEqual(taxonomyRefs({ namespaceRef: 'n', retrieverRef: 'r', sourceCollection: { collectionRef: 'labels' } }), { retrievers: ['r'], collections: ['labels'] });
  assert.deepEqual(
    taxonomyRefs({ namespaceRef: 'n', type: 'hierarchical', retrieverRef: 'r', nodes: [{ collectionRef: 'root' }, { collectionRef: 'leaf', parentCollectionRef: 'root', retrieverRef: 'r2' }] }),
    { retrievers: ['r', 'r2'], collections: ['root', 'leaf'] },
  );
});

test('ports from env: nothing configured → no ports; embedded vectors under QUARRY_DATA_DIR, local objects, in-process queue', async () => {
  const none = await portsFromEnv({});
  assert.deepEqual([none.vectorStore, none.objectStore, none.jobQueue], [undefined, undefined, undefined]);
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-op-ports-'));
  try {
    const p = await portsFromEnv({ QUARRY_VECTOR_STORE: 'embedded', QUARRY_DATA_DIR: dir, QUARRY_OBJECT_STORE: 'local', QUARRY_JOB_QUEUE: 'memory' });
    assert.equal(p.vectorStore?.kind, 'embedded');
    await p.vectorStore!.ensureCollection({ name: 'c1', vectors: [{ name: 'v', size: 4, distance: 'cosine' }] });
    assert.ok(await p.vectorStore!.describeCollection('c1'));
    assert.equal(p.objectStore?.kind, 'local');
    await p.objectStore!.ensureBucket('bucket-1');
    assert.equal(await p.objectStore!.bucketExists('bucket-1'), true);
    await p.jobQueue!.ensureQueue({ name: 'Q1' });
    assert.equal(await p.jobQueue!.queueExists('Q1'), true);
    await p.close();
    const cluster = await portsFromEnv({ QUARRY_MODE: 'cluster', S3_ENDPOINT: 'http://127.0.0.1:1', S3_ACCESS_KEY: 'a', S3_SECRET_KEY: 'b' });
    assert.equal(cluster.objectStore?.kind, 's3');
    await cluster.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lazy job queue: a failed connection is retried on the next call', async () => {
  let attempts = 0;
  const fake = { kind: 'fake', queueExists: async () => true, close: async () => undefined } as unknown as JobQueue;
  const q = lazyJobQueue('nats', async () => {
    attempts++;
    if (attempts === 1) throw new Error('connect ECONNREFUSED');
    return fake;
  });
  await assert.rejects(q.queueExists('x'), /ECONNREFUSED/);
  assert.equal(await q.queueExists('x'), true);
  assert.equal(await q.queueExists('y'), true);
  assert.equal(attempts, 2, 'connected once after the failure, then reused');
  await q.close();
  await assert.rejects(q.queueExists('x'), /closed/);
});
