/** Retriever resources (camelCase CRD spec) load and execute through resourceRetrieverSource. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resourceRetrieverSource } from '#engine/retriever/resource-source.ts';
import { RetrieverEngine } from '#engine/retriever/executor.ts';
import type { Resource, ResourceStore } from '#core/ports/resource-store.ts';
import { URI, seed } from './fixtures.ts';

test('a Retriever resource executes by name in its QuarryNamespace only', async () => {
  const resource: Resource = {
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Retriever',
    metadata: { name: 'products', namespace: 'team', uid: 'a1b2c3d4-0000-0000-0000-000000000000', generation: 2 },
    spec: {
      namespaceRef: 'shop',
      collectionRefs: ['products'],
      inputSchema: { q: { type: 'text', required: true } },
      cacheConfig: { enabled: true, ttlSeconds: 60 },
      stages: [
        { stageName: 'search', stageType: 'filter', config: { stageId: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.q}}' } }], final_top_k: 3 }, preFilters: { field: 'metadata.category', value: 'audio' } } },
        { stageName: 'top', config: { stageId: 'limit', parameters: { limit: 2 } } },
      ],
    },
  };
  const store = { list: async (kind: string, opts?: { namespace?: string }) => (kind === 'Retriever' && opts?.namespace === 'team' ? [resource] : []) } as unknown as ResourceStore;
  const s = await seed();
  const engine = new RetrieverEngine({ ...s.deps, retrievers: resourceRetrieverSource(store, 'team') });
  const def = await engine.load('products', 'shop');
  assert.equal(def.retriever_name, 'products');
  assert.deepEqual(def.collection_identifiers, ['products']);
  const r = await engine.execute(def, { inputs: { q: 'wireless' } });
  assert.equal((r.body.documents as unknown[]).length, 2);
  assert.ok((r.body.documents as { metadata: { category: string } }[]).every((d) => d.metadata.category === 'audio'));
  assert.equal(r.ttlSeconds, 60);
  await assert.rejects(engine.load('products', 'other-namespace'), /not found/);
  // By the id the management API returns (ret_ + the uid's 32 hex digits), reported back as that same id.
  const byId = await engine.load('ret_a1b2c3d4000000000000000000000000', 'shop');
  assert.equal(byId.retriever_name, 'products');
  assert.equal(byId.retriever_id, 'ret_a1b2c3d4000000000000000000000000');
  assert.equal(def.retriever_id, 'ret_a1b2c3d4000000000000000000000000');
  await assert.rejects(engine.load('ret_a1b2c3d4000000000000000000000000', 'other-namespace'), /not found/);
});
