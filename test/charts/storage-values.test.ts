/**
 * The chart's `storage` values (endpoints, allowCidrs, shared) reach the operator and the engine as the variables the
 * Bucket storage policy reads (QUARRY_STORAGE_ENDPOINTS, QUARRY_STORAGE_ALLOW_CIDRS, QUARRY_SHARED_STORAGE), in the
 * separate Deployments and in allInOne; the policy parsed from the rendered env trusts, exempts and shares exactly what
 * the values name; nothing is set by default; the schema refuses malformed entries and `helm lint --strict` passes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { checkEndpoint, endpointTrusted, isSharedStorage, storagePolicyFromEnv, touchesSharedStorage } from '#engine/objects/storage-policy.ts';
import { helm } from '../harness/env.ts';
import { QUARRY_CHART, renderChart, type K8sObject } from './chart-helpers.ts';

interface Deployment extends K8sObject {
  spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
}

const VARS = ['QUARRY_STORAGE_ENDPOINTS', 'QUARRY_STORAGE_ALLOW_CIDRS', 'QUARRY_SHARED_STORAGE'];
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-chart-storage-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const VALUES = `storage:
  endpoints: [minio.storage.svc:9000, "*.r2.cloudflarestorage.com"]
  allowCidrs: [10.96.0.0/12, fd00::/8]
  shared: [public-datasets, team-common/shared/]
`;

function valuesFile(name: string, yaml: string): string {
  const f = path.join(scratch, name);
  writeFileSync(f, yaml);
  return f;
}

/** The literal env of each Deployment's first container, by component (operator, engine, worker). */
async function envByComponent(valuesFiles: string[], set: string[] = []): Promise<Map<string, Record<string, string>>> {
  const { objects } = await renderChart(QUARRY_CHART, { release: 'st', valuesFiles, set });
  const out = new Map<string, Record<string, string>>();
  for (const d of objects.filter((o) => o.kind === 'Deployment') as Deployment[]) {
    const env: Record<string, string> = {};
    for (const e of d.spec.template.spec.containers[0]!.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    out.set(d.metadata.name.replace(/^st-quarry-/, ''), env);
  }
  return out;
}

describe('chart storage values → the Bucket storage policy of the operator and engine', () => {
  it('defaults set none of the storage policy variables', async () => {
    for (const [component, env] of await envByComponent([])) {
      for (const v of VARS) assert.equal(env[v], undefined, `${component} has ${v} by default`);
    }
  });

  it('operator and engine get the lists comma-joined, and the policy they parse is the one the values name', async () => {
    const envs = await envByComponent([valuesFile('storage.yaml', VALUES)]);
    for (const component of ['operator', 'engine']) {
      const env = envs.get(component);
      assert.ok(env, `no ${component} Deployment`);
      assert.equal(env.QUARRY_STORAGE_ENDPOINTS, 'minio.storage.svc:9000,*.r2.cloudflarestorage.com', component);
      assert.equal(env.QUARRY_STORAGE_ALLOW_CIDRS, '10.96.0.0/12,fd00::/8', component);
      assert.equal(env.QUARRY_SHARED_STORAGE, 'public-datasets,team-common/shared/', component);
      const policy = storagePolicyFromEnv(env);
      assert.ok(endpointTrusted('http://minio.storage.svc:9000', policy), `${component}: the listed host:port is trusted`);
      assert.ok(endpointTrusted('https://acct.r2.cloudflarestorage.com', policy), `${component}: *.domain is trusted`);
      assert.ok(!endpointTrusted('http://minio.storage.svc:9001', policy), `${component}: another port is not`);
      assert.ok(isSharedStorage(policy, 'team-common', 'shared/team-a/'), `${component}: a prefix inside the shared one is shared`);
      assert.ok(!isSharedStorage(policy, 'team-common', 'private/'), `${component}: the rest of that bucket is not`);
      assert.ok(touchesSharedStorage(policy, 'public-datasets', 'x/'), `${component}: a whole shared bucket is never emptied`);
    }
  });

  it('allowCidrs from the values exempts an in-cluster endpoint from the fetch guard; without it the same endpoint is refused', async () => {
    const lookup = async () => [{ address: '10.96.4.7', family: 4 }];
    const withValues = { ...storagePolicyFromEnv((await envByComponent([valuesFile('storage.yaml', VALUES)])).get('operator')), lookup };
    const without = { ...storagePolicyFromEnv((await envByComponent([])).get('operator')), lookup };
    assert.equal(await checkEndpoint('http://s3.team-a.svc:9000', true, withValues), undefined);
    const refused = await checkEndpoint('http://s3.team-a.svc:9000', true, without);
    assert.equal(refused?.reason, 'EndpointNotAllowed');
    assert.match(refused.message, /storage\.endpoints/, 'the refusal names the chart value to set');
  });

  it('allInOne: the one process gets the variables too', async () => {
    const envs = await envByComponent([valuesFile('storage.yaml', VALUES)], ['allInOne.enabled=true', 'vectorStore.kind=embedded']);
    assert.deepEqual([...envs.keys()], ['engine']);
    const env = envs.get('engine')!;
    for (const v of VARS) assert.ok(env[v], `allInOne lacks ${v}`);
  });

  it('helm lint --strict passes with the values, and the schema refuses malformed entries naming the value', async () => {
    const ok = await helm(['lint', '--strict', QUARRY_CHART, '-f', valuesFile('storage.yaml', VALUES)]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const bad: [string, RegExp][] = [
      ['storage:\n  endpoints: [http://minio.storage.svc:9000]\n', /storage\/endpoints/],
      ['storage:\n  allowCidrs: [10.0.0.0]\n', /storage\/allowCidrs/],
      ['storage:\n  shared: [Not_A_Bucket]\n', /storage\/shared/],
      ['storage:\n  sharedBuckets: [x]\n', /additional properties 'sharedBuckets' not allowed/],
    ];
    for (const [i, [yaml, error]] of bad.entries()) {
      const r = await helm(['lint', '--strict', QUARRY_CHART, '-f', valuesFile(`bad-${i}.yaml`, yaml)]);
      assert.notEqual(r.code, 0, `accepted:\n${yaml}`);
      assert.match(r.stdout + r.stderr, error);
    }
  });
});
