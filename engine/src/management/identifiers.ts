/**
 * How every API route finds a resource from what a client sent (reference §0.1: ids or names): one resolver for
 * the management API, the X-Namespace header of every route, the ingestion and retriever routes and references
 * inside request bodies. An identifier is tried as
 *   1. the documented id (`ns_…`, `bkt_…`, `col_…`, `ret_…`, `tax_…`; see idOf),
 *   2. then the name (metadata.name).
 * Callers pass the candidates already scoped (one Kubernetes namespace, one Quarry namespace), so a match never
 * comes from another tenant.
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

/**
 * Every candidate an identifier names, at the first rule that matches anything (id, then name). Several matches
 * only happen for names across Kubernetes namespaces; callers scoped to one never see more than one.
 */
export function matchAll<T extends Identified>(items: readonly T[], identifier: string): T[] {
  if (!identifier) return [];
  const byId = items.filter((r) => idOf(r) === identifier);
  if (byId.length > 0) return byId;
  return items.filter((r) => r.metadata.name === identifier);
}

/** The candidate an identifier names (id, then name), or undefined. */
export function findByIdentifier<T extends Identified>(items: readonly T[], identifier: string): T | undefined {
  return matchAll(items, identifier)[0];
}
