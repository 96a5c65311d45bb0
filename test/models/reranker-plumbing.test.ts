/**
 * The reranker path of the Models port on the committed synthetic cross-encoder test/fixtures/models/tiny_reranker
 * (hack/models/make_tiny_reranker.py: 2-layer BERT, seeded random weights, exported by export_bert.py --head
 * classifier as a real MS MARCO cross-encoder would be). Its reference scores come from export_bert.py's numpy forward
 * pass with Python `tokenizers` pair encoding, so parity here checks the port's pair encoding (token types,
 * truncation of the passage) and the classifier graph. The scores carry no meaning of relevance.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxModels } from '#engine/models/onnx-models.ts';

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models');
const MODEL = 'tiny_reranker';
const reference = JSON.parse(readFileSync(path.join(DIR, MODEL, 'reference.json'), 'utf8')) as { items: { input: [string, string]; score: number }[] };
const models = new OnnxModels({ dir: DIR, maxBatch: 2 });
after(() => models.close());

describe(`reranker plumbing (${MODEL} fixture)`, () => {
  test('scores equal the independent numpy reference, including a passage truncated to max_tokens', async () => {
    assert.ok(reference.items.length >= 6);
    const byQuery = new Map<string, { passage: string; score: number }[]>();
    for (const { input: [q, p], score } of reference.items) byQuery.set(q, [...(byQuery.get(q) ?? []), { passage: p, score }]);
    for (const [query, items] of byQuery) {
      const scores = await models.rerank(MODEL, query, items.map((i) => i.passage));
      assert.equal(scores.length, items.length);
      for (const [i, item] of items.entries()) assert.ok(Math.abs(scores[i]! - item.score) < 1e-4, `${query} / ${item.passage.slice(0, 40)}: ${scores[i]} vs ${item.score}`);
    }
  });

  test('a batch split over maxBatch agrees with one passage at a time', async () => {
    const query = 'what is the capital of france';
    const passages = ['paris is the capital of france', 'dogs bark', 'cats sleep', 'a city in europe', 'quarterly revenue grew 4 percent'];
    const batch = await models.rerank(MODEL, query, passages);
    assert.equal(batch.length, passages.length);
    for (const [i, p] of passages.entries()) {
      const [single] = await models.rerank(MODEL, query, [p]);
      assert.ok(Math.abs(single! - batch[i]!) < 1e-5, `${p}: ${single} vs ${batch[i]}`);
    }
    assert.ok(new Set(batch.map((s) => s.toFixed(4))).size > 1, 'different passages score differently');
  });
});
