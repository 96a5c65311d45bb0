/**
 * The chart's `helm uninstall` guard (pre-delete hook Job, operator/src/uninstall-guard.ts), run as a process with
 * exactly the rendered Job's command and env and a token of the hook's own ServiceAccount (its RBAC applied from the
 * release's hooks), on the real apiserver: while a Quarry resource exists it exits non-zero naming the resource and
 * the command to run first, and deletes nothing; once they are gone it deletes the engine's API-key Secrets (and
 * only those) and exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { applyCrds, createTestNamespace, helm, kubectl } from '../harness/env.ts';
import { ROOT } from '../harness/test-env.ts';
import { CRDS_DIR, helmOk, kubeConfigAs, kubectlOk, parseObjects, QUARRY_CHART, serviceAccountToken, uniqueName, type K8sObject } from './chart-helpers.ts';

interface Job extends K8sObject {
  spec: { template: { spec: { serviceAccountName: string; containers: { command: string[]; env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }[] } } };
}

describe('helm uninstall guard (pre-delete hook)', () => {
  const release = uniqueName('qg');
  const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-uninstall-guard-'));
  let ns: { name: string; cleanup(): Promise<void> };
  let work: { name: string; cleanup(): Promise<void> };
  let job: Job;
  let kubeconfig = '';

  async function runGuard(): Promise<{ code: number; out: string }> {
    const c = job.spec.template.spec.containers[0]!;
    const env: Record<string, string> = {};
    for (const e of c.env) env[e.name] = e.value ?? (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace' ? ns.name : '');
    const [cmd, ...args] = c.command;
    assert.equal(cmd, 'node');
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: scratch, ...env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? -1)));
    return { code, out };
  }

  const apiKeySecret = (name: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns.name, labels: { 'quarry.dev/api-key': 'true' } }, type: 'quarry.dev/api-key', stringData: { record: '{}' } });

  before(async () => {
    await applyCrds(CRDS_DIR);
    ns = await createTestNamespace('chart-guard');
    work = await createTestNamespace('chart-guard-work');
    await helmOk(['install', release, QUARRY_CHART, '--namespace', ns.name, '--set', 'rbac.scope=namespaces', '--set', `rbac.namespaces={${work.name}}`]);
    // The hooks as Helm would create them at uninstall time: RBAC applied now, the Job run below as a process.
    const hooks = parseObjects(await helmOk(['get', 'hooks', release, '--namespace', ns.name])).filter((o) => o.metadata.annotations?.['helm.sh/hook'] === 'pre-delete');
    job = hooks.find((o) => o.kind === 'Job') as Job;
    assert.ok(job, 'no pre-delete Job in the release hooks');
    const rbac = hooks.filter((o) => o.kind !== 'Job');
    assert.deepEqual(rbac.map((o) => o.kind).sort(), ['Role', 'Role', 'RoleBinding', 'RoleBinding', 'ServiceAccount']);
    await kubectlOk(['apply', '-f', '-'], { input: rbac.map((o) => stringify(o)).join('---\n') });
    const token = await serviceAccountToken(ns.name, job.spec.template.spec.serviceAccountName);
    const cluster = kubeConfigAs(token).getCurrentCluster()!;
    kubeconfig = path.join(scratch, 'guard.kubeconfig');
    writeFileSync(kubeconfig, stringify({
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: 't', cluster: { server: cluster.server, ...(cluster.caFile ? { 'certificate-authority': cluster.caFile } : {}), ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : {}), ...(cluster.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}) } }],
      users: [{ name: 'guard', user: { token } }],
      contexts: [{ name: 'guard', context: { cluster: 't', user: 'guard' } }],
      'current-context': 'guard',
    }));
    await kubectlOk(['apply', '-f', '-'], { input: [apiKeySecret('quarry-api-key-a'), apiKeySecret('quarry-api-key-b'), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated', namespace: ns.name }, stringData: { note: 'not an API key' } }].map((o) => stringify(o)).join('---\n') });
  });

  after(async () => {
    await helm(['uninstall', release, '--namespace', ns?.name ?? 'default', '--no-hooks']);
    await ns?.cleanup();
    await work?.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('refuses while a Quarry resource exists, naming it and the command to run; deletes nothing', async () => {
    await kubectlOk(['apply', '-n', work.name, '-f', path.join(ROOT, 'examples/hybrid-text-search/00-namespace.yaml')]);
    const r = await runGuard();
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`QuarryNamespace ${work.name}/research`));
    assert.match(r.out, new RegExp(`kubectl delete quarry --all -n ${work.name} --wait`));
    const keys = await kubectlOk(['get', 'secrets', '-l', 'quarry.dev/api-key=true', '-o', 'name'], { namespace: ns.name });
    assert.equal(keys.trim().split('\n').length, 2, 'API keys deleted although the uninstall was refused');
  });

  it('with no Quarry resources left: deletes the engine\'s API keys (only those) and succeeds', async () => {
    await kubectlOk(['delete', 'quarry', '--all', '-n', work.name, '--wait']);
    const r = await runGuard();
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /deleted 2 API key/);
    const keys = await kubectl(['get', 'secrets', '-l', 'quarry.dev/api-key=true', '-o', 'name'], { namespace: ns.name });
    assert.equal(keys.stdout.trim(), '');
    await kubectlOk(['get', 'secret', 'unrelated'], { namespace: ns.name });
  });
});
