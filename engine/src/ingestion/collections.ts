/** What the ingestion path needs to know about a Collection (built from the CR or the management API). */
import type { FilterNode } from '../ports/filter.ts';
import type { FieldPassthrough } from './field-passthrough.ts';

export interface CollectionPlan {
  /** Collection name, unique in its QuarryNamespace; stored on documents as collection_id. */
  name: string;
  source: { type: 'bucket'; buckets: string[] } | { type: 'collection'; collections: string[] };
  sourceFilters?: FilterNode;
  extractor: {
    id: string;
    params: Record<string, unknown>;
    inputMappings?: Record<string, string>;
    fieldPassthrough?: FieldPassthrough[];
    includeAllSourceFields?: boolean;
  };
  enabled: boolean;
}

/**
 * Orders the collections fed (directly or through other collections) by `bucket` into tiers:
 * tier 0 reads the bucket, tier N reads collections of tier N-1. Cycles and unknown sources are errors.
 */
export function planTiers(bucket: string, collections: CollectionPlan[], only?: string[]): string[][] {
  const enabled = collections.filter((c) => c.enabled);
  if (only) {
    // Restricted runs (a collection trigger) take the named collections and everything downstream of them.
    const keep = new Set(only);
    for (let grew = true; grew; ) {
      grew = false;
      for (const c of enabled) {
        if (!keep.has(c.name) && c.source.type === 'collection' && c.source.collections.some((s) => keep.has(s))) {
          keep.add(c.name);
          grew = true;
        }
      }
    }
    return planTiers(bucket, enabled.filter((c) => keep.has(c.name)));
  }
  const tiers: string[][] = [];
  const placed = new Set<string>();
  let frontier = enabled.filter((c) => c.source.type === 'bucket' && c.source.buckets.includes(bucket));
  while (frontier.length) {
    tiers.push(frontier.map((c) => c.name));
    for (const c of frontier) placed.add(c.name);
    const prev = new Set(frontier.map((c) => c.name));
    frontier = enabled.filter(
      (c) => !placed.has(c.name) && c.source.type === 'collection' && c.source.collections.some((s) => prev.has(s)),
    );
    if (tiers.length > enabled.length) throw new Error(`collection sources form a cycle: ${frontier.map((c) => c.name).join(', ')}`);
  }
  return tiers;
}
