/** Small pieces several stage modules share: score access, sorting, `when` conditions, schema fragments. */
import { badRequest } from '../../lib/errors.ts';
import type { FilterNode } from '../../ports/filter.ts';
import { docMatches } from '../filters.ts';
import { getPath } from '../paths.ts';
import type { Doc, StageContext } from '../types.ts';

export const filterSchema = { type: 'object', description: 'Filter: {field, operator, value} or {AND|OR|NOT: [...]}' };

export function scoreOf(d: Doc, field = 'score'): number | undefined {
  const v = getPath(d, field);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Stable sort by score desc; documents without a score keep their order at the end. */
export function byScoreDesc(docs: Doc[], field = 'score'): Doc[] {
  return docs
    .map((d, i) => ({ d, i, s: scoreOf(d, field) }))
    .sort((a, b) => (a.s === undefined ? (b.s === undefined ? a.i - b.i : 1) : b.s === undefined ? -1 : b.s - a.s || a.i - b.i))
    .map((x) => x.d);
}

/** `when` condition: documents that do not match pass through the stage unchanged. */
export function applies(doc: Doc, when: unknown): boolean {
  if (when === undefined || when === null) return true;
  return docMatches(doc, when as FilterNode);
}

/** Renames documented aliases (DOCS vocabulary) to the canonical parameter names when the canonical one is absent. */
export function alias(params: Record<string, unknown>, map: Record<string, string>): Record<string, unknown> {
  for (const [from, to] of Object.entries(map)) {
    if (from in params) {
      if (!(to in params)) params[to] = params[from];
      delete params[from];
    }
  }
  return params;
}

export function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const sa = String(a);
  const sb = String(b);
  const da = Date.parse(sa);
  const db = Date.parse(sb);
  if (typeof a === 'string' && typeof b === 'string' && /^\d{4}-\d{2}-\d{2}/.test(sa) && /^\d{4}-\d{2}-\d{2}/.test(sb) && !Number.isNaN(da) && !Number.isNaN(db)) return da - db;
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

export function vectorOf(d: Doc, name?: string): ArrayLike<number> | undefined {
  const vs = d._vectors as Record<string, ArrayLike<number>> | undefined;
  if (!vs) return undefined;
  if (name && vs[name]) return vs[name];
  const first = Object.values(vs)[0];
  return first;
}

const isNumArray = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** Named vector a feature URI resolves to over the retriever's collections (as feature_search resolves it). */
async function vectorNameOf(ctx: StageContext, uri: string, parameter: string): Promise<string> {
  const f = await ctx.deps.features.resolve(uri, ctx.definition.collection_identifiers, ctx.namespace);
  if (f.lexical) throw badRequest(`stage '${ctx.stageName}': parameter '${parameter}' names ${uri}, a lexical (BM25) feature without vectors; name a dense feature`, { stage: ctx.stageName, parameter });
  return f.using;
}

/**
 * Which vector of a document a stage compares (mmr `diversity_feature_uri`, cluster `feature_uri`, the DOCS'
 * `embedding_field`): a feature URI's named vector; an embedding field (a named vector, or a document field holding
 * a numeric array); by default the feature of the preceding feature_search (reference §4.2/§4.4), else the
 * document's first vector. Documents without that vector give undefined.
 */
export async function vectorPicker(ctx: StageContext, uri: unknown, embeddingField: unknown, parameter: string): Promise<(d: Doc) => ArrayLike<number> | undefined> {
  const named = (name: string) => (d: Doc) => (d._vectors as Record<string, ArrayLike<number>> | undefined)?.[name];
  if (typeof uri === 'string' && uri) return named(await vectorNameOf(ctx, uri, parameter));
  if (typeof embeddingField === 'string' && embeddingField) {
    return (d) => {
      const v = named(embeddingField)(d) ?? getPath(d, embeddingField);
      return v && typeof v === 'object' && 'length' in v && (ArrayBuffer.isView(v) || isNumArray(v)) ? (v as ArrayLike<number>) : undefined;
    };
  }
  // Default: the preceding feature_search's (first) feature, when it is a literal URI the resolver knows.
  const here = ctx.definition.stages.findIndex((s) => s.stage_name === ctx.stageName);
  const previous = ctx.definition.stages.slice(0, Math.max(0, here)).reverse().find((s) => s.stage_id === 'feature_search');
  const searches = previous?.parameters.searches;
  const first = Array.isArray(searches) ? (searches[0] as { feature_uri?: unknown } | undefined)?.feature_uri : undefined;
  if (typeof first === 'string' && !first.includes('{')) {
    try {
      const name = await vectorNameOf(ctx, first, parameter);
      return (d) => named(name)(d) ?? vectorOf(d);
    } catch {
      // not resolvable here (e.g. a lexical feature): the first vector, as before
    }
  }
  return (d) => vectorOf(d);
}
