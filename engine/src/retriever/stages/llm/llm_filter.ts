/**
 * llm_filter (reference §4.1): the LLM judges each document against `criteria` (templated per document) and the
 * stage keeps those it says to keep. The answer is constrained to {keep: boolean} (plus a short reason with
 * include_reasoning); the document text is delimited as data (engine/src/llm/prompt.ts). Empty criteria: the stage
 * passes everything through without calling the model. A document the model cannot judge is dropped and listed in
 * the stage metadata (`errors`).
 */
import { QuarryError } from '#core/lib/errors.ts';
import { asText, cut, delimit, fitChars, messages } from '#engine/llm/prompt.ts';
import { getPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias } from '../common.ts';

export const llmCommonProperties = {
  provider: { enum: ['openai', 'google', 'anthropic', 'local'], description: 'Accepted for compatibility: calls go to the configured LLM' },
  model_name: { type: 'string', description: 'Accepted for compatibility: calls go to the configured LLM, reported in stage metadata' },
  inference_name: { type: 'string', description: 'Deprecated provider:model form' },
  api_key: { type: 'string', description: "Your own key for the namespace's OpenAI-compatible provider (BYOK), written {{SECRET.name}}: sent only to that provider in place of its configured key (the local model needs none)" },
};

const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...llmCommonProperties,
    criteria: { type: 'string', default: 'Keep only documents relevant to {{INPUT.query}}' },
    include_reasoning: { type: 'boolean', default: false },
    content_field: { type: 'string', minLength: 1, default: 'content' },
    batch_size: { type: 'integer', minimum: 1, maximum: 100, default: 10, description: 'Documents judged concurrently' },
  },
};

const REASON_CHARS = 200;
const SYSTEM = 'You judge whether a document meets the criteria. Answer {"keep": true} when it does and {"keep": false} when it does not.';

async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const reasoning = p.include_reasoning === true;
  // Room for the whole answer: a reason of REASON_CHARS characters can take as many tokens (a shorter budget cut the
  // JSON off mid-string, and the document was dropped as unanswered).
  const answerTokens = reasoning ? REASON_CHARS + 40 : 24;
  const schema = {
    type: 'object',
    properties: { keep: { type: 'boolean' }, ...(reasoning ? { reason: { type: 'string', maxLength: REASON_CHARS } } : {}) },
    required: reasoning ? ['keep', 'reason'] : ['keep'],
    additionalProperties: false,
  };
  const judged: ({ keep: boolean; reason?: string } | undefined)[] = new Array(docs.length);
  const errors: { document_id: unknown; error: string }[] = [];
  let skipped = false;
  const judge = async (d: Doc, i: number) => {
    const criteria = asText(ctx.renderForDoc(p.criteria, d, 'criteria')).trim();
    if (!criteria) {
      skipped = true;
      judged[i] = { keep: true };
      return;
    }
    // The document text is cut to what fits the model's context beside the criteria and the answer.
    const content = cut(asText(getPath(d, p.content_field as string)), fitChars(ctx.llmContextTokens, 200 + answerTokens + Math.ceil(criteria.length / 3)));
    try {
      const r = await ctx.complete({
        messages: messages(`Criteria: ${criteria}\n\nDocument:\n${delimit(content)}\n\nDoes the document meet the criteria?`, SYSTEM),
        jsonSchema: schema,
        maxTokens: answerTokens,
        temperature: 0,
      });
      judged[i] = r.json as { keep: boolean; reason?: string };
    } catch (e) {
      if (e instanceof QuarryError && (e.status === 403 || e.status === 400)) throw e;
      errors.push({ document_id: d.document_id ?? null, error: (e as Error).message });
    }
  };
  const width = p.batch_size as number;
  for (let i = 0; i < docs.length; i += width) await Promise.all(docs.slice(i, i + width).map((d, j) => judge(d, i + j)));
  if (skipped) ctx.metadata.skipped = 'empty criteria: documents passed through';
  if (errors.length) ctx.metadata.errors = errors.slice(0, 20);
  if (reasoning) ctx.metadata.reasoning = docs.map((d, i) => ({ document_id: d.document_id ?? null, keep: judged[i]?.keep ?? null, reason: judged[i]?.reason ?? null })).slice(0, 100);
  return docs.filter((_, i) => judged[i]?.keep === true);
}

export const stage: StageModule = {
  id: 'llm_filter',
  category: 'filter',
  description: 'Filter documents with an LLM judging each against criteria',
  icon: 'brain',
  parameterSchema,
  perDocParameters: ['criteria'],
  normalize: (params) => alias(params, { model: 'model_name', explanation: 'include_reasoning' }),
  execute,
};
