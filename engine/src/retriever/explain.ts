/**
 * Explain (reference §3.6): the execution plan with per-stage estimates (documents in/out, credits, duration) and
 * suggestions, without running anything. Estimates come from the stage parameters (final_top_k, limit, top_k,
 * count) and the registry's typical costs.
 */
import { validateInputs } from './inputs.ts';
import { unknownParameters, validateParams } from './params.ts';
import { getStage, stageCredits, stageDurationEstimate } from './registry.ts';
import { readsSecret, secretPlacement } from './secrets.ts';
import { containsTemplate, renderValue } from './template.ts';
import type { RetrieverDefinition } from './types.ts';

/**
 * `inputs` (the explain body, reference §3.1) are validated against input_schema like execute's and rendered into
 * templated parameters, so estimates and parameter checks see the values a run with them would; without inputs,
 * templated parameters keep their defaults and are not checked.
 */
export function explain(def: RetrieverDefinition, rawInputs?: unknown): Record<string, unknown> {
  const withInputs = rawInputs !== undefined && rawInputs !== null;
  const inputs = withInputs ? validateInputs(def.input_schema, rawInputs) : undefined;
  let current = 0;
  const plan = def.stages.map((s, i) => {
    const mod = getStage(s.stage_id);
    const warnings: string[] = [];
    let params: Record<string, unknown> = s.parameters;
    const aliased = mod.normalize ? mod.normalize({ ...s.parameters }) : { ...s.parameters };
    const singleBraces = mod.id === 'api_call';
    const templated = containsTemplate(aliased, singleBraces);
    try {
      secretPlacement(mod.id, s.stage_name, aliased);
    } catch (e) {
      warnings.push((e as Error).message);
    }
    try {
      let rendered = aliased;
      if (templated && inputs) {
        rendered = {};
        for (const [k, v] of Object.entries(aliased)) {
          // Secrets are resolved only when the stage runs: explain leaves them as written (and never reads them).
          rendered[k] = mod.perDocParameters?.includes(k) || readsSecret(v) ? v : renderValue(v, { inputs, context: { stage_index: i }, stage: {} }, { stage: s.stage_name, parameter: k }, { skipDoc: true, singleBraces });
        }
      }
      params = validateParams(mod, s.stage_name, rendered);
    } catch (e) {
      if (!templated || inputs) warnings.push((e as Error).message);
    }
    const ignored = unknownParameters(mod, aliased);
    if (ignored.length) warnings.push(`parameter${ignored.length > 1 ? 's' : ''} ${ignored.map((k) => `'${k}'`).join(', ')} ${ignored.length > 1 ? 'are' : 'is'} not known to ${mod.id} and will be ignored`);
    if (mod.available === false) warnings.push(`${mod.id} is not available in Quarry yet; execution will be refused`);
    const input = current;
    let output = input;
    const num = (k: string) => (typeof params[k] === 'number' ? (params[k] as number) : undefined);
    switch (mod.id) {
      case 'feature_search':
        output = num('final_top_k') ?? 25;
        break;
      case 'attribute_filter':
        output = i === 0 ? 1000 : Math.ceil(input / 2);
        break;
      case 'limit':
        output = Math.min(input, num('limit') ?? 10);
        break;
      case 'mmr':
      case 'rerank':
        output = Math.min(input, num('top_k') ?? input);
        break;
      case 'sample':
        output = Math.min(input, num('count') ?? 10);
        break;
      case 'rag_prepare':
        output = params.output_mode === 'formatted_list' ? input : 1;
        break;
      case 'aggregate':
        output = Math.min(input, num('limit') ?? 10);
        break;
      case 'deduplicate':
      case 'group_by':
      case 'cluster':
        output = Math.ceil(input * 0.8);
        break;
    }
    current = output;
    const perDoc = mod.id === 'api_call' || mod.id === 'document_enrich' || mod.id === 'taxonomy_enrich';
    const duration = stageDurationEstimate(mod.id) * (perDoc ? Math.max(1, input) : 1);
    return {
      stage_index: i,
      stage_name: s.stage_name,
      stage_id: mod.id,
      stage_type: s.stage_type ?? mod.category,
      estimated_input: input,
      estimated_output: output,
      estimated_efficiency: input === 0 ? 0 : Math.round((output / input) * 1000) / 1000,
      estimated_cost_credits: stageCredits(mod.id),
      estimated_duration_ms: duration,
      cache_likely: def.cache_config?.enabled !== false,
      optimization_notes: [] as string[],
      warnings,
    };
  });
  const slowest = Math.max(...plan.map((p) => p.estimated_duration_ms));
  const suggestions: Record<string, unknown>[] = [];
  for (const p of plan) {
    if (p.stage_id === 'rerank' && p.estimated_input > 100) suggestions.push({ type: 'reduce_limit', stage: p.stage_name, message: `rerank scores ${p.estimated_input} documents; lower the previous stage's top_k to about 100` });
    if (p.stage_id === 'api_call' && p.estimated_input > 20) suggestions.push({ type: 'reduce_limit', stage: p.stage_name, message: 'api_call runs once per document; put a limit stage before it' });
  }
  if (def.cache_config?.enabled === false) suggestions.push({ type: 'enable_cache', stage: null, message: 'enable cache_config to answer repeated queries from the cache' });
  return {
    retriever_id: def.retriever_id ?? null,
    retriever_name: def.retriever_name ?? null,
    estimated_cost: { total_credits: plan.reduce((a, p) => a + p.estimated_cost_credits, 0), total_duration_ms: plan.reduce((a, p) => a + p.estimated_duration_ms, 0) },
    execution_plan: plan,
    optimization_suggestions: suggestions,
    total_estimated_stages: plan.length,
    bottleneck_stages: plan.filter((p) => p.estimated_duration_ms >= 0.8 * slowest).map((p) => p.stage_name),
    optimization_level: 'none',
    optimization_applied: false,
  };
}
