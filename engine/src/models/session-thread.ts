/**
 * The model thread (a worker_threads entry, started by session-host.ts): owns onnxruntime-node InferenceSessions
 * and runs them. onnxruntime-node's `session.run` is synchronous underneath its promise (it runs the graph inside a
 * setImmediate on the calling thread), so a batch of documents held the engine's event loop for seconds; here it
 * holds only this thread. One message at a time, in order: one run at a time, as before, so onnxruntime's own
 * intra-op threads are not oversubscribed.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { HostReply, HostRequest, WireTensor } from './session-wire.ts';

const sessions = new Map<number, ort.InferenceSession>();
let nextSession = 1;

function toTensor(t: WireTensor): ort.Tensor {
  return new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
}

async function handle(req: HostRequest): Promise<{ reply: HostReply; transfer: ArrayBuffer[] }> {
  switch (req.op) {
    case 'create': {
      const session = await ort.InferenceSession.create(req.file, req.options);
      const id = nextSession++;
      sessions.set(id, session);
      return { reply: { id: req.id, ok: true, session: { id, inputNames: [...session.inputNames], inputMetadata: [...session.inputMetadata] } }, transfer: [] };
    }
    case 'run': {
      const session = sessions.get(req.session);
      if (!session) throw new Error(`session ${req.session} was released`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(req.feeds)) feeds[name] = toTensor(t);
      const out = await session.run(feeds, req.fetches);
      const outputs: Record<string, WireTensor> = {};
      const transfer: ArrayBuffer[] = [];
      for (const [name, t] of Object.entries(out)) {
        // A fresh copy this thread owns, so it can be moved to the caller rather than copied a second time.
        const data = ArrayBuffer.isView(t.data) ? (t.data as Float32Array).slice() : t.data;
        outputs[name] = { type: t.type, data, dims: [...t.dims] };
        if (ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer) transfer.push(data.buffer);
      }
      return { reply: { id: req.id, ok: true, outputs }, transfer };
    }
    case 'release': {
      const session = sessions.get(req.session);
      sessions.delete(req.session);
      await session?.release();
      return { reply: { id: req.id, ok: true }, transfer: [] };
    }
  }
}

const port = parentPort;
if (!port) throw new Error('session-thread.ts runs as a worker thread (session-host.ts starts it)');
let chain = Promise.resolve();
port.on('message', (req: HostRequest) => {
  chain = chain.then(async () => {
    try {
      const { reply, transfer } = await handle(req);
      port.postMessage(reply, transfer);
    } catch (err) {
      port.postMessage({ id: req.id, ok: false, error: { message: err instanceof Error ? err.message : String(err), name: err instanceof Error ? err.name : 'Error' } } satisfies HostReply);
    }
  });
});
