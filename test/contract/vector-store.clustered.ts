/**
 * Clustered unit vectors, as in shared/reference/vector-stores-and-models.md appendix B:
 * x = normalize(W·(mu_c + 0.6·u) + 0.05·e) with 200 clusters and a 48-d latent. Isotropic random data defeats every
 * ANN index (all points almost equidistant), so recall is measured on this realistic shape instead.
 */
export function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  const v = r();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** n clustered d-dimensional unit vectors in one Float32Array (row-major), plus each row's cluster. */
export function clusteredUnitVectors(n: number, d: number, seed: number, latent = 48, clusters = 200): { data: Float32Array; cluster: Int32Array } {
  const g = mulberry32(12345); // the same W and centres for data and queries
  const W = new Float32Array(d * latent);
  for (let i = 0; i < W.length; i++) W[i] = gauss(g) / Math.sqrt(latent);
  const mu = new Float32Array(clusters * latent);
  for (let i = 0; i < mu.length; i++) mu[i] = gauss(g);
  const r = mulberry32(seed);
  const data = new Float32Array(n * d);
  const cluster = new Int32Array(n);
  const z = new Float32Array(latent);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * clusters);
    cluster[i] = c;
    for (let l = 0; l < latent; l++) z[l] = mu[c * latent + l]! + 0.6 * gauss(r);
    let s = 0;
    const o = i * d;
    for (let j = 0; j < d; j++) {
      let a = 0;
      for (let l = 0; l < latent; l++) a += W[j * latent + l]! * z[l]!;
      a += 0.05 * gauss(r);
      data[o + j] = a;
      s += a * a;
    }
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) data[o + j]! *= inv;
  }
  return { data, cluster };
}

/** Exact top-k row indices by dot product (unit vectors: cosine). */
export function bruteTopK(data: Float32Array, d: number, q: Float32Array, k: number): number[] {
  const n = data.length / d;
  const best: { i: number; s: number }[] = [];
  let min = -Infinity;
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += data[o + j]! * q[j]!;
    if (best.length < k || s > min) {
      best.push({ i, s });
      best.sort((a, b) => b.s - a.s);
      if (best.length > k) best.pop();
      min = best[best.length - 1]!.s;
    }
  }
  return best.map((b) => b.i);
}

export function recallAtK(truth: string[], got: string[]): number {
  const t = new Set(truth);
  return got.filter((id) => t.has(id)).length / truth.length;
}
