/** namespaceFeatureResolver maps feature URIs of declared collections to vectors, lexical fields and models. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExactVectorStore } from '../../engine/src/vector/exact/exact-store.ts';
import { namespaceFeatureResolver } from '../../engine/src/retriever/namespace-features.ts';
import { getExtractor } from '../../engine/src/extractors/registry.ts';
import type { CollectionPlan } from '../../engine/src/ingestion/collections.ts';
import type { QuarryError } from '../../engine/src/lib/errors.ts';

const plan = (name: string, id: string): CollectionPlan => ({ name, source: { type: 'bucket', buckets: ['b'] }, extractor: { id, params: {} }, enabled: true });

test('resolves quarry:// and mixpeek:// URIs, bm25, unknown features and collections; signature follows ingestion', async () => {
  const store = new ExactVectorStore();
  const text = getExtractor('text_extractor@v1')!.vectors({})[0]!;
  await store.ensureCollection({ name: 'ns', vectors: [{ name: text.name, size: text.dimensions, distance: 'cosine' }] });
  const r = namespaceFeatureResolver(store, { storeCollection: async () => 'ns', collections: async () => [plan('docs', 'text_extractor@v1'), plan('pics', 'image_extractor@v1')] });
  const f = await r.resolve(text.featureUri, ['docs']);
  assert.equal(f.using, text.name);
  assert.equal(f.model, text.model);
  assert.deepEqual(f.filter, { field: 'collection_id', operator: 'in', value: ['docs'] });
  const m = await r.resolve(text.featureUri.replace('quarry://', 'mixpeek://'), []);
  assert.equal(m.using, text.name);
  assert.deepEqual(m.filter, { field: 'collection_id', operator: 'in', value: ['docs'] });
  const lex = await r.resolve('quarry://text_extractor@v1/bm25', ['docs']);
  assert.equal(lex.lexical, true);
  await assert.rejects(r.resolve('quarry://text_extractor@v1/nope', ['docs']), (e: QuarryError) => e.status === 400 && /not exposed/.test(e.message));
  await assert.rejects(r.resolve(text.featureUri, ['missing']), (e: QuarryError) => e.status === 404);
  await assert.rejects(r.resolve('not a uri', ['docs']), (e: QuarryError) => e.status === 400);
  const before = await r.indexSignature!(['docs']);
  await store.upsert('ns', [{ id: 'a', vectors: { [text.name]: new Array(text.dimensions).fill(0.1) }, payload: { collection_id: 'docs' } }]);
  assert.notEqual(await r.indexSignature!(['docs']), before);
});
