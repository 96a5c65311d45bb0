/**
 * LLM calls as stages make them: through the engine's LLM (EngineDeps.llm), cached by their inputs (model, provider,
 * messages, schema, limits: the reference's inference cache, ≈1 h) per namespace (a hit must not tell one tenant
 * what another asked), de-duplicated while in flight, and metered per
 * stage (llm_calls, tokens_used, cache hits) for statistics and the budget.
 */
import { QuarryError } from '../lib/errors.ts';
import type { Completion, CompletionRequest, LLM } from '../ports/llm.ts';
import { hashOf, QueryCache } from './cache.ts';
import type { EngineDeps } from './types.ts';

/** The stages that call the LLM (ctx.complete): only they resolve the namespace's LLM. */
export const LLM_STAGE_IDS: ReadonlySet<string> = new Set(['llm_filter', 'llm_enrich', 'summarize', 'query_expand', 'agentic_enrich', 'agent_search']);

/**
 * The LLM of a run's namespace (EngineDeps.llmFor, else EngineDeps.llm), resolved once, when the first LLM stage
 * runs (other stages get none: a plain search never reads the namespace's LLM Secret). A resolution error (provider
 * none, a missing Secret) is returned, not thrown: only the stages that call the LLM fail with it.
 */
export function lazyLlm(deps: Pick<EngineDeps, 'llm' | 'llmFor'>, namespace: string | undefined): (stageId: string) => Promise<{ llm?: LLM | undefined; error?: unknown }> {
  let state: Promise<{ llm?: LLM | undefined; error?: unknown }> | undefined;
  return async (stageId) =>
    !LLM_STAGE_IDS.has(stageId)
      ? {}
      : (state ??= (deps.llmFor ? deps.llmFor(namespace) : Promise.resolve(deps.llm)).then(
          (llm) => ({ llm }),
          (error: unknown) => ({ error }),
        ));
}

/** Inference cache entries live this long (reference §3.9: inference cache ≈ 1 h). */
export const INFERENCE_TTL_SECONDS = 3600;

export interface LlmUsage {
  calls: number;
  cache_hits: number;
  prompt_tokens: number;
  completion_tokens: number;
  tokens: number;
}

export const newUsage = (): LlmUsage => ({ calls: 0, cache_hits: 0, prompt_tokens: 0, completion_tokens: 0, tokens: 0 });

export class InferenceCache {
  readonly done: QueryCache<Completion>;
  private readonly inFlight = new Map<string, Promise<Completion>>();

  constructor(max = 5000) {
    this.done = new QueryCache(max);
  }

  /** A stage's LLM access: cached, metered into `usage`; a 403 naming the stage when no LLM is configured. */
  for(llm: LLM | undefined, usage: LlmUsage, stage: string, signal?: AbortSignal, deadline?: number, namespace?: string, apiKey?: string): (req: CompletionRequest) => Promise<Completion> {
    return async (req) => {
      if (!llm) {
        throw new QuarryError('NotEnabledError', `stage '${stage}' needs an LLM and none is configured: run 'make models' for the local model, or set QUARRY_LLM_BASE_URL and QUARRY_LLM_MODEL for an OpenAI-compatible provider`, { stage });
      }
      const key = hashOf({ ns: namespace ?? null, m: llm.model, p: llm.provider, msg: req.messages, s: req.jsonSchema ?? null, t: req.maxTokens ?? null, temp: req.temperature ?? null, k: apiKey ?? null });
      const hit = this.done.get(key);
      if (hit) {
        usage.cache_hits++;
        req.onText?.(hit.text);
        return hit;
      }
      let p = this.inFlight.get(key);
      if (p) {
        usage.cache_hits++;
        return p;
      }
      // The retriever's time budget (max_time_ms) bounds every call of the run.
      const left = deadline === undefined ? undefined : Math.floor(deadline - performance.now());
      if (left !== undefined && left <= 0) throw new QuarryError('TimeoutError', `stage '${stage}': the retriever's time budget (budget_limits.max_time_ms) ran out before an LLM call`, { stage, parameter: 'budget_limits.max_time_ms' });
      const timeoutMs = left === undefined ? req.timeoutMs : Math.min(left, req.timeoutMs ?? left);
      p = llm.complete({ ...req, ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(signal && !req.signal ? { signal } : {}), ...(apiKey ? { apiKey } : {}) });
      this.inFlight.set(key, p);
      try {
        const r = await p;
        usage.calls++;
        usage.prompt_tokens += r.usage.prompt_tokens;
        usage.completion_tokens += r.usage.completion_tokens;
        usage.tokens += r.usage.total_tokens;
        this.done.set(key, r, INFERENCE_TTL_SECONDS);
        return r;
      } finally {
        this.inFlight.delete(key);
      }
    };
  }
}
