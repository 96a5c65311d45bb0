/**
 * The English analyzer behind every BM25 index: Unicode word tokens, lower-cased and ASCII-folded ("Café" → "cafe"),
 * stop words dropped (the `stopword` package's English list), then Porter2 (Snowball English) stems, so "studies"
 * matches "study" and "the" matches nothing. The embedded store's LanceDB index is configured to the same recipe
 * (its built-in Snowball English stemmer and stop words); the exact store and the Qdrant adapter's sparse vectors
 * use this module.
 */
import { eng as ENGLISH_STOP_WORDS } from 'stopword';
import { stem } from 'porter2';

const STOP = new Set<string>(ENGLISH_STOP_WORDS);

/** Lower-cased Unicode word tokens (letters and digits): the `text` filter operator's rule, as Qdrant's word tokenizer. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Index and query terms for BM25: accent-folded words without stop words, stemmed. */
export function analyzeEnglish(text: string): string[] {
  const out: string[] = [];
  for (const w of tokenize(text.normalize('NFKD').replace(/\p{M}+/gu, ''))) if (!STOP.has(w)) out.push(stem(w));
  return out;
}
