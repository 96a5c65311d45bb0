/**
 * cluster (reference §4.4) over the result vectors: k-means (k-means++ seeding from a fixed seed, so results are
 * reproducible). Other algorithms fall back to k-means and say so in the stage metadata. Output clusters
 * ({cluster_id, member_count, members, centroid}), labeled documents, or one representative per cluster.
 */
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { cosine, vectorPicker } from '../common.ts';
import { mulberry32 } from '../reduce/sample.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    algorithm: { enum: ['kmeans', 'hdbscan', 'dbscan', 'agglomerative', 'spectral', 'gaussian_mixture'], default: 'kmeans' },
    n_clusters: { type: 'integer', minimum: 2, maximum: 100 },
    min_cluster_size: { type: 'integer', minimum: 2, maximum: 100, default: 5 },
    output_mode: { enum: ['clusters', 'labeled', 'representatives'], default: 'clusters' },
    include_centroids: { type: 'boolean', default: true },
    max_members_per_cluster: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    feature_uri: { type: 'string', minLength: 1, description: 'feature whose vectors are clustered (default: the preceding feature_search)' },
    embedding_field: { type: 'string', minLength: 1, description: 'DOCS alias: a named vector or a document field holding the embedding' },
  },
};

export function kmeans(vectors: ArrayLike<number>[], k: number, iterations = 25): { labels: number[]; centroids: number[][] } {
  const rnd = mulberry32(42);
  const dims = vectors[0]?.length ?? 0;
  const dist = (a: ArrayLike<number>, b: ArrayLike<number>) => 1 - cosine(a, b);
  const centroids: number[][] = [Array.from(vectors[Math.floor(rnd() * vectors.length)]!)];
  while (centroids.length < k) {
    const d = vectors.map((v) => Math.min(...centroids.map((c) => dist(v, c))) ** 2);
    const sum = d.reduce((a, b) => a + b, 0);
    let r = rnd() * sum;
    let i = 0;
    while (i < d.length - 1 && (r -= d[i]!) > 0) i++;
    centroids.push(Array.from(vectors[i]!));
  }
  let labels = new Array<number>(vectors.length).fill(0);
  for (let it = 0; it < iterations; it++) {
    const next = vectors.map((v) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (dist(v, centroids[c]!) < dist(v, centroids[best]!)) best = c;
      return best;
    });
    const changed = next.some((l, i) => l !== labels[i]);
    labels = next;
    for (let c = 0; c < k; c++) {
      const members = vectors.filter((_, i) => labels[i] === c);
      if (!members.length) continue;
      const m = new Array<number>(dims).fill(0);
      for (const v of members) for (let j = 0; j < dims; j++) m[j]! += v[j]! / members.length;
      centroids[c] = m;
    }
    if (!changed && it > 0) break;
  }
  return { labels, centroids };
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const vectorOf = await vectorPicker(ctx, p.feature_uri, p.embedding_field, 'feature_uri');
  const withVec = docs.filter((d) => vectorOf(d));
  if (withVec.length < 2) {
    ctx.metadata.warning = 'fewer than two documents carry vectors; nothing to cluster';
    return docs;
  }
  if (p.algorithm !== 'kmeans') ctx.metadata.algorithm_used = 'kmeans';
  const k = Math.min(withVec.length, (p.n_clusters as number | undefined) ?? Math.max(2, Math.min(8, Math.floor(withVec.length / 10))));
  const { labels, centroids } = kmeans(withVec.map((d) => vectorOf(d)!), k);
  const score = (i: number) => cosine(vectorOf(withVec[i]!)!, centroids[labels[i]!]!);
  if (p.output_mode === 'labeled') return withVec.map((d, i) => ({ ...d, cluster_id: labels[i], cluster_score: score(i) }));
  const clusters = centroids.map((c, id) => {
    const members = withVec.map((d, i) => ({ d, i })).filter((x) => labels[x.i] === id).sort((a, b) => score(b.i) - score(a.i));
    return { id, c, members };
  }).filter((c) => c.members.length);
  if (p.output_mode === 'representatives') return clusters.map((c) => ({ ...c.members[0]!.d, cluster_id: c.id, cluster_size: c.members.length }));
  return clusters.map((c) => ({
    document_id: `cluster_${c.id}`,
    cluster_id: c.id,
    member_count: c.members.length,
    members: c.members.slice(0, p.max_members_per_cluster as number).map((m) => {
      const { _vectors: _v, ...rest } = m.d;
      return rest;
    }),
    ...(p.include_centroids ? { centroid: c.c } : {}),
  }));
}

export const stage: StageModule = {
  id: 'cluster',
  category: 'group',
  description: 'Cluster result documents by their vectors (k-means)',
  icon: 'boxes',
  parameterSchema,
  normalize: (p) => {
    if (p.num_clusters !== undefined && p.n_clusters === undefined) p.n_clusters = p.num_clusters;
    delete p.num_clusters;
    return p;
  },
  execute,
};
