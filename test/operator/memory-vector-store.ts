/**
 * An in-memory stand-in for the VectorStore port's collection management, for operator tests until the embedded
 * adapter lands: records collections, can be switched "down" to simulate an unreachable vector store.
 */
import type { CollectionSpec, VectorStore } from '#core/ports/vector-store.ts';

export class MemoryCollections {
  readonly collections = new Map<string, CollectionSpec>();
  down = false;
  calls: string[] = [];

  private check(op: string): void {
    this.calls.push(op);
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:6333 (vector store down)');
  }

  asVectorStore(): VectorStore {
    const notUsed = () => {
      throw new Error('not used by the operator tests');
    };
    const self = { collections: this.collections, check: (op: string) => this.check(op) };
    const vs: Partial<VectorStore> = {
      kind: 'memory',
      async ensureCollection(spec) {
        self.check('ensure');
        const cur = self.collections.get(spec.name);
        const vectors = [...(cur?.vectors ?? [])];
        for (const v of spec.vectors) if (!vectors.some((x) => x.name === v.name)) vectors.push(v);
        self.collections.set(spec.name, { ...spec, vectors });
      },
      async describeCollection(name) {
        self.check('describe');
        return self.collections.get(name);
      },
      async dropCollection(name) {
        self.check('drop');
        self.collections.delete(name);
      },
      async listCollections() {
        self.check('list');
        return [...self.collections.keys()];
      },
      async count() {
        self.check('count');
        return 0;
      },
      upsert: notUsed,
      search: notUsed,
    };
    return vs as VectorStore;
  }
}
