/**
 * attribute_filter (reference §4.1): keeps documents matching `field operator value` or a `conditions` tree. As the
 * first stage it reads the collections from the store (up to 1000 documents per collection, as documented).
 */
import { badRequest } from '../../../lib/errors.ts';
import type { FilterNode } from '../../../ports/filter.ts';
import { FILTER_OPERATORS } from '../../../ports/filter.ts';
import { filterDocs, mergeFilters } from '../../filters.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { filterSchema } from '../common.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    field: { type: 'string', minLength: 1 },
    operator: { enum: [...FILTER_OPERATORS], default: 'eq' },
    value: {},
    conditions: filterSchema,
    batch_size: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    case_insensitive: { type: 'boolean', default: false },
  },
};

const FIRST_STAGE_LIMIT = 1000;

function filterOf(ctx: StageContext): FilterNode {
  const p = ctx.params;
  if (p.conditions !== undefined) {
    if (p.field !== undefined) throw badRequest(`stage '${ctx.stageName}': use either conditions or field/operator/value, not both`, { stage: ctx.stageName, parameter: 'conditions' });
    const c = p.conditions as FilterNode;
    return p.case_insensitive === true ? c : { AND: [c], case_sensitive: true };
  }
  if (typeof p.field !== 'string') throw badRequest(`stage '${ctx.stageName}': parameter 'field' is required (or give conditions)`, { stage: ctx.stageName, parameter: 'field' });
  return { AND: [{ field: p.field, operator: p.operator as never, value: p.value }], case_sensitive: p.case_insensitive !== true };
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const filter = filterOf(ctx);
  const first = ctx.definition.stages[0]?.stage_name === ctx.stageName;
  if (!first) return filterDocs(docs, filter);
  const out: Doc[] = [];
  for (const coll of ctx.definition.collection_identifiers.length ? ctx.definition.collection_identifiers : [undefined]) {
    const scope = await ctx.deps.features.collectionScope(coll ? [coll] : [], ctx.namespace);
    const where = mergeFilters(scope.filter, ctx.filters, filter);
    const page = await ctx.deps.store.scroll(scope.store, { limit: FIRST_STAGE_LIMIT, withPayload: true, withVectors: ctx.wantVectors, ...(where ? { filter: where } : {}) });
    for (const p of page.points) out.push({ document_id: p.id, ...(p.payload ?? {}), ...(ctx.wantVectors && p.vectors ? { _vectors: p.vectors } : {}) });
  }
  return out;
}

function normalize(params: Record<string, unknown>): Record<string, unknown> {
  // DOCS shorthand: the filter tree passed directly as parameters.
  if (('AND' in params || 'OR' in params || 'NOT' in params) && params.conditions === undefined) {
    const { AND, OR, NOT, ...rest } = params;
    return { ...rest, conditions: { ...(AND ? { AND } : {}), ...(OR ? { OR } : {}), ...(NOT ? { NOT } : {}) } };
  }
  if (params.field === undefined && params.conditions === undefined) params.field = 'metadata.status';
  return params;
}

export const stage: StageModule = {
  id: 'attribute_filter',
  category: 'filter',
  description: 'Filter documents by attribute conditions (eq, in, gt, regex, AND/OR/NOT)',
  icon: 'filter',
  parameterSchema,
  normalize,
  execute,
};
