// VectorStore contract fixture: 240 seeded documents, their payload indexes and the brute-force scores the expectations use.
import assert from 'node:assert/strict';
import { QuarryError } from '#core/lib/errors.ts';
import type { CollectionSpec, Point } from '#core/ports/vector-store.ts';
import { mulberry32 } from './vector-store.clustered.ts';

// ---------- fixture ----------

export interface Doc {
  id: string;
  image: number[];
  text: number[];
  body: string;
  payload: Record<string, unknown>;
}

export const CATEGORIES = ['video', 'audio', 'image', 'doc'];
export const TAGS = ['red', 'green', 'blue', 'Cyan'];
export const WORDS = ['Alpha', 'bravo', 'Charlie', 'delta', 'Echo', 'foxtrot'];
export const N = 240;

export function makeDocs(): Doc[] {
  const r = mulberry32(7);
  const docs: Doc[] = [];
  for (let i = 0; i < N; i++) {
    const image = Array.from({ length: 8 }, () => r() * 2 - 1);
    const text = Array.from({ length: 4 }, () => r() * 2 - 1);
    const payload: Record<string, unknown> = {
      category: CATEGORIES[i % 4],
      score: i % 10,
      price: Math.round(((i * 7.3) % 100) * 100) / 100,
      published: i % 3 !== 0,
      tags: TAGS.filter((_, t) => ((i >> t) & 1) === 1),
      title: `${WORDS[i % 6]} Clip ${i}`,
      created_at: new Date(Date.UTC(2026, 0, 1) + i * 86_400_000).toISOString(),
      metadata: { status: i % 2 ? 'published' : 'draft', author: { name: ['ann', 'bob', 'cy'][i % 3] }, restricted: i % 7 === 0 },
      items: [{ sku: `s${i % 3}` }, { sku: `s${(i + 1) % 3}` }],
    };
    if (i % 6 === 1) payload.rating = null;
    else if (i % 6 !== 0) payload.rating = i % 5;
    docs.push({ id: `doc-${String(i).padStart(3, '0')}`, image, text, body: `${WORDS[i % 6]} ${WORDS[(i * 5) % 6]} clip number ${i}`, payload });
  }
  return docs;
}

export const DOCS = makeDocs();
export const P = (d: Doc) => d.payload as {
  category: string; score: number; price: number; published: boolean; tags: string[]; title: string; created_at: string;
  metadata: { status: string; author: { name: string }; restricted: boolean }; rating?: number | null; items: { sku: string }[];
};

export const FIXTURE_INDEXES: CollectionSpec['payloadIndexes'] = [
  { field: 'category', type: 'keyword' },
  { field: 'score', type: 'integer' },
  { field: 'price', type: 'float' },
  { field: 'published', type: 'bool' },
  { field: 'created_at', type: 'datetime' },
  { field: 'tags', type: 'keyword' },
  { field: 'metadata.status', type: 'keyword' },
  { field: 'title', type: 'text' },
];

export const toPoint = (d: Doc): Point => ({ id: d.id, vectors: { image: d.image, text: d.text }, payload: d.payload, text: { body: d.body } });

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}
export const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i]!, 0);
export const euclid = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x, i) => s + (x - b[i]!) ** 2, 0));

export const ids = (hits: { id: string }[]) => hits.map((h) => h.id);
export const sorted = (xs: string[]) => [...xs].sort();

export function isBadRequest(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof QuarryError, `expected a QuarryError, got ${String(e)}`);
    assert.equal(e.status, 400, `expected a 400, got ${e.status}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  };
}
