/**
 * LLM port: one chat completion, optionally constrained to a JSON schema, with token counts. Adapters:
 * engine/src/llm/local-llama.ts (node-llama-cpp running a GGUF model from models/, no network) and
 * engine/src/llm/openai-http.ts (any OpenAI-compatible server, through the SSRF guard). Both are wrapped by
 * engine/src/llm/limits.ts for the concurrency limit and the per-call timeout.
 *
 * Errors (QuarryError): TimeoutError (504) when the call outlives `timeoutMs`; TooManyRequestsError (429) when the
 * provider keeps refusing after its Retry-After waits; BadRequestError (400) for a schema the adapter cannot
 * enforce or a request the provider rejects; InferenceServiceUnavailableError (503) when the provider fails or its
 * answer does not satisfy the schema.
 */
export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export type JsonSchemaObject = Record<string, unknown>;

export interface CompletionRequest {
  messages: ChatMessage[];
  /** The answer must be JSON valid against this schema; it is returned parsed in `json`. */
  jsonSchema?: JsonSchemaObject;
  maxTokens?: number;
  temperature?: number;
  /** Wall-clock limit of this call (default: the adapter's). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * The caller's own provider key for this call (an LLM stage's `api_key`, BYOK), in place of the configured one;
   * sent only to the configured provider. Adapters without keys (the local model) ignore it.
   */
  apiKey?: string;
  /** Streaming: called with each piece of the answer as it is generated (the completion still returns it whole). */
  onText?: (chunk: string) => void;
}

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface Completion {
  text: string;
  /** The parsed answer when `jsonSchema` was given (valid against it). */
  json?: unknown;
  usage: TokenUsage;
  /** The model that answered. */
  model: string;
  /** `length` when the answer stopped at maxTokens. */
  finish_reason: 'stop' | 'length';
}

export interface LLM {
  /** The model this LLM answers with (part of every cache key). */
  readonly model: string;
  /** Where it runs, for statistics: `local` or the provider's host. */
  readonly provider: string;
  /** The context window in tokens when known: stages fit document text into it (the local model truncates silently). */
  readonly contextTokens?: number;
  complete(req: CompletionRequest): Promise<Completion>;
  close(): Promise<void>;
}
