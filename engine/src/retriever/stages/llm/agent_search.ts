/**
 * agent_search (reference §4.1, DOCS-only): a bounded loop where the LLM picks one tool per iteration with its
 * arguments — feature_search (a text query, run with `feature_search_config`), attribute_filter (field, operator,
 * value over the working set), llm_filter (criteria over the working set) — or `finish`. Each tool's result
 * replaces the working set. The tool names are an enum enforced while generating (only the strategy's or `stages`'
 * tools; unknown ones are skipped and listed); max_iterations and timeout_seconds bound it, and the latest results
 * are returned when either is reached. When the model finishes without any search, feature_search runs once with
 * the original query. `feature_search_config` and `filter_fields` are Quarry's additions: the reference leaves
 * open where a sub-search's feature URI comes from.
 */
import { badRequest, QuarryError } from '#core/lib/errors.ts';
import { asText, delimit, messages } from '#engine/llm/prompt.ts';
import type { FilterNode } from '#core/ports/filter.ts';
import { filterDocs } from '../../filters.ts';
import { validateParams } from '../../params.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias } from '../common.ts';
import { stage as featureSearch } from '../filter/feature_search.ts';
import { stage as llmFilter, llmCommonProperties } from './llm_filter.ts';

const STRATEGY_TOOLS: Record<string, string[]> = {
  iterative_refinement: ['feature_search', 'attribute_filter'],
  multi_hop: ['feature_search', 'attribute_filter', 'llm_filter'],
  tree_navigation: ['feature_search', 'attribute_filter'],
  custom: [],
};
const SUPPORTED = new Set(['feature_search', 'attribute_filter', 'llm_filter']);
const OPERATORS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'contains'];

const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...llmCommonProperties,
    strategy: { enum: Object.keys(STRATEGY_TOOLS), default: 'iterative_refinement' },
    stages: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Tools (stage ids); default from strategy' },
    system_prompt: { type: 'string', default: "Find the documents that answer the user's query: {{INPUT.query}}" },
    max_iterations: { type: 'integer', minimum: 1, maximum: 20, default: 5 },
    timeout_seconds: { type: 'number', minimum: 5, maximum: 300, default: 60 },
    feature_search_config: { type: 'object', description: 'feature_search parameters for the feature_search tool; its text query is the one the model writes' },
    filter_fields: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Fields the attribute_filter tool may filter on' },
  },
};

const preview = (docs: Doc[]) =>
  docs.slice(0, 5).map((d, i) => `${i + 1}. ${asText(d.title ?? d.content ?? d.document_id).slice(0, 120)}`).join('\n') || '(no documents yet)';

async function execute(_docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const requested = (Array.isArray(p.stages) && p.stages.length ? (p.stages as string[]) : STRATEGY_TOOLS[p.strategy as string]!) ?? [];
  const tools = requested.filter((t) => SUPPORTED.has(t));
  const unknown = requested.filter((t) => !SUPPORTED.has(t));
  if (unknown.length) ctx.metadata.unknown_tools = unknown;
  if (tools.length === 0) throw badRequest(`stage '${ctx.stageName}': no usable tools (supported: ${[...SUPPORTED].join(', ')})`, { stage: ctx.stageName, parameter: 'stages' });
  const fsConfig = p.feature_search_config as Record<string, unknown> | undefined;
  if (tools.includes('feature_search') && !fsConfig) throw badRequest(`stage '${ctx.stageName}': feature_search_config is required for the feature_search tool (a feature_search parameter object)`, { stage: ctx.stageName, parameter: 'feature_search_config' });
  const fields = p.filter_fields as string[] | undefined;
  const query = asText(ctx.inputs.query);
  const deadline = Date.now() + (p.timeout_seconds as number) * 1000;
  const system = `${asText(ctx.renderForDoc(p.system_prompt, {}, 'system_prompt'))}\nEach turn choose one tool and its arguments, or "finish" when the results answer the query. Tools: ${tools.join(', ')}.`;
  const schema = {
    type: 'object',
    properties: {
      tool: { enum: [...tools, 'finish'] },
      query: { type: 'string', maxLength: 60 },
      field: fields?.length ? { enum: fields } : { type: 'string', maxLength: 40 },
      operator: { enum: OPERATORS },
      value: { type: 'string', maxLength: 30 },
    },
    required: ['tool', 'query', 'field', 'operator', 'value'],
    additionalProperties: false,
  };
  let working: Doc[] = [];
  let searched = false;
  let timeoutHit = false;
  let iterations = 0;
  const invoked: Record<string, unknown>[] = [];
  const search = async (text: string) => {
    const base = featureSearch.normalize!(structuredClone(fsConfig!));
    const searches = ((base.searches ?? []) as Record<string, unknown>[]).map((s) => ({ ...s, query: { input_mode: 'text', value: text } }));
    return featureSearch.execute([], { ...ctx, stageId: 'feature_search', params: validateParams(featureSearch, ctx.stageName, { ...base, searches }), metadata: {} });
  };
  try {
    for (; iterations < (p.max_iterations as number); iterations++) {
      const left = deadline - Date.now();
      if (left <= 0) {
        timeoutHit = true;
        break;
      }
      const steps = invoked.map((s, i) => `${i + 1}. ${JSON.stringify(s)}`).join('\n') || '(none)';
      const r = await ctx.complete({
        messages: messages(`Query: ${query}\nActions so far:\n${steps}\nCurrent results:\n${delimit(preview(working))}\nNext action?`, system),
        jsonSchema: schema,
        maxTokens: 90,
        temperature: 0,
        timeoutMs: left,
      });
      const a = r.json as { tool: string; query: string; field: string; operator: string; value: string };
      if (a.tool === 'finish') break;
      if (a.tool === 'feature_search') {
        working = await search(a.query.trim() || query);
        searched = true;
        invoked.push({ tool: a.tool, query: a.query, results: working.length });
      } else if (a.tool === 'attribute_filter') {
        const num = Number(a.value);
        const value = a.value.trim() !== '' && Number.isFinite(num) ? num : a.value;
        working = filterDocs(working, { field: a.field, operator: a.operator, value } as FilterNode);
        invoked.push({ tool: a.tool, field: a.field, operator: a.operator, value, results: working.length });
      } else {
        const params = validateParams(llmFilter, ctx.stageName, { criteria: a.query || query });
        working = await llmFilter.execute(working, { ...ctx, stageId: 'llm_filter', params, metadata: {}, renderForDoc: (v) => v });
        invoked.push({ tool: a.tool, criteria: a.query, results: working.length });
      }
    }
  } catch (e) {
    if (!(e instanceof QuarryError && e.type === 'TimeoutError')) throw e;
    timeoutHit = true;
  }
  if (!searched && tools.includes('feature_search') && working.length === 0) {
    working = await search(query);
    ctx.metadata.fallback_search = true;
  }
  Object.assign(ctx.metadata, { iterations_used: iterations, timeout_hit: timeoutHit, strategy: p.strategy, tools, stages_invoked: invoked, model_used: ctx.llmModel ?? null });
  return working;
}

export const stage: StageModule = {
  id: 'agent_search',
  category: 'filter',
  description: 'Agentic multi-step search driven by an LLM',
  icon: 'bot',
  parameterSchema,
  perDocParameters: ['system_prompt'],
  normalize: (params) => alias(params, { model: 'model_name' }),
  execute,
};
