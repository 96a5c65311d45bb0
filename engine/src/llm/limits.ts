/**
 * What every LLM adapter shares: the concurrency limit and per-call timeout (`withLimits`), and checking a
 * structured answer against its JSON schema (`parseStructured`).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { QuarryError, badRequest } from '../lib/errors.ts';
import type { Completion, CompletionRequest, JsonSchemaObject, LLM } from '../ports/llm.ts';
import type { LlmMetrics } from './metrics.ts';

const ajv = new Ajv({ allErrors: false, strict: false });
const compiled = new Map<string, ValidateFunction>();

function validator(schema: JsonSchemaObject): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) {
    try {
      v = ajv.compile(schema);
    } catch (e) {
      throw badRequest(`the output schema is not a valid JSON schema: ${(e as Error).message}`, { parameter: 'schema' });
    }
    if (compiled.size > 200) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, v);
  }
  return v;
}

/** Checks a schema compiles (a 400 naming the parameter otherwise) before any model call. */
export function checkSchema(schema: JsonSchemaObject, parameter: string): void {
  try {
    validator(schema);
  } catch (e) {
    throw badRequest((e as Error).message, { parameter });
  }
}

/** The answer parsed and validated against the schema; a 503 naming the model when it is not valid. */
export function parseStructured(text: string, schema: JsonSchemaObject, model: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new QuarryError('InferenceServiceUnavailableError', `model '${model}' answered text that is not JSON`, { model, answer: text.slice(0, 200) });
  }
  const v = validator(schema);
  if (!v(value)) {
    throw new QuarryError('InferenceServiceUnavailableError', `model '${model}' answered JSON that does not match the output schema: ${ajv.errorsText(v.errors)}`, { model, answer: text.slice(0, 200) });
  }
  return value;
}

export interface LimitOptions {
  /** Calls running at once; more wait in FIFO order (default 2). */
  concurrency?: number;
  /** Default per-call timeout in ms, waiting time included (default 60 000). */
  timeoutMs?: number;
  /** Prometheus series of the calls. */
  metrics?: LlmMetrics;
}

/**
 * Wraps an adapter with a FIFO concurrency limit and a timeout covering queueing and the call. Hand-written: a
 * semaphore is a dozen lines, and it must also drop a waiter whose timeout fires while queued (p-limit cannot).
 */
export function withLimits(inner: LLM, o: LimitOptions = {}): LLM & { readonly active: number; readonly waiting: number } {
  const max = Math.max(1, o.concurrency ?? 2);
  const defaultTimeout = o.timeoutMs ?? 60_000;
  let active = 0;
  const queue: (() => void)[] = [];
  const release = () => {
    active--;
    const next = queue.shift();
    if (next) next();
  };
  return {
    model: inner.model,
    provider: inner.provider,
    ...(inner.contextTokens ? { contextTokens: inner.contextTokens } : {}),
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
    async complete(req: CompletionRequest): Promise<Completion> {
      const timeoutMs = req.timeoutMs ?? defaultTimeout;
      const ac = new AbortController();
      const timeoutError = () => new QuarryError('TimeoutError', `the LLM call to '${inner.model}' timed out after ${timeoutMs} ms`, { model: inner.model, timeout_ms: timeoutMs });
      const onOuterAbort = () => ac.abort(req.signal?.reason);
      req.signal?.addEventListener('abort', onOuterAbort, { once: true });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          ac.abort(timeoutError());
          reject(timeoutError());
        }, timeoutMs);
      });
      let slot: (() => void) | undefined;
      const acquired = new Promise<void>((resolve) => {
        if (active < max) {
          active++;
          resolve();
        } else {
          slot = () => {
            active++;
            resolve();
          };
          queue.push(slot);
        }
      });
      let holding = false;
      const t0 = performance.now();
      try {
        await Promise.race([acquired, timedOut]);
        holding = true;
        const remaining = { ...req, signal: ac.signal, timeoutMs };
        const r = await Promise.race([inner.complete(remaining), timedOut]);
        o.metrics?.record(inner.provider, inner.model, (performance.now() - t0) / 1000, r);
        return r;
      } catch (e) {
        o.metrics?.record(inner.provider, inner.model, (performance.now() - t0) / 1000, e);
        throw e;
      } finally {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onOuterAbort);
        if (holding) release();
        else if (slot) {
          const i = queue.indexOf(slot);
          if (i >= 0) queue.splice(i, 1);
          else release(); // granted between the timeout and here
        }
      }
    },
    close: () => inner.close(),
  };
}
