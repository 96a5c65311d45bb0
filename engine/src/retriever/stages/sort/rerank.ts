/**
 * rerank (reference §4.2): cross-encoder scores from the Models port for (query, document text) pairs, in batches
 * with bounded concurrency; documents sorted by the new score, optionally cut to top_k.
 */
import { QuarryError, badRequest } from '#core/lib/errors.ts';
import { getPath, withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias } from '../common.ts';
import { visibleModels } from '../../model-scope.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    inference_name: { type: 'string', minLength: 1, default: 'BAAI__bge_reranker_v2_m3' },
    query: { type: 'string', default: '{{INPUT.query}}' },
    document_field: { type: 'string', minLength: 1, default: 'content' },
    top_k: { type: ['integer', 'null'], minimum: 1 },
    score_field: { type: 'string', minLength: 1, default: 'scores.rerank' },
    batch_size: { type: 'integer', minimum: 1, maximum: 100, default: 32 },
    max_document_chars: { type: 'integer', minimum: 100, maximum: 50000, default: 2000 },
    max_concurrent_batches: { type: 'integer', minimum: 1, maximum: 10, default: 3 },
    cache_behavior: { enum: ['auto', 'disabled', 'aggressive'], default: 'auto' },
    cache_ttl_seconds: { type: ['integer', 'null'], minimum: 0 },
  },
};

/** Maps reference model names onto a loaded reranker: exact name, case-insensitive, else the only reranker loaded. */
function modelFor(ctx: StageContext, requested: string): string {
  const models = ctx.deps.models;
  if (!models) throw new QuarryError('InferenceServiceUnavailableError', `stage '${ctx.stageName}': no models are loaded, so rerank cannot run`, { stage: ctx.stageName });
  // Built-ins and this tenant's own Model resources only (retriever/model-scope.ts); a custom model by its plain name.
  const rerankers = visibleModels(ctx).filter((m) => m.kind === 'reranker');
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  const hit = rerankers.find((m) => m.shortName === requested || m.name === requested) ?? rerankers.find((m) => norm(m.shortName) === norm(requested));
  if (hit) return hit.name;
  if (rerankers.length >= 1) {
    ctx.metadata.model_substituted = { requested, used: rerankers[0]!.shortName };
    return rerankers[0]!.name;
  }
  throw badRequest(`stage '${ctx.stageName}': no reranker model is loaded (asked for '${requested}')`, { stage: ctx.stageName, parameter: 'inference_name' });
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  if (docs.length === 0) return docs;
  let query = p.query === undefined || p.query === null ? '' : String(p.query);
  if (!query.trim()) {
    // The default query is {{INPUT.query}}; retrievers naming their text input otherwise (query_text in the
    // documented anonymous example) fall back to their first text input.
    const textInput = Object.entries(ctx.definition.input_schema).find(([name, f]) => f.type === 'text' && typeof ctx.inputs[name] === 'string' && (ctx.inputs[name] as string).trim());
    if (textInput) {
      query = ctx.inputs[textInput[0]] as string;
      ctx.metadata.query_from_input = textInput[0];
    }
  }
  if (!query.trim()) throw badRequest(`stage '${ctx.stageName}': parameter 'query' rendered empty; pass the query input (default {{INPUT.query}})`, { stage: ctx.stageName, parameter: 'query' });
  const model = modelFor(ctx, p.inference_name as string);
  ctx.metadata.model_name = model.includes('/') ? model.slice(model.indexOf('/') + 1) : model;
  const field = p.document_field as string;
  const maxChars = p.max_document_chars as number;
  const texts = docs.map((d) => {
    const v = getPath(d, field) ?? getPath(d, 'text') ?? getPath(d, 'content');
    return (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v)).slice(0, maxChars);
  });
  const size = p.batch_size as number;
  const batches: number[][] = [];
  for (let i = 0; i < texts.length; i += size) batches.push(Array.from({ length: Math.min(size, texts.length - i) }, (_, k) => i + k));
  const scores = new Array<number>(docs.length).fill(0);
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const b = batches[next++]!;
      const s = await ctx.deps.models!.rerank(model, query, b.map((i) => texts[i]!));
      b.forEach((i, k) => (scores[i] = s[k]!));
    }
  };
  await Promise.all(Array.from({ length: Math.min(p.max_concurrent_batches as number, batches.length) }, worker));
  const out = p.score_field as string;
  const ranked = docs.map((d, i) => ({ d: { ...withPath(d, out, scores[i]!), score: scores[i]! }, i })).sort((a, b) => b.d.score - a.d.score || a.i - b.i).map((x) => x.d);
  const topK = p.top_k as number | null | undefined;
  return topK ? ranked.slice(0, topK) : ranked;
}

export const stage: StageModule = {
  id: 'rerank',
  category: 'sort',
  description: 'Rerank documents with a cross-encoder model',
  icon: 'brain-circuit',
  parameterSchema,
  normalize: (p) => alias(p, { model: 'inference_name', top_n: 'top_k' }),
  execute,
};
