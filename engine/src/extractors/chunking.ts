/**
 * Text chunking for text_extractor@v1 (`split_by`: characters | words | sentences | paragraphs | pages | none,
 * `chunk_size`, `chunk_overlap`). Sizes count units of the chosen kind (characters, words, sentences, paragraphs).
 * Sentence boundaries come from Intl.Segmenter (ICU), not a hand-written regex.
 */
export type SplitBy = 'characters' | 'words' | 'sentences' | 'paragraphs' | 'pages' | 'none';

export interface Chunk {
  index: number;
  text: string;
  /** Character offsets of the chunk in the source text. */
  start: number;
  end: number;
}

interface Unit {
  start: number;
  end: number;
}

function units(text: string, splitBy: Exclude<SplitBy, 'none'>): Unit[] {
  switch (splitBy) {
    case 'characters':
      return Array.from({ length: text.length }, (_, i) => ({ start: i, end: i + 1 }));
    case 'words':
      return [...text.matchAll(/\S+/g)].map((m) => ({ start: m.index, end: m.index + m[0].length }));
    case 'sentences': {
      const seg = new Intl.Segmenter('en', { granularity: 'sentence' });
      return [...seg.segment(text)]
        .map((s) => trimUnit(text, s.index, s.index + s.segment.length))
        .filter((u): u is Unit => !!u);
    }
    case 'paragraphs':
      return splitOn(text, /\n\s*\n/g);
    case 'pages':
      return splitOn(text, /\f/g);
  }
}

function splitOn(text: string, sep: RegExp): Unit[] {
  const out: Unit[] = [];
  let last = 0;
  for (const m of text.matchAll(sep)) {
    const u = trimUnit(text, last, m.index);
    if (u) out.push(u);
    last = m.index + m[0].length;
  }
  const u = trimUnit(text, last, text.length);
  if (u) out.push(u);
  return out;
}

function trimUnit(text: string, start: number, end: number): Unit | undefined {
  while (start < end && /\s/.test(text[start]!)) start++;
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return end > start ? { start, end } : undefined;
}

export function chunkText(text: string, opts: { splitBy?: SplitBy; chunkSize?: number; chunkOverlap?: number } = {}): Chunk[] {
  const splitBy = opts.splitBy ?? 'none';
  const size = opts.chunkSize ?? 1000;
  const overlap = opts.chunkOverlap ?? 0;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk_size must be a positive integer, got ${size}`);
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= size) {
    throw new RangeError(`chunk_overlap must be an integer in [0, chunk_size), got ${overlap} with chunk_size ${size}`);
  }
  const trimmed = trimUnit(text, 0, text.length);
  if (!trimmed) return [];
  if (splitBy === 'none') return [{ index: 0, text: text.slice(trimmed.start, trimmed.end), start: trimmed.start, end: trimmed.end }];
  const us = units(text, splitBy);
  const chunks: Chunk[] = [];
  for (let i = 0; i < us.length; i += size - overlap) {
    const group = us.slice(i, i + size);
    const start = group[0]!.start;
    const end = group[group.length - 1]!.end;
    chunks.push({ index: chunks.length, text: text.slice(start, end), start, end });
    if (i + size >= us.length) break;
  }
  return chunks;
}
