/** Every example manifest is valid for validate.ts and its references resolve within its scenario. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { formatErrors, validateResource } from '#core/resources/validate.ts';
import type { QuarryResource } from '#core/resources/generated/types.ts';
import { SCENARIOS, exampleFiles, parseYamlDocs } from './helpers.ts';

function load(scenario: string): { file: string; obj: Record<string, unknown> }[] {
  return exampleFiles(scenario).flatMap((file) => parseYamlDocs(readFileSync(file, 'utf8'), file).map((obj) => ({ file, obj })));
}

describe('examples/', () => {
  it('has the three scenarios, each with every kind it needs', () => {
    assert.deepEqual(SCENARIOS, ['hybrid-text-search', 'pdf-document-search', 'product-catalog', 'sample-data']);
    const kinds = new Set(SCENARIOS.flatMap((s) => load(s).map((d) => d.obj.kind)));
    assert.deepEqual([...kinds].sort(), ['Bucket', 'Collection', 'QuarryNamespace', 'Retriever', 'Taxonomy']);
  });

  it('object names are unique across scenarios, so all of them can live in one Kubernetes namespace', () => {
    const seen = new Map<string, string>();
    for (const s of SCENARIOS) {
      for (const { file, obj } of load(s)) {
        const key = `${String(obj.kind)}/${(obj.metadata as { name: string }).name}`;
        assert.ok(!seen.has(key), `${key} in ${file} also in ${seen.get(key)}`);
        seen.set(key, file);
      }
    }
  });

  for (const scenario of SCENARIOS) {
    describe(scenario, () => {
      const docs = load(scenario);
      for (const { file, obj } of docs) {
        it(`${path.basename(file)} ${String(obj.kind)}/${(obj.metadata as { name: string }).name} is valid`, () => {
          const r = validateResource(obj);
          assert.equal(r.valid, true, formatErrors(r.errors));
          assert.equal((r.value as QuarryResource).metadata.name, (obj.metadata as { name: string }).name);
          const again = validateResource(obj, { old: obj });
          assert.equal(again.valid, true, `re-applying unchanged trips a transition rule: ${formatErrors(again.errors)}`);
        });
      }

      it('every reference names an object of the scenario', () => {
        const names = (kind: string) => new Set(docs.filter((d) => d.obj.kind === kind).map((d) => (d.obj.metadata as { name: string }).name));
        const ns = names('QuarryNamespace');
        const buckets = names('Bucket');
        const collections = names('Collection');
        const retrievers = names('Retriever');
        const taxonomies = names('Taxonomy');
        for (const { obj } of docs) {
          const r = validateResource(obj).value!;
          const where = `${r.kind}/${r.metadata.name}`;
          if (r.kind !== 'QuarryNamespace' && r.kind !== 'Model') assert.ok(ns.has(r.spec.namespaceRef), `${where}: namespaceRef ${r.spec.namespaceRef}`);
          if (r.kind === 'Collection') {
            for (const b of r.spec.source.bucketRefs ?? []) assert.ok(buckets.has(b), `${where}: bucketRef ${b}`);
            for (const c of r.spec.source.collectionRefs ?? []) assert.ok(collections.has(c), `${where}: collectionRef ${c}`);
            for (const t of r.spec.taxonomyApplications ?? []) assert.ok(taxonomies.has(t.taxonomyRef), `${where}: taxonomyRef ${t.taxonomyRef}`);
          }
          if (r.kind === 'Retriever') for (const c of r.spec.collectionRefs ?? []) assert.ok(collections.has(c), `${where}: collectionRef ${c}`);
          if (r.kind === 'Taxonomy') {
            if (r.spec.retrieverRef) assert.ok(retrievers.has(r.spec.retrieverRef), `${where}: retrieverRef ${r.spec.retrieverRef}`);
            if (r.spec.sourceCollection) assert.ok(collections.has(r.spec.sourceCollection.collectionRef), `${where}: sourceCollection`);
          }
        }
      });
    });
  }

  it('validate.ts applies schema defaults to the returned copy only', () => {
    const [first] = load('hybrid-text-search').filter((d) => d.obj.kind === 'QuarryNamespace');
    const before = JSON.stringify(first!.obj);
    const r = validateResource(first!.obj);
    assert.equal(JSON.stringify(first!.obj), before, 'input was modified');
    assert.equal(r.value?.kind, 'QuarryNamespace');
    if (r.value?.kind === 'QuarryNamespace') {
      assert.equal(r.value.spec.deletionPolicy, 'Delete');
      assert.equal(r.value.spec.featureExtractors[0]!.version, 'v1');
      assert.equal(r.value.spec.vectorStore?.writeConsistencyFactor, 1);
    }
  });
});
