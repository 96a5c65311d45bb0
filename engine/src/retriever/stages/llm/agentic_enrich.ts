/**
 * agentic_enrich (reference §4.6): per document, a bounded tool loop. Each turn the model picks one action from an
 * enum of exactly the tools this stage enables (a document cannot name another: the enum is enforced while
 * generating) or `final`; tool results come back delimited as data. Then one last call answers with
 * `output_schema`, written at `output_field`. Tools: `analyze_content` (always; an LLM note on the document),
 * `get_taxonomy_categories` (with taxonomy_id), `query_examples` (with example_collection_ids). Bounds: max_turns,
 * timeout_seconds per document (timeout: null is written), at most 10 documents per execution (the rest pass
 * through), max_concurrency documents at once.
 */
import { QuarryError } from '#core/lib/errors.ts';
import { checkSchema } from '#engine/llm/limits.ts';
import { asText, cut, DATA_RULES, delimit, fitChars } from '#engine/llm/prompt.ts';
import type { ChatMessage, Completion, CompletionRequest } from '#core/ports/llm.ts';
import { getPath, withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias, applies, filterSchema } from '../common.ts';
import { llmCommonProperties } from './llm_filter.ts';

const MAX_DOCS = 10;
const TOOLS = ['analyze_content', 'get_taxonomy_categories', 'query_examples'] as const;
type Tool = (typeof TOOLS)[number];

const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['system_prompt', 'output_schema'],
  properties: {
    ...llmCommonProperties,
    system_prompt: { type: 'string', minLength: 1 },
    output_schema: { type: 'object' },
    output_field: { type: 'string', minLength: 1, default: 'metadata.classification' },
    content_field: { type: 'string', minLength: 1, default: 'content' },
    taxonomy_id: { type: 'string' },
    example_collection_ids: { type: 'array', items: { type: 'string', minLength: 1 } },
    analysis_provider: { type: 'object' },
    enabled_tools: { type: 'array', items: { enum: [...TOOLS] } },
    max_turns: { type: 'integer', minimum: 1, maximum: 20, default: 8 },
    timeout_seconds: { type: 'number', minimum: 5, maximum: 300, default: 60 },
    temperature: { type: 'number', minimum: 0, maximum: 2, default: 0 },
    max_concurrency: { type: 'integer', minimum: 1, maximum: 5, default: 2 },
    when: filterSchema,
  },
};

async function runTool(tool: Tool, content: string, ctx: StageContext, call: (r: CompletionRequest) => Promise<Completion>): Promise<string> {
  const p = ctx.params;
  if (tool === 'analyze_content') {
    const r = await call({ messages: [{ role: 'system', content: `Describe the document's main topic in one sentence. ${DATA_RULES}` }, { role: 'user', content: delimit(content) }], maxTokens: 48, temperature: 0 });
    return r.text.trim();
  }
  if (tool === 'get_taxonomy_categories') {
    const tax = ctx.deps.taxonomies ? await ctx.deps.taxonomies(p.taxonomy_id as string, ctx.namespace) : undefined;
    if (!tax) return `taxonomy '${String(p.taxonomy_id)}' is not known`;
    const scope = await ctx.deps.features.collectionScope([tax.reference_collection], ctx.namespace);
    const page = await ctx.deps.store.scroll(scope.store, { ...(scope.filter ? { filter: scope.filter } : {}), limit: 100, withPayload: true });
    return [...new Set(page.points.map((pt) => asText(getPath(pt.payload ?? {}, tax.label_field))).filter(Boolean))].join(', ');
  }
  const scope = await ctx.deps.features.collectionScope(p.example_collection_ids as string[], ctx.namespace);
  const page = await ctx.deps.store.scroll(scope.store, { ...(scope.filter ? { filter: scope.filter } : {}), limit: 3, withPayload: true });
  return page.points.map((pt, i) => `${i + 1}. ${asText(getPath(pt.payload ?? {}, 'content') ?? getPath(pt.payload ?? {}, 'title')).slice(0, 200)}`).join('\n');
}

async function enrichOne(d: Doc, ctx: StageContext, tools: Tool[], trace: Record<string, unknown>[]): Promise<{ value: unknown; timedOut: boolean }> {
  const p = ctx.params;
  const deadline = Date.now() + (p.timeout_seconds as number) * 1000;
  const call = (r: CompletionRequest) => {
    const left = deadline - Date.now();
    if (left <= 0) throw new QuarryError('TimeoutError', `agentic_enrich: timeout_seconds (${String(p.timeout_seconds)}) reached`, { parameter: 'timeout_seconds' });
    return ctx.complete({ ...r, timeoutMs: left });
  };
  // Room for the instructions, a few tool results and the answers: a third of the context for the document.
  const content = cut(asText(getPath(d, p.content_field as string)), Math.min(12000, fitChars(ctx.llmContextTokens, ((ctx.llmContextTokens ?? 0) * 2) / 3) ?? 12000));
  const system = `${asText(ctx.renderForDoc(p.system_prompt, d, 'system_prompt'))}\n\nTools you may use, one per turn: ${tools.join(', ')}. Choose "final" when you can answer. ${DATA_RULES}`;
  const history: ChatMessage[] = [{ role: 'system', content: system }, { role: 'user', content: `Document:\n${delimit(content)}` }];
  const steps: Record<string, unknown>[] = [];
  try {
    for (let turn = 0; turn < (p.max_turns as number); turn++) {
      const decision = await call({
        messages: [...history, { role: 'user', content: 'Next action?' }],
        jsonSchema: { type: 'object', properties: { action: { enum: [...tools, 'final'] }, tool_input: { type: 'string', maxLength: 60 } }, required: ['action', 'tool_input'], additionalProperties: false },
        maxTokens: 60,
        temperature: p.temperature as number,
      });
      const { action, tool_input: input } = decision.json as { action: string; tool_input: string };
      if (action === 'final') break;
      const result = await runTool(action as Tool, content, ctx, call);
      steps.push({ turn, tool: action, tool_input: input, result: result.slice(0, 200) });
      history.push({ role: 'assistant', content: decision.text }, { role: 'user', content: `Result of ${action}:\n${delimit(result)}` });
    }
    const schema = p.output_schema as Record<string, unknown>;
    const answer = await call({ messages: [...history, { role: 'user', content: 'Give the final answer as JSON matching the required schema.' }], jsonSchema: schema, maxTokens: 300, temperature: p.temperature as number });
    return { value: answer.json, timedOut: false };
  } catch (e) {
    if (e instanceof QuarryError && e.type === 'TimeoutError') return { value: null, timedOut: true };
    // A schema the answer does not meet (503 from the parse): the reference stores the raw text.
    if (e instanceof QuarryError && e.type === 'InferenceServiceUnavailableError' && typeof e.details?.answer === 'string') return { value: e.details.answer, timedOut: false };
    throw e;
  } finally {
    trace.push({ document_id: d.document_id ?? null, steps });
  }
}

async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  checkSchema(p.output_schema as Record<string, unknown>, 'output_schema');
  const available: Tool[] = ['analyze_content', ...(p.taxonomy_id ? (['get_taxonomy_categories'] as Tool[]) : []), ...(Array.isArray(p.example_collection_ids) && p.example_collection_ids.length ? (['query_examples'] as Tool[]) : [])];
  const tools = Array.isArray(p.enabled_tools) ? (p.enabled_tools as Tool[]).filter((t) => available.includes(t)) : available;
  const out = [...docs];
  const traces: Record<string, unknown>[] = [];
  let enriched = 0;
  let conditional = 0;
  let timeouts = 0;
  const targets = docs.map((d, i) => ({ d, i })).filter(({ d }) => {
    const ok = applies(d, p.when);
    if (!ok) conditional++;
    return ok;
  });
  const work = targets.slice(0, MAX_DOCS);
  const width = p.max_concurrency as number;
  for (let k = 0; k < work.length; k += width) {
    await Promise.all(
      work.slice(k, k + width).map(async ({ d, i }) => {
        const r = await enrichOne(d, ctx, tools, traces);
        if (r.timedOut) timeouts++;
        else enriched++;
        out[i] = withPath(d, p.output_field as string, r.value);
      }),
    );
  }
  Object.assign(ctx.metadata, { documents_enriched: enriched, documents_skipped: targets.length - work.length, timeouts, conditional, tools, reasoning_traces: traces });
  return out;
}

export const stage: StageModule = {
  id: 'agentic_enrich',
  category: 'enrich',
  description: 'Enrich documents with a tool-using LLM agent',
  icon: 'bot',
  parameterSchema,
  perDocParameters: ['system_prompt'],
  normalize: (params) => alias(params, { model: 'model_name', schema: 'output_schema' }),
  execute,
};
