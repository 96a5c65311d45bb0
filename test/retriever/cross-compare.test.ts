/**
 * cross_compare on the seeded store: product titles (products) compared against catalog names (catalog, the same
 * titles upper-cased) through the exact → fuzzy → semantic cascade, classifications, findings and enrich modes;
 * the fuzzy measure equals Python's difflib ratio (values computed with CPython's difflib).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { extract } from '#engine/retriever/stages/apply/cross_compare.ts';
import { sequenceRatio } from '#engine/retriever/stages/apply/sequence-ratio.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import type { Doc } from '#engine/retriever/types.ts';
import { STORE, URI, VECTOR, seed, vectorSearch } from './fixtures.ts';

const compare = (parameters: Record<string, unknown>) => ({ stage_name: 'cmp', config: { stage_id: 'cross_compare', parameters: { reference_collection_id: 'catalog', source_field: 'title', reference_field: 'name', ...parameters } } });

async function run(stages: unknown[], extraPoints: { id: string; title: string }[] = []) {
  const s = await seed();
  if (extraPoints.length) {
    await s.store.upsert(STORE, extraPoints.map((p) => ({ id: p.id, vectors: { [VECTOR]: [1, 0, 0, 0] }, payload: { document_id: p.id, collection_id: 'products', title: p.title, start_time: 12.5 } })));
  }
  const r = await s.engine.execute(normalizeDefinition({ collection_identifiers: ['products'], stages }), {});
  return r.body as { documents: Doc[]; stage_statistics: { stages: Record<string, { metadata?: Record<string, unknown> }> } };
}

describe('cross_compare', () => {
  it('the fuzzy measure is difflib.SequenceMatcher.ratio', () => {
    const cpython: [string, string, number][] = [
      ['wireless earbuds', 'wireless earbud', 0.967741935483871],
      ['abcd', 'bcde', 0.75],
      ['Settings', 'Setting page', 0.7],
      ['noise cancelling headphones', 'noise-canceling headphone', 0.9230769230769231],
      ['', 'x', 0],
      ['kitten', 'sitting', 0.6153846153846154],
      ['abxcd', 'abcd', 0.8888888888888888],
      ['elbac bsu', 'usb cable', 0.1111111111111111],
    ];
    for (const [a, b, r] of cpython) assert.ok(Math.abs(sequenceRatio(a, b) - r) < 1e-12, `${a} / ${b}: ${sequenceRatio(a, b)} vs ${r}`);
  });

  it('labels extraction finds bold, quoted and clicked labels and drops generic ones', () => {
    assert.deepEqual(extract('Click **Settings**, then press Save and open "Profile". Tap Dark Mode.', 'labels', true), ['Settings', 'Profile', 'Dark Mode']);
    assert.deepEqual(extract('a\nb\n\na', 'lines', true), ['a', 'b']);
    assert.deepEqual(extract(['x', 'y'], 'list', true), ['x', 'y']);
  });

  it('findings: exact (case-insensitive), fuzzy and no match, each classified, with source location', async () => {
    const b = await run([vectorSearch([1, 0, 0, 0], { final_top_k: 3 }), compare({})], [{ id: 'p8', title: 'wireless buds' }, { id: 'p9', title: 'zzz qqq' }]);
    const byElement = new Map(b.documents.map((d) => [d.source_content as string, d]));
    const exact = byElement.get('wireless earbuds')!;
    assert.equal(exact.match_tier, 'exact');
    assert.equal(exact.match_score, 1);
    assert.equal(exact.classification, 'exact_match');
    assert.equal(exact.reference_document_id, 'c-p1');
    assert.equal(exact.reference_match, 'WIRELESS EARBUDS');
    const fuzzy = byElement.get('wireless buds')!;
    assert.equal(fuzzy.match_tier, 'fuzzy');
    assert.equal(fuzzy.match_score, 0.8966);
    assert.equal(fuzzy.classification, 'close_match');
    assert.equal(fuzzy.source_location, 12.5);
    const none = byElement.get('zzz qqq')!;
    assert.equal(none.match_tier, 'none');
    assert.equal(none.classification, 'no_match');
    assert.equal(none.reference_match, null);
    assert.equal(b.stage_statistics.stages.cmp!.metadata?.reference_elements, 6);
  });

  it('the semantic tier matches by embedding when exact and fuzzy do not', async () => {
    const b = await run([vectorSearch([1, 0, 0, 0], { final_top_k: 10 }), compare({ match_tiers: ['exact', 'fuzzy', 'semantic'], text_vector_index: URI, semantic_threshold: 0.99 })], [{ id: 'p8', title: 'elbac bsu' }]);
    const d = b.documents.find((x) => x.source_content === 'elbac bsu')!;
    assert.equal(d.match_tier, 'semantic');
    assert.ok((d.match_score as number) >= 0.99);
  });

  it('enrich mode writes findings and a summary at output_field, one document per input', async () => {
    const b = await run([vectorSearch([1, 0, 0, 0], { final_top_k: 2 }), compare({ output_mode: 'enrich', output_field: 'cmp' })]);
    assert.equal(b.documents.length, 2);
    for (const d of b.documents) {
      const c = d.cmp as { findings: Doc[]; summary: Record<string, number> };
      assert.equal(c.findings.length, 1);
      assert.deepEqual(c.summary, { exact_match: 1 });
    }
  });

  it('the visual tier is a 400 naming match_tiers', async () => {
    await assert.rejects(run([vectorSearch([1, 0, 0, 0], { final_top_k: 1 }), compare({ match_tiers: ['visual'] })]), (e: unknown) => e instanceof QuarryError && e.status === 400 && (e.details as { parameter: string }).parameter === 'match_tiers');
  });
});
