/**
 * OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, llama.cpp server, …): POST {baseUrl}/chat/completions.
 * Egress goes through the SSRF guard (../retriever/ssrf.ts) with an allow-list of exactly the configured provider's
 * host; the API key comes from the secrets store and is sent only there. JSON-schema output uses
 * `response_format: {type: 'json_schema'}` and is checked again with Ajv. A 429 is retried after its Retry-After
 * (seconds or an HTTP date) while the call's time allows, at most `maxRetries` times.
 */
import { QuarryError, badRequest } from '../lib/errors.ts';
import { logger } from '../lib/log.ts';
import type { Completion, CompletionRequest, LLM } from '../ports/llm.ts';
import { guardedRequest, type GuardedResponse } from '../retriever/ssrf.ts';
import type { LookupFn } from '../retriever/types.ts';
import { checkSchema, parseStructured } from './limits.ts';

const log = logger('llm-openai');

export interface OpenAiHttpOptions {
  /** e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1 */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Per-call timeout when the request gives none (default 60 s). */
  timeoutMs?: number;
  /** 429 retries (default 3). */
  maxRetries?: number;
  /** Longest Retry-After honoured, in ms (default 30 s); a longer one fails the call with 429 at once. */
  maxRetryAfterMs?: number;
  /** CIDRs the provider may resolve to although private (a self-hosted server in the cluster, loopback in tests). */
  allowCidrs?: string[];
  lookup?: LookupFn;
  /** Response size cap (default 8 MiB). */
  maxBytes?: number;
  /** The model's context window in tokens, when known (QUARRY_LLM_CONTEXT_TOKENS). */
  contextTokens?: number;
}

/** Retry-After in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    }, { once: true });
  });

export class OpenAiHttpLLM implements LLM {
  readonly model: string;
  readonly provider: string;
  readonly contextTokens?: number;
  private readonly o: OpenAiHttpOptions;
  private readonly url: URL;

  constructor(o: OpenAiHttpOptions) {
    let base: URL;
    try {
      base = new URL(o.baseUrl.replace(/\/+$/, '') + '/');
    } catch {
      throw badRequest(`LLM base URL '${o.baseUrl}' is not a URL`, { field: 'base_url' });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw badRequest(`LLM base URL '${o.baseUrl}' must be http or https`, { field: 'base_url' });
    this.o = o;
    this.url = new URL('chat/completions', base);
    this.model = o.model;
    this.provider = base.host;
    if (o.contextTokens) this.contextTokens = o.contextTokens;
  }

  private body(req: CompletionRequest): string {
    return JSON.stringify({
      model: this.model,
      messages: req.messages,
      ...(req.maxTokens !== undefined ? { max_tokens: req.maxTokens } : {}),
      temperature: req.temperature ?? 0,
      ...(req.onText ? { stream: true, stream_options: { include_usage: true } } : {}),
      ...(req.jsonSchema ? { response_format: { type: 'json_schema', json_schema: { name: 'output', schema: req.jsonSchema, strict: true } } } : {}),
    });
  }

  async complete(req: CompletionRequest): Promise<Completion> {
    if (req.jsonSchema) checkSchema(req.jsonSchema, 'schema');
    const deadline = Date.now() + (req.timeoutMs ?? this.o.timeoutMs ?? 60_000);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'quarry-llm/1' };
    const apiKey = req.apiKey ?? this.o.apiKey;
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    const body = this.body(req);
    const maxRetries = this.o.maxRetries ?? 3;
    for (let attempt = 0; ; attempt++) {
      const stream = req.onText ? new SseReader(req.onText) : undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new QuarryError('TimeoutError', `the LLM call to ${this.provider} timed out`, { provider: this.provider, model: this.model });
      const res = await this.request(req, headers, body, left, stream);
      if (res.status === 429) {
        const wait = retryAfterMs(res.headers?.['retry-after']) ?? 1000 * 2 ** attempt;
        const limit = this.o.maxRetryAfterMs ?? 30_000;
        if (attempt >= maxRetries || wait > limit || Date.now() + wait >= deadline) {
          throw new QuarryError('TooManyRequestsError', `the LLM provider ${this.provider} is rate limiting (HTTP 429${res.headers?.['retry-after'] ? `, Retry-After ${String(res.headers['retry-after'])}` : ''}); retry later`, {
            provider: this.provider,
            retry_after_ms: wait,
            attempts: attempt + 1,
          });
        }
        log.info({ provider: this.provider, wait_ms: wait, attempt }, 'LLM provider answered 429; retrying after Retry-After');
        await sleep(wait, req.signal);
        continue;
      }
      return stream && res.status === 200 ? this.parseStream(stream, req) : this.parse(res, req);
    }
  }

  /** One guarded request; a provider that cannot be reached is a 503 (the caller cannot fix the engine's configuration). */
  private async request(req: CompletionRequest, headers: Record<string, string>, body: string, left: number, stream: SseReader | undefined): Promise<GuardedResponse> {
    try {
      return await guardedRequest(this.url.toString(), {
        method: 'POST',
        headers,
        body,
        timeoutMs: left,
        maxBytes: this.o.maxBytes ?? 8 << 20,
        // Exactly the configured provider: a redirect elsewhere is refused.
        allowed: [this.url.hostname.replace(/^\[|\]$/g, '')],
        policy: { allowCidrs: this.o.allowCidrs ?? [] },
        ...(this.o.lookup ? { lookup: this.o.lookup } : {}),
        who: 'LLM provider',
        ...(req.signal ? { signal: req.signal } : {}),
        ...(stream ? { onChunk: (c: Buffer, status: number) => status === 200 && stream.push(c) } : {}),
      });
    } catch (e) {
      if (e instanceof QuarryError && e.type === 'BadRequestError') {
        throw new QuarryError('InferenceServiceUnavailableError', `the LLM provider ${this.provider} cannot be reached: ${e.message}`, { provider: this.provider });
      }
      throw e;
    }
  }

  private parse(res: GuardedResponse, req: CompletionRequest): Completion {
    let payload: Record<string, unknown> | undefined;
    try {
      payload = JSON.parse(res.bytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      payload = undefined;
    }
    const providerMessage = (payload?.error as { message?: unknown } | undefined)?.message;
    if (res.status >= 400) {
      const msg = `the LLM provider ${this.provider} answered HTTP ${res.status}${typeof providerMessage === 'string' ? `: ${providerMessage.slice(0, 300)}` : ''}`;
      // The engine's configuration (key, URL) is not the API caller's to fix: 503; a request the provider rejects: 400.
      if (res.status === 401 || res.status === 403) throw new QuarryError('InferenceServiceUnavailableError', `${msg} (check the API key secret)`, { provider: this.provider, status: res.status });
      if (res.status === 404) throw new QuarryError('InferenceServiceUnavailableError', `${msg} (check QUARRY_LLM_BASE_URL and QUARRY_LLM_MODEL)`, { provider: this.provider, status: res.status });
      if (res.status < 500) throw new QuarryError('BadRequestError', msg, { provider: this.provider, status: res.status });
      throw new QuarryError('InferenceServiceUnavailableError', msg, { provider: this.provider, status: res.status });
    }
    const choice = (payload?.choices as { message?: { content?: unknown }; finish_reason?: unknown }[] | undefined)?.[0];
    const text = choice?.message?.content;
    if (typeof text !== 'string') throw new QuarryError('InferenceServiceUnavailableError', `the LLM provider ${this.provider} answered without choices[0].message.content`, { provider: this.provider });
    const u = (payload?.usage ?? {}) as Record<string, unknown>;
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    const prompt = num(u.prompt_tokens);
    const completion = num(u.completion_tokens);
    const out: Completion = {
      text,
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: num(u.total_tokens) || prompt + completion },
      model: typeof payload?.model === 'string' ? payload.model : this.model,
      finish_reason: choice?.finish_reason === 'length' ? 'length' : 'stop',
    };
    if (req.jsonSchema) out.json = parseStructured(text, req.jsonSchema, this.model);
    return out;
  }

  private parseStream(s: SseReader, req: CompletionRequest): Completion {
    s.flush();
    if (!s.sawDone && s.text === '') throw new QuarryError('InferenceServiceUnavailableError', `the LLM provider ${this.provider} ended the stream without an answer`, { provider: this.provider });
    const u = s.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    const out: Completion = { text: s.text, usage: u, model: s.model ?? this.model, finish_reason: s.finish === 'length' ? 'length' : 'stop' };
    if (req.jsonSchema) out.json = parseStructured(s.text, req.jsonSchema, this.model);
    return out;
  }

  async close(): Promise<void> {}
}

/**
 * Reads an OpenAI chat-completions event stream (`data: {chunk}` events, `data: [DONE]`): hand-written because it
 * is a few lines over the SSE framing and must accumulate the deltas, the finish reason and the final usage chunk.
 */
class SseReader {
  text = '';
  finish: string | undefined;
  model: string | undefined;
  usage: Completion['usage'] | undefined;
  sawDone = false;
  private buffer = '';
  private readonly onText: (chunk: string) => void;

  constructor(onText: (chunk: string) => void) {
    this.onText = onText;
  }

  push(c: Buffer): void {
    this.buffer += c.toString('utf8');
    let i: number;
    while ((i = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, i).trim();
      this.buffer = this.buffer.slice(i + 1);
      this.line(line);
    }
  }

  flush(): void {
    if (this.buffer.trim()) this.line(this.buffer.trim());
    this.buffer = '';
  }

  private line(line: string): void {
    if (!line.startsWith('data:')) return;
    const data = line.slice(5).trim();
    if (data === '[DONE]') {
      this.sawDone = true;
      return;
    }
    let e: { model?: unknown; choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[]; usage?: Record<string, unknown> };
    try {
      e = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof e.model === 'string') this.model = e.model;
    const choice = e.choices?.[0];
    const piece = choice?.delta?.content;
    if (typeof piece === 'string' && piece) {
      this.text += piece;
      this.onText(piece);
    }
    if (typeof choice?.finish_reason === 'string') this.finish = choice.finish_reason;
    if (e.usage) {
      const n = (v: unknown) => (typeof v === 'number' ? v : 0);
      const p = n(e.usage.prompt_tokens);
      const c = n(e.usage.completion_tokens);
      this.usage = { prompt_tokens: p, completion_tokens: c, total_tokens: n(e.usage.total_tokens) || p + c };
    }
  }
}
