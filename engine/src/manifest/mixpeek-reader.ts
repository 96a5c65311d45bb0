// Mixpeek manifest reading basics: the conversion result, name resolution (live objects, derived object names), issues and item helpers.
import { getExtractor } from '../extractors/registry.ts';
import { API_VERSION, type QuarryKind } from '../resources/generated/types.ts';
import { displayName, displayNameProblem, objectNameFor } from '../management/identifiers.ts';
import { SOURCE_NAME_ANNOTATION, EXTRACTOR_ALIASES, isObj, firstOf } from './mixpeek-common.ts';
import type { ManifestResource, ConvertedManifest, ConvertOptions, Obj } from './mixpeek-common.ts';

/** What every part of a manifest conversion uses: the result so far, object names for manifest names, warnings and errors, item walking. */
export class ManifestReader {
  readonly out: ConvertedManifest = { resources: [], sources: [], warnings: [], errors: [], secrets: [], missingSecrets: [] };
  readonly opts: ConvertOptions;

  constructor(opts: ConvertOptions) {
    this.opts = opts;
  }

  /** kind/namespace/name → object name, so a declaration and every reference to it agree. */
  protected readonly names = new Map<string, string>();

  /**
   * The object name of `name` of `kind` in Quarry namespace `ns` (its object name; '' for namespaces): the live
   * one of that name in that namespace, else identifiers.ts objectNameFor avoiding names already taken.
   */
  nameFor(kind: QuarryKind, ns: string, name: string): string {
    const key = `${kind}/${ns}/${name}`;
    const known = this.names.get(key);
    if (known) return known;
    const live = (this.opts.live ?? []).filter((r) => r.kind === kind);
    const same = live.find((r) => displayName(r) === name && (kind === 'QuarryNamespace' || (r.spec as { namespaceRef?: string } | undefined)?.namespaceRef === ns));
    let out: string;
    if (same) out = same.metadata.name;
    else {
      const taken = new Set([...live.map((r) => r.metadata.name), ...[...this.names].filter(([k]) => k.startsWith(`${kind}/`)).map(([, v]) => v)]);
      out = objectNameFor(ns, kind, name, { taken: (n) => taken.has(n) });
    }
    this.names.set(key, out);
    return out;
  }

  /** manifest namespace name → its enabled extractors (after aliasing) */
  readonly nsExtractors = new Map<string, { name: string; version: string; params?: unknown }[]>();
  /** namespace object name → bucket object names */
  readonly nsBuckets = new Map<string, string[]>();

  warn(location: string, message: string) {
    this.out.warnings.push({ location, message });
  }
  error(location: string, message: string) {
    this.out.errors.push({ location, message });
  }

  ignoreUnknown(item: Obj, at: string, known: readonly string[], unsupported: Record<string, string> = {}) {
    for (const k of Object.keys(item)) {
      if (unsupported[k]) this.warn(`${at}.${k}`, `not supported by Quarry, ignored: ${unsupported[k]}`);
      else if (!known.includes(k)) this.warn(`${at}.${k}`, 'unknown field, ignored');
    }
  }

  /**
   * Object name of a declared or referenced resource of `kind` in Quarry namespace `ns` (its object name; none for
   * namespaces), named as the management API names it (identifiers.ts objectNameFor); an error when the name
   * cannot be a display name.
   */
  objName(raw: unknown, at: string, kind: QuarryKind, ns = ''): string | undefined {
    if (typeof raw !== 'string' || raw.length === 0) {
      this.error(at, 'a name (string) is required');
      return undefined;
    }
    const problem = displayNameProblem(kind, raw);
    if (problem) {
      this.error(at, `'${raw}' is not a valid name: it ${problem}`);
      return undefined;
    }
    return this.nameFor(kind, ns, raw);
  }

  refList(raw: unknown, at: string, kind: QuarryKind, ns = ''): string[] | undefined {
    if (raw === undefined) return undefined;
    const list = Array.isArray(raw) ? raw : [raw];
    const out: string[] = [];
    list.forEach((r, i) => {
      const n = this.objName(r, Array.isArray(raw) ? `${at}[${i}]` : at, kind, ns);
      if (n) out.push(n);
    });
    return out;
  }

  namespaceOf(item: Obj, at: string): string | undefined {
    const raw = firstOf(item, 'namespace', 'namespace_name', 'namespace_id');
    if (raw !== undefined) return this.objName(raw, `${at}.namespace`, 'QuarryNamespace');
    if (this.nsExtractors.size === 1) return this.nameFor('QuarryNamespace', '', [...this.nsExtractors.keys()][0]!);
    if (this.opts.defaultNamespace) return this.objName(this.opts.defaultNamespace, 'X-Namespace', 'QuarryNamespace');
    this.error(`${at}.namespace`, this.nsExtractors.size === 0 ? 'required: name the namespace this resource belongs to (or send X-Namespace)' : 'required when the manifest declares several namespaces: name one');
    return undefined;
  }

  push(kind: QuarryKind, rawName: unknown, at: string, spec: Obj) {
    const name = this.objName(rawName, `${at}.name`, kind, kind === 'QuarryNamespace' ? '' : ((spec.namespaceRef as string | undefined) ?? ''));
    if (!name) return;
    const metadata: ManifestResource['metadata'] = { name };
    if (typeof rawName === 'string' && rawName !== name) metadata.annotations = { [SOURCE_NAME_ANNOTATION]: rawName };
    this.out.resources.push({ apiVersion: API_VERSION, kind, metadata, spec });
    this.out.sources.push(at);
  }

  extractorName(raw: unknown, version: string, at: string): string | undefined {
    if (typeof raw !== 'string' || !raw) {
      this.error(at, 'required: the feature extractor name, e.g. text_extractor');
      return undefined;
    }
    if (getExtractor(raw, version)) return raw;
    const alias = EXTRACTOR_ALIASES[raw];
    if (alias && getExtractor(alias.name, version)) {
      this.warn(at, `${raw}@${version} is converted to ${alias.name}@${version}: ${alias.note}`);
      return alias.name;
    }
    return raw; // unknown: validation names it and lists the known ones
  }

  each(list: unknown, key: string, fn: (item: Obj, at: string) => void) {
    if (list === undefined || list === null) return;
    if (!Array.isArray(list)) return this.error(key, 'must be a list');
    list.forEach((item, i) => {
      if (!isObj(item)) this.error(`${key}[${i}]`, 'must be an object');
      else fn(item, `${key}[${i}]`);
    });
  }
}
