/**
 * Prometheus series of LLM calls (prom-client, on the process registry): `quarry_llm_requests_total{provider,
 * model, outcome}` (ok | timeout | rate_limited | error), `quarry_llm_tokens_total{provider, model, kind}` (prompt
 * | completion) and `quarry_llm_request_duration_seconds{provider, model}` (queueing included).
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { QuarryError } from '../lib/errors.ts';
import type { Completion } from '../ports/llm.ts';

export class LlmMetrics {
  private readonly requests: Counter<'provider' | 'model' | 'outcome'>;
  private readonly tokens: Counter<'provider' | 'model' | 'kind'>;
  private readonly duration: Histogram<'provider' | 'model'>;

  constructor(registry: Registry) {
    this.requests = new Counter({ name: 'quarry_llm_requests_total', help: 'LLM calls by outcome', labelNames: ['provider', 'model', 'outcome'], registers: [registry] });
    this.tokens = new Counter({ name: 'quarry_llm_tokens_total', help: 'Tokens used by LLM calls', labelNames: ['provider', 'model', 'kind'], registers: [registry] });
    this.duration = new Histogram({ name: 'quarry_llm_request_duration_seconds', help: 'LLM call duration, queueing included', labelNames: ['provider', 'model'], buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [registry] });
  }

  record(provider: string, model: string, seconds: number, result: Completion | unknown): void {
    this.duration.observe({ provider, model }, seconds);
    if (result && typeof result === 'object' && 'usage' in result && !(result instanceof Error)) {
      const u = (result as Completion).usage;
      this.requests.inc({ provider, model, outcome: 'ok' });
      this.tokens.inc({ provider, model, kind: 'prompt' }, u.prompt_tokens);
      this.tokens.inc({ provider, model, kind: 'completion' }, u.completion_tokens);
      return;
    }
    const t = result instanceof QuarryError ? result.type : undefined;
    this.requests.inc({ provider, model, outcome: t === 'TimeoutError' ? 'timeout' : t === 'TooManyRequestsError' ? 'rate_limited' : 'error' });
  }
}
