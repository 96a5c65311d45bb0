/** The Models port on the real all-MiniLM-L6-v2 weights installed by `make models`. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CHARS, MAX_ITEMS, OnnxModels } from '#engine/models/onnx-models.ts';
import { modelsDir } from '#engine/models/manifest.ts';
import { QuarryError } from '#core/lib/errors.ts';
import { runExtractor } from '#engine/ingestion/extractors.ts';
import type { StoredObject } from '#engine/ingestion/types.ts';

const MODEL = 'all_minilm_l6_v2';
const models = new OnnxModels();
after(() => models.close());

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: Float32Array) => Math.sqrt(dot(a, a));

describe(`text embedding (${MODEL})`, () => {
  test('similar sentences are closer than unrelated ones; vectors are unit length', async () => {
    const [kitten, cat, revenue] = await models.embedText(MODEL, ['a kitten sleeping on a sofa', 'a cat napping on a couch', 'quarterly revenue grew 4 percent']);
    assert.equal(kitten!.length, 384);
    assert.ok(dot(kitten!, cat!) > dot(kitten!, revenue!) + 0.2, `cat ${dot(kitten!, cat!)} vs revenue ${dot(kitten!, revenue!)}`);
    for (const v of [kitten!, cat!, revenue!]) assert.ok(Math.abs(norm(v) - 1) < 1e-5);
  });

  test('batch and single results agree to 1e-5 (padding does not leak into pooling)', async () => {
    const texts = ['short', 'a considerably longer sentence that needs many more tokens than the first one does', 'mid length text here'];
    const batch = await models.embedText(MODEL, texts);
    for (const [i, t] of texts.entries()) {
      const [single] = await models.embedText(MODEL, [t]);
      const maxDiff = Math.max(...single!.map((x, d) => Math.abs(x - batch[i]![d]!)));
      assert.ok(maxDiff < 1e-5, `text ${i}: max diff ${maxDiff}`);
    }
  });

  test('parity with the exporter-time reference (numpy forward pass, Python tokenizers): cosine >= 0.999', async () => {
    const ref = JSON.parse(readFileSync(path.join(modelsDir(), MODEL, 'reference.json'), 'utf8')) as { items: { input: string; embedding: number[] }[] };
    assert.ok(ref.items.length >= 5);
    const got = await models.embedText(MODEL, ref.items.map((r) => r.input));
    for (const [i, r] of ref.items.entries()) {
      const cos = dot(got[i]!, Float32Array.from(r.embedding));
      assert.ok(cos >= 0.999, `${r.input}: cosine ${cos}`);
    }
  });

  test('inputs longer than the model limit are truncated, not rejected', async () => {
    const [v] = await models.embedText(MODEL, ['word '.repeat(2000)]);
    assert.equal(v!.length, 384);
    assert.ok(Number.isFinite(v![0]!));
  });

  test('unknown model, wrong kind and wrong input type are clear errors', async () => {
    await assert.rejects(models.embedText('nope', ['x']), (e: unknown) => e instanceof QuarryError && /model 'nope' is not installed/.test(e.message));
    await assert.rejects(models.rerank(MODEL, 'q', ['p']), /is a text-embedding model, not reranker/);
    await assert.rejects(models.embedText(MODEL, [42 as unknown as string]), /array of strings/);
  });

  test('oversized inputs are rejected with the field and the limit named', async () => {
    await assert.rejects(models.embedText(MODEL, new Array(MAX_ITEMS + 1).fill('x')), (e: unknown) => e instanceof QuarryError && e.status === 400 && /texts: 4097 items exceed the limit of 4096/.test(e.message));
    await assert.rejects(models.embedText(MODEL, ['ok', 'y'.repeat(MAX_CHARS + 1)]), /texts\[1\]: 1000001 characters exceed the limit/);
  });

  test('list() and info() describe the installed model from the manifest', () => {
    assert.deepEqual(models.info(MODEL), { name: MODEL, kind: 'text-embedding', dimensions: 384, maxTokens: 256, distance: 'cosine' });
    assert.ok(models.list().some((m) => m.name === MODEL));
    assert.throws(() => models.info('nope'), /not installed/);
  });
});

describe(`token window (${MODEL}, issue 21)`, () => {
  const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');

  test('truncated() says which texts the model reads only the beginning of, and such texts embed as their prefix', async () => {
    const maxTokens = models.info(MODEL).maxTokens ?? 512;
    assert.deepEqual(await models.truncated(MODEL, ['a short sentence', long]), [false, true]);
    // Past the window nothing more is read: the long text and a longer one embed alike.
    const [a, b] = await models.embedText(MODEL, [long, `${long} ${long}`]);
    assert.ok(Math.abs(dot(a!, b!) - 1) < 1e-5, `max tokens ${maxTokens}`);
  });

  test('text_extractor marks a document embedded from a truncated text, and not the chunks of the same text', async () => {
    const ctx = { models, readBlob: async () => Buffer.from(long), writeArtifact: async (n: string) => n };
    const object: StoredObject = { object_id: 'obj_1', bucket: 'b', metadata: {}, blobs: [{ blob_id: 'b0', property: 'content', type: 'text', key: 'k', content_type: 'text/plain', size_bytes: long.length, checksum: 'sha256:x' }] };
    const whole = await runExtractor('text_extractor@v1', { object, params: { split_by: 'none' } }, ctx);
    assert.equal(whole.length, 1);
    assert.equal(whole[0]!.fields.truncated, true);
    const chunked = await runExtractor('text_extractor@v1', { object, params: { split_by: 'words', chunk_size: 50 } }, ctx);
    assert.equal(chunked.length, 8);
    for (const d of chunked) assert.equal(d.fields.truncated, undefined, `chunk ${String(d.fields.chunk_index)}`);
  });
});
