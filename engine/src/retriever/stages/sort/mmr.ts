/**
 * mmr (reference §4.2): maximal marginal relevance. Repeatedly picks argmax λ·rel − (1−λ)·max sim(selected), with
 * relevance min-max normalised; similarity from document vectors (cosine/dot/euclidean) or, with
 * `diversity_fields`, the share of equal field values (attribute diversity, no embeddings).
 */
import { getPath, withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { cosine, scoreOf, vectorPicker } from '../common.ts';
import { normalizeScores } from './score_normalize.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    lambda: { type: 'number', minimum: 0, maximum: 1, default: 0.7 },
    top_k: { type: 'integer', minimum: 1, maximum: 500, default: 25 },
    diversity_feature_uri: { type: 'string', minLength: 1 },
    diversity_features: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', required: ['feature_uri'], properties: { feature_uri: { type: 'string', minLength: 1 }, weight: { type: 'number', minimum: 0, default: 1 } } },
    },
    embedding_field: { type: 'string', minLength: 1, description: 'DOCS alias: a named vector or a document field holding the embedding' },
    diversity_fields: { type: 'array', items: { type: 'string' } },
    diversity_field_weights: { type: 'object', additionalProperties: { type: 'number', minimum: 0 } },
    score_field: { type: 'string', default: 'score' },
    mmr_score_field: { type: 'string', default: 'scores.mmr' },
    similarity_metric: { enum: ['cosine', 'dot', 'euclidean'], default: 'cosine' },
  },
};

function vectorSim(a: ArrayLike<number>, b: ArrayLike<number>, metric: string): number {
  if (metric === 'dot') {
    let s = 0;
    for (let i = 0; i < Math.min(a.length, b.length); i++) s += a[i]! * b[i]!;
    return s;
  }
  if (metric === 'euclidean') {
    let s = 0;
    for (let i = 0; i < Math.min(a.length, b.length); i++) s += (a[i]! - b[i]!) ** 2;
    return 1 / (1 + Math.sqrt(s));
  }
  return cosine(a, b);
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const lambda = ctx.params.lambda as number;
  const topK = ctx.params.top_k as number;
  const fields = ctx.params.diversity_fields as string[] | undefined;
  const metric = ctx.params.similarity_metric as string;
  const rel = normalizeScores(docs.map((d) => scoreOf(d, ctx.params.score_field as string) ?? 0), 'min_max');
  if (docs.length > 0 && rel.every((r) => r === 1)) rel.fill(1);
  // Vector similarity over one feature (diversity_feature_uri / embedding_field / the preceding search's), or the
  // weighted mean over diversity_features (weights normalised); attribute similarity with diversity_fields.
  const features = (ctx.params.diversity_features as { feature_uri: string; weight: number }[] | undefined) ?? [];
  const pickers = fields?.length
    ? []
    : features.length
    ? await Promise.all(features.map(async (f) => ({ pick: await vectorPicker(ctx, f.feature_uri, undefined, 'diversity_features'), w: f.weight })))
    : [{ pick: await vectorPicker(ctx, ctx.params.diversity_feature_uri, ctx.params.embedding_field, 'diversity_feature_uri'), w: 1 }];
  const fieldWeights = (ctx.params.diversity_field_weights as Record<string, number> | undefined) ?? {};
  const sim = (a: Doc, b: Doc): number => {
    if (fields?.length) {
      const w = (f: string) => fieldWeights[f] ?? 1;
      const total = fields.reduce((s, f) => s + w(f), 0);
      return total === 0 ? 0 : fields.filter((f) => JSON.stringify(getPath(a, f)) === JSON.stringify(getPath(b, f))).reduce((s, f) => s + w(f), 0) / total;
    }
    let total = 0;
    let sum = 0;
    for (const { pick, w } of pickers) {
      const va = pick(a);
      const vb = pick(b);
      total += w;
      if (va && vb) sum += w * vectorSim(va, vb, metric);
    }
    return total === 0 ? 0 : sum / total;
  };
  if (!fields?.length && docs.some((d) => pickers.some(({ pick }) => !pick(d)))) ctx.metadata.warning = 'some documents carry no vector for the diversity feature; they count as fully diverse';
  const left = docs.map((_, i) => i);
  const chosen: number[] = [];
  const mmrScores: number[] = [];
  const maxSim = new Array<number>(docs.length).fill(-Infinity);
  while (chosen.length < topK && left.length) {
    let best = -1;
    let bestVal = -Infinity;
    for (let j = 0; j < left.length; j++) {
      const i = left[j]!;
      const penalty = chosen.length ? maxSim[i]! : 0;
      const val = lambda * rel[i]! - (1 - lambda) * penalty;
      if (val > bestVal) {
        bestVal = val;
        best = j;
      }
    }
    const pick = left.splice(best, 1)[0]!;
    chosen.push(pick);
    mmrScores.push(bestVal);
    for (const i of left) maxSim[i] = Math.max(maxSim[i]!, sim(docs[i]!, docs[pick]!));
  }
  const out = ctx.params.mmr_score_field as string;
  return chosen.map((i, k) => withPath(docs[i]!, out, mmrScores[k]!));
}

export const stage: StageModule = {
  id: 'mmr',
  category: 'sort',
  description: 'Maximal marginal relevance: balance relevance and diversity',
  icon: 'shuffle',
  parameterSchema,
  normalize: (p) => {
    if (p.top_n !== undefined && p.top_k === undefined) p.top_k = p.top_n;
    delete p.top_n;
    return p;
  },
  execute,
};
