/**
 * Every object `helm template` renders, for the defaults and every ci/*-values.yaml of both charts, passes
 * `kubectl apply --dry-run=server` on the real kube-apiserver (schema, defaulting and admission, without persisting).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyCrds, createTestNamespace, kubectl } from '../harness/env.ts';
import { ROOT } from '../harness/test-env.ts';
import { ciValuesFiles, CRDS_CHART, CRDS_DIR, QUARRY_CHART, renderChart } from './chart-helpers.ts';

const THIRD_PARTY_CRDS = path.join(ROOT, 'test/charts/fixtures/third-party-crds');
/** The namespaces ci/namespaced-values.yaml lists; created when missing and never deleted (this apiserver has no
 * namespace controller, so a deleted namespace would stay Terminating and block the next run). */
const CI_NAMESPACES = ['quarry-ci-team-a', 'quarry-ci-team-b'];

/** No --namespace: every namespaced object the charts render names its namespace itself. */
async function dryRunServer(text: string, expected: number): Promise<void> {
  const r = await kubectl(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], { input: text });
  assert.equal(r.code, 0, `server dry run rejected the chart:\n${r.stderr}`);
  const accepted = r.stdout.split('\n').filter((l) => l.includes('(server dry run)')).length;
  assert.equal(accepted, expected, `expected ${expected} objects accepted, got:\n${r.stdout}`);
}

describe('helm template | kubectl apply --dry-run=server', () => {
  let ns: { name: string; cleanup(): Promise<void> };
  before(async () => {
    ns = await createTestNamespace('chart-dryrun');
    await applyCrds(THIRD_PARTY_CRDS);
    for (const name of CI_NAMESPACES) {
      const r = await kubectl(['create', 'namespace', name]);
      assert.ok(r.code === 0 || /AlreadyExists/.test(r.stderr), r.stderr);
    }
  });
  after(async () => ns?.cleanup());

  for (const values of [undefined, ...ciValuesFiles(QUARRY_CHART)]) {
    it(`quarry: ${values ? path.basename(values) : 'defaults'}`, async () => {
      const { text, objects } = await renderChart(QUARRY_CHART, { release: 'dry', namespace: ns.name, valuesFiles: values ? [values] : [] });
      assert.ok(objects.length >= 15, `only ${objects.length} objects rendered`);
      await dryRunServer(text, objects.length);
    });
  }

  for (const values of [undefined, ...ciValuesFiles(CRDS_CHART)]) {
    it(`quarry-crds: ${values ? path.basename(values) : 'defaults'}`, async () => {
      const sources = readdirSync(CRDS_DIR).filter((f) => /\.ya?ml$/.test(f));
      assert.ok(sources.length > 0, 'crds/ is empty: the resource-model CRDs have not landed yet');
      const { text, objects } = await renderChart(CRDS_CHART, { release: 'dry-crds', namespace: ns.name, valuesFiles: values ? [values] : [] });
      const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
      assert.equal(crds.length, objects.length, 'the CRD chart renders CRDs only');
      assert.deepEqual(
        crds.map((c) => (c as unknown as { spec: { names: { kind: string } } }).spec.names.kind).sort(),
        ['Bucket', 'Collection', 'Model', 'QuarryNamespace', 'Retriever', 'Taxonomy'],
      );
      await dryRunServer(text, objects.length);
    });
  }
});
