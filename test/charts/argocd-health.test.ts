/**
 * The Argo CD health check for quarry.dev kinds, run by real Lua interpreters (5.1 like Argo CD's gopher-lua, and
 * 5.4) against status fixtures. Argo CD runs a health script as a chunk with the resource in the global `obj` and
 * reads the returned table's `status` and `message`; the harness below does exactly that.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { run } from '../harness/env.ts';
import { ROOT } from '../harness/test-env.ts';
import { toLua } from './lua-table.ts';

const ARGO_DIR = path.join(ROOT, 'examples/gitops/argocd');
const HEALTH_LUA = readFileSync(path.join(ARGO_DIR, 'health.lua'), 'utf8');
const KINDS = ['QuarryNamespace', 'Bucket', 'Collection', 'Retriever', 'Taxonomy'];
const INTERPRETERS = ['lua5.1', 'lua5.4'];

interface Health {
  status: string;
  message: string;
}

/** Runs `script` the way Argo CD does: `obj` global, the chunk's return value is the health table. */
async function health(lua: string, script: string, obj: unknown): Promise<Health> {
  const harness = [
    `obj = ${toLua(obj)}`,
    `local chunk = assert((loadstring or load)(${toLua(script)}, "health.lua"))`,
    'local hs = chunk()',
    'io.write(tostring(hs.status), "\\n", tostring(hs.message))',
  ].join('\n');
  const r = await run(lua, ['-'], { input: harness });
  assert.equal(r.code, 0, `${lua} failed: ${r.stderr}`);
  const [status = '', ...rest] = r.stdout.split('\n');
  return { status, message: rest.join('\n') };
}

const cond = (type: string, status: string, reason = '', message = '', observedGeneration?: number) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2026-11-23T08:00:00Z',
  ...(observedGeneration === undefined ? {} : { observedGeneration }),
});

function collection(opts: { generation?: number; annotations?: Record<string, string>; status?: unknown; deleting?: boolean }) {
  return {
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Collection',
    metadata: {
      name: 'product-images',
      namespace: 'shop',
      generation: opts.generation ?? 3,
      annotations: opts.annotations ?? { 'kubectl.kubernetes.io/last-applied-configuration': '{"a":"é \\"quoted\\""}' },
      ...(opts.deleting ? { deletionTimestamp: '2026-11-23T08:05:00Z', finalizers: ['quarry.dev/finalizer'] } : {}),
    },
    spec: { namespaceRef: 'shop', featureExtractor: { name: 'image_extractor', version: 'v1' } },
    status: opts.status,
  };
}

const ready = { observedGeneration: 3, conditions: [cond('Ready', 'True', 'Available', 'Collection is ready', 3), cond('Reconciling', 'False', 'Done', '', 3), cond('Stalled', 'False', 'Done', '', 3)] };

const FIXTURES: { name: string; obj: unknown; status: string; message: RegExp }[] = [
  { name: 'Ready at the current generation', obj: collection({ status: ready }), status: 'Healthy', message: /Available: Collection is ready/ },
  {
    name: 'Reconciling',
    obj: collection({
      status: { observedGeneration: 3, conditions: [cond('Ready', 'Unknown', 'Reconciling', '', 3), cond('Reconciling', 'True', 'Provisioning', 'creating JetStream consumer', 3)] },
    }),
    status: 'Progressing',
    message: /Provisioning: creating JetStream consumer/,
  },
  {
    name: 'Stalled',
    obj: collection({
      status: { observedGeneration: 3, conditions: [cond('Ready', 'False', 'InvalidSpec', 'x', 3), cond('Stalled', 'True', 'UnknownExtractor', 'feature extractor "img@v9" does not exist', 3)] },
    }),
    status: 'Degraded',
    message: /UnknownExtractor: feature extractor "img@v9" does not exist/,
  },
  {
    name: 'paused (wins over everything else)',
    obj: collection({ annotations: { 'quarry.dev/paused': 'true' }, status: { observedGeneration: 1, conditions: [cond('Stalled', 'True', 'Broken', 'x', 1)] } }),
    status: 'Suspended',
    message: /paused/,
  },
  { name: 'paused annotation not "true"', obj: collection({ annotations: { 'quarry.dev/paused': 'false' }, status: ready }), status: 'Healthy', message: /ready/ },
  { name: 'stale observedGeneration with Ready=True', obj: collection({ generation: 4, status: ready }), status: 'Progressing', message: /generation 4 \(observed 3\)/ },
  {
    name: 'stale Ready condition',
    obj: collection({ generation: 4, status: { observedGeneration: 4, conditions: [cond('Ready', 'True', 'Available', '', 3)] } }),
    status: 'Progressing',
    message: /from generation 3, waiting for generation 4/,
  },
  { name: 'no status yet', obj: collection({}), status: 'Progressing', message: /report status/ },
  { name: 'status without observedGeneration', obj: collection({ status: { conditions: [cond('Ready', 'True')] } }), status: 'Progressing', message: /observed nil/ },
  {
    name: 'Ready=False waiting on a dependency',
    obj: collection({ status: { observedGeneration: 3, conditions: [cond('Ready', 'False', 'NamespaceNotReady', 'QuarryNamespace "shop" is not Ready', 3)] } }),
    status: 'Progressing',
    message: /NamespaceNotReady: QuarryNamespace "shop" is not Ready/,
  },
  { name: 'deleting', obj: collection({ deleting: true, status: ready }), status: 'Progressing', message: /Deleting/ },
];

describe('Argo CD health check (health.lua) on real Lua', () => {
  for (const lua of INTERPRETERS) {
    for (const f of FIXTURES) {
      it(`${lua}: ${f.name} → ${f.status}`, async () => {
        const hs = await health(lua, HEALTH_LUA, f.obj);
        assert.equal(hs.status, f.status, `message was: ${hs.message}`);
        assert.match(hs.message, f.message);
      });
    }
  }
});

describe('argocd-cm.yaml', () => {
  const cm = parse(readFileSync(path.join(ARGO_DIR, 'argocd-cm.yaml'), 'utf8')) as { kind: string; data: Record<string, string> };

  it('has the health check for every Quarry kind, identical to health.lua', () => {
    assert.equal(cm.kind, 'ConfigMap');
    for (const kind of KINDS) {
      const script = cm.data[`resource.customizations.health.quarry.dev_${kind}`];
      assert.ok(script, `no health check for quarry.dev/${kind}`);
      assert.equal(script, HEALTH_LUA, `the ${kind} copy differs from health.lua`);
    }
  });

  it('embedded scripts run: each kind reports Stalled as Degraded', async () => {
    for (const kind of KINDS) {
      const script = cm.data[`resource.customizations.health.quarry.dev_${kind}`]!;
      const obj = { ...collection({ status: { observedGeneration: 3, conditions: [cond('Stalled', 'True', 'Bad', 'broken', 3)] } }), kind };
      const hs = await health('lua5.1', script, obj);
      assert.equal(hs.status, 'Degraded', kind);
    }
  });

  it('the Application health check passes child health through (sync waves wait on it)', async () => {
    const script = cm.data['resource.customizations.health.argoproj.io_Application'];
    assert.ok(script);
    const hs = await health('lua5.1', script, { status: { health: { status: 'Degraded', message: 'operator crashloop' } } });
    assert.deepEqual(hs, { status: 'Degraded', message: 'operator crashloop' });
    assert.equal((await health('lua5.1', script, {})).status, 'Progressing');
  });
});

describe('Argo CD Applications', () => {
  const wave = (file: string) => {
    const app = parse(readFileSync(path.join(ARGO_DIR, 'apps', file), 'utf8')) as {
      kind: string;
      metadata: { annotations: Record<string, string> };
      spec: { syncPolicy: { syncOptions?: string[] } };
    };
    assert.equal(app.kind, 'Application');
    return { wave: Number(app.metadata.annotations['argocd.argoproj.io/sync-wave']), options: app.spec.syncPolicy.syncOptions ?? [] };
  };

  it('sync the CRDs, then the operator, then the resources', () => {
    const crds = wave('quarry-crds.yaml');
    const operator = wave('quarry.yaml');
    const resources = wave('quarry-resources.yaml');
    assert.ok(crds.wave < operator.wave && operator.wave < resources.wave, `waves ${crds.wave}, ${operator.wave}, ${resources.wave}`);
    assert.ok(crds.options.includes('ServerSideApply=true'), 'CRDs need server-side apply');
    assert.ok(resources.options.includes('SkipDryRunOnMissingResource=true'));
  });
});
