/**
 * The Flux Kustomization's healthCheckExprs for quarry.dev kinds, evaluated by a CEL implementation in Flux's order
 * (inProgress, then failed, then current; the first true one decides) against the same status fixtures as the
 * Argo CD Lua check, plus the structure of the Flux example (sources, dependency order, health checks).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { evaluate } from '@marcbachmann/cel-js';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../harness/test-env.ts';
import { STATUS_FIXTURES, type FluxHealth } from './status-fixtures.ts';

const FLUX_DIR = path.join(ROOT, 'examples/gitops/flux');
const KINDS = ['QuarryNamespace', 'Bucket', 'Collection', 'Retriever', 'Taxonomy'];

interface Expr {
  apiVersion: string;
  kind: string;
  inProgress?: string;
  failed?: string;
  current: string;
}
interface FluxObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown> & { healthCheckExprs?: Expr[]; dependsOn?: { name: string }[]; path?: string; sourceRef?: { name: string } };
}

const objects = parseAllDocuments(readFileSync(path.join(FLUX_DIR, 'quarry.yaml'), 'utf8')).map((d) => d.toJS() as FluxObject);
const kustomization = (name: string) => objects.find((o) => o.kind === 'Kustomization' && o.metadata.name === name)!;

/** Flux's evaluation: the object's top-level fields are the CEL variables. An evaluation error means "keep waiting". */
function fluxHealth(e: Expr, obj: Record<string, unknown>): FluxHealth | undefined {
  try {
    if (e.inProgress && evaluate(e.inProgress, obj) === true) return 'InProgress';
    if (e.failed && evaluate(e.failed, obj) === true) return 'Failed';
    if (evaluate(e.current, obj) === true) return 'Current';
    return 'InProgress';
  } catch {
    return undefined;
  }
}

describe('Flux healthCheckExprs (CEL)', () => {
  const exprs = kustomization('quarry-resources').spec.healthCheckExprs ?? [];

  it('cover every Quarry kind', () => {
    assert.deepEqual(exprs.map((e) => e.kind).sort(), [...KINDS].sort());
    for (const e of exprs) assert.equal(e.apiVersion, 'quarry.dev/v1alpha1');
  });

  for (const f of STATUS_FIXTURES) {
    it(`${f.name} → ${f.flux ?? 'waiting (no status yet)'}`, () => {
      for (const e of exprs) {
        assert.equal(fluxHealth(e, { ...f.obj, kind: e.kind }), f.flux, e.kind);
      }
    });
  }

  it('agrees with the Argo CD check wherever both decide', () => {
    const same: Record<string, FluxHealth> = { Healthy: 'Current', Degraded: 'Failed', Progressing: 'InProgress' };
    for (const f of STATUS_FIXTURES.filter((x) => x.flux && x.argo !== 'Suspended' && !x.name.startsWith('deleting'))) {
      assert.equal(f.flux, same[f.argo], f.name);
    }
  });
});

describe('Flux example layout', () => {
  it('resources depend on the infrastructure, which health-checks both HelmReleases', () => {
    const infra = kustomization('quarry-infrastructure');
    const resources = kustomization('quarry-resources');
    assert.deepEqual(resources.spec.dependsOn, [{ name: 'quarry-infrastructure' }]);
    const checks = (infra.spec.healthChecks as { kind: string; name: string }[]).map((c) => `${c.kind}/${c.name}`);
    assert.ok(checks.includes('HelmRelease/quarry-crds') && checks.includes('HelmRelease/quarry'), checks.join(', '));
    assert.equal(resources.spec.wait, true);
    assert.equal(resources.spec.prune, false, 'resources hold data: no automatic pruning');
  });

  it('the quarry HelmRelease depends on quarry-crds; the Kustomizations read existing paths', () => {
    const release = parseAllDocuments(readFileSync(path.join(FLUX_DIR, 'infrastructure/release-quarry.yaml'), 'utf8'))[0]!.toJS() as FluxObject;
    assert.deepEqual(release.spec.dependsOn, [{ name: 'quarry-crds' }]);
    const kust = readFileSync(path.join(FLUX_DIR, 'infrastructure/kustomization.yaml'), 'utf8');
    for (const f of ['helmrepository.yaml', 'release-crds.yaml', 'release-quarry.yaml']) assert.ok(kust.includes(f), `kustomization.yaml lists ${f}`);
    for (const k of objects.filter((o) => o.kind === 'Kustomization')) {
      assert.ok(existsSync(path.join(ROOT, k.spec.path!)), `${k.metadata.name}: ${k.spec.path} does not exist`);
      assert.ok(objects.some((o) => o.kind === 'GitRepository' && o.metadata.name === k.spec.sourceRef!.name), `source ${k.spec.sourceRef!.name}`);
    }
  });
});
