/**
 * feature_search's score-based fusions (dbsf, weighted, max) on a distance feature (euclid: smaller is better), on
 * the real exact store (issue 21). They treated every score as higher-is-better, so the farthest hit of a euclid
 * search won; they now flip such lists as the store-side fusion does, and dbsf agrees with the store's own
 * `fuse` (Qdrant's DBSF) on the same searches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { RetrieverEngine } from '#engine/retriever/executor.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import type { FeatureResolver } from '#engine/retriever/types.ts';
import { fakeModels } from './fixtures.ts';

const STORE = 'fusion_distance';
const NEAR = 'quarry://custom@v1/near';
const SIM = 'quarry://custom@v1/sim';

async function world() {
  const store = new ExactVectorStore();
  await store.ensureCollection({
    name: STORE,
    vectors: [
      { name: 'near', size: 2, distance: 'euclid' },
      { name: 'sim', size: 2, distance: 'cosine' },
    ],
  });
  // Distances from the query (0, 0) under `near`: a 0.1, b 1, c 3, d 6. Under `sim` all four point alike, so the
  // cosine list ties and the euclid list decides.
  const at = { a: [0.1, 0], b: [1, 0], c: [3, 0], d: [6, 0] } as const;
  await store.upsert(
    STORE,
    Object.entries(at).map(([id, v]) => ({ id, vectors: { near: v as unknown as number[], sim: [1, 1] }, payload: { document_id: id, collection_id: 'c' } })),
  );
  const features: FeatureResolver = {
    async resolve(uri) {
      return { store: STORE, using: uri === NEAR ? 'near' : 'sim' };
    },
    async collectionScope() {
      return { store: STORE };
    },
    async indexSignature() {
      return 'sig';
    },
  };
  return { store, engine: new RetrieverEngine({ store, models: fakeModels(), features }) };
}

const search = (uri: string, value: number[], weight = 1) => ({ feature_uri: uri, query: { input_mode: 'vector', value }, top_k: 10, weight });
const definition = (fusion: string, searches: unknown[]) =>
  normalizeDefinition({
    collection_identifiers: ['c'],
    stages: [{ stage_name: 'search', config: { stage_id: 'feature_search', parameters: { searches, fusion, final_top_k: 10 } } }],
    cache_config: { enabled: false },
  });
const ids = (body: Record<string, unknown>) => (body.documents as { document_id: string }[]).map((d) => d.document_id);

for (const fusion of ['dbsf', 'weighted', 'max']) {
  test(`${fusion}: a euclid search ranks its nearest hit first when fused with another search`, async () => {
    const { engine } = await world();
    const r = await engine.execute(definition(fusion, [search(NEAR, [0, 0]), search(SIM, [1, 1])]), { inputs: {} });
    assert.deepEqual(ids(r.body), ['a', 'b', 'c', 'd']);
    const scores = (r.body.documents as { score: number }[]).map((d) => d.score);
    for (let i = 1; i < scores.length; i++) assert.ok(scores[i - 1]! >= scores[i]!, `fused scores are higher-is-better: ${scores.join(', ')}`);
  });
}

test('dbsf: feature_search and the store-side fusion agree on a euclid and a cosine search', async () => {
  const { store, engine } = await world();
  const queries = [
    { using: 'near', vector: [2.5, 0] },
    { using: 'sim', vector: [1, 0.2] },
  ];
  const server = await store.fuse(STORE, { searches: queries.map((q) => ({ ...q, limit: 10 })), fusion: { method: 'dbsf' }, limit: 10 });
  const r = await engine.execute(definition('dbsf', [search(NEAR, queries[0]!.vector), search(SIM, queries[1]!.vector)]), { inputs: {} });
  assert.deepEqual(ids(r.body), server.map((p) => p.id));
  (r.body.documents as { score: number }[]).forEach((d, i) => assert.ok(Math.abs(d.score - server[i]!.score) < 1e-9, `score ${i}: ${d.score} vs ${server[i]!.score}`));
});
