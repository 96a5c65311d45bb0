/**
 * The compaction of a namespace's vectors after a finished batch. LanceDB writes one fragment per upsert, so a batch
 * leaves many and searches slow down until they are merged (Qdrant's optimize only waits for its own optimiser).
 *
 * One compaction at a time per store collection; a request while one runs or waits is folded into one more run
 * (its writes may have missed the running one). Its share of time is bounded: the next run starts no sooner than
 * GAP_FACTOR times the last run's duration after that run ended, so under steady ingestion compaction takes at most
 * 1/(1 + GAP_FACTOR) of the time. Unbounded, it ran back to back and starved searches on two cores (the soak's
 * stall: a batch finished every ~5 s while each compaction took up to 9.7 s on the busy machine). A deferred run is
 * never dropped while the process lives; `settleCompaction` starts it at once (tests, benches, shutdown).
 */
import type { VectorStore } from '../ports/vector-store.ts';
import { logger } from '../lib/log.ts';

const log = logger('ingestion');

/** The pause after a compaction, in multiples of its duration, before the next may start. */
export const GAP_FACTOR = 4;

interface Slot {
  running?: Promise<void> | undefined;
  /** A request came after the current run started (or while it waits): one more run is owed. */
  again: boolean;
  /** performance.now() before which the next run waits. */
  notBefore: number;
  /** Someone waits for the compaction to finish: skip the pause. */
  hurry: boolean;
  wake?: (() => void) | undefined;
}

const slots = new WeakMap<VectorStore, Map<string, Slot>>();

function slotOf(store: VectorStore, collection: string): Slot {
  let byName = slots.get(store);
  if (!byName) slots.set(store, (byName = new Map()));
  let slot = byName.get(collection);
  if (!slot) byName.set(collection, (slot = { again: false, notBefore: 0, hurry: false }));
  return slot;
}

/** Waits out the pause after the last run, unless someone hurries it (the owed run keeps the process alive). */
function untilDue(slot: Slot): Promise<void> {
  const wait = slot.notBefore - performance.now();
  if (wait <= 0 || slot.hurry) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      slot.wake = undefined;
      resolve();
    };
    const timer = setTimeout(done, wait);
    slot.wake = done;
  });
}

/** Compacts the collection in the background, within its time share; resolves when the owed runs are done. */
export function compactAfterBatch(store: VectorStore, collection: string): Promise<void> {
  if (!store.optimize) return Promise.resolve();
  const slot = slotOf(store, collection);
  slot.again = true;
  if (slot.running) return slot.running;
  slot.running = (async () => {
    try {
      while (slot.again) {
        const deferredMs = Math.max(0, Math.round(slot.notBefore - performance.now()));
        await untilDue(slot);
        slot.again = false; // requests from here on may have missed this run
        const t = performance.now();
        try {
          await store.optimize!(collection);
          log.info({ collection, ms: Math.round(performance.now() - t), deferredMs }, 'compacted vectors after a batch');
        } catch (err) {
          log.warn({ collection, err: (err as Error).message }, 'vector compaction failed; searches stay correct, only slower');
        }
        const end = performance.now();
        slot.notBefore = end + GAP_FACTOR * (end - t);
      }
    } finally {
      slot.running = undefined;
      slot.hurry = false;
    }
  })();
  return slot.running;
}

/** Resolves when no compaction of the collection is running or owed, starting a deferred one at once. */
export async function settleCompaction(store: VectorStore, collection: string): Promise<void> {
  const slot = slots.get(store)?.get(collection);
  while (slot?.running) {
    slot.hurry = true;
    slot.wake?.();
    await slot.running;
  }
}
