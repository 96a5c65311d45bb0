/**
 * The Argo CD health check for quarry.dev kinds, run by real Lua interpreters (5.1 like Argo CD's gopher-lua, and
 * 5.4) against status fixtures. Argo CD runs a health script as a chunk with the resource in the global `obj` and
 * reads the returned table's `status` and `message`; the harness below does exactly that.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { run } from '../harness/env.ts';
import { ROOT } from '../harness/test-env.ts';
import { toLua } from './lua-table.ts';
import { cond, collection, STATUS_FIXTURES as FIXTURES } from './status-fixtures.ts';

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

describe('Argo CD health check (health.lua) on real Lua', () => {
  for (const lua of INTERPRETERS) {
    for (const f of FIXTURES) {
      it(`${lua}: ${f.name} → ${f.argo}`, async () => {
        const hs = await health(lua, HEALTH_LUA, f.obj);
        assert.equal(hs.status, f.argo, `message was: ${hs.message}`);
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

  it('the resources Application syncs every example manifest and nothing from gitops/', () => {
    const app = parse(readFileSync(path.join(ARGO_DIR, 'apps', 'quarry-resources.yaml'), 'utf8')) as {
      spec: { source: { path: string; directory: { recurse: boolean; exclude: string } } };
    };
    const { path: dir, directory } = app.spec.source;
    assert.equal(directory.recurse, true);
    // Argo CD matches exclude against the path relative to the source path, with no separator ('*' spans '/').
    const re = new RegExp(`^${directory.exclude.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    const root = path.join(ROOT, dir);
    const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => /\.ya?ml$/.test(f));
    const synced = files.filter((f) => !re.test(f));
    assert.ok(synced.length >= 3, `only ${synced.length} manifests would sync`);
    assert.ok(files.some((f) => re.test(f)), 'the exclude pattern matches nothing');
    for (const f of synced) {
      for (const doc of parseAllDocuments(readFileSync(path.join(root, f), 'utf8'))) {
        const o = doc.toJS() as { apiVersion?: string } | null;
        if (o) assert.equal(o.apiVersion, 'quarry.dev/v1alpha1', `${f} would be synced by quarry-resources`);
      }
    }
  });

  it('sync the CRDs, then the operator, then the resources', () => {
    const crds = wave('quarry-crds.yaml');
    const operator = wave('quarry.yaml');
    const resources = wave('quarry-resources.yaml');
    assert.ok(crds.wave < operator.wave && operator.wave < resources.wave, `waves ${crds.wave}, ${operator.wave}, ${resources.wave}`);
    assert.ok(crds.options.includes('ServerSideApply=true'), 'CRDs need server-side apply');
    assert.ok(resources.options.includes('SkipDryRunOnMissingResource=true'));
  });
});
