/**
 * Normalises a retriever definition from any documented form (reference §11 #3–#5, §12) into RetrieverDefinition:
 * `collection_ids` → `collection_identifiers`, `{properties: {...}}` input_schema → flat, flat stage envelopes and
 * the CRD's camelCase envelope → `{stage_name, stage_id, parameters, pre_filters, post_filters}`, legacy stage ids
 * → canonical ids. Every structural problem is a 400 naming the field and the fix.
 */
import { badRequest } from '../lib/errors.ts';
import type { FilterNode } from '../ports/filter.ts';
import { canonicalStageId } from '../resources/stage-ids.ts';
import type { InputField, RetrieverDefinition, StageInstance } from './types.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const MAX_STAGES = 50;

export function normalizeDefinition(raw: unknown, where = 'body'): RetrieverDefinition {
  if (!isObj(raw)) throw badRequest(`${where} must be a JSON object describing the retriever`, { field: where });
  const colls = raw.collection_identifiers ?? raw.collection_ids ?? raw.collectionRefs ?? [];
  if (!Array.isArray(colls) || !colls.every((c) => typeof c === 'string' && c.length > 0)) {
    throw badRequest('collection_identifiers must be an array of collection names or ids', { field: 'collection_identifiers' });
  }
  const stagesRaw = raw.stages;
  if (!Array.isArray(stagesRaw) || stagesRaw.length === 0) {
    throw badRequest('stages must be a non-empty array of stages ({stage_name, config: {stage_id, parameters}})', { field: 'stages' });
  }
  if (stagesRaw.length > MAX_STAGES) throw badRequest(`a retriever has at most ${MAX_STAGES} stages`, { field: 'stages' });
  const stages = stagesRaw.map((s, i) => normalizeStage(s, i));
  const names = new Set<string>();
  for (const s of stages) {
    if (names.has(s.stage_name)) throw badRequest(`stage name '${s.stage_name}' is used twice: stage names must be unique`, { field: 'stages[].stage_name' });
    names.add(s.stage_name);
  }
  const def: RetrieverDefinition = {
    collection_identifiers: colls as string[],
    input_schema: normalizeInputSchema(raw.input_schema ?? raw.inputSchema),
    stages,
  };
  const id = raw.retriever_id ?? raw.id;
  if (typeof id === 'string') def.retriever_id = id;
  const name = raw.retriever_name ?? raw.name;
  if (typeof name === 'string') def.retriever_name = name;
  if (typeof raw.description === 'string') def.description = raw.description;
  const cache = raw.cache_config ?? raw.cacheConfig;
  if (cache !== undefined) {
    if (!isObj(cache)) throw badRequest('cache_config must be an object {enabled, ttl_seconds}', { field: 'cache_config' });
    const ttl = cache.ttl_seconds ?? cache.ttlSeconds;
    if (ttl !== undefined && (typeof ttl !== 'number' || !(ttl >= 0))) throw badRequest('cache_config.ttl_seconds must be a number >= 0', { field: 'cache_config.ttl_seconds' });
    if (cache.enabled !== undefined && typeof cache.enabled !== 'boolean') throw badRequest('cache_config.enabled must be true or false', { field: 'cache_config.enabled' });
    const stageNames = cache.cache_stage_names ?? cache.cacheStageNames;
    if (stageNames !== undefined && stageNames !== null) {
      if (!Array.isArray(stageNames) || !stageNames.every((n) => typeof n === 'string' && names.has(n))) {
        throw badRequest(`cache_config.cache_stage_names must list stage names of this retriever (${[...names].join(', ')})`, { field: 'cache_config.cache_stage_names' });
      }
    }
    def.cache_config = {
      ...(cache.enabled !== undefined ? { enabled: cache.enabled as boolean } : {}),
      ...(ttl !== undefined ? { ttl_seconds: ttl as number } : {}),
      ...(Array.isArray(stageNames) && stageNames.length ? { cache_stage_names: stageNames as string[] } : {}),
    };
  }
  const budget = raw.budget_limits ?? raw.budgetLimits;
  if (budget !== undefined) {
    if (!isObj(budget)) throw badRequest('budget_limits must be an object {max_credits, max_time_ms}', { field: 'budget_limits' });
    const maxTime = budget.max_time_ms ?? budget.maxTimeMs;
    const maxCredits = budget.max_credits ?? budget.maxCredits;
    for (const [k, v] of [['max_time_ms', maxTime], ['max_credits', maxCredits]] as const) {
      if (v !== undefined && v !== null && (typeof v !== 'number' || !(v >= 0))) throw badRequest(`budget_limits.${k} must be a number >= 0`, { field: `budget_limits.${k}` });
    }
    def.budget_limits = { ...(typeof maxTime === 'number' ? { max_time_ms: maxTime } : {}), ...(typeof maxCredits === 'number' ? { max_credits: maxCredits } : {}) };
  }
  return def;
}

export function normalizeStage(raw: unknown, i: number): StageInstance {
  const at = `stages[${i}]`;
  if (!isObj(raw)) throw badRequest(`${at} must be an object {stage_name, config: {stage_id, parameters}}`, { field: at });
  const config = isObj(raw.config) ? raw.config : raw;
  const rawId = config.stage_id ?? config.stageId ?? raw.stage_id ?? raw.stageId;
  if (typeof rawId !== 'string' || rawId === '') throw badRequest(`${at}.config.stage_id is required: name a registered stage such as feature_search (GET /v1/retrievers/stages lists them)`, { field: `${at}.config.stage_id` });
  const id = canonicalStageId(rawId);
  if (!id) throw badRequest(`${at}.config.stage_id '${rawId}' is not a registered stage; GET /v1/retrievers/stages lists them`, { field: `${at}.config.stage_id`, stage_id: rawId });
  const name = raw.stage_name ?? raw.stageName ?? raw.name ?? rawId;
  if (typeof name !== 'string' || name === '') throw badRequest(`${at}.stage_name must be a non-empty string`, { field: `${at}.stage_name` });
  const params = config.parameters ?? raw.parameters ?? {};
  if (!isObj(params)) throw badRequest(`${at}.config.parameters must be an object`, { field: `${at}.config.parameters` });
  const stage: StageInstance = { stage_name: name, stage_id: id, parameters: params };
  const type = raw.stage_type ?? raw.stageType;
  if (type !== undefined) {
    if (typeof type !== 'string') throw badRequest(`${at}.stage_type must be a string such as filter or sort`, { field: `${at}.stage_type` });
    stage.stage_type = type;
  }
  const pre = config.pre_filters ?? config.preFilters;
  const post = config.post_filters ?? config.postFilters;
  if (pre !== undefined && pre !== null) {
    if (!isObj(pre)) throw badRequest(`${at}.config.pre_filters must be a filter object`, { field: `${at}.config.pre_filters` });
    stage.pre_filters = pre as FilterNode;
  }
  if (post !== undefined && post !== null) {
    if (!isObj(post)) throw badRequest(`${at}.config.post_filters must be a filter object`, { field: `${at}.config.post_filters` });
    stage.post_filters = post as FilterNode;
  }
  return stage;
}

const INPUT_TYPES = new Set(['string', 'number', 'integer', 'float', 'boolean', 'object', 'array', 'date', 'datetime', 'text', 'image', 'audio', 'video', 'pdf', 'excel', 'document_reference', 'url']);

export function normalizeInputSchema(raw: unknown): Record<string, InputField> {
  if (raw === undefined || raw === null) return {};
  if (!isObj(raw)) throw badRequest('input_schema must be an object mapping input names to {type, required}', { field: 'input_schema' });
  const flat = isObj(raw.properties) && Object.values(raw.properties).every(isObj) && !('type' in raw.properties) ? (raw.properties as Record<string, unknown>) : raw;
  const out: Record<string, InputField> = {};
  for (const [name, f] of Object.entries(flat)) {
    if (!isObj(f)) throw badRequest(`input_schema.${name} must be an object such as {"type": "text", "required": true}`, { field: `input_schema.${name}` });
    if (typeof f.type !== 'string' || !INPUT_TYPES.has(f.type)) {
      throw badRequest(`input_schema.${name}.type must be one of ${[...INPUT_TYPES].join(', ')}`, { field: `input_schema.${name}.type` });
    }
    if (f.required !== undefined && typeof f.required !== 'boolean') throw badRequest(`input_schema.${name}.required must be true or false`, { field: `input_schema.${name}.required` });
    if (f.enum !== undefined && !Array.isArray(f.enum)) throw badRequest(`input_schema.${name}.enum must be an array`, { field: `input_schema.${name}.enum` });
    out[name] = f as unknown as InputField;
  }
  return out;
}
