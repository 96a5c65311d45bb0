/** Reads Quarry custom resources from a folder of YAML manifests (local mode's resource source). */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface QuarryResource {
  apiVersion: string;
  kind: 'QuarryNamespace' | 'Bucket' | 'Collection' | 'Retriever' | 'Taxonomy' | 'Model';
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  spec: Record<string, unknown>;
}

const KINDS = new Set(['QuarryNamespace', 'Bucket', 'Collection', 'Retriever', 'Taxonomy', 'Model']);
export const DEFAULT_SKIP = new Set(['gitops', 'node_modules']);

function yamlFiles(dir: string, skip: Set<string>): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!skip.has(name)) out.push(...yamlFiles(p, skip));
    } else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

export interface ManifestScan {
  resources: (QuarryResource & { file: string })[];
  /** Files that could not be read or parsed (their resources are unknown, not absent). */
  errors: { file: string; message: string }[];
}

/** Every quarry.dev resource under `dir` (recursively; GitOps folders are skipped), file by file. */
export function scanManifests(dir: string, skip = DEFAULT_SKIP): ManifestScan {
  const scan: ManifestScan = { resources: [], errors: [] };
  for (const file of yamlFiles(dir, skip)) {
    try {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        if (doc.errors.length) throw new Error(doc.errors[0]!.message);
        const obj = doc.toJS() as QuarryResource | null;
        if (!obj || typeof obj !== 'object' || !KINDS.has(obj.kind) || !String(obj.apiVersion).startsWith('quarry.dev/')) continue;
        scan.resources.push({ ...obj, file });
      }
    } catch (err) {
      scan.errors.push({ file, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return scan;
}

/** Every quarry.dev resource under `dir`; throws on the first file that does not parse. */
export function loadManifests(dir: string, skip = DEFAULT_SKIP): (QuarryResource & { file: string })[] {
  const scan = scanManifests(dir, skip);
  if (scan.errors.length) throw new Error(`${scan.errors[0]!.file}: ${scan.errors[0]!.message}`);
  return scan.resources;
}
