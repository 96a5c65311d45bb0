/** validate.ts beyond the corpus: stage parameter schemas from the registry, the error shape, defaults, filters. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { checkFilter } from '#core/resources/filter-check.ts';
import { ACCEPTED_STAGE_IDS, canonicalStageId, registerStageSchema, stageCategories, stageSchema } from '#core/resources/stage-ids.ts';
import { assertValidResource, formatErrors, invalidSpecCondition, validateResource } from '#core/resources/validate.ts';

const retriever = (parameters: Record<string, unknown>, stageId = 'sample') => ({
  apiVersion: 'quarry.dev/v1alpha1',
  kind: 'Retriever',
  metadata: { name: 'r' },
  spec: { namespaceRef: 'shop', stages: [{ stageName: 'pick', config: { stageId, parameters } }] },
});

describe('stage parameter schemas', () => {
  it('the registry knows the reference stage ids and their legacy aliases', () => {
    for (const id of ['feature_search', 'attribute_filter', 'rerank', 'mmr', 'group_by', 'limit', 'rag_prepare', 'llm_enrich', 'document_enrich']) {
      assert.ok(ACCEPTED_STAGE_IDS.includes(id), id);
    }
    assert.equal(canonicalStageId('hybrid_search'), 'feature_search');
    assert.equal(canonicalStageId('vector_search'), undefined);
    assert.deepEqual(stageCategories('group_by'), ['group', 'reduce']);
    assert.throws(() => registerStageSchema('vector_search', {}), /not a known stage id/);
  });

  it("a stage's parameters are checked against the schema the retriever engine registered", () => {
    assert.equal(validateResource(retriever({ count: 10 })).valid, true, 'valid parameters pass with the generated stage schemas');
    registerStageSchema('sample', {
      type: 'object',
      additionalProperties: false,
      properties: { count: { type: 'integer', minimum: 1, maximum: 1000 }, strategy: { enum: ['random', 'stratified', 'reservoir'] } },
    });
    assert.ok(stageSchema('sample'));
    const r = validateResource(retriever({ count: 0, strategy: 'systematic', size: 3 }));
    assert.equal(r.valid, false);
    assert.deepEqual(
      r.errors.map((e) => e.field).sort(),
      ['spec.stages[0].config.parameters.count', 'spec.stages[0].config.parameters.size', 'spec.stages[0].config.parameters.strategy'],
    );
    assert.match(r.errors.find((e) => e.field.endsWith('.strategy'))!.message, /use one of "random", "stratified", "reservoir"/);
    assert.equal(validateResource(retriever({ count: 10 })).valid, true);
  });
});

describe('validateResource', () => {
  it('names apiVersion and kind when they are wrong', () => {
    assert.deepEqual(validateResource({ apiVersion: 'quarry.dev/v1', kind: 'Collection' }).errors.map((e) => e.field), ['apiVersion']);
    const r = validateResource({ apiVersion: 'quarry.dev/v1alpha1', kind: 'Namespace', metadata: { name: 'x' }, spec: {} });
    assert.equal(r.errors[0]!.field, 'kind');
    assert.match(r.errors[0]!.message, /QuarryNamespace/);
  });

  it('reports every structural error with its field path', () => {
    const r = validateResource({ apiVersion: 'quarry.dev/v1alpha1', kind: 'Collection', metadata: { name: 'c' }, spec: { source: { bucketRefs: ['Bad Name'] }, featureExtractor: { name: 'text_extractor', version: 1 } } });
    const fields = r.errors.map((e) => e.field);
    assert.ok(fields.includes('spec.namespaceRef'), fields.join());
    assert.ok(fields.includes('spec.source.bucketRefs[0]'), fields.join());
    assert.ok(fields.includes('spec.featureExtractor.version'), fields.join());
  });

  it('assertValidResource throws a 422 QuarryError carrying the field errors', () => {
    try {
      assertValidResource(retriever({}, 'nope'));
      assert.fail('did not throw');
    } catch (e) {
      assert.ok(e instanceof QuarryError);
      assert.equal(e.status, 422);
      assert.match(e.message, /spec\.stages\[0\]\.config\.stageId: unsupported value/);
      assert.ok(Array.isArray(e.details?.errors));
    }
  });
});

describe('validation with what the cluster offers (context)', () => {
  const search = (featureUri: string) => ({
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Retriever',
    metadata: { name: 'r' },
    spec: {
      namespaceRef: 'shop',
      inputSchema: { q: { type: 'text' } },
      stages: [{ stageName: 'search', config: { stageId: 'feature_search', parameters: { searches: [{ feature_uri: featureUri, query: '{{INPUT.q}}' }, { feature_uri: 'quarry://text_extractor@v1/bm25', query: '{{INPUT.q}}' }] } } }],
    },
  });
  const collection = {
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Collection',
    metadata: { name: 'c' },
    spec: { namespaceRef: 'shop', source: { bucketRefs: ['b'] }, featureExtractor: { name: 'image_extractor' } },
  };

  it('a feature URI must be exposed by a referenced collection (either scheme); the BM25 leg needs no vector', () => {
    const featureUris = ['quarry://text_extractor@v1/all_minilm_l6_v2'];
    assert.equal(validateResource(search('mixpeek://text_extractor@v1/all_minilm_l6_v2'), { context: { featureUris } }).valid, true);
    const r = validateResource(search('quarry://image_extractor@v1/clip_vit_b32'), { context: { featureUris } });
    assert.equal(r.valid, false);
    assert.equal(r.errors[0]!.field, 'spec.stages[0].config.parameters.searches[0].feature_uri');
    assert.match(r.errors[0]!.message, /no referenced collection exposes quarry:\/\/image_extractor@v1\/clip_vit_b32/);
    assert.equal(validateResource(search('quarry://image_extractor@v1/clip_vit_b32')).valid, true, 'without context only the registry is consulted');
  });

  it("a Collection's extractor must be enabled in its QuarryNamespace", () => {
    assert.equal(validateResource(collection, { context: { namespaceExtractors: ['image_extractor@v1'] } }).valid, true);
    const r = validateResource(collection, { context: { namespaceExtractors: ['text_extractor@v1'] } });
    assert.deepEqual(r.errors.map((e) => e.field), ['spec.featureExtractor.name']);
    assert.match(r.errors[0]!.message, /not enabled in QuarryNamespace shop/);
  });

  it('invalidSpecCondition is the Stalled condition the operator writes', () => {
    const r = validateResource(collection, { context: { namespaceExtractors: [] } });
    const c = invalidSpecCondition(r.errors);
    assert.deepEqual({ type: c.type, status: c.status, reason: c.reason }, { type: 'Stalled', status: 'True', reason: 'InvalidSpec' });
    assert.match(c.message, /^spec\.featureExtractor\.name: image_extractor@v1 is not enabled/);
  });
});

describe('formatErrors', () => {
  it('fits a condition message, cutting at whole errors', () => {
    const errors = Array.from({ length: 50 }, (_, i) => ({ field: `spec.stages[${i}].config.stageId`, message: 'unsupported value: use one of feature_search, rerank' }));
    const text = formatErrors(errors, 400);
    assert.ok(text.length <= 400, `${text.length}`);
    assert.match(text, /^spec\.stages\[0\]\.config\.stageId: unsupported value/);
    assert.match(text, /; \.\.\. and \d+ more errors$/);
    assert.equal(formatErrors(errors.slice(0, 2)), `${errors[0]!.field}: ${errors[0]!.message}; ${errors[1]!.field}: ${errors[1]!.message}`);
  });
});

describe('checkFilter', () => {
  it('accepts the documented shapes', () => {
    const ok = [
      { AND: [{ field: 'metadata.status', operator: 'eq', value: 'published' }, { OR: [{ field: 'metadata.category', operator: 'in', value: ['video', 'audio'] }, { field: 'metadata.score', operator: 'gte', value: 4 }] }, { NOT: [{ field: 'metadata.restricted', value: true }] }] },
      { NOT: { field: 'a', value: 1 } },
      { 'metadata.title': 'value' },
      { field: 'user', value: { type: 'dynamic', field: 'inputs.user_id' } },
      { field: 'price', operator: 'lte', value: '{{INPUT.max_price}}' },
      { field: 'deleted', operator: 'exists', value: false, case_sensitive: true },
    ];
    for (const f of ok) assert.deepEqual(checkFilter(f, 'f'), [], JSON.stringify(f));
  });

  it('rejects nesting beyond the depth limit', () => {
    let f: Record<string, unknown> = { field: 'a', value: 1 };
    for (let i = 0; i < 20; i++) f = { AND: [f] };
    assert.match(checkFilter(f, 'f')[0]!.message, /deeper than 16/);
  });
});
