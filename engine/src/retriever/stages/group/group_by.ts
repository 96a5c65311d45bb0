/**
 * group_by (reference §4.4): buckets documents by a field (best score first inside a group, at most max_per_group);
 * output_mode first (one per group = dedupe), all (one group document each), flatten (flat list, group_key added).
 */
import { getPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias, byScoreDesc } from '../common.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    group_by_field: { type: 'string', minLength: 1, default: 'source_object_id' },
    max_per_group: { type: 'integer', minimum: 1, maximum: 1000, default: 10 },
    output_mode: { enum: ['first', 'all', 'flatten'], default: 'all' },
    max_groups: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
  },
};

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const field = ctx.params.group_by_field as string;
  const maxPer = ctx.params.output_mode === 'first' ? 1 : (ctx.params.max_per_group as number);
  const groups = new Map<string, { key: unknown; docs: Doc[] }>();
  for (const d of byScoreDesc(docs)) {
    const key = getPath(d, field) ?? null;
    const k = JSON.stringify(key);
    let g = groups.get(k);
    if (!g) {
      if (groups.size >= (ctx.params.max_groups as number)) continue;
      groups.set(k, (g = { key, docs: [] }));
    }
    if (g.docs.length < maxPer) g.docs.push(d);
  }
  const list = [...groups.values()];
  if (ctx.params.output_mode === 'all') {
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
