/**
 * aggregate (reference §4.3): count, count_distinct, sum, avg, min, max, first, last, collect, collect_distinct,
 * optionally per composite group, sorted by an alias and limited. Output rows replace the documents unless
 * include_documents, which attaches the rows to every document's metadata.aggregations.
 */
import { badRequest } from '#core/lib/errors.ts';
import { getPath, withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { compare } from '../common.ts';

const FUNCTIONS = ['count', 'count_distinct', 'sum', 'avg', 'min', 'max', 'first', 'last', 'collect', 'collect_distinct'];

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['aggregations'],
  properties: {
    aggregations: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', required: ['function', 'alias'], properties: { function: { enum: FUNCTIONS }, field: { type: 'string' }, alias: { type: 'string', minLength: 1 } } },
    },
    group_by: { type: 'array', items: { type: 'object', required: ['field'], properties: { field: { type: 'string', minLength: 1 }, alias: { type: 'string' } } } },
    sort_by: { type: 'string' },
    sort_order: { enum: ['asc', 'desc'], default: 'desc' },
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
    include_documents: { type: 'boolean', default: false },
  },
};

interface Agg {
  function: string;
  field?: string;
  alias: string;
}

function compute(a: Agg, docs: Doc[]): unknown {
  const vals = a.field ? docs.map((d) => getPath(d, a.field!)).filter((v) => v !== undefined && v !== null) : [];
  const nums = vals.filter((v): v is number => typeof v === 'number');
  const distinct = () => [...new Map(vals.map((v) => [JSON.stringify(v), v])).values()];
  switch (a.function) {
    case 'count':
      return a.field ? vals.length : docs.length;
    case 'count_distinct':
      return distinct().length;
    case 'sum':
      return nums.reduce((x, y) => x + y, 0);
    case 'avg':
      return nums.length ? nums.reduce((x, y) => x + y, 0) / nums.length : null;
    case 'min':
      return vals.length ? vals.reduce((x, y) => (compare(x, y) <= 0 ? x : y)) : null;
    case 'max':
      return vals.length ? vals.reduce((x, y) => (compare(x, y) >= 0 ? x : y)) : null;
    case 'first':
      return vals[0] ?? null;
    case 'last':
      return vals[vals.length - 1] ?? null;
    case 'collect':
      return vals;
    default:
      return distinct();
  }
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const aggs = p.aggregations as Agg[];
  const aliases = new Set<string>();
  for (const a of aggs) {
    if (a.function !== 'count' && !a.field) throw badRequest(`stage '${ctx.stageName}': aggregation '${a.alias}' (${a.function}) needs a field`, { stage: ctx.stageName, parameter: 'aggregations' });
    if (aliases.has(a.alias)) throw badRequest(`stage '${ctx.stageName}': aggregation alias '${a.alias}' is used twice`, { stage: ctx.stageName, parameter: 'aggregations' });
    aliases.add(a.alias);
  }
  const groupBy = (p.group_by as { field: string; alias?: string }[] | undefined) ?? [];
  const groups = new Map<string, { key: Record<string, unknown>; docs: Doc[] }>();
  for (const d of docs) {
    const key = Object.fromEntries(groupBy.map((g) => [g.alias ?? g.field.split('.').pop()!, getPath(d, g.field) ?? null]));
    const k = JSON.stringify(key);
    const g = groups.get(k) ?? { key, docs: [] };
    g.docs.push(d);
    groups.set(k, g);
  }
  if (groupBy.length === 0 && groups.size === 0) groups.set('{}', { key: {}, docs: [] });
  let rows: Doc[] = [...groups.values()].map((g) => ({ ...g.key, ...Object.fromEntries(aggs.map((a) => [a.alias, compute(a, g.docs)])) }));
  if (typeof p.sort_by === 'string') {
    const sign = p.sort_order === 'asc' ? 1 : -1;
    rows = rows.sort((a, b) => sign * compare(a[p.sort_by as string], b[p.sort_by as string]));
  }
  if (typeof p.limit === 'number') rows = rows.slice(0, p.limit);
  if (p.include_documents) return docs.map((d) => withPath(d, 'metadata.aggregations', rows));
  return rows.map((r, i) => ({ document_id: `agg_${i}`, ...r }));
}

export const stage: StageModule = { id: 'aggregate', category: 'reduce', description: 'Aggregate documents (count, sum, avg, collect, ...) optionally by group', icon: 'sigma', parameterSchema, execute };
