/**
 * deduplicate (reference §4.3): `field` strategy hashes the listed fields (missing = null); `content` compares
 * texts pairwise by word-shingle Jaccard similarity ≥ similarity_threshold. `keep` first or last occurrence.
 */
import { badRequest } from '#core/lib/errors.ts';
import { getPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    strategy: { enum: ['field', 'content'], default: 'field' },
    fields: { type: 'array', items: { type: 'string', minLength: 1 } },
    content_field: { type: 'string', default: 'content' },
    similarity_threshold: { type: 'number', minimum: 0, maximum: 1, default: 0.95 },
    keep: { enum: ['first', 'last'], default: 'first' },
    case_sensitive: { type: 'boolean', default: true },
  },
};

/** Word set of a text (Jaccard over words: cheap, order-insensitive near-duplicate test). */
function shingles(text: string): Set<string> {
  return new Set(text.split(/[^\p{L}\p{N}]+/u).filter(Boolean));
}

function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const cs = p.case_sensitive !== false;
  const norm = (v: unknown) => {
    const s = typeof v === 'string' ? v : JSON.stringify(v ?? null);
    return cs ? s : s.toLowerCase();
  };
  const ordered = p.keep === 'last' ? [...docs].reverse() : docs;
  const kept: Doc[] = [];
  if (p.strategy === 'content') {
    const field = p.content_field as string;
    const threshold = p.similarity_threshold as number;
    const seen: Set<string>[] = [];
    for (const d of ordered) {
      const sh = shingles(norm(getPath(d, field) ?? getPath(d, 'text') ?? ''));
      if (seen.some((s) => jaccard(s, sh) >= threshold)) continue;
      seen.push(sh);
      kept.push(d);
    }
  } else {
    const fields = p.fields as string[] | undefined;
    if (!fields?.length) throw badRequest(`stage '${ctx.stageName}': parameter 'fields' is required for strategy field (e.g. ["metadata.url"])`, { stage: ctx.stageName, parameter: 'fields' });
    const seen = new Set<string>();
    for (const d of ordered) {
      const key = JSON.stringify(fields.map((f) => norm(getPath(d, f))));
      if (seen.has(key)) continue;
      seen.add(key);
      kept.push(d);
    }
  }
  if (p.keep === 'last') {
    const keep = new Set(kept);
    return docs.filter((d) => keep.has(d));
  }
  return kept;
}

export const stage: StageModule = {
  id: 'deduplicate',
  category: 'reduce',
  description: 'Remove duplicate documents by field values or content similarity',
  icon: 'copy-minus',
  parameterSchema,
  normalize: (p) => {
    if (typeof p.field === 'string' && p.fields === undefined) p.fields = [p.field];
    delete p.field;
    return p;
  },
  execute,
};
