/**
 * hack/chart-crds.ts: crds/*.yaml become quarry-crds templates that Helm renders back to the same CRDs, plus the
 * chart's labels and the keep annotation; template delimiters inside CRDs survive; --check reports drift.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { escapeTemplate, sync } from '#hack/chart-crds.ts';
import { CRDS_CHART, CRDS_DIR, crdsChartFrom, renderChart, type K8sObject } from './chart-helpers.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-chart-crds-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const WIDGET_CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.quarry.dev
  annotations:
    example.com/owner: search
    helm.sh/resource-policy: keep
  labels:
    app.kubernetes.io/part-of: quarry
    example.com/team: search
spec:
  group: quarry.dev
  names: { kind: Widget, plural: widgets, singular: widget, categories: [quarry] }
  scope: Namespaced
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              description: 'Templates like {{ INPUT.query }} and {{- x }} stay verbatim.'
              properties:
                size: { type: integer, maximum: 10 }
`;


describe('hack/chart-crds.ts', () => {
  it('escapes Go-template delimiters', () => {
    assert.equal(escapeTemplate('a {{ b }} c'), 'a {{"{{"}} b }} c');
  });

  it('Helm renders the generated template back to the source CRD, with labels and the keep switch', async () => {
    const src = path.join(scratch, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'quarry.dev_widgets.yaml'), WIDGET_CRD);
    const chart = crdsChartFrom(src, path.join(scratch, 'chart'));
    const original = parse(WIDGET_CRD) as K8sObject & { spec: unknown };

    const kept = (await renderChart(chart, { release: 'crds' })).objects;
    assert.equal(kept.length, 1);
    const crd = kept[0] as K8sObject & { spec: unknown };
    assert.deepEqual(crd.spec, original.spec, 'spec must survive templating unchanged (including {{ … }} text)');
    assert.equal(crd.metadata.name, 'widgets.quarry.dev');
    assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    assert.equal(crd.metadata.annotations?.['example.com/owner'], 'search', "the CRD's own annotations stay");
    assert.equal(crd.metadata.labels?.['app.kubernetes.io/part-of'], 'quarry');
    assert.equal(crd.metadata.labels?.['example.com/team'], 'search', "the CRD's own labels stay");

    // crds.keep decides, even when the source CRD carries the annotation itself.
    const notKept = (await renderChart(chart, { release: 'crds', set: ['crds.keep=false'] })).objects[0]!;
    assert.equal(notKept.metadata.annotations?.['helm.sh/resource-policy'], undefined);
  });

  it('--check reports drift and stale files; a write fixes it', () => {
    const src = path.join(scratch, 'src-drift');
    const out = path.join(scratch, 'out-drift');
    mkdirSync(src);
    writeFileSync(path.join(src, 'quarry.dev_widgets.yaml'), WIDGET_CRD);
    assert.deepEqual(sync(src, out, false), ['quarry.dev_widgets.yaml']);
    assert.deepEqual(sync(src, out, true), []);
    writeFileSync(path.join(src, 'quarry.dev_widgets.yaml'), WIDGET_CRD.replace('maximum: 10', 'maximum: 20'));
    assert.deepEqual(sync(src, out, true), ['quarry.dev_widgets.yaml']);
    rmSync(path.join(src, 'quarry.dev_widgets.yaml'));
    writeFileSync(path.join(out, 'hand-written.yaml'), 'kind: ConfigMap\n');
    assert.deepEqual(sync(src, out, true), ['quarry.dev_widgets.yaml'], 'only generated files count as stale');
    sync(src, out, false);
    assert.deepEqual(readdirSync(out).sort(), ['hand-written.yaml']);
  });

  it('charts/quarry-crds/templates is up to date with crds/', () => {
    const sources = readdirSync(CRDS_DIR).filter((f) => /\.ya?ml$/.test(f));
    assert.ok(sources.length > 0, 'crds/ is empty: the resource-model CRDs have not landed yet');
    const drift = sync(CRDS_DIR, path.join(CRDS_CHART, 'templates'), true);
    assert.deepEqual(drift, [], "run 'node --import tsx hack/chart-crds.ts' (make generate) and commit");
    for (const f of sources) {
      assert.match(readFileSync(path.join(CRDS_CHART, 'templates', f), 'utf8'), /helm\.sh\/resource-policy|quarry-crds\.annotations/);
    }
  });
});
