/**
 * document_enrich (reference §4.6): LEFT JOIN by default. Direct join: source_field value → documents of
 * target_collection_id whose target_field equals it (one store query for all values). Retriever join: a named
 * (retriever_id) or inline (retriever_config) retriever run per document with templated retriever_inputs.
 * strategy enrich (merge fields / whole doc at output_field or root), append (list of matches), replace.
 */
import { badRequest } from '#core/lib/errors.ts';
import { mergeFilters } from '../../filters.ts';
import { getPath, withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias, applies, filterSchema } from '../common.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    target_collection_id: { type: 'string', minLength: 1 },
    source_field: { type: 'string', minLength: 1, default: 'source_object_id' },
    target_field: { type: 'string', minLength: 1, default: 'document_id' },
    retriever_id: { type: 'string', minLength: 1 },
    retriever_config: { type: 'object' },
    retriever_inputs: { type: 'object' },
    fields_to_merge: { type: ['array', 'null'], items: { type: 'string' } },
    output_field: { type: ['string', 'null'] },
    strategy: { enum: ['enrich', 'replace', 'append'], default: 'enrich' },
    when: filterSchema,
    allow_missing: { type: 'boolean', default: true },
    cache_behavior: { enum: ['auto', 'disabled', 'aggressive'], default: 'auto' },
    cache_ttl_seconds: { type: ['integer', 'null'], minimum: 0 },
    max_matches: { type: 'integer', minimum: 1, maximum: 10000, description: 'at most this many matches per document (DOCS: limit)' },
  },
};

const JOIN_LIMIT = 10000;

function pick(doc: Doc, fields: string[] | null | undefined): Record<string, unknown> {
  const { _vectors: _v, ...rest } = doc;
  if (!fields) return rest;
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = getPath(rest, f);
    if (v !== undefined) Object.assign(out, withPath(out, f, v));
  }
  return out;
}

function merge(d: Doc, matches: Doc[], p: Record<string, unknown>): Doc {
  const fields = p.fields_to_merge as string[] | null | undefined;
  const output = p.output_field as string | null | undefined;
  if (p.strategy === 'append') return withPath(d, output ?? 'enrichments', matches.map((m) => pick(m, fields)));
  const m = pick(matches[0]!, fields);
  if (p.strategy === 'replace') return output ? withPath(d, output, m) : { ...m, document_id: d.document_id, score: d.score };
  if (output) return withPath(d, output, m);
  return { ...m, ...d, ...Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'document_id' && k !== 'score' && k !== 'collection_id')) };
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const matchesFor = new Map<Doc, Doc[]>();
  const targets = docs.filter((d) => applies(d, p.when));
  if (p.retriever_id !== undefined || p.retriever_config !== undefined) {
    if (p.retriever_id !== undefined && p.retriever_config !== undefined) throw badRequest(`stage '${ctx.stageName}': give retriever_id or retriever_config, not both`, { stage: ctx.stageName, parameter: 'retriever_id' });
    let def: Record<string, unknown>;
    if (typeof p.retriever_id === 'string') {
      const loaded = ctx.deps.retrievers ? await ctx.deps.retrievers.get(p.retriever_id, ctx.namespace) : undefined;
      if (!loaded) throw badRequest(`stage '${ctx.stageName}': retriever '${p.retriever_id}' not found`, { stage: ctx.stageName, parameter: 'retriever_id' });
      def = loaded as Record<string, unknown>;
    } else def = p.retriever_config as Record<string, unknown>;
    if (!def.collection_identifiers && !def.collection_ids && typeof p.target_collection_id === 'string') def = { ...def, collection_identifiers: [p.target_collection_id] };
    for (const d of targets) {
      const inputs = ctx.renderForDoc(p.retriever_inputs ?? {}, d, 'retriever_inputs') as Record<string, unknown>;
      matchesFor.set(d, await ctx.runRetriever(def, inputs));
    }
  } else {
    const target = p.target_collection_id;
    if (typeof target !== 'string' || target.includes('{{')) {
      throw badRequest(`stage '${ctx.stageName}': parameter 'target_collection_id' is required: name the collection to join with`, { stage: ctx.stageName, parameter: 'target_collection_id' });
    }
    const sf = p.source_field as string;
    const tf = p.target_field as string;
    const values = [...new Set(targets.map((d) => getPath(d, sf)).filter((v): v is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof v)))];
    const byValue = new Map<string, Doc[]>();
    if (values.length) {
      const scope = await ctx.deps.features.collectionScope([target], ctx.namespace);
      const page = await ctx.deps.store.scroll(scope.store, { filter: mergeFilters(scope.filter, { field: tf, operator: 'in', value: values })!, limit: JOIN_LIMIT, withPayload: true });
      for (const pt of page.points) {
        const doc: Doc = { document_id: pt.id, ...(pt.payload ?? {}) };
        const k = JSON.stringify(getPath(doc, tf));
        byValue.set(k, [...(byValue.get(k) ?? []), doc]);
      }
    }
    for (const d of targets) matchesFor.set(d, byValue.get(JSON.stringify(getPath(d, sf))) ?? []);
  }
  let matched = 0;
  const out: Doc[] = [];
  for (const d of docs) {
    const m = matchesFor.get(d);
    if (m === undefined) {
      out.push(d);
      continue;
    }
    if (m.length === 0) {
      if (p.allow_missing !== false) out.push(d);
      continue;
    }
    matched++;
    out.push(merge(d, typeof p.max_matches === 'number' ? m.slice(0, p.max_matches) : m, p));
  }
  ctx.metadata.join_strategy = p.retriever_id !== undefined || p.retriever_config !== undefined ? 'retriever' : 'direct';
  ctx.metadata.matched_count = matched;
  return out;
}

export const stage: StageModule = {
  id: 'document_enrich',
  category: 'enrich',
  description: 'Join and enrich documents with data from another collection',
  icon: 'link',
  parameterSchema,
  perDocParameters: ['retriever_inputs', 'retriever_config'],
  normalize: (p) => {
    alias(p, { collection_id: 'target_collection_id', lookup_field: 'target_field', result_field: 'output_field', select_fields: 'fields_to_merge', limit: 'max_matches' });
    // DOCS `multiple: true`: every match, as a list (the append strategy); false keeps one match (the default).
    if (p.multiple !== undefined) {
      if (p.multiple === true && p.strategy === undefined) p.strategy = 'append';
      delete p.multiple;
    }
    return p;
  },
  execute,
};
