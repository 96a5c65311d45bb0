/**
 * Extractors naming a custom model (model-choice.ts) and the tenant's view of the Models port (tenant-models.ts):
 * another model is another feature URI and vector, a custom model needs `dimensions`, a tenant's model is used
 * under its qualified name only, and one not served here is a retryable 503 naming it. Pure logic: a fake port.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getExtractor } from '#engine/extractors/registry.ts';
import { checkAgainstSchema, checkFeatureUri } from '#core/resources/validate.ts';
import { TenantModels } from '#engine/models/custom/tenant-models.ts';
import { QuarryError } from '#core/lib/errors.ts';
import type { Models } from '#core/ports/models.ts';

test('changing an extractor\'s model is a new feature URI and vector; the default keeps its names', () => {
  const image = getExtractor('image_extractor@v1')!;
  const text = getExtractor('text_extractor@v1')!;
  assert.deepEqual(image.vectors({}).map((v) => [v.featureUri, v.name, v.dimensions]), [['quarry://image_extractor@v1/clip_vit_b32', 'image_extractor_v1_embedding', 512]]);
  assert.deepEqual(image.vectors({ model: 'team-clip', dimensions: 3 }).map((v) => [v.featureUri, v.name, v.dimensions, v.model]), [['quarry://image_extractor@v1/team-clip', 'image_extractor_v1_embedding_team_clip', 3, 'team-clip']]);
  assert.deepEqual(text.vectors({ embedding_model: 'all_minilm_l6_v2' }).map((v) => v.name), ['text_extractor_v1_embedding']);
  assert.deepEqual(text.vectors({ embedding_model: 'all_minilm_l6_v2_int8' }).map((v) => [v.featureUri, v.name, v.dimensions]), [['quarry://text_extractor@v1/all_minilm_l6_v2_int8', 'text_extractor_v1_embedding_all_minilm_l6_v2_int8', 384]]);
  assert.deepEqual(text.vectors({ embedding_model: 'team-embedder', dimensions: 768 }).map((v) => v.dimensions), [768]);
});

test('a custom model needs dimensions; feature URIs may name a Model resource but not an unknown built-in', () => {
  const image = getExtractor('image_extractor@v1')!;
  assert.deepEqual(checkAgainstSchema(image.parameterSchema, { model: 'team-clip' }, 'params').map((e) => e.field), ['params.dimensions']);
  assert.deepEqual(checkAgainstSchema(image.parameterSchema, { model: 'team-clip', dimensions: 3 }, 'params'), []);
  assert.deepEqual(checkAgainstSchema(image.parameterSchema, { model: 'clip_vit_b32' }, 'params'), []);
  assert.deepEqual(checkAgainstSchema(image.parameterSchema, { model: 'Team/Clip', dimensions: 3 }, 'params').map((e) => e.field), ['params.model']);
  assert.deepEqual(checkFeatureUri('quarry://image_extractor@v1/team-clip', 'f'), []);
  assert.match(checkFeatureUri('quarry://image_extractor@v1/siglip_so400m', 'f')[0]?.message ?? '', /no vector output 'siglip_so400m'/);
  // Built-ins a parameter may choose: the video extractor's keyframes on clip_vit_b32, text on its int8 MiniLM; not a model of the other kind.
  assert.deepEqual(checkFeatureUri('quarry://video_extractor@v1/clip_vit_b32', 'f'), []);
  assert.deepEqual(checkFeatureUri('quarry://video_extractor@v1/team-clip', 'f'), []);
  assert.deepEqual(checkFeatureUri('quarry://text_extractor@v1/all_minilm_l6_v2_int8', 'f'), []);
  assert.match(checkFeatureUri('quarry://image_extractor@v1/all_minilm_l6_v2_int8', 'f')[0]?.message ?? '', /no vector output/);
});

test('TenantModels: built-ins as is, the tenant\'s own models qualified, others refused; not served is a retryable 503', async () => {
  const calls: string[] = [];
  const inner = {
    list: () => [{ name: 'all_minilm_l6_v2', kind: 'text-embedding' }, { name: 'team-a/clip', kind: 'image-text-embedding' }, { name: 'team-b/clip', kind: 'image-text-embedding' }],
    embedText: async (m: string) => (calls.push(m), [new Float32Array(1)]),
    embedImage: async (m: string) => (calls.push(m), [new Float32Array(1)]),
  } as unknown as Models;
  const a = new TenantModels(inner, 'team-a', { failure: (n) => (n === 'team-a/broken' ? 'HashMismatch: file x' : undefined) });
  await a.embedText('all_minilm_l6_v2', ['x']);
  await a.embedImage('clip', [Buffer.alloc(1)]);
  assert.deepEqual(calls, ['all_minilm_l6_v2', 'team-a/clip']);
  assert.deepEqual(a.list().map((m) => m.name), ['all_minilm_l6_v2', 'team-a/clip']);
  await assert.rejects(a.embedImage('team-b/clip', []), (e: QuarryError) => e.status === 404);
  await assert.rejects(a.embedImage('other', []), (e: QuarryError) => e.status === 503 && e.details?.retryable === true && /model 'other' is not served by this runtime yet/.test(e.message));
  await assert.rejects(a.embedImage('broken', []), (e: QuarryError) => e.status === 503 && /HashMismatch: file x/.test(e.message));
  // An uninstalled built-in fails as the port says (not retried for ever).
  const b = new TenantModels({ ...inner, embedText: async (m: string) => { throw new QuarryError('NotFoundError', `model '${m}' is not installed`); } } as unknown as Models, 'team-a');
  await assert.rejects(b.embedText('clip_vit_b32', ['x']), (e: QuarryError) => e.status === 404);
});

test('a Collection on a custom model: the Model must exist, fit (type, dimensions) and be enabled; not served says where to look', async () => {
  const { customModelProblem, customNotServed } = await import('#operator/controllers/collection/custom-models.ts');
  const col = (params: Record<string, unknown>) =>
    ({ metadata: { name: 'imgs', namespace: 't' }, spec: { namespaceRef: 'gallery', source: { bucketRefs: ['b'] }, featureExtractor: { name: 'image_extractor', version: 'v1', params } } }) as never;
  const model = (spec: Record<string, unknown>) => ({ metadata: { name: 'team-clip', namespace: 't' }, spec: { type: 'image-text', files: [], source: {}, runtime: { dimensions: 3 }, ...spec } }) as never;
  const c = col({ model: 'team-clip', dimensions: 3 });
  assert.equal(customModelProblem(col({}), () => undefined), undefined, 'a built-in model needs no Model');
  assert.equal(customModelProblem(c, () => undefined)?.reason, 'ModelNotFound');
  assert.equal(customModelProblem(c, () => model({ type: 'reranker' }))?.reason, 'ModelTypeMismatch');
  assert.match(customModelProblem(c, () => model({ runtime: { dimensions: 512 } }))?.message ?? '', /params\.dimensions is 3, but Model team-clip outputs 512/);
  assert.equal(customModelProblem(c, () => model({ namespaceRefs: ['other'] }))?.reason, 'ModelNotEnabled');
  assert.equal(customModelProblem(c, () => model({})), undefined);
  assert.match(customNotServed(c, ['team-clip'])?.message ?? '', /needs Model team-clip, which no running extraction worker serves yet/);
  assert.equal(customNotServed(c, ['clip_vit_b32']), undefined);
});
