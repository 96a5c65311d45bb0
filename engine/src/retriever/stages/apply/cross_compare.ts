/**
 * cross_compare (reference §4.5): compares elements extracted from each document (`source_field`, split by
 * `extraction_mode`) against the reference collection's elements (`reference_field`, up to `reference_limit`
 * documents) through a cascade of match tiers that stops at the first hit: exact (case-insensitive, 1.0) → fuzzy
 * (difflib ratio ≥ fuzzy_threshold) → semantic (cosine of the reference collection's text feature embeddings ≥
 * semantic_threshold; `text_vector_index` names the feature URI). Each element is classified by the first
 * `classifications` entry whose min_score its score reaches. `findings` mode returns one document per element;
 * `enrich` mode writes `{findings, summary}` at output_field. The visual tier needs image models Quarry does not
 * install: naming it is a 400.
 */
import { badRequest } from '#core/lib/errors.ts';
import { getPath, withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { cosine } from '../common.ts';
import { sequenceRatio } from './sequence-ratio.ts';

const DEFAULT_CLASSES = [
  { min_score: 0.95, label: 'exact_match' },
  { min_score: 0.85, label: 'close_match' },
  { min_score: 0.65, label: 'partial_match' },
  { min_score: 0.0, label: 'no_match' },
];
const GENERIC_LABELS = new Set(['save', 'cancel', 'next', 'back', 'ok', 'close', 'submit', 'continue', 'done', 'yes', 'no', 'edit', 'delete']);

const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['reference_collection_id'],
  properties: {
    reference_collection_id: { type: 'string', minLength: 1 },
    source_field: { type: 'string', minLength: 1, default: 'content' },
    reference_field: { type: 'string', minLength: 1, default: 'content' },
    extraction_mode: { enum: ['raw', 'lines', 'labels', 'list'], default: 'raw' },
    filter_generic_labels: { type: 'boolean', default: true },
    match_tiers: { type: 'array', minItems: 1, items: { enum: ['exact', 'fuzzy', 'semantic', 'visual'] }, default: ['exact', 'fuzzy'] },
    fuzzy_threshold: { type: 'number', minimum: 0, maximum: 1, default: 0.75 },
    semantic_threshold: { type: 'number', minimum: 0, maximum: 1, default: 0.85 },
    text_vector_index: { type: 'string', default: 'intfloat__multilingual_e5_large_instruct' },
    include_visual_comparison: { type: 'boolean', default: false },
    classifications: { type: 'array', minItems: 1, items: { type: 'object', required: ['min_score', 'label'], properties: { min_score: { type: 'number', minimum: 0, maximum: 1 }, label: { type: 'string', minLength: 1 } } }, default: DEFAULT_CLASSES },
    no_match_label: { type: 'string', default: 'no_match' },
    output_mode: { enum: ['findings', 'enrich'], default: 'findings' },
    output_field: { type: 'string', minLength: 1, default: 'comparison_results' },
    reference_limit: { type: 'integer', minimum: 1, maximum: 10000, default: 200 },
    reference_doc_type: { type: 'string' },
    source_location_field: { type: 'string', default: 'start_time' },
    source_doc_type_filter: { type: 'string' },
  },
};

/** Elements of a field's value by extraction mode. */
export function extract(value: unknown, mode: string, dropGeneric: boolean): string[] {
  const texts = Array.isArray(value) ? value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) : typeof value === 'string' ? [value] : value === undefined || value === null ? [] : [JSON.stringify(value)];
  let out: string[];
  if (mode === 'raw') out = texts;
  else if (mode === 'list') out = Array.isArray(value) ? texts : texts.flatMap((t) => t.split(/\n|,|;/));
  else if (mode === 'lines') out = texts.flatMap((t) => t.split(/\r?\n/));
  else {
    // UI labels: **bold** or "quoted" words, or the word(s) after Click/Tap/Select/Press.
    out = texts.flatMap((t) => [...t.matchAll(/\*\*([^*\n]{1,60})\*\*|"([^"\n]{1,60})"|\b(?:[Cc]lick|[Tt]ap|[Ss]elect|[Pp]ress|[Cc]hoose)\s+(?:on\s+)?(?:the\s+)?([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? ''));
    if (dropGeneric) out = out.filter((l) => !GENERIC_LABELS.has(l.trim().toLowerCase()));
  }
  return [...new Set(out.map((s) => s.trim()).filter(Boolean))];
}

interface RefElement {
  text: string;
  doc: Doc;
  vector?: ArrayLike<number>;
}

async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const tiers = p.match_tiers as string[];
  if (tiers.includes('visual') || p.include_visual_comparison === true) {
    throw badRequest(`stage '${ctx.stageName}': the visual tier needs image models (DINOv2, SigLIP) that Quarry does not install; use exact, fuzzy and semantic`, { stage: ctx.stageName, parameter: 'match_tiers' });
  }
  const mode = p.extraction_mode as string;
  const dropGeneric = p.filter_generic_labels !== false;
  const scope = await ctx.deps.features.collectionScope([p.reference_collection_id as string], ctx.namespace);
  const typeFilter = typeof p.reference_doc_type === 'string' ? { field: 'doc_type', operator: 'eq' as const, value: p.reference_doc_type } : undefined;
  const filter = scope.filter && typeFilter ? { AND: [scope.filter, typeFilter] } : (scope.filter ?? typeFilter);
  const page = await ctx.deps.store.scroll(scope.store, { ...(filter ? { filter } : {}), limit: p.reference_limit as number, withPayload: true });
  const refs: RefElement[] = page.points.flatMap((pt) => {
    const doc: Doc = { document_id: pt.id, ...(pt.payload ?? {}) };
    return extract(getPath(doc, p.reference_field as string), mode === 'labels' ? 'raw' : mode, false).map((text) => ({ text, doc }));
  });
  let model: string | undefined;
  if (tiers.includes('semantic')) {
    const f = await ctx.deps.features.resolve(p.text_vector_index as string, [p.reference_collection_id as string], ctx.namespace);
    if (!f.model) throw badRequest(`stage '${ctx.stageName}': text_vector_index '${p.text_vector_index as string}' has no text model for the semantic tier`, { stage: ctx.stageName, parameter: 'text_vector_index' });
    model = f.model;
    for (const r of refs) r.vector = await ctx.embedText(model, r.text);
  }
  const classes = [...(p.classifications as { min_score: number; label: string }[])].sort((a, b) => b.min_score - a.min_score);
  const classify = (score: number) => classes.find((c) => score >= c.min_score)?.label ?? (p.no_match_label as string);
  const counts: Record<string, number> = {};
  const out: Doc[] = [];
  for (const d of docs) {
    if (typeof p.source_doc_type_filter === 'string' && getPath(d, 'doc_type') !== p.source_doc_type_filter) {
      if (p.output_mode === 'enrich') out.push(d);
      continue;
    }
    const findings: Doc[] = [];
    for (const [i, element] of extract(getPath(d, p.source_field as string), mode, dropGeneric).entries()) {
      let best: { tier: string; score: number; ref?: RefElement } = { tier: 'none', score: 0 };
      for (const tier of tiers) {
        if (tier === 'exact') {
          const ref = refs.find((r) => r.text.toLowerCase() === element.toLowerCase());
          if (ref) best = { tier, score: 1, ref };
        } else if (tier === 'fuzzy') {
          for (const r of refs) {
            const s = sequenceRatio(element.toLowerCase(), r.text.toLowerCase());
            if (s >= (p.fuzzy_threshold as number) && s > (best.tier === 'fuzzy' ? best.score : 0)) best = { tier, score: s, ref: r };
          }
        } else if (tier === 'semantic' && model) {
          const v = await ctx.embedText(model, element);
          for (const r of refs) {
            const s = r.vector ? cosine(v, r.vector) : 0;
            if (s >= (p.semantic_threshold as number) && s > (best.tier === 'semantic' ? best.score : 0)) best = { tier, score: s, ref: r };
          }
        }
        if (best.tier !== 'none') break;
      }
      const classification = best.tier === 'none' ? (p.no_match_label as string) : classify(best.score);
      counts[classification] = (counts[classification] ?? 0) + 1;
      findings.push({
        document_id: `${String(d.document_id ?? 'doc')}#${i}`,
        source_document_id: d.document_id ?? null,
        element_type: 'text',
        source_content: element,
        source_location: getPath(d, p.source_location_field as string) ?? null,
        reference_match: best.ref?.text ?? null,
        reference_document_id: best.ref?.doc.document_id ?? null,
        reference_url: (best.ref && (getPath(best.ref.doc, 'url') ?? getPath(best.ref.doc, 'metadata.url'))) ?? null,
        match_tier: best.tier,
        match_score: Math.round(best.score * 10000) / 10000,
        classification,
        confidence: Math.round(best.score * 10000) / 10000,
        signals: { context_match: null, workflow_match: null, transcript_match: null },
        score: best.score,
      });
    }
    if (p.output_mode === 'enrich') out.push(withPath(d, p.output_field as string, { findings: findings.map(({ score: _s, ...f }) => f), summary: countBy(findings) }));
    else out.push(...findings);
  }
  ctx.metadata.reference_elements = refs.length;
  ctx.metadata.classifications = counts;
  return out;
}

function countBy(findings: Doc[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const f of findings) c[f.classification as string] = (c[f.classification as string] ?? 0) + 1;
  return c;
}

export const stage: StageModule = {
  id: 'cross_compare',
  category: 'apply',
  description: 'Multi-tier cross-collection comparison with classification',
  icon: 'code-compare',
  parameterSchema,
  execute,
};
