/**
 * Custom models are per tenant (retriever/model-scope.ts, used by the rerank stage): a stage sees the built-in models
 * and its own Kubernetes namespace's Model resources, under their plain names; another tenant's model is not listed,
 * not substituted for a missing one, and not reachable by its full `<k8s-namespace>/<name>`. Pure logic on a models
 * list, so a fake list is enough here; the real path is test/local/custom-models.test.ts. Also: the operator's
 * Retriever readiness counts only the models its tenant can use (servedForTenant).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { visibleModels } from '#engine/retriever/model-scope.ts';
import { stage as rerank } from '#engine/retriever/stages/sort/rerank.ts';
import type { Models } from '#core/ports/models.ts';
import type { StageContext } from '#engine/retriever/types.ts';
import { servedForTenant } from '#operator/controllers/collection/served-models.ts';

const list = [
  { name: 'all_minilm_l6_v2', kind: 'text-embedding' as const },
  { name: 'team-a/private-reranker', kind: 'reranker' as const },
  { name: 'team-b/b-reranker', kind: 'reranker' as const },
];
const calls: string[] = [];
const models = { list: () => list, rerank: async (m: string, _q: string, p: string[]) => (calls.push(m), p.map(() => 1)) } as unknown as Models;
const ctx = (namespace: string, inference_name: string) =>
  ({
    stageName: 'rerank',
    stageId: 'rerank',
    namespace,
    deps: { models, modelTenant: (ns: string | undefined) => ns?.split('/')[0], modelAllowed: (ns: string | undefined, m: string) => m !== 'team-a/private-reranker' || ns === 'team-a/docs' },
    params: { inference_name, query: 'q', document_field: 'text', batch_size: 32, max_document_chars: 2000, max_concurrent_batches: 1, score_field: 'scores.rerank' },
    inputs: {},
    definition: { input_schema: {} },
    metadata: {},
  }) as unknown as StageContext;

test('a tenant sees built-ins and its own models by plain name, never another tenant\'s', () => {
  assert.deepEqual(visibleModels(ctx('team-a/docs', 'x')).map((m) => m.shortName), ['all_minilm_l6_v2', 'private-reranker']);
  assert.deepEqual(visibleModels(ctx('team-b/docs', 'x')).map((m) => m.shortName), ['all_minilm_l6_v2', 'b-reranker']);
  assert.deepEqual(visibleModels(ctx('team-c/docs', 'x')).map((m) => m.shortName), ['all_minilm_l6_v2']);
  // Same tenant, a QuarryNamespace the Model is not enabled for (spec.namespaceRefs): not visible.
  assert.deepEqual(visibleModels(ctx('team-a/other', 'x')).map((m) => m.shortName), ['all_minilm_l6_v2']);
});

test('rerank uses the tenant\'s own model; another tenant\'s is neither addressable nor substituted', async () => {
  const docs = [{ document_id: 'd1', text: 'a' }];
  calls.length = 0;
  await rerank.execute(docs as never, ctx('team-a/docs', 'private-reranker'));
  assert.deepEqual(calls, ['team-a/private-reranker']);
  calls.length = 0;
  // team-b asks for team-a's model by its full name: it gets its own reranker (the documented substitution), never team-a's.
  const c = ctx('team-b/docs', 'team-a/private-reranker');
  await rerank.execute(docs as never, c);
  assert.deepEqual(calls, ['team-b/b-reranker']);
  assert.deepEqual(c.metadata.model_substituted, { requested: 'team-a/private-reranker', used: 'b-reranker' });
  // A tenant without a reranker: 400, and the message names no other tenant's model.
  await assert.rejects(rerank.execute(docs as never, ctx('team-c/docs', 'private-reranker')), (e: Error) => /no reranker model is loaded/.test(e.message) && !e.message.includes('team-a'));
});

test('operator readiness counts only built-ins and the tenant\'s own served models (servedForTenant)', () => {
  const served = [
    { name: 'all_minilm_l6_v2', kind: 'text-embedding' },
    { name: 'team-a/private-reranker', kind: 'reranker' },
    { name: 'team-ab/other', kind: 'reranker' },
  ];
  assert.deepEqual(servedForTenant(served, 'team-a').map((m) => m.name), ['all_minilm_l6_v2', 'team-a/private-reranker']);
  // team-b's Retriever with a rerank stage: no reranker it could use is served, so it is not Ready on team-a's.
  assert.equal(servedForTenant(served, 'team-b').some((m) => m.kind === 'reranker'), false);
});
