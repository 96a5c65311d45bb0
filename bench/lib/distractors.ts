/**
 * Unjudged documents that pad a labelled corpus past the embedded store's ANN index threshold, so a relevance bench
 * measures the index rather than a flat scan (issue 21: a corpus of at least 20,000 documents). None of them is
 * judged relevant to any query, so they can only push relevant documents down: the padded set's nDCG is the labelled
 * set's under more competition. Sources, in order: the other shared text sets (Cranfield and MED abstracts, the
 * Flickr8k captions) and WordNet noun glosses from Debian's `wordnet-base` (hack/ci/apt-packages.sh installs it).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readJsonl } from './results.ts';

const WORDNET_NOUNS = '/usr/share/wordnet/data.noun';

export interface Distractor {
  id: string;
  text: string;
  source: string;
}

/** WordNet noun synsets as "word, word: gloss" (data.noun: `offset lex ss_type w_cnt word lex_id … | gloss`). */
function wordnetGlosses(limit: number): Distractor[] {
  if (!existsSync(WORDNET_NOUNS)) throw new Error(`${WORDNET_NOUNS} is missing: install Debian's wordnet-base (bash hack/ci/apt-packages.sh)`);
  const out: Distractor[] = [];
  for (const line of readFileSync(WORDNET_NOUNS, 'utf8').split('\n')) {
    if (out.length >= limit) break;
    if (!line || line.startsWith(' ')) continue; // the licence header lines start with two spaces
    const bar = line.indexOf(' | ');
    if (bar < 0) continue;
    const f = line.slice(0, bar).split(' ');
    const count = parseInt(f[3]!, 16);
    const words = Array.from({ length: count }, (_, i) => f[4 + 2 * i]!.replace(/_/g, ' '));
    out.push({ id: `x:wordnet:${f[0]}`, text: `${words.join(', ')}: ${line.slice(bar + 3).trim()}`, source: 'wordnet' });
  }
  return out;
}

/** At least `needed` distractor documents, ids prefixed `x:` (never in any qrels). */
export function distractors(datasetsDir: string, needed: number): { docs: Distractor[]; sources: Record<string, number> } {
  const docs: Distractor[] = [];
  for (const set of ['cranfield', 'med']) {
    for (const d of readJsonl<{ _id: string; title?: string; text?: string }>(path.join(datasetsDir, set, 'corpus.jsonl'))) {
      const text = `${d.title ?? ''}\n${d.text ?? ''}`.trim();
      if (text) docs.push({ id: `x:${set}:${d._id}`, text, source: set });
    }
  }
  for (const q of readJsonl<{ _id: string; text: string }>(path.join(datasetsDir, 'flickr8k_first1k', 'queries.jsonl'))) docs.push({ id: `x:flickr8k:${q._id}`, text: q.text, source: 'flickr8k captions' });
  if (docs.length < needed) docs.push(...wordnetGlosses(needed - docs.length));
  const sources: Record<string, number> = {};
  for (const d of docs.slice(0, needed)) sources[d.source] = (sources[d.source] ?? 0) + 1;
  return { docs: docs.slice(0, needed), sources };
}
