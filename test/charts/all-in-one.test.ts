/**
 * allInOne with the embedded vector store: the chart's one Deployment started as one process with exactly its
 * rendered command and env (data and models directories, service addresses and free local ports substituted), a
 * token of its ServiceAccount, the real apiserver, NATS and MinIO. The in-process operator reconciles the quickstart
 * example to Ready on the shared embedded store, the engine's /v1/health reports every dependency ok, and both
 * metrics ports answer.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { applyCrds, createTestNamespace, helm, kubectl, testEnv } from '../harness/env.ts';
import { freePort, ROOT } from '../harness/test-env.ts';
import { privateNatsPrefix } from '../harness/env-ports.ts';
import { eventually } from '../operator/widgets.ts';
import { CRDS_DIR, helmOk, kubeConfigAs, kubectlOk, parseObjects, QUARRY_CHART, serviceAccountToken, uniqueName } from './chart-helpers.ts';

interface EnvVar { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } }
interface Deployment { kind: string; metadata: { name: string }; spec: { template: { spec: { containers: { command: string[]; env: EnvVar[] }[] } } } }

describe('allInOne: operator, engine and workers in one process on embedded LanceDB', () => {
  const release = uniqueName('qa');
  const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-all-in-one-'));
  let ns: { name: string; cleanup(): Promise<void> };
  let work: { name: string; cleanup(): Promise<void> };
  let proc: { child: ChildProcess; log: string } | undefined;
  const ports = { api: 0, metrics: 0, operator: 0 };
  let command: string[] = [];

  before(async () => {
    await applyCrds(CRDS_DIR);
    ns = await createTestNamespace('chart-aio');
    work = await createTestNamespace('chart-aio-work');
    await helmOk(['install', release, QUARRY_CHART, '--namespace', ns.name, '--set', 'allInOne.enabled=true', '--set', 'vectorStore.kind=embedded', '--set', 'rbac.scope=namespaces', '--set', `rbac.namespaces={${work.name}}`]);
    const manifest = parseObjects(await helmOk(['get', 'manifest', release, '--namespace', ns.name])) as unknown as Deployment[];
    const deps = manifest.filter((o) => o.kind === 'Deployment');
    assert.deepEqual(deps.map((d) => d.metadata.name), [`${release}-quarry-engine`]);
    const c = deps[0]!.spec.template.spec.containers[0]!;
    command = c.command;
    const env: Record<string, string> = {};
    for (const e of c.env) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = ns.name;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = `${release}-aio-0`;
      else throw new Error(`cannot resolve env ${e.name}`);
    }
    assert.equal(env.QUARRY_VECTOR_STORE, 'embedded');
    assert.equal(env.QDRANT_URL, undefined);
    ports.api = await freePort();
    ports.metrics = await freePort();
    ports.operator = await freePort();
    const t = testEnv();
    const token = await serviceAccountToken(ns.name, `${release}-quarry-engine`);
    const cluster = kubeConfigAs(token).getCurrentCluster()!;
    const kubeconfig = path.join(scratch, 'aio.kubeconfig');
    writeFileSync(kubeconfig, stringify({
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: 't', cluster: { server: cluster.server, ...(cluster.caFile ? { 'certificate-authority': cluster.caFile } : {}), ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : {}), ...(cluster.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}) } }],
      users: [{ name: 'aio', user: { token } }],
      contexts: [{ name: 'aio', context: { cluster: 't', user: 'aio' } }],
      'current-context': 'aio',
    }));
    const [, ...args] = command;
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '', HOME: scratch, NODE_ENV: 'test', ...env,
        // The pod's volumes and ports, here:
        QUARRY_DATA_DIR: path.join(scratch, 'data'), QUARRY_MODELS_DIR: path.join(ROOT, 'models'),
        QUARRY_HOST: '127.0.0.1', QUARRY_PORT: String(ports.api), QUARRY_METRICS_PORT: String(ports.metrics), METRICS_PORT: String(ports.operator), METRICS_BIND_ADDRESS: '127.0.0.1',
        // The services: the test env's, with a private JetStream prefix.
        NATS_URL: t.natsUrl, NATS_STREAM_PREFIX: privateNatsPrefix(), S3_ENDPOINT: t.s3.endpoint, S3_REGION: t.s3.region, S3_ACCESS_KEY: t.s3.accessKey, S3_SECRET_KEY: t.s3.secretKey, S3_FORCE_PATH_STYLE: 'true',
        KUBECONFIG: kubeconfig,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc = { child, log: '' };
    child.stdout!.on('data', (b: Buffer) => (proc!.log += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (proc!.log += b.toString()));
  });

  after(async () => {
    if (proc && proc.child.exitCode === null) {
      // While the in-process operator runs: delete the example with policy Delete so its finalizers clean up S3 and NATS.
      for (const kind of ['buckets.quarry.dev', 'quarrynamespaces.quarry.dev', 'collections.quarry.dev']) {
        const names = await kubectl(['get', kind, '-o', 'name'], { namespace: work.name });
        for (const n of names.stdout.split('\n').filter(Boolean)) await kubectl(['patch', n, '--type=merge', '-p', '{"spec":{"deletionPolicy":"Delete"}}'], { namespace: work.name });
      }
      await kubectl(['delete', 'quarry', '--all', '--timeout=60s'], { namespace: work.name });
      proc.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 2000));
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    }
    await helm(['uninstall', release, '--namespace', ns?.name ?? 'default', '--no-hooks']);
    await ns?.cleanup();
    await work?.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  const log = () => proc?.log.slice(-4000) ?? '';

  it('the one process serves the API (health ok on every dependency) and both metrics ports', async () => {
    const health = await eventually(async () => {
      if (proc!.child.exitCode !== null) throw new Error(`exited ${proc!.child.exitCode}:\n${log()}`);
      const r = await fetch(`http://127.0.0.1:${ports.api}/v1/health`).catch(() => undefined);
      return r?.status === 200 ? ((await r.json()) as { checks: Record<string, { status: string; kind?: string }> }) : undefined;
    }, 90_000, 'the all-in-one engine to be healthy');
    assert.equal(health.checks.vector_store!.kind, 'embedded');
    for (const c of Object.values(health.checks)) assert.equal(c.status, 'ok');
    assert.match(await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text(), /^# TYPE http_requests_total counter/m);
    assert.equal((await fetch(`http://127.0.0.1:${ports.operator}/readyz`)).status, 200, log());
  });

  it('the in-process operator reconciles the quickstart example to Ready', async () => {
    await kubectlOk(['apply', '-n', work.name, '-f', path.join(ROOT, 'examples/sample-data')]);
    const deadline = Date.now() + 180_000;
    for (;;) {
      const list = JSON.parse(await kubectlOk(['get', 'quarry', '-o', 'json'], { namespace: work.name })) as { items: { kind: string; metadata: { name: string; generation?: number }; status?: { observedGeneration?: number; conditions?: { type: string; status: string; message?: string }[] } }[] };
      const notReady = list.items.filter((o) => !(o.status?.observedGeneration === o.metadata.generation && o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')));
      if (list.items.length > 0 && notReady.length === 0) break;
      if (Date.now() > deadline) assert.fail(`not Ready: ${notReady.map((o) => `${o.kind}/${o.metadata.name} ${JSON.stringify(o.status?.conditions ?? [])}`).join('\n')}\n${log()}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    assert.doesNotMatch(proc!.log, /forbidden|"code":403/i, log());
  });
});
