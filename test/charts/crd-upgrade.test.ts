/**
 * The quarry-crds chart on the real apiserver: `helm upgrade` with a changed CRD serves the new schema (CRDs are
 * templates, not Helm's install-only crds/ directory), and `crds.keep` leaves the CRDs in place on uninstall.
 *
 * The upgrade test works on a copy of a real CRD moved to a unique API group (without short names and categories),
 * so it never changes the quarry.dev CRDs other tests use on the same apiserver.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { sync } from '#hack/chart-crds.ts';
import { applyCrds, createTestNamespace, helm, kubectl } from '../harness/env.ts';
import { CRDS_CHART, CRDS_DIR, crdsChartFrom, helmOk, kubectlOk, uniqueName } from './chart-helpers.ts';

interface Crd {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; plural: string; shortNames?: string[]; categories?: string[] };
    versions: { name: string; storage: boolean; schema: { openAPIV3Schema: { properties: { spec: { properties?: Record<string, unknown> } } } } }[];
  };
}

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-crd-upgrade-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function sourceCrds(): { file: string; crd: Crd }[] {
  const files = readdirSync(CRDS_DIR).filter((f) => /\.ya?ml$/.test(f)).sort();
  assert.ok(files.length > 0, 'crds/ is empty: the resource-model CRDs have not landed yet');
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(CRDS_DIR, file), 'utf8'))
      .map((d) => d.toJS() as Crd | null)
      .filter((c): c is Crd => c !== null)
      .map((crd) => ({ file, crd })),
  );
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('quarry-crds chart upgrade', () => {
  let ns: { name: string; cleanup(): Promise<void> };
  const release = uniqueName('crds-up');
  const group = `${uniqueName('g')}.chart-test.quarry.dev`;
  let crdName = '';
  let version = '';
  let plural = '';

  before(async () => {
    ns = await createTestNamespace('chart-crds');
  });
  after(async () => {
    await helm(['uninstall', release, '--namespace', ns.name]);
    await ns?.cleanup();
  });

  it('helm upgrade with a changed CRD applies the new schema', async () => {
    const all = sourceCrds();
    const { crd } = all.find((c) => c.crd.spec.names.kind === 'Collection') ?? all[0]!;
    crd.spec.group = group;
    crd.metadata.name = `${crd.spec.names.plural}.${group}`;
    delete crd.spec.names.shortNames;
    delete crd.spec.names.categories;
    crdName = crd.metadata.name;
    plural = crd.spec.names.plural;
    version = crd.spec.versions.find((v) => v.storage)!.name;

    const src = path.join(scratch, 'src');
    mkdirSync(src);
    const write = () => writeFileSync(path.join(src, `${group}_${plural}.yaml`), stringify(crd));
    write();
    const chart = crdsChartFrom(src, path.join(scratch, 'chart'));
    await helmOk(['install', release, chart, '--namespace', ns.name, '--set', 'crds.keep=false']);
    await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', `crd/${crdName}`]);
    const fieldPath = (c: Crd) => c.spec.versions.find((v) => v.name === version)!.schema.openAPIV3Schema.properties.spec.properties ?? {};
    const live = () => kubectlOk(['get', 'crd', crdName, '-o', 'json']).then((t) => JSON.parse(t) as Crd);
    assert.equal(fieldPath(await live()).chartUpgradeProbe, undefined);

    // The change: a new optional spec field in every version.
    for (const v of crd.spec.versions) {
      v.schema.openAPIV3Schema.properties.spec.properties ??= {};
      v.schema.openAPIV3Schema.properties.spec.properties.chartUpgradeProbe = { type: 'string', maxLength: 16, description: 'Added by the chart upgrade test.' };
    }
    write();
    sync(src, path.join(chart, 'templates'), false);
    await helmOk(['upgrade', release, chart, '--namespace', ns.name, '--set', 'crds.keep=false']);

    const after = await live();
    assert.deepEqual(fieldPath(after).chartUpgradeProbe, { type: 'string', maxLength: 16, description: 'Added by the chart upgrade test.' });
    // The apiserver serves it: kubectl explain reads the published OpenAPI, which follows the CRD within seconds.
    const explained = await until('the new field in the served OpenAPI', async () => {
      const r = await kubectl(['explain', `${plural}.spec.chartUpgradeProbe`, `--api-version=${group}/${version}`]);
      return r.code === 0 && r.stdout.includes('Added by the chart upgrade test.') ? r.stdout : undefined;
    });
    assert.match(explained, /maxLength|string/);
  });

  it('crds.keep=false: uninstall deletes the CRD', async () => {
    assert.ok(crdName, 'depends on the upgrade test');
    await helmOk(['uninstall', release, '--namespace', ns.name]);
    await until('the CRD to be deleted', async () => {
      const r = await kubectl(['get', 'crd', crdName]);
      return r.code !== 0 && /NotFound/.test(r.stderr) ? true : undefined;
    });
  });
});

describe('quarry-crds chart install (the real quarry.dev CRDs)', () => {
  const release = uniqueName('quarry-crds');
  let ns: { name: string; cleanup(): Promise<void> };
  before(async () => {
    ns = await createTestNamespace('chart-crds-real');
  });
  after(async () => {
    // Leave the shared CRDs as other tests found them: no ownership by a release that no longer exists.
    const names = sourceCrds().map((c) => c.crd.metadata.name);
    await kubectl(['annotate', 'crd', ...names, 'meta.helm.sh/release-name-', 'meta.helm.sh/release-namespace-', 'helm.sh/resource-policy-']);
    await kubectl(['label', 'crd', ...names, 'app.kubernetes.io/managed-by-', 'app.kubernetes.io/instance-', 'helm.sh/chart-']);
    await ns?.cleanup();
  });

  it('installs over CRDs applied earlier, and uninstall keeps them (crds.keep default)', async () => {
    const names = sourceCrds().map((c) => c.crd.metadata.name);
    // Never install stale templates onto the shared apiserver: they would roll back other tests' schemas.
    assert.deepEqual(sync(CRDS_DIR, path.join(CRDS_CHART, 'templates'), true), [], 'charts/quarry-crds is out of date with crds/');
    await applyCrds(CRDS_DIR);
    await helmOk(['install', release, CRDS_CHART, '--namespace', ns.name, '--take-ownership']);
    for (const name of names) {
      const crd = JSON.parse(await kubectlOk(['get', 'crd', name, '-o', 'json'])) as Crd;
      assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep', name);
      assert.equal(crd.metadata.annotations?.['meta.helm.sh/release-name'], release, name);
      assert.equal(crd.metadata.labels?.['app.kubernetes.io/part-of'], 'quarry', name);
    }
    const un = await helmOk(['uninstall', release, '--namespace', ns.name]);
    assert.match(un, /kept due to the resource policy/);
    for (const name of names) {
      await kubectlOk(['wait', '--for=condition=Established', '--timeout=10s', `crd/${name}`]);
      const r = await kubectl(['get', 'crd', name, '-o', 'jsonpath={.metadata.deletionTimestamp}']);
      assert.equal(r.stdout, '', `${name} is being deleted`);
    }
  });
});
