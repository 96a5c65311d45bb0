/**
 * Shared setup of the LLM stage tests: the real local model (Gemma 3 270M GGUF from `make models`) behind the
 * engine's limits, the seeded store (fixtures.ts) and small helpers to run a pipeline.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { withLimits } from '#engine/llm/limits.ts';
import { LocalLlama, installedLlm } from '#engine/llm/local-llama.ts';
import type { LLM } from '#core/ports/llm.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import type { Doc } from '#engine/retriever/types.ts';
import { seed, vectorSearch, type Seeded } from './fixtures.ts';

export const entry = installedLlm();
export const world: { llm?: LLM; s?: Seeded } = {};

/** Registers before/after hooks that load the model and seed the store for the calling test file. */
export function useLocalLlm(): void {
  before(async () => {
    assert.ok(entry, 'no LLM in models/manifest.json: run make models');
    world.llm = withLimits(new LocalLlama({ file: entry.file, name: entry.name }), { concurrency: 1, timeoutMs: 60_000 });
    world.s = await seed({ llm: world.llm });
  });
  after(() => world.llm?.close());
}

export type Body = { documents: Doc[]; stage_statistics: { stages: Record<string, { input_count: number; output_count: number; llm_calls?: number; tokens_used?: number; metadata?: Record<string, unknown> }> }; budget: { tokens_used: number; credits_used: number } };
export const stage = (name: string, id: string, parameters: Record<string, unknown>) => ({ stage_name: name, config: { stage_id: id, parameters } });
export const top3 = vectorSearch([1, 0, 0, 0], { final_top_k: 3 });
export const def = (stages: unknown[], extra: Record<string, unknown> = {}) =>
  normalizeDefinition({ collection_identifiers: ['products'], input_schema: { query: { type: 'text' } }, stages, cache_config: { enabled: false }, ...extra });
export const run = async (stages: unknown[], inputs: Record<string, unknown> = { query: 'headphones' }, extra: Record<string, unknown> = {}) =>
  (await world.s!.engine.execute(def(stages, extra), { inputs })).body as unknown as Body;
export const is400 = (parameter: string) => (e: unknown) => e instanceof QuarryError && e.status === 400 && JSON.stringify(e.details).includes(parameter);
