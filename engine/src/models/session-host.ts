/**
 * Where onnxruntime sessions run. onnxruntime-node's `session.run` blocks the thread that calls it for the whole
 * graph (its promise only defers the run to a setImmediate): on the engine's main thread a 64-document batch held
 * the event loop for over two seconds, stalling every search, health check and upload behind it. The model thread
 * (session-thread.ts, one per host) owns the sessions and runs them; the caller's thread only tokenises, batches and
 * pools. QUARRY_MODEL_THREAD=false runs them on the calling thread instead (for diagnosis).
 */
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { HostCall, HostReply, HostRequest, SessionShape, WireTensor } from './session-wire.ts';

export type { WireTensor } from './session-wire.ts';

/** The part of ort.InferenceSession the models use; ort's own sessions have this shape too. */
export interface RunnableSession {
  readonly inputNames: readonly string[];
  readonly inputMetadata: ort.InferenceSession['inputMetadata'];
  run(feeds: Record<string, WireTensor>, fetches: string[]): Promise<Record<string, WireTensor>>;
  release(): Promise<void>;
}

export interface SessionHost {
  create(file: string, options: ort.InferenceSession.SessionOptions): Promise<RunnableSession>;
  close(): Promise<void>;
}

/** The host for this process's settings: the model thread unless QUARRY_MODEL_THREAD is false. */
export function sessionHost(env: NodeJS.ProcessEnv = process.env): SessionHost {
  const v = (env.QUARRY_MODEL_THREAD ?? '').trim().toLowerCase();
  return v === 'false' || v === '0' ? new CallerThreadHost() : new ModelThreadHost();
}

/** Sessions on the calling thread: ort as is. */
class CallerThreadHost implements SessionHost {
  create(file: string, options: ort.InferenceSession.SessionOptions): Promise<RunnableSession> {
    return ort.InferenceSession.create(file, options) as Promise<RunnableSession>;
  }

  async close(): Promise<void> {}
}

/** Only the fields: an ort.Tensor's data is a getter, which structured clone would drop. */
const wire = (t: WireTensor): WireTensor => ({ type: t.type, data: t.data, dims: t.dims });

/**
 * A Worker with the process's flags, less those a Worker refuses: V8 and whole-process flags (`--trace-gc`,
 * `--max-old-space-size`, …) are the process's, and passing one on made every model call fail
 * (ERR_WORKER_INVALID_EXEC_ARGV). Node names no API that tells them apart, but its error lists the refused flags.
 */
function workerWithout(url: URL, execArgv: string[]): Worker {
  try {
    return new Worker(url, { execArgv });
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    const listed = (err as Error).message.slice((err as Error).message.indexOf(':') + 1);
    const refused = new Set(listed.split(',').map((f) => f.trim()));
    const kept = execArgv.filter((a) => !refused.has(a) && !refused.has(a.split('=')[0]!));
    if (kept.length === execArgv.length) throw err;
    return new Worker(url, { execArgv: kept });
  }
}

class ModelThreadHost implements SessionHost {
  private worker?: Worker;
  private readonly pending = new Map<number, { resolve(r: HostReply & { ok: true }): void; reject(err: Error): void }>();
  private next = 1;

  private thread(): Worker {
    if (this.worker) return this.worker;
    // The process's flags carry over, so the thread loads TypeScript as this process does (type stripping or the
    // tsx loader); --input-type (a process started with -e) is refused in a worker.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const w = workerWithout(new URL('./session-thread.ts', import.meta.url), execArgv);
    w.on('message', (reply: HostReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) w.unref();
      if (reply.ok) p.resolve(reply);
      else p.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name }));
    });
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', (err) => fail(new Error(`the model thread failed: ${err.message}`)));
    w.on('exit', (code) => fail(new Error(`the model thread exited (code ${code})`)));
    w.unref();
    this.worker = w;
    return w;
  }

  private call(req: HostCall): Promise<HostReply & { ok: true }> {
    const w = this.thread();
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref(); // a run in flight keeps the process alive; an idle thread does not
      w.postMessage({ ...req, id } as HostRequest);
    });
  }

  async create(file: string, options: ort.InferenceSession.SessionOptions): Promise<RunnableSession> {
    const { session } = await this.call({ op: 'create', file, options });
    const shape = session as SessionShape;
    // Session ids are the thread's: one that exited took its sessions with it.
    const owner = this.worker;
    return {
      inputNames: shape.inputNames,
      inputMetadata: shape.inputMetadata,
      run: async (feeds, fetches) => {
        if (this.worker !== owner) throw new Error(`the model thread that loaded ${file} is gone (closed or exited)`);
        const wired = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, wire(t)]));
        return (await this.call({ op: 'run', session: shape.id, feeds: wired, fetches })).outputs ?? {};
      },
      release: async () => {
        if (this.worker === owner) await this.call({ op: 'release', session: shape.id });
      },
    };
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}
