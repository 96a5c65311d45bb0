/**
 * group_by (reference §4.4): buckets documents by a field (best score first inside a group, at most max_per_group);
 * output_mode first (one per group = dedupe), all (one group document each), flatten (flat list, group_key added).
 */
import { getPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias, byScoreDesc, compare, scoreOf } from '../common.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    group_by_field: { type: 'string', minLength: 1, default: 'source_object_id' },
    max_per_group: { type: 'integer', minimum: 1, maximum: 1000, default: 10 },
    output_mode: { enum: ['first', 'all', 'flatten'], default: 'all' },
    max_groups: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
    sort_groups_by: { enum: ['score', 'count', 'field'], default: 'score', description: 'DOCS: order groups by best score, size or group value' },
    sort_order: { enum: ['asc', 'desc'], default: 'desc' },
    sort_docs_by: { type: 'string', minLength: 1, default: 'score', description: 'DOCS: field ordering documents inside a group (descending)' },
  },
};

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const field = p.group_by_field as string;
  const maxPer = p.output_mode === 'first' ? 1 : (p.max_per_group as number);
  const docsBy = p.sort_docs_by as string;
  // Documents inside a group: best first by sort_docs_by (score by default); documents without it last, in order.
  const ordered =
    docsBy === 'score'
      ? byScoreDesc(docs)
      : docs
          .map((d, i) => ({ d, i, v: getPath(d, docsBy) }))
          .sort((a, b) => {
            const an = a.v === undefined || a.v === null;
            const bn = b.v === undefined || b.v === null;
            if (an || bn) return an === bn ? a.i - b.i : an ? 1 : -1;
            return compare(b.v, a.v) || a.i - b.i;
          })
          .map((x) => x.d);
  const groups = new Map<string, { key: unknown; docs: Doc[]; total: number; best: number | undefined }>();
  for (const d of ordered) {
    const key = getPath(d, field) ?? null;
    const k = JSON.stringify(key);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { key, docs: [], total: 0, best: undefined }));
    g.total++;
    const s = scoreOf(d);
    if (s !== undefined && (g.best === undefined || s > g.best)) g.best = s;
    if (g.docs.length < maxPer) g.docs.push(d);
  }
  // Groups ordered by sort_groups_by / sort_order (default: best score, descending), then cut to max_groups.
  const sign = p.sort_order === 'asc' ? 1 : -1;
  const by = p.sort_groups_by as string;
  const list = [...groups.values()]
    .map((g, i) => ({ g, i }))
    .sort((a, b) => {
      const va = by === 'count' ? a.g.total : by === 'field' ? a.g.key : a.g.best;
      const vb = by === 'count' ? b.g.total : by === 'field' ? b.g.key : b.g.best;
      const an = va === undefined || va === null;
      const bn = vb === undefined || vb === null;
      if (an || bn) return an === bn ? a.i - b.i : an ? 1 : -1;
      return sign * compare(va, vb) || a.i - b.i;
    })
    .slice(0, p.max_groups as number)
    .map((x) => x.g);
  if (p.output_mode === 'all') {
    return list.map((g) => ({ document_id: `group:${String(g.key)}`, group_key: g.key, score: g.docs[0]?.score ?? 0, count: g.docs.length, documents: g.docs }));
  }
  return list.flatMap((g) => g.docs.map((d) => ({ ...d, group_key: g.key })));
}

export const stage: StageModule = {
  id: 'group_by',
  category: 'group',
  description: 'Group documents by a field',
  icon: 'group',
  parameterSchema,
  normalize: (p) => alias(p, { field: 'group_by_field', docs_per_group: 'max_per_group' }),
  execute,
};
