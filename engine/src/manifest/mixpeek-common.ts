// Mixpeek manifest basics shared by import and export: result shapes, options, secrets placeholders, key renaming and Quarry-only extras.
import type { QuarryKind } from '../resources/generated/types.ts';
import { DISPLAY_NAME_ANNOTATION, toObjectName } from '../management/identifiers.ts';

export interface ManifestIssue {
  /** Where in the input: `buckets[0].schema`, `document 2`, or `Collection/foo spec.source`. */
  location: string;
  message: string;
}

/** A custom resource as read from a manifest (not yet validated). */
export interface ManifestResource {
  apiVersion: string;
  kind: QuarryKind;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

export interface ConvertedManifest {
  name?: string;
  resources: ManifestResource[];
  /** Parallel to `resources`: where each came from in the input. */
  sources: string[];
  warnings: ManifestIssue[];
  errors: ManifestIssue[];
  /** `${{ secrets.NAME }}` placeholders found anywhere in the manifest. */
  secrets: string[];
  /**
   * Placeholders a converted resource would store and no value was given for (errors: Quarry never stores the
   * placeholder literally). Placeholders only in fields Quarry ignores (e.g. a bucket's sync) are warnings.
   */
  missingSecrets: string[];
}

/** The display-name annotation of the management API (identifiers.ts): export and the API give the name back. */
export const SOURCE_NAME_ANNOTATION = DISPLAY_NAME_ANNOTATION;
export const MANIFEST_FORMAT_VERSION = '1.0';

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Mixpeek extractors without a Quarry extractor of the same name, mapped to the closest one. multimodal_extractor
 * embeds images and text in one space, which is what image_extractor does (no video/audio decoding in Quarry).
 */
export const EXTRACTOR_ALIASES: Readonly<Record<string, { name: string; note: string }>> = {
  multimodal_extractor: { name: 'image_extractor', note: 'image_extractor embeds images and PDF pages with an image-text model (text queries share the space); video and audio blobs are not decoded' },
  document_graph_extractor: { name: 'document_extractor', note: 'document_extractor extracts page text (text layer or OCR); no layout graph' },
};

export { toObjectName };

/** Label value naming the manifest a resource was applied from. */
export function manifestLabelValue(name: string): string {
  return toObjectName(name).slice(0, 63).replace(/-+$/, '') || 'manifest';
}

export const SECRET_RE = /\$\{\{\s*secrets\.([A-Za-z0-9_]+)\s*\}\}/g;

/** `v` with every placeholder whose value is given substituted; `seen` hears of each placeholder and where it is. */
export function substituteSecrets(v: unknown, at: string, values: Readonly<Record<string, string>>, seen: (name: string, at: string) => void): unknown {
  if (typeof v === 'string') {
    return v.replace(SECRET_RE, (m, name: string) => {
      seen(name, at);
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name]! : m;
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => substituteSecrets(x, `${at}[${i}]`, values, seen));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substituteSecrets(x, `${at}.${k}`, values, seen)]));
  return v;
}

export function findSecrets(v: unknown, out: Set<string>): void {
  if (typeof v === 'string') for (const m of v.matchAll(SECRET_RE)) out.add(m[1]!);
  else if (Array.isArray(v)) v.forEach((x) => findSecrets(x, out));
  else if (isObj(v)) Object.values(v).forEach((x) => findSecrets(x, out));
}

/**
 * `${{ secrets.NAME }}` placeholders of a converted manifest (`source`: the input, to list every placeholder):
 * substituted into the resources' specs when a value is given, else an error naming the secret (Quarry would store
 * the placeholder literally); placeholders only outside the specs are warnings. Both manifest formats use it.
 */
export function resolveSecrets(out: ConvertedManifest, source: unknown, provided: Readonly<Record<string, string>>): void {
  const secrets = new Set<string>();
  findSecrets(source, secrets);
  out.secrets = [...secrets].sort();
  const used = new Set<string>();
  const missing = new Set<string>();
  out.resources.forEach((r, i) => {
    r.spec = substituteSecrets(r.spec, 'spec', provided, (name, at) => {
      used.add(name);
      if (Object.prototype.hasOwnProperty.call(provided, name)) return;
      missing.add(name);
      out.errors.push({
        location: `${out.sources[i]} (${at})`,
        message: `\${{ secrets.${name} }} has no value, and Quarry would store the placeholder literally: send the secret's value with the manifest (secrets: {"${name}": "…"}) or keep credentials in a Kubernetes Secret (e.g. Bucket spec.storage.credentialsSecretRef)`,
      });
    }) as Obj;
  });
  out.missingSecrets = [...missing].sort();
  for (const s of out.secrets) if (!used.has(s)) out.warnings.push({ location: '(manifest)', message: `\${{ secrets.${s} }} is only used in fields Quarry ignores: not needed` });
}

/** Copies the listed snake_case keys of `src` to camelCase keys of the result (only when present). */
export function pick(src: Obj, keys: Record<string, string>): Obj {
  const out: Obj = {};
  for (const [from, to] of Object.entries(keys)) if (src[from] !== undefined) out[to] = src[from];
  return out;
}

export const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
export const camel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Renames the keys of a configuration object (not user data) between snake_case and camelCase, deeply. */
export function renameKeys(v: unknown, fn: (k: string) => string): unknown {
  if (Array.isArray(v)) return v.map((x) => renameKeys(x, fn));
  if (!isObj(v)) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [fn(k), renameKeys(x, fn)]));
}

/**
 * Quarry settings without a Mixpeek counterpart travel under snake_case keys of the same name, so a manifest
 * exported from Quarry imports back unchanged: [manifest key, spec key].
 */
export const QUARRY_EXTRAS: Readonly<Record<string, readonly [string, string][]>> = {
  QuarryNamespace: [['vector_store', 'vectorStore'], ['deletion_policy', 'deletionPolicy']],
  Bucket: [['storage', 'storage'], ['deletion_policy', 'deletionPolicy']],
  Collection: [['deletion_policy', 'deletionPolicy']],
  Retriever: [],
  Taxonomy: [],
};

export function extrasIn(kind: string, item: Obj): Obj {
  const out: Obj = {};
  for (const [m, sp] of QUARRY_EXTRAS[kind] ?? []) if (item[m] !== undefined) out[sp] = renameKeys(item[m], camel);
  return out;
}

export function extrasOut(kind: string, spec: Obj): Obj {
  const out: Obj = {};
  for (const [m, sp] of QUARRY_EXTRAS[kind] ?? []) if (spec[sp] !== undefined) out[m] = renameKeys(spec[sp], snake);
  return out;
}

export const extraKeys = (kind: string): string[] => (QUARRY_EXTRAS[kind] ?? []).map(([m]) => m);

export const firstOf = (o: Obj, ...keys: string[]): unknown => keys.map((k) => o[k]).find((v) => v !== undefined);

export interface ConvertOptions {
  /** Namespace for items that name none when the manifest does not declare exactly one (the X-Namespace header). */
  defaultNamespace?: string;
  /** Values of `${{ secrets.NAME }}` placeholders, substituted into the converted resources. */
  secrets?: Readonly<Record<string, string>>;
  /**
   * The live resources of the Kubernetes namespace: a name that already exists in its namespace keeps its object
   * name (also ones applied before names were derived this way), and a new one is not given an object name another
   * namespace's resource has (as the management API does).
   */
  live?: readonly { kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec?: unknown }[];
}

export const CATEGORIES = new Set(['filter', 'sort', 'reduce', 'group', 'apply', 'enrich']);
export const FEATURE_URI_KEYS = new Set(['feature_uri', 'feature_address', 'diversity_feature_uri']);

export function enrichmentFieldIn(f: unknown): unknown {
  return isObj(f) ? pick(f, { field_path: 'fieldPath', target_field: 'targetField', merge_mode: 'mergeMode' }) : f;
}

export function displayConfigIn(d: Obj): Obj {
  const out = pick(d, { title: 'title', description: 'description', logo_url: 'logoUrl', template_type: 'templateType', exposed_fields: 'exposedFields', theme: 'theme' });
  if (Array.isArray(d.inputs)) {
    out.inputs = d.inputs.map((i) =>
      isObj(i) ? pick(i, { field_name: 'fieldName', label: 'label', input_type: 'inputType', placeholder: 'placeholder', helper_text: 'helperText', required: 'required', order: 'order', suggestions: 'suggestions' }) : i,
    );
  }
  if (isObj(d.layout)) out.layout = pick(d.layout, { mode: 'mode', results_layout: 'resultsLayout', columns: 'columns', gap: 'gap', full_width: 'fullWidth', page_size: 'pageSize' });
  // Keyed by field paths (kept as written); the options are renamed.
  if (isObj(d.field_config)) {
    out.fieldConfig = Object.fromEntries(Object.entries(d.field_config).map(([k, v]) => [k, isObj(v) ? { ...pick(v, { format: 'format' }), ...(isObj(v.format_options) ? { formatOptions: Object.fromEntries(Object.entries(v.format_options).map(([o, x]) => [camel(o), x])) } : {}) } : v]));
  }
  if (isObj(d.field_mappings)) out.fieldMappings = d.field_mappings;
  return out;
}
