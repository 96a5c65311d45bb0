/**
 * taxonomy_enrich (reference §4.6), on demand: each document's vector is matched against the taxonomy's reference
 * collection (the nodes); the best `top_k` nodes at or above `min_score` are attached (flat), with the ancestor
 * path when the taxonomy names a parent field (hierarchical). Taxonomy definitions come from EngineDeps.taxonomies.
 */
import { badRequest } from '#core/lib/errors.ts';
import { mergeFilters } from '../../filters.ts';
import { getPath, withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias, applies, filterSchema, vectorOf } from '../common.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    taxonomy_id: { type: 'string', minLength: 1, default: '{{TAXONOMY_ID}}' },
    fields: { type: 'array', items: { type: 'object', required: ['field_path'], properties: { field_path: { type: 'string' }, target_field: { type: 'string' }, merge_mode: { enum: ['replace', 'append'], default: 'replace' } } } },
    top_k: { type: 'integer', minimum: 1, maximum: 50, default: 3 },
    min_score: { type: 'number', minimum: 0, maximum: 1, default: 0 },
    output_field: { type: 'string', default: 'taxonomy' },
    when: filterSchema,
  },
};

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const id = p.taxonomy_id as string;
  if (id.includes('{{')) throw badRequest(`stage '${ctx.stageName}': parameter 'taxonomy_id' is the placeholder {{TAXONOMY_ID}}: replace it with a taxonomy name`, { stage: ctx.stageName, parameter: 'taxonomy_id' });
  const tax = ctx.deps.taxonomies ? await ctx.deps.taxonomies(id, ctx.namespace) : undefined;
  if (!tax) throw badRequest(`stage '${ctx.stageName}': taxonomy '${id}' not found`, { stage: ctx.stageName, parameter: 'taxonomy_id' });
  const ref = await ctx.deps.features.resolve(tax.feature_uri, [tax.reference_collection], ctx.namespace);
  const out: Doc[] = [];
  for (const d of docs) {
    const v = vectorOf(d, ref.using);
    if (!applies(d, p.when) || !v) {
      out.push(d);
      continue;
    }
    const hits = await ctx.deps.store.search(ref.store, { using: ref.using, vector: Array.from(v), limit: p.top_k as number, withPayload: true, ...(ref.filter ? { filter: mergeFilters(ref.filter)! } : {}) });
    const labels = hits
      .filter((h) => h.score >= (p.min_score as number))
      .map((h) => {
        const label = getPath(h.payload, tax.label_field) ?? null;
        // `name` / `confidence` are the DOCS output spellings (reference §4.6 {primary {id, name, confidence}}).
        return { id: h.id, label, name: label, score: h.score, confidence: h.score, ...(tax.parent_field ? { parent: getPath(h.payload, tax.parent_field) ?? null } : {}) };
      });
    let doc = withPath(d, p.output_field as string, { taxonomy_id: tax.taxonomy_id, primary: labels[0] ?? null, all: labels });
    // `fields` (reference §4.6): node fields copied onto the document — replace takes the best node's value,
    // append adds the values of every kept node to what the document holds (as a list, without repeats).
    const kept = hits.filter((h) => h.score >= (p.min_score as number));
    for (const f of (p.fields as { field_path: string; target_field?: string; merge_mode?: string }[] | undefined) ?? []) {
      const target = f.target_field ?? f.field_path;
      if (f.merge_mode === 'append') {
        const have = getPath(doc, target);
        const list: unknown[] = have === undefined || have === null ? [] : Array.isArray(have) ? [...(have as unknown[])] : [have];
        for (const h of kept) {
          const v = getPath(h.payload, f.field_path);
          if (v !== undefined && !list.some((x) => JSON.stringify(x) === JSON.stringify(v))) list.push(v);
        }
        doc = withPath(doc, target, list);
      } else if (kept[0]) {
        const v = getPath(kept[0].payload, f.field_path);
        if (v !== undefined) doc = withPath(doc, target, v);
      }
    }
    out.push(doc);
  }
  return out;
}

export const stage: StageModule = {
  id: 'taxonomy_enrich',
  category: 'enrich',
  description: 'Classify documents against taxonomy nodes',
  icon: 'network',
  parameterSchema,
  normalize: (p) => alias(p, { result_field: 'output_field', min_confidence: 'min_score' }),
  execute,
};
