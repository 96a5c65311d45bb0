/**
 * Reads a manifest in either format: Quarry custom-resource YAML (one or more documents with apiVersion
 * quarry.dev/…, or a `kind: List`), the Mixpeek manifest format (converted by mixpeek.ts), or a stream mixing them.
 * Syntax errors are 400s naming the line; what is wrong inside a well-formed manifest is reported as issues.
 */
import { parseAllDocuments } from 'yaml';
import { badRequest } from '../lib/errors.ts';
import { unsafeValue } from '../lib/safe-object.ts';
import { QUARRY_KINDS, type QuarryKind } from '../resources/generated/types.ts';
import { convertMixpeekManifest, isMixpeekManifest, resolveSecrets, type ConvertOptions, type ConvertedManifest, type ManifestResource } from './mixpeek.ts';

export type ManifestFormat = 'quarry' | 'mixpeek';

export interface ParsedManifest extends ConvertedManifest {
  format: ManifestFormat;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const KINDS = new Set<string>(QUARRY_KINDS);

/**
 * Most alias expansions one document may do (yaml's toJS counts an alias by the size of what it expands to, so this
 * bounds a "billion laughs" document); beyond it the manifest is a 400.
 */
export const MAX_ALIAS_COUNT = 100;

/** A parsed document may hold no prototype keys and no deeper nesting than request bodies (lib/safe-object.ts). */
function checkSafe(v: unknown, at: string): void {
  const bad = unsafeValue(v, { root: at });
  if (bad) throw badRequest(`the manifest is refused at ${bad.path}: ${bad.message}`, { field: bad.path });
}

/**
 * Parses YAML/JSON text (multi-document allowed) into plain values; throws a 400 on syntax errors, on an alias
 * expansion beyond MAX_ALIAS_COUNT, and on `__proto__`/`constructor`/`prototype` keys or over-deep nesting.
 */
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
    const at = list.length > 1 ? `document ${i + 1}` : 'document';
    let v: unknown;
    try {
      v = d.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
    } catch (err) {
      // yaml throws a ReferenceError for excessive aliases (and for aliases to nothing): bad input, not a fault.
      throw badRequest(`the manifest cannot be read (${at}): ${(err as Error).message.split('\n')[0]}; use at most ${MAX_ALIAS_COUNT} alias expansions`, { field: 'manifest_file' });
    }
    checkSafe(v, at);
    if (v !== null && v !== undefined) out.push(v);
  });
  return out;
}

/** A manifest from text or already-parsed values (a JSON body). */
export function parseManifest(input: string | unknown, opts: ConvertOptions = {}): ParsedManifest {
  const docs = typeof input === 'string' ? parseDocuments(input) : Array.isArray(input) ? input : [input];
  if (typeof input !== 'string') checkSafe(docs, 'body');
  if (docs.length === 0) throw badRequest('the manifest is empty: give Quarry resources (apiVersion: quarry.dev/v1alpha1) or a manifest with version, metadata and resource lists', { field: 'manifest_file' });
  if (docs.length === 1 && isMixpeekManifest(docs[0])) return withoutDuplicates({ format: 'mixpeek', ...convertMixpeekManifest(docs[0], opts) });
  if (!docs.some(isMixpeekManifest)) return withoutDuplicates(readResources(docs, undefined, opts.secrets));
  // A stream mixing Mixpeek manifests and Quarry resources (e.g. `quarry apply -f <folder>` joins its files):
  // each manifest is converted and the resources are read, as one manifest.
  const out: ParsedManifest = { format: 'mixpeek', resources: [], sources: [], warnings: [], errors: [], secrets: [], missingSecrets: [] };
  const resources: unknown[] = [];
  const labels: string[] = [];
  docs.forEach((d, i) => {
    const at = `document ${i + 1}`;
    if (!isMixpeekManifest(d)) {
      resources.push(d);
      labels.push(at);
      return;
    }
    const c = convertMixpeekManifest(d, opts);
    const located = (issues: ConvertedManifest['errors']) => issues.map((e) => ({ ...e, location: `${at}: ${e.location}` }));
    out.resources.push(...c.resources);
    out.sources.push(...c.sources.map((src) => `${at}: ${src}`));
    out.warnings.push(...located(c.warnings));
    out.errors.push(...located(c.errors));
    out.secrets.push(...c.secrets.filter((x) => !out.secrets.includes(x)));
    out.missingSecrets.push(...c.missingSecrets.filter((x) => !out.missingSecrets.includes(x)));
  });
  if (resources.length) {
    const r = readResources(resources, labels, opts.secrets);
    out.resources.push(...r.resources);
    out.sources.push(...r.sources);
    out.errors.push(...r.errors);
    out.warnings.push(...r.warnings);
    out.secrets.push(...r.secrets.filter((x) => !out.secrets.includes(x)));
    out.missingSecrets.push(...r.missingSecrets.filter((x) => !out.missingSecrets.includes(x)));
  }
  return withoutDuplicates(out);
}

/** Two resources of one kind, namespace and name would overwrite each other: an error naming both sources. */
function withoutDuplicates(m: ParsedManifest): ParsedManifest {
  const seen = new Map<string, string>();
  m.resources.forEach((r, i) => {
    const key = `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, m.sources[i] ?? `resource ${i + 1}`);
    else m.errors.push({ location: m.sources[i] ?? `resource ${i + 1}`, message: `${r.kind} '${r.metadata.name}' is declared twice (also at ${first}): keep one` });
  });
  return m;
}

/** Top-level fields of a Quarry resource in a manifest; anything else is an error naming it. */
const RESOURCE_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec']);

/**
 * Quarry resources from documents; `labels` name each document in issues (default `document N`); `secrets` are the
 * values of `${{ secrets.NAME }}` placeholders (one without a value is an error, as in the Mixpeek format).
 */
function readResources(docs: unknown[], labels?: string[], secrets: Readonly<Record<string, string>> = {}): ParsedManifest {
  const out: ParsedManifest = { format: 'quarry', resources: [], sources: [], warnings: [], errors: [], secrets: [], missingSecrets: [] };
  const items: { v: unknown; at: string }[] = [];
  docs.forEach((d, i) => {
    const at = labels?.[i] ?? (docs.length > 1 ? `document ${i + 1}` : 'document');
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
    const extra = Object.keys(v).filter((k) => !RESOURCE_FIELDS.has(k));
    if (extra.length) {
      for (const k of extra) {
        out.errors.push({
          location: `${at}.${k}`,
          message: k === 'status' ? 'status is written by the operator and cannot be applied: remove it' : `unknown field: a Quarry resource has apiVersion, kind, metadata and spec only; remove ${k} or move it into spec`,
        });
      }
      continue;
    }
    const md = isObj(v.metadata) ? v.metadata : {};
    if (typeof md.name !== 'string' || !md.name) {
      out.errors.push({ location: `${at}.metadata.name`, message: 'required: the resource name' });
      continue;
    }
    const metadata: ManifestResource['metadata'] = { name: md.name };
    if (typeof md.namespace === 'string') metadata.namespace = md.namespace;
    let badMetadata = false;
    for (const f of ['labels', 'annotations'] as const) {
      const m = md[f];
      if (m === undefined || m === null) continue;
      const wrong = !isObj(m) ? [] : Object.entries(m).filter(([, x]) => typeof x !== 'string').map(([k]) => k);
      if (!isObj(m) || wrong.length) {
        badMetadata = true;
        out.errors.push({
          location: `${at}.metadata.${f}${isObj(m) ? `.${wrong[0]}` : ''}`,
          message: isObj(m) ? `${f} values must be strings: quote ${wrong.map((k) => `'${k}'`).join(', ')}` : `must be a mapping of strings (key: "value")`,
        });
      } else metadata[f] = m as Record<string, string>;
    }
    if (badMetadata) continue;
    // status and server-set metadata (uid, resourceVersion, managedFields, ...) are not part of the intent.
    out.resources.push({ apiVersion: v.apiVersion, kind: v.kind as QuarryKind, metadata, spec: (v.spec ?? {}) as Obj });
    out.sources.push(at);
  }
  resolveSecrets(out, out.resources.map((r) => r.spec), secrets);
  return out;
}
