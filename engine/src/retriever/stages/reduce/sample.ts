/**
 * sample (reference §4.3): random, stratified or reservoir sampling; with `seed` the sample is reproducible
 * (mulberry32, a tiny well-known PRNG: Math.random cannot be seeded). `preserve_top_k` always keeps the best-scored.
 */
import { badRequest } from '#core/lib/errors.ts';
import { getPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { byScoreDesc } from '../common.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    count: { type: 'integer', minimum: 1, maximum: 1000, default: 10 },
    strategy: { enum: ['random', 'stratified', 'reservoir'], default: 'random' },
    stratify_by: { type: 'string' },
    min_per_stratum: { type: 'integer', minimum: 0, default: 1 },
    seed: { type: ['integer', 'null'] },
    preserve_top_k: { type: 'integer', minimum: 0, default: 0 },
  },
};

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(items: T[], n: number, rnd: () => number): T[] {
  const a = [...items];
  const k = Math.min(n, a.length);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rnd() * (a.length - i));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, k);
}

function reservoir<T>(items: T[], n: number, rnd: () => number): T[] {
  const res: T[] = [];
  items.forEach((x, i) => {
    if (i < n) res.push(x);
    else {
      const j = Math.floor(rnd() * (i + 1));
      if (j < n) res[j] = x;
    }
  });
  return res;
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const count = p.count as number;
  const rnd = typeof p.seed === 'number' ? mulberry32(p.seed) : Math.random;
  const keepTop = Math.min(p.preserve_top_k as number, count);
  const top = keepTop ? byScoreDesc(docs).slice(0, keepTop) : [];
  const topSet = new Set(top);
  const rest = docs.filter((d) => !topSet.has(d));
  const need = count - top.length;
  let sampled: Doc[];
  if (p.strategy === 'stratified') {
    if (typeof p.stratify_by !== 'string') throw badRequest(`stage '${ctx.stageName}': stratify_by is required for strategy stratified`, { stage: ctx.stageName, parameter: 'stratify_by' });
    const strata = new Map<string, Doc[]>();
    for (const d of rest) {
      const k = JSON.stringify(getPath(d, p.stratify_by) ?? null);
      strata.set(k, [...(strata.get(k) ?? []), d]);
    }
    const min = p.min_per_stratum as number;
    sampled = [];
    const remaining: Doc[] = [];
    const groups = [...strata.values()];
    // Proportional shares, at least min_per_stratum each; trimmed from the largest shares when they overshoot.
    const shares = groups.map((g) => Math.min(g.length, Math.max(min, Math.round((g.length / Math.max(1, rest.length)) * need))));
    for (let total = shares.reduce((a, b) => a + b, 0); total > need; total--) {
      let big = -1;
      shares.forEach((s, i) => {
        if (s > min && (big < 0 || s > shares[big]!)) big = i;
      });
      if (big < 0) break;
      shares[big]!--;
    }
    for (const [gi, group] of groups.entries()) {
      const chosen = pick(group, shares[gi]!, rnd);
      sampled.push(...chosen);
      remaining.push(...group.filter((d) => !chosen.includes(d)));
    }
    if (sampled.length > need) sampled = pick(sampled, need, rnd);
    else if (sampled.length < need) sampled.push(...pick(remaining, need - sampled.length, rnd));
  } else if (p.strategy === 'reservoir') sampled = reservoir(rest, need, rnd);
  else sampled = pick(rest, need, rnd);
  const chosen = new Set([...top, ...sampled]);
  return docs.filter((d) => chosen.has(d));
}

export const stage: StageModule = {
  id: 'sample',
  category: 'reduce',
  description: 'Sample documents (random, stratified, reservoir; seedable)',
  icon: 'dices',
  parameterSchema,
  normalize: (p) => {
    if (p.size !== undefined && p.count === undefined) p.count = p.size;
    if (p.method !== undefined && p.strategy === undefined) p.strategy = p.method === 'systematic' ? 'reservoir' : p.method;
    if (p.group_field !== undefined && p.stratify_by === undefined) p.stratify_by = p.group_field;
    if (p.samples_per_group !== undefined && p.min_per_stratum === undefined) p.min_per_stratum = p.samples_per_group;
    for (const k of ['size', 'method', 'group_field', 'samples_per_group']) delete p[k];
    return p;
  },
  execute,
};
