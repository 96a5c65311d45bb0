/**
 * QuarryNamespace planning (pure) and its round trip through the real in-process vector store adapters: what the
 * reconciler creates is what it later observes as complete (otherwise it would report drift forever).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvalidSpecError, collectionDrift, planNamespace, type QuarryNamespace } from '#operator/controllers/quarry-namespace/plan.ts';
import { createVectorStore } from '#engine/vector/create.ts';

const qn = (spec: QuarryNamespace['spec']): QuarryNamespace => ({
  apiVersion: 'quarry.dev/v1alpha1',
  kind: 'QuarryNamespace',
  metadata: { name: 'docs', namespace: 'team-a' },
  spec,
});

test('plan: one named vector per extractor output, lexical fields, payload indexes, store settings', () => {
  const p = planNamespace(
    qn({
      featureExtractors: [{ name: 'text_extractor' }, { name: 'image_extractor', version: 'v1' }],
      payloadIndexes: [{ field: 'metadata.category', type: 'keyword' }, { field: 'metadata.id', type: 'uuid' }],
      vectorStore: { shards: 2, onDisk: true },
    }),
  );
  assert.deepEqual(p.collection.vectors.map((v) => v.name), ['text_extractor_v1_embedding', 'image_extractor_v1_embedding']);
  assert.ok(p.collection.vectors.every((v) => v.size > 0 && v.distance === 'cosine'));
  assert.deepEqual(p.collection.lexicalFields, ['text']);
  assert.deepEqual(p.collection.payloadIndexes, [{ field: 'metadata.category', type: 'keyword' }, { field: 'metadata.id', type: 'keyword' }]);
  assert.equal(p.collection.shards, 2);
  assert.equal(p.collection.onDisk, true);
  assert.match(p.vectorIndexes[0]!.featureUri, /text_extractor@v1/);
  assert.throws(() => planNamespace(qn({ featureExtractors: [{ name: 'nope_extractor' }] })), (e) => e instanceof InvalidSpecError && e.reason === 'UnknownExtractor');
  assert.throws(() => planNamespace(qn({ featureExtractors: [{ name: 'text_extractor' }], payloadIndexes: [{ field: 'loc', type: 'geo' }] })), InvalidSpecError);
});

for (const kind of ['exact', 'embedded'] as const) {
  test(`plan round trip through the ${kind} vector store: created collection observes as complete`, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-qns-'));
    const vs = createVectorStore(kind === 'exact' ? { kind } : { kind, dataDir: dir });
    try {
      const p = planNamespace(qn({ featureExtractors: [{ name: 'text_extractor' }, { name: 'image_extractor' }], payloadIndexes: [{ field: 'metadata.category', type: 'keyword' }] }));
      assert.equal(await vs.describeCollection(p.collection.name), undefined);
      await vs.ensureCollection(p.collection);
      const observed = await vs.describeCollection(p.collection.name);
      assert.ok(observed);
      assert.deepEqual(collectionDrift(p.collection, observed), []);
      assert.equal(await vs.count(p.collection.name), 0);
      await vs.dropCollection(p.collection.name);
      assert.equal(await vs.describeCollection(p.collection.name), undefined);
      await vs.dropCollection(p.collection.name); // the finalizer relies on "already gone" being a success
      await vs.ensureCollection(p.collection);
      await vs.ensureCollection(p.collection); // and on ensure being idempotent
      assert.deepEqual(collectionDrift(p.collection, (await vs.describeCollection(p.collection.name))!), []);
    } finally {
      await vs.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
