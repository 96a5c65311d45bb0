/** Shared by the resource tests: reading example and corpus manifests. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../harness/test-env.ts';

export const EXAMPLES_DIR = path.join(ROOT, 'examples');
export const INVALID_DIR = path.join(ROOT, 'test/resources/invalid');
/** examples/ subfolders that hold Quarry resources (gitops/ holds Argo CD and Flux objects). */
export const SCENARIOS = readdirSync(EXAMPLES_DIR).filter((d) => d !== 'gitops' && statSync(path.join(EXAMPLES_DIR, d)).isDirectory()).sort();

export function parseYamlDocs(text: string, file: string): Record<string, unknown>[] {
  return parseAllDocuments(text)
    .filter((d) => d.contents !== null)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return d.toJS() as Record<string, unknown>;
    });
}

export function exampleFiles(scenario: string): string[] {
  const dir = path.join(EXAMPLES_DIR, scenario);
  return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(dir, f));
}

export interface InvalidCase {
  file: string;
  name: string;
  /** Message fragment the rejection must contain (field path and words of the message). */
  expect: string[];
  /** Who rejects it: the apiserver (schema, CEL) or validate.ts (semantics). */
  rejectedBy: 'apiserver' | 'validate';
  /** For immutability cases: the object to create first; `object` is then the update. */
  before?: Record<string, unknown>;
  object: Record<string, unknown>;
}

/**
 * Corpus files: header comments `# expect: <fragment>` (one or more), `# rejected-by: apiserver|validate`, then
 * one YAML document, or two for an update (`# update: true`: the first is created, the second must be rejected).
 */
export function invalidCases(): InvalidCase[] {
  return readdirSync(INVALID_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const file = path.join(INVALID_DIR, f);
      const text = readFileSync(file, 'utf8');
      const header = (key: string) => [...text.matchAll(new RegExp(`^# ${key}: (.+)$`, 'gm'))].map((m) => m[1]!.trim());
      const expect = header('expect');
      const rejectedBy = header('rejected-by')[0];
      if (expect.length === 0) throw new Error(`${f}: no '# expect:' header`);
      if (rejectedBy !== 'apiserver' && rejectedBy !== 'validate') throw new Error(`${f}: '# rejected-by:' must be apiserver or validate`);
      const docs = parseYamlDocs(text, f);
      const update = header('update')[0] === 'true';
      if (docs.length !== (update ? 2 : 1)) throw new Error(`${f}: expected ${update ? 2 : 1} YAML document(s), found ${docs.length}`);
      return { file, name: f.replace(/\.yaml$/, ''), expect, rejectedBy, ...(update ? { before: docs[0]! } : {}), object: docs[docs.length - 1]! };
    });
}
