/**
 * How every API route finds a resource from what a client sent (reference §0.1: ids or names): one resolver for
 * the management API, the X-Namespace header of every route, the ingestion and retriever routes and references
 * inside request bodies. An identifier is tried as
 *   1. the documented id (`ns_…`, `bkt_…`, `col_…`, `ret_…`, `tax_…`; see idOf),
 *   2. the display name: the `quarry.dev/source-name` annotation, else the object name (CRs applied with kubectl),
 *   3. the Kubernetes object name.
 * Callers pass the candidates already scoped (one Kubernetes namespace, one Quarry namespace), so a match never
 * comes from another tenant.
 *
 * Names in the API are display names (reference §1: `docs_text`, capitals, up to 100 characters); Kubernetes object
 * names are DNS labels, unique per kind in a Kubernetes namespace. objectNameFor maps one to the other: a display
 * name that is a DNS label is its own object name (when free), any other gets a derived one carrying a hash of
 * namespace/kind/name, and the display name is kept in the annotation.
 */
import { createHash } from 'node:crypto';
import type { QuarryKind } from '../resources/generated/types.ts';

/** What the resolver needs of a stored object. */
export interface Identified {
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; annotations?: Record<string, string> };
}

/** Id prefixes of the five kinds (reference §0.1). */
export const ID_PREFIX: Record<QuarryKind, string> = {
  QuarryNamespace: 'ns_',
  Bucket: 'bkt_',
  Collection: 'col_',
  Retriever: 'ret_',
  Taxonomy: 'tax_',
  Model: 'mdl_',
};

/**
 * The documented id of a resource: its prefix and the object's uid without dashes, so the id changes when an
 * object is deleted and recreated under the same name, as a new Mixpeek resource would. A store that assigns no
 * uid gets a stable hash of kind/namespace/name instead.
 */
export function idOf(r: Identified): string {
  const prefix = ID_PREFIX[r.kind as QuarryKind] ?? 'res_';
  const uid = r.metadata.uid;
  if (uid) return prefix + uid.replace(/-/g, '').toLowerCase();
  return prefix + createHash('sha256').update(`${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`).digest('hex').slice(0, 32);
}

/** Annotation keeping a resource's display name when its object name differs (manifests use it too). */
export const DISPLAY_NAME_ANNOTATION = 'quarry.dev/source-name';

/** The name the API shows: the annotation, else the object name (resources applied with kubectl). */
export function displayName(r: Identified): string {
  return r.metadata.annotations?.[DISPLAY_NAME_ANNOTATION] || r.metadata.name;
}

/**
 * Every candidate an identifier names, at the first rule that matches anything (id, display name, object name).
 * Several matches only happen across Kubernetes namespaces or Quarry namespaces; callers scoped to one see one.
 */
export function matchAll<T extends Identified>(items: readonly T[], identifier: string): T[] {
  if (!identifier) return [];
  for (const rule of [(r: T) => idOf(r) === identifier, (r: T) => displayName(r) === identifier, (r: T) => r.metadata.name === identifier]) {
    const found = items.filter(rule);
    if (found.length > 0) return found;
  }
  return [];
}

/** The candidate an identifier names (id, display name, object name), or undefined. */
export function findByIdentifier<T extends Identified>(items: readonly T[], identifier: string): T | undefined {
  return matchAll(items, identifier)[0];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Whether a name can be a Kubernetes object name (and so a display name's own object name). */
export const isDnsLabel = (name: string): boolean => name.length <= 63 && DNS_LABEL.test(name);

/** Longest display name the API accepts (reference §1.5: collection names up to 100 characters). */
export const MAX_DISPLAY_NAME = 100;

/** Why a display name is refused, or undefined: 1-100 characters, no '/' or control characters, not an id. */
export function displayNameProblem(kind: QuarryKind, name: string): string | undefined {
  if (name.length > MAX_DISPLAY_NAME) return `is ${name.length} characters long: use at most ${MAX_DISPLAY_NAME}`;
  if (name.trim() !== name) return 'starts or ends with whitespace: remove it';
  // eslint-disable-next-line no-control-regex
  if (/[/\u0000-\u001f\u007f]/.test(name)) return "contains '/' or a control character: names appear in URL paths";
  if (new RegExp(`^${ID_PREFIX[kind]}[0-9a-f]{32}$`).test(name)) return `looks like a ${ID_PREFIX[kind]}… id: choose a name that is not one`;
  return undefined;
}

/** Lower-case, runs of anything but letters and digits become '-', no leading or trailing '-'. */
export function toObjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * The Kubernetes object name for a display name of `kind` in Quarry namespace `namespace` (its object name; ''
 * for QuarryNamespaces): the display name itself when it is a DNS label (and `taken` does not say otherwise),
 * else its DNS-label form cut to leave room for '-' and 8 hex digits of sha256(namespace/kind/name), so the same
 * name in another Quarry namespace gets another object name. `attempt` > 0 varies the hash (a taken derived name).
 */
export function objectNameFor(namespace: string, kind: QuarryKind, name: string, opts: { taken?: (objectName: string) => boolean } = {}): string {
  const taken = opts.taken ?? (() => false);
  if (isDnsLabel(name) && !taken(name)) return name;
  const base = toObjectName(name).slice(0, 63 - 9).replace(/-+$/, '') || kind.toLowerCase();
  for (let attempt = 0; ; attempt++) {
    const hash = createHash('sha256').update(`${namespace}/${kind}/${name}${attempt ? `#${attempt}` : ''}`).digest('hex').slice(0, 8);
    const candidate = `${base}-${hash}`;
    if (!taken(candidate) || attempt >= 20) return candidate;
  }
}
