// The embedded store's collection specs on disk: one JSON file per collection under <dataDir>/<SPEC_DIR>, replaced atomically.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CollectionSpec } from '../../ports/vector-store.ts';

export class SpecFiles {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  private file(name: string): string {
    return path.join(this.dir, `${name}.json`);
  }

  write(spec: CollectionSpec): void {
    const tmp = `${this.file(spec.name)}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(spec, null, 2));
    renameSync(tmp, this.file(spec.name)); // atomic replace
  }

  read(name: string): CollectionSpec | undefined {
    try {
      return JSON.parse(readFileSync(this.file(name), 'utf8')) as CollectionSpec;
    } catch {
      return undefined;
    }
  }

  remove(name: string): void {
    rmSync(this.file(name), { force: true });
  }

  /** Names of the collections with a spec, sorted. */
  names(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5))
      .sort();
  }
}
