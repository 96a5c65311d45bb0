/**
 * query_expand asks the LLM for a JSON answer whose schema caps each variation's length; the token budget it gives
 * the call must hold the longest answer that schema allows, or a long (valid) answer is cut short and is not JSON —
 * what a 270M model did on a SciFact query in bench-relevance (100-digit "queries", one token per digit).
 * Pure logic: the stage is run up to its LLM call with a context that records the request.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stage } from '#engine/retriever/stages/llm/query_expand.ts';
import type { StageContext } from '#engine/retriever/types.ts';

interface Request {
  maxTokens: number;
  jsonSchema: { properties: { queries: { items: { maxLength: number }; maxItems: number } } };
}

async function requestFor(numExpansions: number): Promise<Request> {
  let seen: Request | undefined;
  const stop = new Error('stop after the LLM request');
  const ctx = {
    stageName: 'qe',
    params: { num_expansions: numExpansions, expansion_prompt: 'Expand {{QUERY}}', include_original: true, rrf_k: 60, fusion_strategy: 'rrf', deduplicate: true, feature_search_config: { searches: [{ feature_uri: 'qs://x/y/v1', query: 'wireless headphones' }] } },
    renderForDoc: (template: unknown) => template,
    complete: async (req: Request) => {
      seen = req;
      throw stop;
    },
    metadata: {},
  } as unknown as StageContext;
  await assert.rejects(stage.execute([], ctx), (err) => err === stop);
  return seen!;
}

describe('query_expand: the LLM token budget', () => {
  for (const n of [1, 3, 10]) {
    it(`num_expansions ${n}: room for ${n} variations of the schema's maximum length at one token per character`, async () => {
      const req = await requestFor(n);
      const { maxLength } = req.jsonSchema.properties.queries.items;
      assert.equal(req.jsonSchema.properties.queries.maxItems, n);
      assert.ok(req.maxTokens >= n * (maxLength + 6) + 10, `maxTokens ${req.maxTokens} for ${n} × ${maxLength} characters`);
    });
  }
});
