/** sort_relevance (reference §4.2): reorder by a score field; documents without one go to the bottom, top, or stay. */
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { withPath } from '../../paths.ts';
import { alias, scoreOf } from '../common.ts';
import { normalizeScores } from './score_normalize.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    score_field: { type: 'string', minLength: 1, default: 'score' },
    direction: { enum: ['asc', 'desc'], default: 'desc' },
    feature_address: { type: 'string' },
    missing_score: { enum: ['bottom', 'top', 'preserve'], default: 'bottom' },
    normalize: { type: 'boolean', default: false, description: 'DOCS: min-max normalise the scores to [0, 1] (written back to score_field) before sorting' },
  },
};

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const field = ctx.params.score_field as string;
  const sign = ctx.params.direction === 'asc' ? 1 : -1;
  const missing = ctx.params.missing_score as string;
  let items = docs.map((d, i) => ({ d, i, s: scoreOf(d, field) }));
  if (ctx.params.normalize === true) {
    const scored = items.filter((x) => x.s !== undefined);
    const norm = normalizeScores(scored.map((x) => x.s!), 'min_max');
    const byIndex = new Map(scored.map((x, k) => [x.i, norm[k]!]));
    items = items.map((x) => (byIndex.has(x.i) ? { ...x, d: withPath(x.d, field, byIndex.get(x.i)!), s: byIndex.get(x.i)! } : x));
  }
  if (missing === 'preserve') {
    const scored = items.filter((x) => x.s !== undefined).sort((a, b) => sign * (a.s! - b.s!) || a.i - b.i);
    let k = 0;
    return items.map((x) => (x.s === undefined ? x.d : scored[k++]!.d));
  }
  const missingFirst = missing === 'top';
  return items
    .sort((a, b) => {
      if (a.s === undefined || b.s === undefined) {
        if (a.s === b.s) return a.i - b.i;
        return (a.s === undefined) === missingFirst ? -1 : 1;
      }
      return sign * (a.s - b.s) || a.i - b.i;
    })
    .map((x) => x.d);
}

export const stage: StageModule = {
  id: 'sort_relevance',
  category: 'sort',
  description: 'Sort documents by relevance score',
  icon: 'arrow-up-down',
  parameterSchema,
  normalize: (p) => alias(p, { order: 'direction' }),
  execute,
};
