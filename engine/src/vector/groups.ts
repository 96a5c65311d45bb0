/**
 * Group-by over a ranked list, as Qdrant's query/groups does it: groups are ordered by their best hit, each
 * keeps at most `groupSize` hits, a point whose group field holds several values joins each of those groups,
 * and points without a string/number/boolean value for the field are left out.
 */
import type { PointGroup, ScoredPoint } from '../ports/vector-store.ts';
import { fieldValues } from './filter-compile.ts';

export function groupHits(hits: ScoredPoint[], groupBy: string, groupSize: number, limit: number): PointGroup[] {
  const groups = new Map<string, PointGroup>();
  for (const h of hits) {
    const keys = new Set(
      fieldValues(h.payload ?? {}, groupBy).filter(
        (v): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean',
      ),
    );
    for (const key of keys) {
      const k = `${typeof key}:${String(key)}`;
      let g = groups.get(k);
      if (!g) {
        if (groups.size >= limit) continue;
        groups.set(k, (g = { key, hits: [] }));
      }
      if (g.hits.length < groupSize) g.hits.push(h);
    }
  }
  return [...groups.values()];
}
