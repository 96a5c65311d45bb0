/**
 * Group commit of document writes. Every extraction job writes its documents before its job is acked, and stores
 * commit writes to one collection one at a time (LanceDB: one merge and one fragment per upsert), so concurrent
 * jobs queue behind each other's commits. Writes that arrive while a commit runs are merged into the next one:
 * one upsert for many jobs, each job still resolved only once its own points are stored. The first write of an
 * idle collection goes out at once, so a lone job waits for nothing.
 */
import type { Point, VectorStore } from '../ports/vector-store.ts';

interface Pending {
  points: Point[];
  resolve(): void;
  reject(err: unknown): void;
}

class CollectionWriter {
  private readonly store: VectorStore;
  private readonly collection: string;
  private queue: Pending[] = [];
  private running = false;

  constructor(store: VectorStore, collection: string) {
    this.store = store;
    this.collection = collection;
  }

  write(points: Point[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ points, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) {
        const group = this.queue;
        this.queue = [];
        try {
          // Two deliveries of the same job can run at once (a redelivery after the ack deadline): last write wins.
          const points = [...new Map(group.flatMap((g) => g.points).map((p) => [p.id, p])).values()];
          await this.store.upsert(this.collection, points);
          for (const g of group) g.resolve();
        } catch (err) {
          if (group.length === 1) {
            group[0]!.reject(err);
            continue;
          }
          // One job's bad points must not fail the others: retry each on its own.
          for (const g of group) {
            try {
              await this.store.upsert(this.collection, g.points);
              g.resolve();
            } catch (e) {
              g.reject(e);
            }
          }
        }
      }
    } finally {
      this.running = false;
    }
  }
}

const writers = new WeakMap<VectorStore, Map<string, CollectionWriter>>();

/** Upserts `points` into `collection`, grouped with the writes of concurrent jobs; resolves once they are stored. */
export function groupUpsert(store: VectorStore, collection: string, points: Point[]): Promise<void> {
  if (points.length === 0) return Promise.resolve();
  let byName = writers.get(store);
  if (!byName) writers.set(store, (byName = new Map()));
  let w = byName.get(collection);
  if (!w) byName.set(collection, (w = new CollectionWriter(store, collection)));
  return w.write(points);
}
