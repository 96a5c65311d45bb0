/**
 * One watch (informer) per kind and watched namespace, shared by every controller that needs the kind: a
 * Collection controller watching QuarryNamespaces for dependency changes reuses the QuarryNamespace controller's
 * cache instead of opening a second watch. With WATCH_NAMESPACES set there is one watch per listed namespace;
 * otherwise one cluster-wide watch.
 */
import type { ObjectKey, Resource, ResourceStore, WatchEvent, WatchHandle } from '#core/ports/resource-store.ts';

export type SharedHandler = (e: WatchEvent<Resource>) => void;

export class SharedWatches {
  private readonly store: ResourceStore;
  private readonly namespaces: readonly string[] | undefined;
  private readonly watches = new Map<string, { handles: WatchHandle<Resource>[]; handlers: SharedHandler[] }>();

  constructor(store: ResourceStore, namespaces?: readonly string[]) {
    this.store = store;
    this.namespaces = namespaces && namespaces.length > 0 ? namespaces : undefined;
  }

  /** Starts watching `kind` on first use; `handler` receives every event of the kind. */
  subscribe(kind: string, handler: SharedHandler): void {
    this.entry(kind).handlers.push(handler);
  }

  get<T extends Resource = Resource>(kind: string, key: ObjectKey): T | undefined {
    const e = this.entry(kind);
    for (const h of e.handles) {
      const o = h.get(key);
      if (o) return o as T;
    }
    return undefined;
  }

  list<T extends Resource = Resource>(kind: string, namespace?: string): T[] {
    return this.entry(kind).handles.flatMap((h) => h.list(namespace)) as T[];
  }

  /** Every watch (or the watch of `kind`) has listed. */
  isSynced(kind?: string): boolean {
    const ws = kind === undefined ? [...this.watches.values()] : [this.entry(kind)];
    return ws.every((w) => w.handles.every((h) => h.isSynced()));
  }

  async synced(): Promise<void> {
    await Promise.all([...this.watches.values()].flatMap((w) => w.handles.map((h) => h.synced)));
  }

  watching(namespace: string | undefined): boolean {
    return !this.namespaces || (namespace !== undefined && this.namespaces.includes(namespace));
  }

  async stop(): Promise<void> {
    const all = [...this.watches.values()].flatMap((w) => w.handles);
    this.watches.clear();
    await Promise.all(all.map((h) => h.stop()));
  }

  private entry(kind: string) {
    let e = this.watches.get(kind);
    if (!e) {
      const handlers: SharedHandler[] = [];
      const fan = (ev: WatchEvent<Resource>) => {
        for (const h of handlers) h(ev);
      };
      const scopes = this.namespaces ?? [undefined];
      const handles = scopes.map((ns) => this.store.watch<Resource>(kind, ns === undefined ? {} : { namespace: ns }, fan));
      e = { handles, handlers };
      this.watches.set(kind, e);
    }
    return e;
  }
}
