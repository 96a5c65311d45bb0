/**
 * The operator and engine processes, configured exactly as the chart's Deployments configure them (their rendered
 * env), authenticated with tokens of the chart's ServiceAccounts (TokenRequest API) instead of the admin, against the
 * real apiserver, NATS and MinIO: the operator reconciles examples/ to Ready with nothing but the chart's RBAC.
 *
 * The install uses rbac.scope=namespaces so the operator watches only this test's namespace and never touches
 * resources of other tests sharing the apiserver.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyCrds, createTestNamespace, helm, kubectl, testEnv } from '../harness/env.ts';
import { freePort, ROOT } from '../harness/test-env.ts';
import { privateNatsPrefix } from '../harness/env-ports.ts';
import { eventually } from '../operator/widgets.ts';
import { CRDS_DIR, helmOk, kubectlOk, parseObjects, QUARRY_CHART, renderChart, serviceAccountToken, uniqueName } from './chart-helpers.ts';
import { deleteQuarryResources, kubeconfigFile, resolvedEnv, scrapeTarget, startProcess, stopProcesses, waitHttp, type ChartProcess, type RenderedDeployment, type ServiceMonitor } from './chart-processes.ts';

const EXAMPLES = path.join(ROOT, 'examples');


describe('operator and engine run with the chart\'s ServiceAccounts and env', () => {
  const release = uniqueName('qp');
  const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-chart-processes-'));
  const procs: ChartProcess[] = [];
  let ns: { name: string; cleanup(): Promise<void> };
  let work: { name: string; cleanup(): Promise<void> };
  let metricsPort = 0;
  let enginePort = 0;

  const start = (name: string, command: string[], env: Record<string, string>) => startProcess(procs, scratch, name, command, env);

  let operatorEnv: Record<string, string> = {};
  let operatorCommand: string[] = [];
  let workerEnv: Record<string, string> = {};
  let workerCommand: string[] = [];
  /** Component → the URL its rendered ServiceMonitor scrapes, on the local port this test gave that process. */
  const scrapeUrls = new Map<string, string>();

  before(async () => {
    await applyCrds(CRDS_DIR);
    ns = await createTestNamespace('chart-procs');
    work = await createTestNamespace('chart-procs-work');
    await helmOk(['install', release, QUARRY_CHART, '--namespace', ns.name, '--set', 'rbac.scope=namespaces', '--set', `rbac.namespaces={${work.name}}`]);
    const manifest = parseObjects(await helmOk(['get', 'manifest', release, '--namespace', ns.name])) as unknown as RenderedDeployment[];
    const deployment = (c: string) => manifest.find((o) => o.kind === 'Deployment' && o.metadata.name === `${release}-quarry-${c}`)!;
    const t = testEnv();
    // The chart's connection settings point at in-cluster services; here they are the test env's.
    // The stream prefix too: a private one, so these processes' workers and other tests' never take each other's jobs.
    const services = { NATS_URL: t.natsUrl, NATS_STREAM_PREFIX: privateNatsPrefix(), S3_ENDPOINT: t.s3.endpoint, S3_REGION: t.s3.region, S3_ACCESS_KEY: t.s3.accessKey, S3_SECRET_KEY: t.s3.secretKey, S3_FORCE_PATH_STYLE: 'true', ...(process.env.QDRANT_URL ? { QDRANT_URL: process.env.QDRANT_URL } : {}) };

    // The ServiceMonitors as the chart renders them for this install (the monitoring CRDs are not in the test apiserver).
    const monitored = (await renderChart(QUARRY_CHART, { release, namespace: ns.name, set: ['rbac.scope=namespaces', `rbac.namespaces={${work.name}}`, 'serviceMonitor.enabled=true'] })).objects;
    const localPorts: Record<string, Record<string, string>> = {};
    for (const sm of monitored.filter((o) => o.kind === 'ServiceMonitor') as ServiceMonitor[]) {
      const t = scrapeTarget(monitored, sm);
      const component = t.deployment.slice(`${release}-quarry-`.length);
      const port = await freePort();
      (localPorts[component] ??= {})[t.envName] = String(port);
      scrapeUrls.set(component, `http://127.0.0.1:${port}${t.path}`);
    }
    assert.deepEqual([...scrapeUrls.keys()].sort(), ['engine', 'operator', 'worker']);

    metricsPort = Number(localPorts.operator!.METRICS_PORT);
    const op = await resolvedEnv(deployment('operator'), ns.name);
    if (!process.env.QDRANT_URL) delete op.env.QDRANT_URL;
    operatorCommand = op.command;
    // No Qdrant in the test env: the operator provisions vector collections in the embedded store under the scratch dir.
    const vectors: Record<string, string> = process.env.QDRANT_URL ? {} : { QUARRY_VECTOR_STORE: 'embedded', QUARRY_DATA_DIR: path.join(scratch, 'operator-data') };
    operatorEnv = { ...op.env, ...services, ...vectors, METRICS_PORT: String(metricsPort), METRICS_BIND_ADDRESS: '127.0.0.1', KUBECONFIG: kubeconfigFile(scratch, 'operator', await serviceAccountToken(ns.name, `${release}-quarry-operator`)) };

    enginePort = await freePort();
    const en = await resolvedEnv(deployment('engine'), ns.name);
    if (!process.env.QDRANT_URL) delete en.env.QDRANT_URL;
    // /v1/health checks every dependency: the engine gets a vector store and the installed models as well.
    const engineDeps: Record<string, string> = process.env.QDRANT_URL ? {} : { QUARRY_VECTOR_STORE: 'embedded', QUARRY_DATA_DIR: path.join(scratch, 'engine-data') };
    start('engine', en.command, { ...en.env, ...services, ...engineDeps, QUARRY_MODELS_DIR: path.join(ROOT, 'models'), QUARRY_MODEL_CACHE_DIR: path.join(scratch, 'model-cache'), ...localPorts.engine, QUARRY_METRICS_HOST: '127.0.0.1', QUARRY_HOST: '127.0.0.1', QUARRY_PORT: String(enginePort), KUBECONFIG: kubeconfigFile(scratch, 'engine', await serviceAccountToken(ns.name, `${release}-quarry-engine`)) });

    const wk = await resolvedEnv(deployment('worker'), ns.name);
    delete wk.env.QDRANT_URL;
    workerCommand = wk.command;
    // The worker watches Model resources with its own ServiceAccount (the chart's read-only worker role).
    workerEnv = { ...wk.env, ...services, ...vectors, ...localPorts.worker, QUARRY_METRICS_HOST: '127.0.0.1', QUARRY_MODELS_DIR: path.join(ROOT, 'models'), QUARRY_MODEL_CACHE_DIR: path.join(scratch, 'worker-model-cache'), WORKER_DISCOVERY_SECONDS: '2', KUBECONFIG: kubeconfigFile(scratch, 'worker', await serviceAccountToken(ns.name, `${release}-quarry-worker`)) };
  });

  after(async () => {
    // While the operator still runs: delete the examples with policy Delete, so its finalizers remove the S3 buckets
    // and JetStream streams they provisioned (nothing orphaned in the shared MinIO/NATS).
    if (work && procs.some((p) => p.name === 'operator' && p.child.exitCode === null)) await deleteQuarryResources(work.name);
    await stopProcesses(procs);
    // --no-hooks: the pre-delete guard Job would never run here (no kubelet); test/charts/uninstall-guard.test.ts runs it.
    await helm(['uninstall', release, '--namespace', ns?.name ?? 'default', '--no-hooks']);
    await ns?.cleanup();
    await work?.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('the engine answers /v1/health with the chart\'s env and its ServiceAccount token', async () => {
    await waitHttp(`http://127.0.0.1:${enginePort}/v1/health`, procs.find((p) => p.name === 'engine')!);
  });

  it('the operator starts with the chart\'s env and its ServiceAccount token and becomes ready', async () => {
    assert.ok(existsSync(path.join(ROOT, 'operator/src/main.ts')), "operator/src/main.ts does not exist yet: the chart's operator entry point has nothing to run");
    const p = start('operator', operatorCommand, operatorEnv);
    await waitHttp(`http://127.0.0.1:${metricsPort}/readyz`, p);
  });

  it('the operator holds its leader-election Lease', async () => {
    // /readyz answers for a standby too, so the Lease may be created just after it: poll for it.
    const holder = await eventually(async () => {
      const r = await kubectl(['get', 'lease', `${release}-quarry-operator`, '-o', 'jsonpath={.spec.holderIdentity}'], { namespace: ns.name });
      return r.code === 0 && r.stdout.length > 0 ? r.stdout : undefined;
    }, 30_000, 'the operator to hold its Lease');
    assert.ok(holder.length > 0, 'no holder on the Lease');
  });

  it('examples/ reconcile to Ready with only the chart\'s RBAC', async () => {
    // Every example folder (product-catalog/, …), not the GitOps files.
    const dirs = readdirSync(EXAMPLES, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'gitops');
    assert.ok(dirs.length > 0, 'examples/ has no manifests yet');
    const applied = await kubectl(['apply', '--server-side', '--field-manager=quarry-test', ...dirs.flatMap((d) => ['-f', path.join(EXAMPLES, d.name)])], { namespace: work.name });
    assert.equal(applied.code, 0, applied.stderr);
    // One deadline for everything: `kubectl get quarry` lists every Quarry kind (the CRDs' category).
    const operatorLog = () => procs.find((p) => p.name === 'operator')?.log.slice(-4000) ?? '(operator not started)';
    const installedModels = new Set(Object.keys((JSON.parse(readFileSync(path.join(ROOT, 'models', 'manifest.json'), 'utf8')) as { models: Record<string, unknown> }).models));
    const deadline = Date.now() + 240_000;
    let notReady: string[] = [];
    for (;;) {
      const list = JSON.parse(await kubectlOk(['get', 'quarry', '-o', 'json'], { namespace: work.name })) as {
        items: { kind: string; metadata: { name: string; generation?: number }; status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] } }[];
      };
      assert.ok(list.items.length >= 10, `only ${list.items.length} resources applied`);
      // Settled: Ready, or honestly not Ready because it needs a model this machine does not install (make models
      // installs only what a registry ships here; the examples also use CLIP and a reranker).
      const settled = (o: (typeof list.items)[number]) => {
        if (o.status?.observedGeneration !== o.metadata.generation) return false;
        const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status === 'True') return true;
        const model = ready?.reason === 'ModelNotServed' ? /needs model (\S+?)[,\s]/.exec(ready.message ?? '')?.[1] : undefined;
        return model !== undefined && !installedModels.has(model);
      };
      notReady = list.items
        .filter((o) => !settled(o))
        .map((o) => {
          const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
          return `${o.kind}/${o.metadata.name}: ${ready ? `${ready.status} ${ready.reason ?? ''} ${ready.message ?? ''}` : 'no Ready condition'}`;
        });
      if (notReady.length === 0) break;
      if (Date.now() > deadline) assert.fail(`not Ready after 240 s:\n${notReady.join('\n')}\noperator log:\n${operatorLog()}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  });

  it('engine, worker and operator /metrics, scraped through the rendered ServiceMonitors\' port and path, have the named series', async () => {
    const w = start('worker', workerCommand, workerEnv);
    await waitHttp(scrapeUrls.get('worker')!, w);
    await fetch(`http://127.0.0.1:${enginePort}/v1/health`);
    const scrape = async (c: string) => {
      const r = await fetch(scrapeUrls.get(c)!);
      assert.equal(r.status, 200, `${c} ${scrapeUrls.get(c)}`);
      return r.text();
    };
    const engine = await scrape('engine');
    assert.match(engine, /^http_requests_total\{method="GET",route="\/v1\/health",status_code="(200|503)"\} \d+/m, 'requests by route template');
    assert.match(engine, /^# TYPE http_request_duration_seconds histogram/m);
    assert.match(engine, /^# TYPE quarry_retriever_executions_total counter/m);
    assert.match(engine, /^# TYPE quarry_retriever_stage_duration_seconds histogram/m);
    assert.match(engine, /^# TYPE quarry_retriever_cache_requests_total counter/m);
    assert.match(engine, /^# TYPE quarry_ingestion_requests_total counter/m);
    assert.match(engine, /^process_resident_memory_bytes \d+/m, 'unprefixed default metrics');
    // The worker discovers every namespace's extraction queue (the operator created them) and reports each one's pending jobs.
    const worker = await eventually(async () => {
      const t = await scrape('worker');
      return /^quarry_jobs_pending\{queue="QUARRY_EXTRACT_[^"]+"\} \d+/m.test(t) ? t : undefined;
    }, 30_000, 'the worker to report pending jobs per queue');
    assert.match(worker, /^# TYPE quarry_jobs_total counter/m);
    assert.match(worker, /^# TYPE quarry_job_handler_duration_seconds histogram/m);
    assert.match(worker, /^nodejs_eventloop_lag_seconds /m);
    const operator = await scrape('operator');
    assert.match(operator, /^quarry_operator_reconcile_total\{kind="[A-Za-z]+",result="success"\} \d+/m);
    assert.match(operator, /^process_cpu_user_seconds_total /m, 'unprefixed default metrics');
    assert.doesNotMatch(operator, /^quarry_operator_process_/m);
  });

  it('the worker watches Model resources with its ServiceAccount', async () => {
    const w = procs.find((p) => p.name === 'worker');
    assert.ok(w, 'the worker never started');
    // Listed: its token may list and watch Models in the managed namespace (a denial keeps it retrying, never listed).
    await eventually(async () => (/Model resources listed/.test(w.log) ? true : undefined), 30_000, `the worker to list Model resources:\n${w.log.slice(-3000)}`);
    assert.match(w.log, new RegExp(`"namespaces":"${work.name}"`), 'the worker watches the namespaces the chart manages');
  });

  it('no process hit an RBAC denial', () => {
    assert.ok(procs.some((p) => p.name === 'operator'), 'the operator never started');
    for (const p of procs) {
      assert.doesNotMatch(p.log, /forbidden|"code":403|status code 403/i, `${p.name} hit an RBAC denial:\n${p.log.slice(-4000)}`);
    }
  });
});
