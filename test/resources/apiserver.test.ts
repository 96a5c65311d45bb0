/**
 * The resource model on the real kube-apiserver: the CRDs establish, every example applies, every invalid manifest
 * of the corpus is rejected with a message naming the field (schema, CEL, immutability), the cases left to
 * validate.ts are accepted by the apiserver, kubectl explain documents every field, `kubectl get quarry` lists
 * every kind.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Schema } from '#core/resources/schema-builder.ts';
import { kindDefinition } from '#core/resources/kinds.ts';
import { applyCrds, createTestNamespace, kubectl } from '../harness/env.ts';
import { EXAMPLES_DIR, SCENARIOS, invalidCases } from './helpers.ts';

const KINDS = ['quarrynamespaces', 'buckets', 'collections', 'retrievers', 'taxonomies'];

async function apply(obj: Record<string, unknown>, namespace: string, dryRun = false) {
  const args = ['apply', '--server-side', '--field-manager=quarry-test', '-f', '-'];
  if (dryRun) args.push('--dry-run=server');
  return kubectl(args, { input: JSON.stringify(obj), namespace });
}

describe('resource model on the real apiserver', () => {
  let ns: { name: string; cleanup(): Promise<void> };

  before(async () => {
    await applyCrds();
    ns = await createTestNamespace('resources');
  });
  after(async () => {
    await ns?.cleanup();
  });

  it('every CRD is Established with the status subresource, the quarry category and its short name', async () => {
    const r = await kubectl(['get', 'crd', ...KINDS.map((k) => `${k}.quarry.dev`), '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const items = (JSON.parse(r.stdout) as { items: { spec: { names: { plural: string; shortNames: string[]; categories: string[] }; versions: { subresources?: { status?: unknown } }[] }; status: { conditions: { type: string; status: string }[] } }[] }).items;
    assert.equal(items.length, 5);
    const shortNames = new Map([['quarrynamespaces', 'qns'], ['buckets', 'qbucket'], ['collections', 'qcol'], ['retrievers', 'qret'], ['taxonomies', 'qtax']]);
    for (const crd of items) {
      assert.ok(crd.status.conditions.some((c) => c.type === 'Established' && c.status === 'True'), `${crd.spec.names.plural} not Established`);
      assert.deepEqual(crd.spec.names.categories, ['quarry']);
      assert.deepEqual(crd.spec.names.shortNames, [shortNames.get(crd.spec.names.plural)]);
      assert.ok(crd.spec.versions[0]!.subresources?.status, `${crd.spec.names.plural} has no status subresource`);
    }
  });

  it('every example scenario applies, and `kubectl get quarry` lists all five kinds', async () => {
    for (const s of SCENARIOS) {
      // Twice: re-applying unchanged manifests (GitOps) must not trip the immutability rules.
      for (const round of [1, 2]) {
        const r = await kubectl(['apply', '--server-side', '--field-manager=quarry-test', '-f', path.join(EXAMPLES_DIR, s)], { namespace: ns.name });
        assert.equal(r.code, 0, `${s} (apply ${round}): ${r.stderr}`);
      }
    }
    const r = await kubectl(['get', 'quarry', '-o', 'name'], { namespace: ns.name });
    assert.equal(r.code, 0, r.stderr);
    const kinds = new Set(r.stdout.trim().split('\n').map((l) => l.split('/')[0]));
    assert.deepEqual([...kinds].sort(), KINDS.map((k) => `${k.replace(/s$/, '').replace(/ie$/, 'y')}.quarry.dev`).sort());
  });

  it('the apiserver applied the schema defaults', async () => {
    const r = await kubectl(['get', 'qns', 'research', '-o', 'jsonpath={.spec.deletionPolicy} {.spec.vectorStore.writeConsistencyFactor} {.spec.featureExtractors[0].version}'], { namespace: ns.name });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Delete 1 v1');
  });

  it('printer columns show Ready, Reason, a domain column and Age', async () => {
    const r = await kubectl(['get', 'qcol'], { namespace: ns.name });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.split('\n')[0]!, /^NAME\s+READY\s+REASON\s+EXTRACTOR\s+DOCUMENTS\s+AGE$/);
    assert.match(r.stdout, /product-images\s+image_extractor/);
  });

  it('a Retriever stays editable: changing its stages is accepted', async () => {
    const get = await kubectl(['get', 'qret', 'style-matcher', '-o', 'json'], { namespace: ns.name });
    const obj = JSON.parse(get.stdout) as { spec: { stages: { config: { parameters: { final_top_k: number } } }[] } };
    obj.spec.stages[0]!.config.parameters.final_top_k = 5;
    const r = await kubectl(['replace', '-f', '-'], { input: JSON.stringify(obj), namespace: ns.name });
    assert.equal(r.code, 0, r.stderr);
  });

  /** Every object node under spec, by its kubectl explain path. */
  function objectNodes(root: string, spec: Schema): [string, Schema][] {
    const out: [string, Schema][] = [];
    const walk = (p: string, s: Schema) => {
      const node = s.type === 'array' && s.items ? s.items : s.additionalProperties ?? s;
      if (node.properties) {
        out.push([p, node]);
        for (const [k, v] of Object.entries(node.properties)) walk(`${p}.${k}`, v);
      }
    };
    walk(root, spec);
    return out;
  }

  async function assertExplained(root: string, spec: Schema): Promise<void> {
    const nodes = objectNodes(root, spec);
    assert.ok(nodes.length >= 3, `${root}: too few object nodes`);
    for (const [p, node] of nodes) {
      const r = await kubectl(['explain', p]);
      assert.equal(r.code, 0, r.stderr);
      const text = r.stdout.replace(/\s+/g, ' ');
      for (const [field, sub] of Object.entries(node.properties!)) {
        assert.ok(sub.description, `${p}.${field} has no description in the schema source`);
        assert.ok(text.includes(`${field} <`), `kubectl explain ${p} does not list ${field}`);
        assert.ok(text.includes(sub.description.replace(/\s+/g, ' ').slice(0, 40)), `kubectl explain ${p} lacks the description of ${field}`);
      }
    }
  }

  it('kubectl explain qcol.spec prints a description for every field, at every level', async () => {
    await assertExplained('qcol.spec', kindDefinition('Collection')!.spec);
  });

  it('kubectl explain documents every field of the other kinds too', async () => {
    for (const [short, kind] of [['qns', 'QuarryNamespace'], ['qbucket', 'Bucket'], ['qret', 'Retriever'], ['qtax', 'Taxonomy']] as const) {
      await assertExplained(`${short}.spec`, kindDefinition(kind)!.spec);
    }
  });

  it('status is a subresource: an apply of the main resource cannot set it', async () => {
    const obj = {
      apiVersion: 'quarry.dev/v1alpha1',
      kind: 'Taxonomy',
      metadata: { name: 'status-probe' },
      spec: { namespaceRef: 'catalog', type: 'flat', retrieverRef: 'style-matcher', inputMappings: [{ inputKey: 'text', path: 'text' }], sourceCollection: { collectionRef: 'style-labels' } },
      status: { observedGeneration: 7, version: 3 },
    };
    const r = await apply(obj, ns.name);
    assert.equal(r.code, 0, r.stderr);
    const got = await kubectl(['get', 'qtax', 'status-probe', '-o', 'jsonpath={.status}'], { namespace: ns.name });
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, '', 'status was written through the main resource');
  });

  describe('the invalid manifest corpus', () => {
    const cases = invalidCases();
    // A namespace of its own: the corpus reuses names of the examples (products, ...), which would turn a create into
    // an update and trip immutability rules instead of the rule under test.
    let corpus: { name: string; cleanup(): Promise<void> };
    before(async () => {
      corpus = await createTestNamespace('resources-corpus');
    });
    after(async () => {
      await corpus?.cleanup();
    });
    for (const c of cases.filter((x) => x.rejectedBy === 'apiserver')) {
      it(`${c.name}: rejected with a message naming the field`, async () => {
        if (c.before) {
          // Each update case gets its own object name so cases do not interfere.
          const name = `${(c.before.metadata as { name: string }).name}-${c.name}`.slice(0, 63).replace(/-+$/, '');
          const first = { ...c.before, metadata: { name } };
          const created = await apply(first, corpus.name);
          assert.equal(created.code, 0, `creating the original failed: ${created.stderr}`);
          const r = await apply({ ...c.object, metadata: { name } }, corpus.name);
          assert.notEqual(r.code, 0, `${c.name}: update was accepted`);
          for (const e of c.expect) assert.ok(r.stderr.includes(e), `${c.name}: expected "${e}" in: ${r.stderr}`);
        } else {
          const r = await apply(c.object, corpus.name, true);
          assert.notEqual(r.code, 0, `${c.name}: was accepted`);
          for (const e of c.expect) assert.ok(r.stderr.includes(e), `${c.name}: expected "${e}" in: ${r.stderr}`);
        }
      });
    }

    it('the semantic-only cases pass the apiserver (that is why validate.ts checks them)', async () => {
      for (const c of cases.filter((x) => x.rejectedBy === 'validate')) {
        const r = await apply(c.object, corpus.name, true);
        assert.equal(r.code, 0, `${c.name}: the apiserver rejected it already; mark it rejected-by: apiserver\n${r.stderr}`);
      }
    });
  });
});
