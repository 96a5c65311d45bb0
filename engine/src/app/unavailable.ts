/**
 * A stand-in for a port the engine could not open at start (cluster mode: QDRANT_URL unset, the models volume
 * missing): every call fails with a 503 naming the cause and the fix, so the engine still starts, answers health
 * and serves what does not need the port, instead of crash-looping. `close()` succeeds.
 */
import { QuarryError } from '../lib/errors.ts';

export function unavailable<T extends object>(port: string, cause: unknown): T {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new Proxy({} as T, {
    get(_target, prop) {
      if (prop === 'then') return undefined; // not a thenable: it may be awaited as a value
      if (prop === 'close') return async () => {};
      if (prop === 'kind') return 'unavailable';
      return async () => {
        throw new QuarryError('InferenceServiceUnavailableError', `the ${port} is not available: ${reason}`, { port });
      };
    },
  });
}
