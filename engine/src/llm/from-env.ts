/**
 * The engine's LLM from its environment (local mode and the engine Deployment alike):
 * - QUARRY_LLM_BASE_URL (+ QUARRY_LLM_MODEL, required): an OpenAI-compatible provider. Its API key comes from
 *   QUARRY_LLM_API_KEY_FILE (a mounted Kubernetes Secret key) or QUARRY_LLM_API_KEY. The provider host is the only
 *   host the adapter reaches; a private address needs QUARRY_LLM_ALLOW_CIDRS (or the general
 *   QUARRY_FETCH_ALLOW_PRIVATE / QUARRY_FETCH_ALLOW_CIDRS).
 * - otherwise the local GGUF model `make models` installed (QUARRY_LLM_MODEL picks one by name), when there is one;
 * - QUARRY_LLM=off: no LLM (the LLM stages answer 403 naming what to configure).
 * QUARRY_LLM_CONCURRENCY (default 2; 1 for the local model) and QUARRY_LLM_TIMEOUT_MS (default 60000) bound calls.
 */
import { readFileSync } from 'node:fs';
import { badRequest } from '../lib/errors.ts';
import { logger } from '../lib/log.ts';
import type { LLM } from '../ports/llm.ts';
import { ssrfAllowCidrsFromEnv } from '../retriever/ssrf.ts';
import { withLimits } from './limits.ts';
import type { LlmMetrics } from './metrics.ts';
import { LocalLlama, installedLlm } from './local-llama.ts';
import type { NamespaceLlmOptions } from './namespace-llm.ts';
import { OpenAiHttpLLM } from './openai-http.ts';

const log = logger('llm');

const positive = (v: string | undefined, name: string, dflt: number): number => {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw badRequest(`${name} must be a positive integer, not '${v}'`, { field: name });
  return n;
};

export function llmFromEnv(env: NodeJS.ProcessEnv = process.env, metrics?: LlmMetrics): LLM | undefined {
  if (/^(off|none|false|0)$/i.test(env.QUARRY_LLM ?? '')) return undefined;
  const timeoutMs = positive(env.QUARRY_LLM_TIMEOUT_MS, 'QUARRY_LLM_TIMEOUT_MS', 60_000);
  if (env.QUARRY_LLM_BASE_URL) {
    const model = env.QUARRY_LLM_MODEL;
    if (!model) throw badRequest('QUARRY_LLM_BASE_URL is set but QUARRY_LLM_MODEL is not: name the provider model', { field: 'QUARRY_LLM_MODEL' });
    const apiKey = env.QUARRY_LLM_API_KEY_FILE ? readFileSync(env.QUARRY_LLM_API_KEY_FILE, 'utf8').trim() : env.QUARRY_LLM_API_KEY;
    const extra = (env.QUARRY_LLM_ALLOW_CIDRS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const contextTokens = env.QUARRY_LLM_CONTEXT_TOKENS ? positive(env.QUARRY_LLM_CONTEXT_TOKENS, 'QUARRY_LLM_CONTEXT_TOKENS', 0) : undefined;
    const inner = new OpenAiHttpLLM({ baseUrl: env.QUARRY_LLM_BASE_URL, model, ...(apiKey ? { apiKey } : {}), ...(contextTokens ? { contextTokens } : {}), timeoutMs, allowCidrs: [...ssrfAllowCidrsFromEnv(env), ...extra] });
    log.info({ provider: inner.provider, model }, 'LLM: OpenAI-compatible provider');
    return withLimits(inner, { concurrency: positive(env.QUARRY_LLM_CONCURRENCY, 'QUARRY_LLM_CONCURRENCY', 2), timeoutMs, ...(metrics ? { metrics } : {}) });
  }
  const entry = installedLlm(env.QUARRY_LLM_MODEL || undefined);
  if (!entry && env.QUARRY_LLM_MODEL) throw badRequest(`QUARRY_LLM_MODEL '${env.QUARRY_LLM_MODEL}' is not an installed LLM (models/manifest.json, key llms) and QUARRY_LLM_BASE_URL is unset`, { field: 'QUARRY_LLM_MODEL' });
  if (!entry) {
    log.info('LLM: none (no local model installed and QUARRY_LLM_BASE_URL unset); LLM stages are refused');
    return undefined;
  }
  log.info({ model: entry.name }, 'LLM: local GGUF model (loaded on first use)');
  return withLimits(new LocalLlama({ file: entry.file, name: entry.name, ...(entry.context_size ? { contextSize: entry.context_size } : {}) }), {
    concurrency: positive(env.QUARRY_LLM_CONCURRENCY, 'QUARRY_LLM_CONCURRENCY', 1),
    timeoutMs,
    ...(metrics ? { metrics } : {}),
  });
}

/**
 * The engine's settings for the namespaces' own providers (QuarryNamespace spec.llm): the SSRF allow-list
 * (QUARRY_LLM_ALLOW_CIDRS and QUARRY_FETCH_ALLOW_*: set by the operator of the engine, never by a tenant),
 * QUARRY_LLM_TIMEOUT_MS and QUARRY_LLM_CONCURRENCY (per namespace).
 */
export function namespaceLlmOptionsFromEnv(env: NodeJS.ProcessEnv = process.env, metrics?: LlmMetrics): Omit<NamespaceLlmOptions, 'engine' | 'readSecret'> {
  const extra = (env.QUARRY_LLM_ALLOW_CIDRS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return {
    allowCidrs: [...ssrfAllowCidrsFromEnv(env), ...extra],
    timeoutMs: positive(env.QUARRY_LLM_TIMEOUT_MS, 'QUARRY_LLM_TIMEOUT_MS', 60_000),
    concurrency: positive(env.QUARRY_LLM_CONCURRENCY, 'QUARRY_LLM_CONCURRENCY', 2),
    ...(metrics ? { metrics } : {}),
  };
}
