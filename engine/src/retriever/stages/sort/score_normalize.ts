/** score_normalize (reference §4.2): min_max, z_score, softmax or l2 over a score field; order unchanged. */
import { withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { scoreOf } from '../common.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    method: { enum: ['min_max', 'z_score', 'softmax', 'l2'], default: 'min_max' },
    score_field: { type: 'string', minLength: 1, default: 'score' },
    output_field: { type: 'string', minLength: 1 },
    min_value: { type: 'number' },
    max_value: { type: 'number' },
  },
};

export function normalizeScores(scores: number[], method: string, min?: number, max?: number): number[] {
  const n = scores.length;
  if (n === 0) return [];
  switch (method) {
    case 'z_score': {
      const mean = scores.reduce((a, b) => a + b, 0) / n;
      const sd = Math.sqrt(scores.reduce((a, s) => a + (s - mean) ** 2, 0) / n);
      return scores.map((s) => (sd === 0 ? 0 : (s - mean) / sd));
    }
    case 'softmax': {
      const m = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - m));
      const sum = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / sum);
    }
    case 'l2': {
      const norm = Math.sqrt(scores.reduce((a, s) => a + s * s, 0));
      return scores.map((s) => (norm === 0 ? 0 : s / norm));
    }
    default: {
      const lo = min ?? Math.min(...scores);
      const hi = max ?? Math.max(...scores);
      return scores.map((s) => (hi === lo ? 1 : (s - lo) / (hi - lo)));
    }
  }
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const field = ctx.params.score_field as string;
  const out = (ctx.params.output_field as string | undefined) ?? field;
  // Reference §4.2: a missing or non-numeric score normalises to 0.0, and does not take part in the statistics
  // (it used to count as a raw 0, shifting min_max and z_score for every other document).
  const scores = docs.map((d) => scoreOf(d, field));
  const present = scores.filter((x): x is number => x !== undefined);
  const norm = normalizeScores(present, ctx.params.method as string, ctx.params.min_value as number | undefined, ctx.params.max_value as number | undefined);
  let k = 0;
  return docs.map((d, i) => withPath(d, out, scores[i] === undefined ? 0 : norm[k++]!));
}

export const stage: StageModule = {
  id: 'score_normalize',
  category: 'sort',
  description: 'Normalize scores (min_max, z_score, softmax, l2) without reordering',
  icon: 'sliders-horizontal',
  parameterSchema,
  execute,
};
