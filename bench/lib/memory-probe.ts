/**
 * Preloaded into the engine process by `make bench-soak` (`node --import bench/lib/memory-probe.ts`): every 5 s it
 * appends the process's own memory figures as a JSON line to $BENCH_MEMORY_PROBE_FILE. The local-mode engine serves
 * no /metrics, and only the process itself can tell its JS heap from the rest of its RSS: heapUsed (live JS
 * objects), external and arrayBuffers (Buffers and ArrayBuffers held by JS, outside the heap). RSS growth beyond
 * heapTotal + external is native memory (LanceDB, onnxruntime, glibc malloc).
 */
import { appendFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

// Worker threads (the model thread) inherit the --import: only the main thread samples, or the last line could be
// a worker's heap.
const file = isMainThread ? process.env.BENCH_MEMORY_PROBE_FILE : undefined;
if (file) {
  const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  const sample = () => {
    const m = process.memoryUsage();
    const line = { at: Date.now(), rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  };
  setInterval(sample, 5_000).unref();
}
