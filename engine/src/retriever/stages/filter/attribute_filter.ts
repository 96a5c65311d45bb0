/**
 * attribute_filter (reference §4.1): keeps documents matching `field operator value` or a `conditions` tree. As the
 * first stage it reads the collections from the store (up to 1000 documents per collection, as documented).
 */
import { badRequest } from '#core/lib/errors.ts';
import type { FilterNode } from '#core/ports/filter.ts';
import { FILTER_OPERATORS } from '#core/ports/filter.ts';
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

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const LOGICAL = new Set(['AND', 'OR', 'NOT', 'case_sensitive']);

/**
 * `case_insensitive: true` (reference §4.1): eq / ne / in / nin on strings compare exactly everywhere else (keyword
 * semantics), so they become anchored regexes, which the tree's `case_sensitive: false` makes case-insensitive on
 * every store. Shorthand `{"metadata.x": "v"}` keys count as eq.
 */
function foldCase(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(foldCase);
  if (!isObj(node)) return node;
  if (typeof node.field === 'string') {
    const op = node.operator ?? 'eq';
    const re = (v: string) => ({ field: node.field, operator: 'regex', value: `^${escapeRe(v)}$` });
    const str = (v: unknown): v is string => typeof v === 'string' && v !== '';
    if ((op === 'eq' || op === 'ne') && str(node.value)) return op === 'eq' ? re(node.value) : { NOT: [re(node.value)] };
    if ((op === 'in' || op === 'nin') && Array.isArray(node.value) && node.value.some(str)) {
      const others = node.value.filter((v) => !str(v));
      const any = { OR: [...node.value.filter(str).map(re), ...(others.length ? [{ field: node.field, operator: 'in', value: others }] : [])] };
      return op === 'in' ? any : { NOT: [any] };
    }
    return node;
  }
  const out: Record<string, unknown> = {};
  const shorthand: unknown[] = [];
  for (const [k, v] of Object.entries(node)) {
    if (k === 'case_sensitive') out[k] = v;
    else if (LOGICAL.has(k)) out[k] = foldCase(v);
    else shorthand.push(foldCase({ field: k, operator: 'eq', value: v }));
  }
  if (shorthand.length) out.AND = [...(Array.isArray(out.AND) ? out.AND : []), ...shorthand];
  return out;
}

/** The filter built from a stage instance's parameters (the same object while they hold no template). */
const built = new WeakMap<object, FilterNode>();

function filterOf(ctx: StageContext): FilterNode {
  let f = built.get(ctx.params);
  if (!f) built.set(ctx.params, (f = buildFilter(ctx)));
  return f;
}

function buildFilter(ctx: StageContext): FilterNode {
  const p = ctx.params;
  const ci = p.case_insensitive === true;
  if (p.conditions !== undefined) {
    if (p.field !== undefined) throw badRequest(`stage '${ctx.stageName}': use either conditions or field/operator/value, not both`, { stage: ctx.stageName, parameter: 'conditions' });
    const c = p.conditions as FilterNode;
    return ci ? { AND: [foldCase(c) as FilterNode], case_sensitive: false } : { AND: [c], case_sensitive: true };
  }
  if (typeof p.field !== 'string') throw badRequest(`stage '${ctx.stageName}': parameter 'field' is required (or give conditions)`, { stage: ctx.stageName, parameter: 'field' });
  const cond = { field: p.field, operator: p.operator as never, value: p.value };
  return ci ? { AND: [foldCase(cond) as FilterNode], case_sensitive: false } : { AND: [cond], case_sensitive: true };
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
