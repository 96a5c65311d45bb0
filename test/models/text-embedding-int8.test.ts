/** The int8 (dynamically quantised) all-MiniLM-L6-v2 keeps quality: measured against the fp32 exporter reference. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { modelsDir } from '#engine/models/manifest.ts';

const MODEL = 'all_minilm_l6_v2_int8';
const models = new OnnxModels();
after(() => models.close());

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

test('int8 vectors stay within cosine 0.98 of the fp32 reference and keep the semantic ordering', async () => {
  const ref = JSON.parse(readFileSync(path.join(modelsDir(), MODEL, 'reference.json'), 'utf8')) as { items: { input: string; embedding: number[] }[] };
  assert.ok(ref.items.length >= 5);
  const got = await models.embedText(MODEL, ref.items.map((r) => r.input));
  const cosines = ref.items.map((r, i) => dot(got[i]!, Float32Array.from(r.embedding)));
  for (const [i, c] of cosines.entries()) assert.ok(c >= 0.98, `${ref.items[i]!.input}: cosine ${c}`);
  const [kitten, cat, revenue] = await models.embedText(MODEL, ['a kitten sleeping on a sofa', 'a cat napping on a couch', 'quarterly revenue grew 4 percent']);
  assert.ok(dot(kitten!, cat!) > dot(kitten!, revenue!) + 0.2);
  assert.ok(Math.abs(Math.sqrt(dot(kitten!, kitten!)) - 1) < 1e-5);
  console.log(`int8 vs fp32 reference: min cosine ${Math.min(...cosines).toFixed(4)}`);
});
