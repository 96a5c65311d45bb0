/**
 * Local LLM adapter: a GGUF model from models/ (installed by `make models`, manifest key `llms`) run in-process by
 * node-llama-cpp's prebuilt CPU binary; no network. JSON-schema output is enforced while generating (a grammar
 * built from the schema) and checked again with Ajv afterwards (the grammar covers a subset of JSON Schema).
 * One context sequence: calls run one at a time (withLimits queues them; a chain here guarantees it).
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { getLlama, LlamaChatSession, LlamaLogLevel, type ChatHistoryItem, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaGrammar, type LlamaModel } from 'node-llama-cpp';
import { QuarryError, badRequest } from '../lib/errors.ts';
import { loadManifest, modelsDir, type LlmEntry } from '../models/manifest.ts';
import type { Completion, CompletionRequest, LLM } from '../ports/llm.ts';
import { checkSchema, parseStructured } from './limits.ts';

/** The installed LLM named `name` (default: the first one), or undefined when none is installed. */
export function installedLlm(name?: string, dir = modelsDir()): (LlmEntry & { file: string }) | undefined {
  let llms: Record<string, LlmEntry> | undefined;
  try {
    llms = loadManifest(dir).llms;
  } catch {
    return undefined;
  }
  const e = name ? llms?.[name] : Object.values(llms ?? {})[0];
  if (!e) return undefined;
  const file = path.join(dir, e.path);
  return existsSync(file) ? { ...e, file } : undefined;
}

export interface LocalLlamaOptions {
  /** The GGUF file. */
  file: string;
  /** Model name reported in completions and cache keys. */
  name: string;
  contextSize?: number;
  /** CPU threads (default: the math cores llama.cpp detects). */
  threads?: number;
}

export class LocalLlama implements LLM {
  readonly model: string;
  readonly provider = 'local';
  readonly contextTokens: number;
  private readonly o: LocalLlamaOptions;
  private loaded: Promise<{ llama: Llama; model: LlamaModel; context: LlamaContext; sequence: LlamaContextSequence }> | undefined;
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(o: LocalLlamaOptions) {
    this.o = o;
    this.model = o.name;
    this.contextTokens = o.contextSize ?? 2048;
  }

  private load() {
    this.loaded ??= (async () => {
      // build: 'never' — use the prebuilt binary from the npm package; never download or compile llama.cpp.
      const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
      const model = await llama.loadModel({ modelPath: this.o.file });
      // Threads: the math cores, not node-llama-cpp's default (more threads than cores: ten times slower on 2 cores).
      const context = await model.createContext({ contextSize: this.contextTokens, threads: this.o.threads ?? Math.max(1, llama.cpuMathCores) });
      return { llama, model, context, sequence: context.getSequence() };
    })();
    this.loaded.catch(() => (this.loaded = undefined));
    return this.loaded;
  }

  private grammar(llama: Llama, schema: Record<string, unknown>): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (!g) {
      g = (async () => {
        try {
          return await llama.createGrammarForJsonSchema(schema as Parameters<Llama['createGrammarForJsonSchema']>[0]);
        } catch (e) {
          throw badRequest(`the local model cannot enforce this output schema: ${(e as Error).message}`, { parameter: 'schema' });
        }
      })();
      g.catch(() => this.grammars.delete(key));
      if (this.grammars.size > 100) this.grammars.delete(this.grammars.keys().next().value!);
      this.grammars.set(key, g);
    }
    return g;
  }

  complete(req: CompletionRequest): Promise<Completion> {
    const run = this.chain.then(() => this.completeNow(req));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async completeNow(req: CompletionRequest): Promise<Completion> {
    if (req.signal?.aborted) throw abortError(req.signal, this.model);
    const { llama, sequence } = await this.load();
    if (req.jsonSchema) checkSchema(req.jsonSchema, 'schema');
    const grammar = req.jsonSchema ? await this.grammar(llama, req.jsonSchema) : undefined;
    const system = req.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    const turns = req.messages.filter((m) => m.role !== 'system');
    const last = turns.pop();
    if (!last || last.role !== 'user') throw badRequest('an LLM request must end with a user message', { parameter: 'messages' });
    // Each call starts from an empty context (no state leaks from one document's prompt into the next).
    await sequence.clearHistory();
    const before = { input: sequence.tokenMeter.usedInputTokens, output: sequence.tokenMeter.usedOutputTokens };
    const session = new LlamaChatSession({ contextSequence: sequence, autoDisposeSequence: false, ...(system ? { systemPrompt: system } : {}) });
    try {
      if (turns.length) {
        const history: ChatHistoryItem[] = [...(system ? [{ type: 'system' as const, text: system }] : [])];
        for (const t of turns) history.push(t.role === 'user' ? { type: 'user', text: t.content } : { type: 'model', response: [t.content] });
        session.setChatHistory(history);
      }
      const r = await session.promptWithMeta(last.content, {
        ...(grammar ? { grammar } : {}),
        maxTokens: req.maxTokens ?? 512,
        temperature: req.temperature ?? 0,
        ...(req.signal ? { signal: req.signal } : {}),
        ...(req.onText ? { onTextChunk: req.onText } : {}),
      });
      const prompt = sequence.tokenMeter.usedInputTokens - before.input;
      const completion = sequence.tokenMeter.usedOutputTokens - before.output;
      const text = r.responseText;
      const out: Completion = {
        text,
        usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
        model: this.model,
        finish_reason: r.stopReason === 'maxTokens' ? 'length' : 'stop',
      };
      if (req.jsonSchema) out.json = parseStructured(text, req.jsonSchema, this.model);
      return out;
    } catch (e) {
      if (req.signal?.aborted) throw abortError(req.signal, this.model);
      throw e;
    } finally {
      session.dispose({ disposeSequence: false });
    }
  }

  async close(): Promise<void> {
    const l = this.loaded;
    this.loaded = undefined;
    if (!l) return;
    const { llama, model, context } = await l;
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
}

function abortError(signal: AbortSignal, model: string): Error {
  const r: unknown = signal.reason;
  return r instanceof QuarryError ? r : new QuarryError('TimeoutError', `the call to '${model}' was cancelled`, { model });
}
