/** sort_attribute (reference §4.2): stable sort by a document field (numbers, strings, ISO dates, booleans). */
import { getPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias, compare } from '../common.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    field: { type: 'string', minLength: 1, default: 'metadata.created_at' },
    direction: { enum: ['asc', 'desc'], default: 'desc' },
    nulls_last: { type: 'boolean', default: true },
  },
};

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const field = ctx.params.field as string;
  const sign = ctx.params.direction === 'asc' ? 1 : -1;
  const nullsLast = ctx.params.nulls_last !== false;
  return docs
    .map((d, i) => ({ d, i, v: getPath(d, field) }))
    .sort((a, b) => {
      const an = a.v === undefined || a.v === null;
      const bn = b.v === undefined || b.v === null;
      if (an || bn) return an === bn ? a.i - b.i : an === nullsLast ? 1 : -1;
      return sign * compare(a.v, b.v) || a.i - b.i;
    })
    .map((x) => x.d);
}

export const stage: StageModule = {
  id: 'sort_attribute',
  category: 'sort',
  description: 'Sort documents by an attribute field',
  icon: 'arrow-down-a-z',
  parameterSchema,
  normalize: (p) => {
    alias(p, { sort_field: 'field', order: 'direction' });
    if (p.null_handling !== undefined) {
      if (p.nulls_last === undefined) p.nulls_last = p.null_handling !== 'first';
      delete p.null_handling;
    }
    return p;
  },
  execute,
};
