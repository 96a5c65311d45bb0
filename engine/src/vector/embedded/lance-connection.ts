/**
 * The embedded store's LanceDB connection and its session (the index and metadata caches, bounded by
 * indexCacheMb and metadataCacheMb), renewed when the index cache fills with superseded index versions.
 */
import * as lancedb from '@lancedb/lancedb';
import { logger } from '../../lib/log.ts';
import type { Collection, ResolvedLanceOptions } from './lance-collection.ts';
import { serial } from './lance-indexes.ts';

const log = logger('vector-store.embedded');
/** Superseded index data the cache may hold beyond the live indexes before the session is renewed. */
const STALE_CACHE_BYTES = 32 * 2 ** 20;

export class LanceConnection {
  private readonly opts: ResolvedLanceOptions;
  private session: lancedb.Session;
  private dbPromise: Promise<lancedb.Connection> | undefined;
  /** Cache bytes at the first compaction after the session started: what the live indexes hold. */
  private liveCacheBytes: number | undefined;
  private renewing: Promise<void> | undefined;

  constructor(opts: ResolvedLanceOptions) {
    this.opts = opts;
    this.session = this.newSession();
  }

  private newSession(): lancedb.Session {
    return new lancedb.Session(BigInt(this.opts.indexCacheMb) << 20n, BigInt(this.opts.metadataCacheMb) << 20n);
  }

  db(): Promise<lancedb.Connection> {
    // In options: @lancedb/lancedb 0.37's connect() drops a session passed as its third argument.
    this.dbPromise ??= lancedb.connect(this.opts.dataDir, { session: this.session });
    return this.dbPromise;
  }

  /** Bytes LanceDB's caches hold now (bounded by indexCacheMb + metadataCacheMb). */
  cacheBytes(): number {
    return Number(this.session.sizeBytes());
  }

  /**
   * Called after a compaction. LanceDB's index cache keys its entries by index file, and every compaction writes
   * new ones (the full-text index takes in the new rows as a new version): superseded entries are never read
   * again, yet stay until the cache's bound evicts them. Measured: +4.8 MB per compaction on a 5,000-document
   * table, so under steady ingestion the engine's RSS climbed by the whole bound (the soak bench). LanceDB offers
   * no way to drop them, so once the cache holds more than twice what the live indexes held at the first
   * compaction of the session (and at least STALE_CACHE_BYTES more), the store moves to a fresh session: the
   * loaded tables are reopened on a new connection between writes, searches in flight finish on their old
   * handles, and the old session is freed once those are collected. The live indexes are read back on the next
   * searches (from the OS page cache).
   */
  renewIfStale(collections: Map<string, Promise<Collection | undefined>>): void {
    const held = this.cacheBytes();
    this.liveCacheBytes ??= held;
    if (this.renewing || held < Math.max(2 * this.liveCacheBytes, this.liveCacheBytes + STALE_CACHE_BYTES)) return;
    this.renewing = (async () => {
      const session = this.newSession();
      const db = await lancedb.connect(this.opts.dataDir, { session });
      this.session = session;
      this.dbPromise = Promise.resolve(db);
      this.liveCacheBytes = undefined;
      for (const [name, loading] of collections) {
        const c = await loading.catch(() => undefined);
        if (c) await serial(c, async () => void (c.table = await db.openTable(name)));
      }
      log.info({ cacheMb: Math.round(held / 2 ** 20) }, 'renewed the LanceDB session: its cache held superseded index versions');
    })()
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not renew the LanceDB session; its cache stays at its bound'))
      .finally(() => (this.renewing = undefined));
  }

  /** Resolves when no renewal is running (close). */
  async settled(): Promise<void> {
    await this.renewing;
  }

  /** Closes the connection; the next db() opens a new one on the same session. */
  async close(): Promise<void> {
    const db = await this.dbPromise;
    db?.close();
    this.dbPromise = undefined;
  }
}
