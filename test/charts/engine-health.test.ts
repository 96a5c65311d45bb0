/**
 * The cluster-mode engine's health reports each dependency (vector store, S3, NATS, models) and fails when one is
 * down: the engine runs as a process with the chart's engine env (rendered), on the real apiserver, MinIO and a
 * PRIVATE nats-server that this test stops and starts again (the shared one keeps running). A second engine whose
 * S3 endpoint points at a closed port reports the object store down, a third without models reports those. Liveness stays 200 throughout (a dependency
 * outage must not restart the pod). Also scrapes the engine's /metrics for the pending-jobs series KEDA follows.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestNamespace, testEnv } from '../harness/env.ts';
import { freePort, ROOT } from '../harness/test-env.ts';
import { startNatsServer, stopNatsServer } from '../harness/nats-server.ts';
import { privateNatsPrefix } from '../harness/env-ports.ts';
import { eventually } from '../operator/widgets.ts';
import { QUARRY_CHART, renderChart } from './chart-helpers.ts';

interface Health { status: string; checks?: Record<string, { status: string; error?: string; kind?: string; models?: string[] }> }

describe('engine health reports each dependency', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-engine-health-'));
  const procs: { child: ChildProcess; log: string }[] = [];
  let nats: ChildProcess | undefined;
  let natsPort = 0;
  let ns: { name: string; cleanup(): Promise<void> };
  let base = '';
  let metricsBase = '';
  let badS3Base = '';
  let noModelsBase = '';

  async function startEngine(extra: Record<string, string>): Promise<{ url: string; metrics: string }> {
    const { objects } = await renderChart(QUARRY_CHART, { release: 'qh', namespace: ns.name, set: ['rbac.scope=namespaces', `rbac.namespaces={${ns.name}}`] });
    const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'qh-quarry-engine') as unknown as { spec: { template: { spec: { containers: { command: string[]; env: { name: string; value?: string }[] }[] } } } };
    const c = d.spec.template.spec.containers[0]!;
    // The chart's plain env values; fieldRefs resolved as the kubelet would; the service addresses are this test's.
    const env: Record<string, string> = Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    delete env.QDRANT_URL;
    const port = await freePort();
    const metricsPort = await freePort();
    const t = testEnv();
    const [, ...args] = c.command;
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: scratch,
        NODE_ENV: 'test',
        ...env,
        POD_NAMESPACE: ns.name,
        QUARRY_API_KEYS_NAMESPACE: ns.name,
        KUBECONFIG: t.kubeconfig,
        QUARRY_HOST: '127.0.0.1',
        QUARRY_PORT: String(port),
        QUARRY_METRICS_PORT: String(metricsPort),
        QUARRY_VECTOR_STORE: 'embedded',
        QUARRY_DATA_DIR: path.join(scratch, `data-${port}`),
        NATS_URL: `nats://127.0.0.1:${natsPort}`,
        NATS_STREAM_PREFIX: privateNatsPrefix(),
        S3_ENDPOINT: t.s3.endpoint,
        S3_REGION: t.s3.region,
        S3_ACCESS_KEY: t.s3.accessKey,
        S3_SECRET_KEY: t.s3.secretKey,
        S3_FORCE_PATH_STYLE: 'true',
        QUARRY_HEALTH_TIMEOUT_MS: '1500',
        QUARRY_MODELS_DIR: path.join(ROOT, 'models'),
        ...extra,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p = { child, log: '' };
    child.stdout!.on('data', (b: Buffer) => (p.log += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (p.log += b.toString()));
    procs.push(p);
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`engine exited (${child.exitCode}):\n${p.log.slice(-3000)}`);
      return fetch(`${url}/v1/health/liveness`).then((r) => r.ok || undefined, () => undefined);
    }, 90_000, 'the engine to listen');
    return { url, metrics: `http://127.0.0.1:${metricsPort}` };
  }

  const health = async (url: string) => {
    const r = await fetch(`${url}/v1/health`);
    return { code: r.status, body: (await r.json()) as Health };
  };

  before(async () => {
    ns = await createTestNamespace('engine-health');
    natsPort = await freePort();
    nats = await startNatsServer(natsPort, path.join(scratch, 'nats'));
    const a = await startEngine({});
    base = a.url;
    metricsBase = a.metrics;
    badS3Base = (await startEngine({ S3_ENDPOINT: `http://127.0.0.1:${await freePort()}` })).url;
    noModelsBase = (await startEngine({ QUARRY_MODELS_DIR: path.join(scratch, 'no-models') })).url;
  });

  after(async () => {
    for (const p of procs) {
      if (p.child.exitCode === null) {
        p.child.kill('SIGTERM');
        await new Promise((r) => setTimeout(r, 1500));
        if (p.child.exitCode === null) p.child.kill('SIGKILL');
      }
    }
    await stopNatsServer(nats);
    await ns?.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('all dependencies up: 200, each one reported ok', async () => {
    const h = await health(base);
    assert.equal(h.code, 200, JSON.stringify(h.body));
    assert.equal(h.body.status, 'ok');
    assert.deepEqual(Object.keys(h.body.checks ?? {}).sort(), ['job_queue', 'models', 'object_store', 'vector_store']);
    for (const [k, c] of Object.entries(h.body.checks!)) assert.equal(c.status, 'ok', `${k}: ${c.error ?? ''}`);
    assert.equal(h.body.checks!.object_store!.kind, 's3');
    assert.equal(h.body.checks!.job_queue!.kind, 'nats');
    assert.ok((h.body.checks!.models!.models ?? []).length > 0);
  });

  it('the engine\'s /metrics has the standard and Quarry series', async () => {
    const text = await (await fetch(`${metricsBase}/metrics`)).text();
    assert.match(text, /^process_cpu_user_seconds_total /m, 'unprefixed process_* default metrics');
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    assert.match(text, /^http_requests_total\{method="GET",route="\/v1\/health",status_code="200"\} \d+/m, 'requests by route template');
    assert.match(text, /^# TYPE quarry_jobs_pending gauge/m);
  });

  it('S3 unreachable: 503 naming the object store, the rest ok; liveness still 200', async () => {
    const h = await health(badS3Base);
    assert.equal(h.code, 503, JSON.stringify(h.body));
    assert.equal(h.body.status, 'unavailable');
    assert.equal(h.body.checks!.object_store!.status, 'down');
    assert.ok(h.body.checks!.object_store!.error);
    assert.equal(h.body.checks!.job_queue!.status, 'ok');
    assert.equal((await fetch(`${badS3Base}/v1/health/liveness`)).status, 200);
  });

  it('no models installed: 503 naming the models and how to install them', async () => {
    const h = await health(noModelsBase);
    assert.equal(h.code, 503, JSON.stringify(h.body));
    assert.equal(h.body.checks!.models!.status, 'down');
    assert.match(h.body.checks!.models!.error ?? '', /make models|QUARRY_MODELS_DIR/);
    assert.equal(h.body.checks!.vector_store!.status, 'ok');
  });

  it('NATS stopped: 503 naming the job queue; back to 200 when it returns', async () => {
    await stopNatsServer(nats);
    const down = await eventually(async () => {
      const h = await health(base);
      return h.code === 503 ? h : undefined;
    }, 30_000, 'health to report NATS down');
    assert.equal(down.body.checks!.job_queue!.status, 'down');
    assert.equal(down.body.checks!.object_store!.status, 'ok');
    assert.equal(down.body.checks!.vector_store!.status, 'ok');
    assert.equal((await fetch(`${base}/v1/health/liveness`)).status, 200, 'liveness does not depend on NATS');
    nats = await startNatsServer(natsPort, path.join(scratch, 'nats'));
    await eventually(async () => ((await health(base)).code === 200 ? true : undefined), 60_000, 'health to recover with NATS back');
  });
});
