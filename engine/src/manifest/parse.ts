/**
 * Reads a manifest in either format: Quarry custom-resource YAML (one or more documents with apiVersion
 * quarry.dev/…, or a `kind: List`) or the Mixpeek manifest format (one document, converted by mixpeek.ts).
 * Syntax errors are 400s naming the line; what is wrong inside a well-formed manifest is reported as issues.
 */
import { parseAllDocuments } from 'yaml';
import { badRequest } from '../lib/errors.ts';
import { QUARRY_KINDS, type QuarryKind } from '../resources/generated/types.ts';
import { convertMixpeekManifest, isMixpeekManifest, type ConvertOptions, type ConvertedManifest, type ManifestResource } from './mixpeek.ts';

export type ManifestFormat = 'quarry' | 'mixpeek';

export interface ParsedManifest extends ConvertedManifest {
  format: ManifestFormat;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const KINDS = new Set<string>(QUARRY_KINDS);

/** Parses YAML/JSON text (multi-document allowed) into plain values; throws a 400 on syntax errors. */
export function parseDocuments(text: string): unknown[] {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  list.forEach((d, i) => {
    if (d.errors.length > 0) {
      const e = d.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw badRequest(`the manifest is not valid YAML${list.length > 1 ? ` (document ${i + 1})` : ''}${line ? ` at line ${line}` : ''}: ${e.message.split('\n')[0]}`, {
        field: 'manifest_file',
        ...(line ? { line } : {}),
      });
    }
    const v = d.toJS() as unknown;
    if (v !== null && v !== undefined) out.push(v);
  });
  return out;
}

/** A manifest from text or already-parsed values (a JSON body). */
export function parseManifest(input: string | unknown, opts: ConvertOptions = {}): ParsedManifest {
  const docs = typeof input === 'string' ? parseDocuments(input) : Array.isArray(input) ? input : [input];
  if (docs.length === 0) throw badRequest('the manifest is empty: give Quarry resources (apiVersion: quarry.dev/v1alpha1) or a manifest with version, metadata and resource lists', { field: 'manifest_file' });
  if (docs.length === 1 && isMixpeekManifest(docs[0])) return { format: 'mixpeek', ...convertMixpeekManifest(docs[0], opts) };
  return readResources(docs);
}

function readResources(docs: unknown[]): ParsedManifest {
  const out: ParsedManifest = { format: 'quarry', resources: [], sources: [], warnings: [], errors: [], secrets: [], missingSecrets: [] };
  const items: { v: unknown; at: string }[] = [];
  docs.forEach((d, i) => {
    const at = docs.length > 1 ? `document ${i + 1}` : 'document';
    if (isObj(d) && typeof d.kind === 'string' && d.kind.endsWith('List') && Array.isArray(d.items)) {
      d.items.forEach((it, j) => items.push({ v: it, at: `${at}.items[${j}]` }));
    } else items.push({ v: d, at });
  });
  if (!items.some(({ v }) => isObj(v) && typeof v.apiVersion === 'string' && v.apiVersion.startsWith('quarry.dev/'))) {
    throw badRequest('not a manifest: expected Quarry resources (apiVersion: quarry.dev/v1alpha1, kind, metadata, spec) or a manifest with version, metadata and lists of namespaces/buckets/collections/retrievers/taxonomies', {
      field: 'manifest_file',
    });
  }
  for (const { v, at } of items) {
    if (!isObj(v)) {
      out.errors.push({ location: at, message: 'must be a mapping (a Quarry resource)' });
      continue;
    }
    if (typeof v.apiVersion !== 'string' || !v.apiVersion.startsWith('quarry.dev/')) {
      out.errors.push({ location: `${at}.apiVersion`, message: `only Quarry resources (apiVersion quarry.dev/…) can be applied here, got ${JSON.stringify(v.apiVersion)}` });
      continue;
    }
    if (typeof v.kind !== 'string' || !KINDS.has(v.kind)) {
      out.errors.push({ location: `${at}.kind`, message: `unknown kind ${JSON.stringify(v.kind)}: use one of ${QUARRY_KINDS.join(', ')}` });
      continue;
    }
    const md = isObj(v.metadata) ? v.metadata : {};
    if (typeof md.name !== 'string' || !md.name) {
      out.errors.push({ location: `${at}.metadata.name`, message: 'required: the resource name' });
      continue;
    }
    const metadata: ManifestResource['metadata'] = { name: md.name };
    if (typeof md.namespace === 'string') metadata.namespace = md.namespace;
    if (isObj(md.labels)) metadata.labels = md.labels as Record<string, string>;
    if (isObj(md.annotations)) metadata.annotations = md.annotations as Record<string, string>;
    // status and server-set metadata (uid, resourceVersion, managedFields, ...) are not part of the intent.
    out.resources.push({ apiVersion: v.apiVersion, kind: v.kind as QuarryKind, metadata, spec: (v.spec ?? {}) as Obj });
    out.sources.push(at);
  }
  return out;
}
