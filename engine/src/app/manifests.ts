/** Reads Quarry custom resources from a folder of YAML manifests (local mode's resource source). */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface QuarryResource {
  apiVersion: string;
  kind: 'QuarryNamespace' | 'Bucket' | 'Collection' | 'Retriever' | 'Taxonomy';
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  spec: Record<string, unknown>;
}

const KINDS = new Set(['QuarryNamespace', 'Bucket', 'Collection', 'Retriever', 'Taxonomy']);

function yamlFiles(dir: string, skip: Set<string>): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!skip.has(name)) out.push(...yamlFiles(p, skip));
    } else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

/** Every quarry.dev resource under `dir` (recursively; GitOps folders are skipped), with its source file. */
export function loadManifests(dir: string, skip = new Set(['gitops'])): (QuarryResource & { file: string })[] {
  const out: (QuarryResource & { file: string })[] = [];
  for (const file of yamlFiles(dir, skip)) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as QuarryResource | null;
      if (!obj || typeof obj !== 'object' || !KINDS.has(obj.kind) || !String(obj.apiVersion).startsWith('quarry.dev/')) continue;
      out.push({ ...obj, file });
    }
  }
  return out;
}
