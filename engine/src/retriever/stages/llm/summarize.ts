/**
 * summarize (reference §4.3): N documents → one summary document (one per `group_by` value). Each document is
 * rendered with `document_template` ({{INDEX}}, {{DOC.*}}; its text from `content_field`) between data markers,
 * the pieces are cut to `max_input_tokens` (drop_last | truncate_each | smart) and put into `prompt` at
 * {{DOCUMENTS}} ({{DOC_COUNT}}, {{GROUP_VALUE}} too). The answer is text, or with `output_schema` a validated
 * JSON object, written at `output_field`.
 */
import { badRequest } from '#core/lib/errors.ts';
import { checkSchema } from '#engine/llm/limits.ts';
import { approxTokens, asText, delimit, messages } from '#engine/llm/prompt.ts';
import { hashOf } from '../../cache.ts';
import { getPath, withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias } from '../common.ts';
import { llmCommonProperties } from './llm_filter.ts';

const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...llmCommonProperties,
    prompt: { type: 'string', minLength: 1, default: 'Summarize the following {{DOC_COUNT}} documents concisely: {{DOCUMENTS}}' },
    document_template: { type: 'string', default: '[{{INDEX}}] {{DOC.content}}\n' },
    content_field: { type: 'string', minLength: 1, default: 'content' },
    group_by: { type: 'string', minLength: 1 },
    output_field: { type: 'string', minLength: 1, default: 'summary' },
    include_sources: { type: 'boolean', default: true },
    include_metadata: { type: 'boolean', default: true },
    max_input_tokens: { type: 'integer', minimum: 100, maximum: 128000, default: 8000 },
    truncation_strategy: { enum: ['drop_last', 'truncate_each', 'smart'], default: 'drop_last' },
    temperature: { type: 'number', minimum: 0, maximum: 2, default: 0.3 },
    max_output_tokens: { type: 'integer', minimum: 10, maximum: 16000, default: 1024 },
    output_schema: { type: 'object' },
  },
};

const SYSTEM = 'You summarize documents faithfully, using only what they say.';

/** The document pieces that fit the input budget. */
function fit(pieces: string[], budget: number, strategy: string): string[] {
  if (strategy === 'truncate_each') {
    const each = Math.max(1, Math.floor((budget * 4) / Math.max(1, pieces.length)));
    return pieces.map((x) => x.slice(0, each));
  }
  const kept: string[] = [];
  let used = 0;
  for (const x of pieces) {
    const t = approxTokens(x);
    if (used + t <= budget) {
      kept.push(x);
      used += t;
    } else {
      // smart: the piece crossing the budget is cut to the room left (when there is some); drop_last drops it.
      if (strategy === 'smart' && budget - used > 20) kept.push(x.slice(0, (budget - used) * 4));
      break;
    }
  }
  return kept;
}

async function summarizeGroup(docs: Doc[], group: unknown, ctx: StageContext): Promise<Doc> {
  const p = ctx.params;
  const rendered = docs.map((d, i) => {
    const view = { ...d, content: getPath(d, p.content_field as string) ?? getPath(d, 'content') ?? '' };
    return asText(ctx.renderForDoc(p.document_template, view, 'document_template', { INDEX: i + 1 }));
  });
  // The input budget also fits the model's context (beside the prompt and the answer) when it is known.
  const room = ctx.llmContextTokens ? Math.max(50, Math.floor((ctx.llmContextTokens - (p.max_output_tokens as number) - 250) * 0.75)) : Infinity;
  const budget = Math.min(p.max_input_tokens as number, room);
  ctx.metadata.input_budget_tokens = budget;
  const kept = fit(rendered, budget, p.truncation_strategy as string);
  const documents = kept.map((x, i) => delimit(x, `[${i + 1}]`)).join('\n');
  const prompt = asText(ctx.renderForDoc(p.prompt, {}, 'prompt', { DOCUMENTS: documents, DOC_COUNT: kept.length, GROUP_VALUE: group ?? '' }));
  const schema = p.output_schema as Record<string, unknown> | undefined;
  const r = await ctx.complete({
    messages: messages(prompt, schema ? `${SYSTEM} Answer with JSON matching the required schema.` : SYSTEM),
    ...(schema ? { jsonSchema: schema } : {}),
    maxTokens: p.max_output_tokens as number,
    temperature: p.temperature as number,
  });
  const sources = docs.slice(0, kept.length).map((d) => d.document_id ?? null);
  let out: Doc = { document_id: group === undefined ? 'summary' : `summary_${hashOf(group).slice(0, 12)}` };
  out = withPath(out, p.output_field as string, schema ? r.json : r.text.trim());
  if (group !== undefined) out.group_value = group;
  if (p.include_sources) out.source_document_ids = sources;
  if (p.include_metadata) Object.assign(out, { document_count: kept.length, documents_dropped: docs.length - kept.length, tokens_used: r.usage.total_tokens, model_name: r.model, finish_reason: r.finish_reason });
  return out;
}

async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  if (typeof p.prompt !== 'string' || !/\{\{-?\s*DOCUMENTS\s*-?\}\}/.test(p.prompt)) {
    throw badRequest(`stage '${ctx.stageName}': parameter 'prompt' must contain {{DOCUMENTS}} (where the documents go)`, { stage: ctx.stageName, parameter: 'prompt' });
  }
  if (p.output_schema) checkSchema(p.output_schema as Record<string, unknown>, 'output_schema');
  if (docs.length === 0) return [];
  if (typeof p.group_by !== 'string') return [await summarizeGroup(docs, undefined, ctx)];
  const groups = new Map<string, { value: unknown; docs: Doc[] }>();
  for (const d of docs) {
    const v = getPath(d, p.group_by) ?? null;
    const k = JSON.stringify(v);
    const g = groups.get(k) ?? { value: v, docs: [] };
    g.docs.push(d);
    groups.set(k, g);
  }
  const out: Doc[] = [];
  for (const g of groups.values()) out.push(await summarizeGroup(g.docs, g.value, ctx));
  return out;
}

export const stage: StageModule = {
  id: 'summarize',
  category: 'reduce',
  description: 'Summarize documents with an LLM',
  icon: 'scroll-text',
  parameterSchema,
  perDocParameters: ['prompt', 'document_template'],
  normalize: (params) => alias(params, { model: 'model_name', include_citations: 'include_sources' }),
  execute,
};
