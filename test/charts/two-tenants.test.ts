/**
 * Issue 15's acceptance, end to end with the chart's processes: `helm install` (rbac.scope=namespaces over two tenant
 * namespaces A and B), then the operator, engine and worker started as processes with exactly the rendered command and
 * env (service addresses and free local ports substituted; no Qdrant in the test env, so with vectorStore.kind=embedded:
 * the chart's vector-store StatefulSet command serves the embedded store and the three reach it over HTTP with the
 * generated token, as the split mode runs on a cluster), each with its own ServiceAccount's token, against the real apiserver, NATS and
 * MinIO. examples/hybrid-text-search (QuarryNamespace `research`) is applied into BOTH namespaces; each tenant ingests
 * and retrieves through the engine's HTTP API with a key bound to its namespace; the management API lists, gets and
 * creates across both; the four tenancy attacks of the issue are refused with nothing read, written, counted or
 * deleted. The KEDA trigger's query is checked against the live worker's /metrics while A's jobs are pending.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyCrds, createTestNamespace, helm, kubectl, testEnv } from '../harness/env.ts';
import { freePort, ROOT } from '../harness/test-env.ts';
import { privateNatsPrefix } from '../harness/env-ports.ts';
import { eventually } from '../operator/widgets.ts';
import { createObjectStore } from '#engine/objects/config.ts';
import { extractionQueueName, objectBucketName } from '#core/naming.ts';
import { CRDS_DIR, helmOk, kubectlOk, parseObjects, QUARRY_CHART, renderChart, serviceAccountToken, uniqueName, type K8sObject } from './chart-helpers.ts';
import { deleteQuarryResources, kubeconfigFile, resolvedEnv, scrapeTarget, startProcess, stopProcesses, waitHttp, type ChartProcess, type RenderedDeployment, type ServiceMonitor } from './chart-processes.ts';
import { kedaQueryTargets, seriesOf } from './keda-query.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const EXAMPLE = path.join(ROOT, 'examples/hybrid-text-search');
const URI = 'quarry://text_extractor@v1/all_minilm_l6_v2';
const SCHEMA = { query: { type: 'text', required: true } };
const search = [{ stage_name: 'search', stage_type: 'filter', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: URI, query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 50 }] } } }];
const installed = new Set(Object.keys((JSON.parse(readFileSync(path.join(ROOT, 'models/manifest.json'), 'utf8')) as { models: Record<string, unknown> }).models));

/** An abstract of `n` sentences: long enough that one extraction job takes a moment, so jobs stay pending. */
const abstract = (topic: string, n: number) => Array.from({ length: n }, (_, i) => `Finding ${i} about ${topic} was replicated in cohort ${i * 7}.`).join(' ');

describe('the chart\'s processes serve two tenants (Kubernetes namespaces) with keys bound to each', () => {
  const release = uniqueName('qt');
  const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-chart-tenants-'));
  const procs: ChartProcess[] = [];
  let sys: { name: string; cleanup(): Promise<void> };
  let A: { name: string; cleanup(): Promise<void> };
  let B: { name: string; cleanup(): Promise<void> };
  let engine = '';
  let workerStart: () => { child: ChildProcess; log: string };
  let workerMetricsUrl = '';
  let monitored: K8sObject[] = [];
  const bootstrap = `sk_${randomBytes(24).toString('hex')}`;
  const keys = { a: '', b: '' };
  const t = testEnv();
  const s3 = createObjectStore({ kind: 's3', endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true });
  const log = (n: string) => procs.find((p) => p.name === n)?.log.slice(-3000) ?? `(${n} not started)`;

  const start = (name: string, command: string[], env: Record<string, string>) => startProcess(procs, scratch, name, command, env);

  async function call(method: string, url: string, key: string | undefined, opts: { ns?: string; body?: unknown } = {}) {
    const headers: Record<string, string> = {};
    if (key) headers.authorization = `Bearer ${key}`;
    if (opts.ns) headers['x-namespace'] = opts.ns;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(`${engine}${url}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
    const text = await r.text();
    return { status: r.status, text, body: (text ? JSON.parse(text) : {}) as Json };
  }

  /** Every Quarry resource of a namespace settled: Ready, or Ready=False ModelNotServed for a model not installed here. */
  async function settled(ns: string): Promise<void> {
    const deadline = Date.now() + 240_000;
    for (;;) {
      const items = (JSON.parse(await kubectlOk(['get', 'quarry', '-o', 'json'], { namespace: ns })) as { items: { kind: string; metadata: { name: string; generation?: number }; status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] } }[] }).items;
      const pending = items.filter((o) => {
        const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
        if (o.status?.observedGeneration !== o.metadata.generation || !ready) return true;
        if (ready.status === 'True') return false;
        const model = ready.reason === 'ModelNotServed' ? /needs model (\S+?)[,\s]/.exec(ready.message ?? '')?.[1] : undefined;
        return model === undefined || installed.has(model);
      });
      if (items.length >= 4 && pending.length === 0) return;
      if (Date.now() > deadline) assert.fail(`${ns} not settled: ${pending.map((o) => `${o.kind}/${o.metadata.name} ${JSON.stringify(o.status?.conditions)}`).join('\n')}\n${log('operator')}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  /** Object keys (owner markers aside) in the S3 bucket Quarry created for `ns`'s Bucket `abstracts`. */
  const storedKeys = async (ns: string) => ((await s3.list(objectBucketName(ns, 'abstracts'), { maxKeys: 1000 })).objects.map((o) => o.key).filter((k) => !k.startsWith('.quarry-owners/'))).sort();
  const objectIds = async (key: string) => {
    const r = await call('POST', '/v1/buckets/abstracts/objects/list', key, { ns: 'research', body: { limit: 100 } });
    assert.equal(r.status, 200, r.text);
    return (r.body.results as Json[]).map((o) => o.object_id as string).sort();
  };
  const bucketStatus = async (ns: string, name: string) => JSON.parse(await kubectlOk(['get', 'buckets.quarry.dev', name, '-o', 'json'], { namespace: ns })) as { status?: { objectCount?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] } };

  before(async () => {
    await applyCrds(CRDS_DIR);
    [sys, A, B] = await Promise.all([createTestNamespace('chart-ten'), createTestNamespace('tenant-a'), createTestNamespace('tenant-b')]);
    // The bootstrap key as an existing Secret (the chart's generating hook needs a kubelet to run).
    await kubectlOk(['create', 'secret', 'generic', 'boot', `--from-literal=api-key=${bootstrap}`], { namespace: sys.name });
    const set = ['rbac.scope=namespaces', `rbac.namespaces={${A.name},${B.name}}`, 'apiKeys.bootstrap.existingSecret=boot', 'vectorStore.kind=embedded'];
    await helmOk(['install', release, QUARRY_CHART, '--namespace', sys.name, ...set.flatMap((s) => ['--set', s])]);
    const manifest = parseObjects(await helmOk(['get', 'manifest', release, '--namespace', sys.name])) as unknown as RenderedDeployment[];
    const deployment = (c: string) => manifest.find((o) => o.kind === 'Deployment' && o.metadata.name === `${release}-quarry-${c}`)!;
    monitored = (await renderChart(QUARRY_CHART, { release, namespace: sys.name, set: [...set, 'serviceMonitor.enabled=true', 'worker.keda.enabled=true'] })).objects;

    // Service addresses are the test env's; the served embedded store (the vector-store StatefulSet's command and env,
    // its token from the Secret the chart generated) on a local port: the worker writes where the engine reads.
    const services = { NATS_URL: t.natsUrl, NATS_STREAM_PREFIX: privateNatsPrefix(), S3_ENDPOINT: t.s3.endpoint, S3_REGION: t.s3.region, S3_ACCESS_KEY: t.s3.accessKey, S3_SECRET_KEY: t.s3.secretKey, S3_FORCE_PATH_STYLE: 'true' };
    const vs = await resolvedEnv(manifest.find((o) => o.kind === 'StatefulSet' && o.metadata.name === `${release}-quarry-vector-store`)!, sys.name);
    const [vsPort, vsProbes] = [await freePort(), await freePort()];
    const store = start('vector-store', vs.command, { ...vs.env, QUARRY_HOST: '127.0.0.1', QUARRY_PORT: String(vsPort), QUARRY_METRICS_PORT: String(vsProbes), QUARRY_DATA_DIR: path.join(scratch, 'data') });
    await waitHttp(`http://127.0.0.1:${vsProbes}/readyz`, store);
    const vectors = { QUARRY_VECTOR_STORE_URL: `http://127.0.0.1:${vsPort}`, QUARRY_MODELS_DIR: path.join(ROOT, 'models'), QUARRY_MODEL_CACHE_DIR: path.join(scratch, 'model-cache') };
    const local = { ...services, ...vectors, QUARRY_METRICS_HOST: '127.0.0.1' };
    const resolved = async (c: string) => {
      const r = await resolvedEnv(deployment(c), sys.name);
      assert.equal(r.env.QUARRY_VECTOR_STORE, 'remote', `${c} uses the served store`);
      assert.equal(r.env.QUARRY_VECTOR_STORE_TOKEN, vs.env.QUARRY_VECTOR_STORE_TOKEN, `${c} has the store's token`);
      return r;
    };

    const en = await resolved('engine');
    assert.equal(en.env.WATCH_NAMESPACES, `${A.name},${B.name}`, 'the engine serves both tenant namespaces');
    assert.equal(en.env.QUARRY_BOOTSTRAP_API_KEY, bootstrap);
    const enginePort = await freePort();
    engine = `http://127.0.0.1:${enginePort}`;
    const eng = start('engine', en.command, { ...en.env, ...local, QUARRY_HOST: '127.0.0.1', QUARRY_PORT: String(enginePort), QUARRY_METRICS_PORT: String(await freePort()), KUBECONFIG: kubeconfigFile(scratch, 'engine', await serviceAccountToken(sys.name, `${release}-quarry-engine`)) });
    const op = await resolved('operator');
    const opPort = await freePort();
    // RESYNC_SECONDS: the only setting beyond the rendered env, so Bucket object counts refresh within the test.
    const oper = start('operator', op.command, { ...op.env, ...local, RESYNC_SECONDS: '3', METRICS_PORT: String(opPort), METRICS_BIND_ADDRESS: '127.0.0.1', KUBECONFIG: kubeconfigFile(scratch, 'operator', await serviceAccountToken(sys.name, `${release}-quarry-operator`)) });

    // The worker is started later (jobs must be pending first); its metrics port is the one its ServiceMonitor scrapes.
    const sm = (monitored.filter((o) => o.kind === 'ServiceMonitor') as ServiceMonitor[]).find((s) => scrapeTarget(monitored, s).deployment === `${release}-quarry-worker`)!;
    const target = scrapeTarget(monitored, sm);
    const wk = await resolved('worker');
    const workerPort = await freePort();
    workerMetricsUrl = `http://127.0.0.1:${workerPort}${target.path}`;
    // The worker's own ServiceAccount token: it watches the tenants' Model resources with the chart's read-only worker role.
    const workerKubeconfig = kubeconfigFile(scratch, 'worker', await serviceAccountToken(sys.name, `${release}-quarry-worker`));
    assert.equal(wk.env.WATCH_NAMESPACES, `${A.name},${B.name}`, 'the worker serves both tenant namespaces');
    workerStart = () => start('worker', wk.command, { ...wk.env, ...local, QUARRY_MODEL_CACHE_DIR: path.join(scratch, 'worker-model-cache'), KUBECONFIG: workerKubeconfig, [target.envName]: String(workerPort), WORKER_DISCOVERY_SECONDS: '1' });

    await waitHttp(`${engine}/v1/health/liveness`, eng);
    await waitHttp(`http://127.0.0.1:${opPort}/readyz`, oper);
  });

  after(async () => {
    // While the operator runs: delete the tenants' resources (policy Delete) so its finalizers remove buckets and streams.
    if (procs.some((p) => p.name === 'operator' && p.child.exitCode === null)) for (const ns of [A, B].filter(Boolean)) await deleteQuarryResources(ns.name);
    await stopProcesses(procs, 1500);
    await helm(['uninstall', release, '--namespace', sys?.name ?? 'default', '--no-hooks']);
    await s3.close();
    for (const ns of [sys, A, B]) await ns?.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('examples/hybrid-text-search applied into both Kubernetes namespaces settles with only the chart\'s RBAC', async () => {
    for (const ns of [A.name, B.name]) {
      const r = await kubectl(['apply', '--server-side', '--field-manager=quarry-test', '-f', EXAMPLE], { namespace: ns });
      assert.equal(r.code, 0, r.stderr);
    }
    await Promise.all([settled(A.name), settled(B.name)]);
  });

  it('the management API: keys bound to each namespace, list/get/create across both, each key sees only its own', async () => {
    const admin = await call('POST', '/v1/namespaces/list', bootstrap, { body: {} });
    assert.equal(admin.status, 200, admin.text);
    const where = (admin.body.results as Json[]).filter((r) => r.namespace_name === 'research').map((r) => r.kubernetes_namespace).sort();
    assert.deepEqual(where, [A.name, B.name].sort(), 'the cluster-wide key lists research in both');
    for (const [k, ns] of [['a', A.name], ['b', B.name]] as const) {
      const made = await call('POST', '/v1/organizations/api-keys', bootstrap, { body: { name: `tenant-${k}`, kubernetes_namespace: ns, namespaces: ['research'] } });
      assert.equal(made.status, 200, made.text);
      keys[k] = made.body.key as string;
    }
    // The cluster-wide key gets and creates in either namespace by <k8s-namespace>/research.
    for (const ns of [A.name, B.name]) {
      const got = await call('GET', '/v1/buckets/abstracts', bootstrap, { ns: `${ns}/research` });
      assert.equal(got.status, 200, got.text);
      const made = await call('POST', '/v1/buckets', bootstrap, { ns: `${ns}/research`, body: { bucket_name: 'admin-notes', bucket_schema: { properties: { note: { type: 'text' } } } } });
      assert.equal(made.status, 200, made.text);
      await kubectlOk(['get', 'buckets.quarry.dev', 'admin-notes'], { namespace: ns });
    }
    for (const [key, mine] of [[keys.a, A.name], [keys.b, B.name]] as const) {
      const list = await call('POST', '/v1/namespaces/list', key, { body: {} });
      assert.equal(list.status, 200, list.text);
      assert.deepEqual((list.body.results as Json[]).map((r) => `${r.kubernetes_namespace}/${r.namespace_name}`), [`${mine}/research`]);
      const got = await call('GET', '/v1/namespaces/research', key);
      assert.equal(got.status, 200, got.text);
      assert.equal(got.body.kubernetes_namespace, mine);
      const col = await call('GET', '/v1/collections/abstract-passages', key, { ns: 'research' });
      assert.equal(col.status, 200, col.text);
      // Create: a retriever without the uninstalled reranker, into the key's own Kubernetes namespace.
      const ret = await call('POST', '/v1/retrievers', key, { ns: 'research', body: { retriever_name: 'plain-search', collection_identifiers: ['abstract-passages'], input_schema: SCHEMA, stages: search } });
      assert.equal(ret.status, 200, ret.text);
      await kubectlOk(['get', 'retrievers.quarry.dev', 'plain-search'], { namespace: mine });
    }
  });

  it('ingestion in both tenants; the KEDA query selects the live worker\'s pending-jobs series of A\'s stream while jobs wait', async () => {
    const ingest = async (key: string, topic: string, n: number, sentences: number) => {
      for (let i = 0; i < n; i++) {
        const r = await call('POST', '/v1/buckets/abstracts/objects', key, { ns: 'research', body: { blobs: [{ property: 'abstract', type: 'text', data: abstract(topic, sentences) }], metadata: { doc_id: `${topic}-${i}`, title: `${topic} ${i}`, year: 2020 } } });
        assert.equal(r.status, 200, r.text);
      }
      const trig = await call('POST', '/v1/collections/abstract-passages/trigger', key, { ns: 'research', body: {} });
      assert.equal(trig.status, 202, trig.text);
      return trig.body.task_id as string;
    };
    const taskA = await ingest(keys.a, 'vitamin', 24, 40);
    const taskB = await ingest(keys.b, 'glaciers', 2, 6);

    const worker = workerStart();
    await waitHttp(workerMetricsUrl, worker);
    const targets = kedaQueryTargets(monitored, sys.name);
    const queueA = extractionQueueName({ k8sNamespace: A.name, name: 'research' });
    // The series the trigger sums, as the live worker exposes it, for A's real stream, while A's jobs wait.
    const seen = await eventually(async () => {
      const text = await (await fetch(workerMetricsUrl)).text();
      const s = seriesOf(text, targets.metric).find((x) => x.labels[targets.groupBy] === queueA);
      return s && s.value > 0 ? s : undefined;
    }, 20_000, `${targets.metric}{${targets.groupBy}="${queueA}"} > 0 on the worker`);
    assert.ok(seen.value > 0);
    const task = await call('GET', `/v1/tasks/${taskA}`, keys.a, { ns: 'research' });
    assert.notEqual(task.body.status, 'COMPLETED', 'the jobs were pending when the series was read');
    // Prometheus adds `namespace` and `job` from the scrape target: with no jobLabel on the ServiceMonitor, job is the
    // name of the Service it scrapes; the engine's and the worker's metrics Services, in the release namespace.
    assert.equal(targets.namespace, sys.name);
    for (const sm of monitored.filter((o) => o.kind === 'ServiceMonitor') as (ServiceMonitor & { spec: { jobLabel?: string } })[]) {
      const s = scrapeTarget(monitored, sm);
      if (!/-(engine|worker)$/.test(s.deployment)) continue;
      assert.equal(sm.spec.jobLabel, undefined, `${sm.metadata.name} sets jobLabel: job would not be the Service name`);
      assert.ok(targets.jobMatches(s.service), `job=~ does not select ${s.service} (${s.deployment}): ${targets.query}`);
    }
    assert.ok(!targets.jobMatches(`${release}-quarry-operator-metrics`), 'the operator exports no pending jobs');

    for (const [key, id] of [[keys.a, taskA], [keys.b, taskB]] as const) {
      await eventually(async () => {
        const r = await call('GET', `/v1/tasks/${id}`, key, { ns: 'research' });
        assert.ok(!['FAILED', 'COMPLETED_WITH_ERRORS'].includes(r.body.status as string), `${r.text}\n${log('worker')}`);
        return r.body.status === 'COMPLETED' ? true : undefined;
      }, 180_000, `task ${id} COMPLETED`);
    }
    const drained = await eventually(async () => {
      const s = seriesOf(await (await fetch(workerMetricsUrl)).text(), targets.metric).find((x) => x.labels[targets.groupBy] === queueA);
      return s?.value === 0 ? s : undefined;
    }, 20_000, 'A\'s pending jobs back to 0');
    assert.equal(drained.value, 0);
  });

  it('retrieval in both tenants finds each tenant\'s own passages only (anonymous and the retriever created through the API)', async () => {
    for (const [key, mine, theirs] of [[keys.a, 'vitamin', 'glaciers'], [keys.b, 'glaciers', 'vitamin']] as const) {
      const anon = await call('POST', '/v1/retrievers/execute', key, { ns: 'research', body: { collection_identifiers: ['abstract-passages'], input_schema: SCHEMA, stages: search, inputs: { query: `findings about ${mine}` } } });
      assert.equal(anon.status, 200, anon.text);
      assert.ok(anon.body.documents.length > 0, anon.text);
      assert.ok(!anon.text.includes(theirs), `tenant sees the other's passages: ${anon.text.slice(0, 500)}`);
      const named = await eventually(async () => {
        const r = await call('POST', '/v1/retrievers/plain-search/execute', key, { ns: 'research', body: { inputs: { query: `findings about ${mine}` } } });
        return r.status === 200 ? r : undefined;
      }, 60_000, 'plain-search executes');
      assert.ok(named.body.documents.length > 0 && named.text.includes(mine), named.text.slice(0, 500));
      assert.ok(!named.text.includes(theirs));
    }
  });

  describe('the four tenancy attacks of issue 15: refused, nothing read, written, counted or deleted', () => {
    it('a Bucket in B naming A\'s Quarry-created bucket (same prefix, or nested) is refused, counts nothing, and its deletion empties nothing', async () => {
      const theirs = objectBucketName(A.name, 'abstracts');
      const before = await storedKeys(A.name);
      assert.ok(before.length >= 24, `A's blobs are in ${theirs}: ${before.length}`);
      const counted = (want: number) => eventually(async () => ((await bucketStatus(A.name, 'abstracts')).status?.objectCount === want ? true : undefined), 30_000, `A counts its ${want} blobs`);
      await counted(before.length);
      const grab = (name: string, storage: Json) => JSON.stringify({ apiVersion: 'quarry.dev/v1alpha1', kind: 'Bucket', metadata: { name }, spec: { namespaceRef: 'research', schema: { properties: { abstract: { type: 'text' } } }, storage, deletionPolicy: 'Delete' } });
      const first = before[0]!.split('/')[0]!;
      const applied = await kubectl(['apply', '-f', '-'], { namespace: B.name, input: `${grab('grab', { existingBucketName: theirs })}\n${grab('grab-nested', { existingBucketName: theirs, prefix: `${first}/` })}` });
      assert.equal(applied.code, 0, applied.stderr);
      for (const n of ['grab', 'grab-nested']) {
        const s = await eventually(async () => {
          const st = await bucketStatus(B.name, n);
          return st.status?.conditions?.find((c) => c.type === 'Ready' && c.reason === 'StorageNotOwned') ? st : undefined;
        }, 60_000, `${B.name}/${n} StorageNotOwned`);
        assert.equal(s.status?.objectCount, undefined, 'nothing of A counted');
        // The S3 bucket name is B's own input (it spells A's namespace); beyond it, the owner is never named.
        const message = s.status!.conditions!.find((c) => c.type === 'Ready')!.message!;
        assert.ok(!message.replace(/S3 bucket \S+/, 'S3 bucket …').includes(A.name), `A is never named: ${message}`);
      }
      // B's key cannot store into it through the engine, nor create such a Bucket through the management API.
      const put = await call('POST', '/v1/buckets/grab/objects', keys.b, { ns: 'research', body: { blobs: [{ property: 'abstract', type: 'text', data: 'planted' }] } });
      assert.equal(put.status, 403, put.text);
      const viaApi = await call('POST', '/v1/buckets', keys.b, { ns: 'research', body: { bucket_name: 'grab-api', bucket_schema: { properties: { abstract: { type: 'text' } } }, storage: { existing_bucket_name: theirs } } });
      // Before the engine listed Buckets of every namespace it serves (namespace-scoped RBAC), this was a 200.
      assert.equal(viaApi.status, 403, viaApi.text);
      assert.equal(viaApi.body.error.details.field, 'storage.existing_bucket_name');
      assert.equal((await kubectl(['get', 'buckets.quarry.dev', 'grab-api'], { namespace: B.name })).code, 1, 'nothing created');
      const del = await kubectl(['delete', 'buckets.quarry.dev', 'grab', 'grab-nested', '--timeout=60s'], { namespace: B.name });
      assert.equal(del.code, 0, del.stderr);
      assert.deepEqual(await storedKeys(A.name), before, 'nothing of A deleted');
      await new Promise((r) => setTimeout(r, 4000)); // a resync after the deletions: A still counts everything it has
      await counted(before.length);
      assert.equal((await objectIds(keys.a)).length, 24);
    });

    it('a key scoped to `research` of A cannot create in B/research', async () => {
      const bBuckets = await kubectlOk(['get', 'buckets.quarry.dev', '-o', 'name'], { namespace: B.name });
      const bObjects = await objectIds(keys.b);
      for (const ns of [`${B.name}/research`]) {
        const bucket = await call('POST', '/v1/buckets', keys.a, { ns, body: { bucket_name: 'planted', bucket_schema: { properties: { abstract: { type: 'text' } } } } });
        assert.ok([403, 404].includes(bucket.status), bucket.text);
        const obj = await call('POST', '/v1/buckets/abstracts/objects', keys.a, { ns, body: { blobs: [{ property: 'abstract', type: 'text', data: 'planted' }], metadata: { doc_id: 'x', title: 'x' } } });
        assert.ok([403, 404].includes(obj.status), obj.text);
        const list = await call('POST', '/v1/buckets/abstracts/objects/list', keys.a, { ns, body: {} });
        assert.ok([403, 404].includes(list.status), list.text);
        assert.ok(!list.text.includes('glaciers'));
      }
      assert.equal(await kubectlOk(['get', 'buckets.quarry.dev', '-o', 'name'], { namespace: B.name }), bBuckets, 'nothing created in B');
      assert.deepEqual(await objectIds(keys.b), bObjects, 'no object written in B');
    });

    it('a second QuarryNamespace `research` (in B) does not break X-Namespace: research for A\'s key', async () => {
      const r = await call('POST', '/v1/buckets/abstracts/objects/list', keys.a, { ns: 'research', body: { limit: 100 } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.results.length, 24);
      assert.ok(!r.text.includes('glaciers'));
      const got = await call('GET', '/v1/namespaces/research', keys.a);
      assert.equal(got.status, 200, got.text);
      assert.equal(got.body.kubernetes_namespace, A.name);
    });

    it('no key: 401 on every route, nothing listed or written', async () => {
      const before = await storedKeys(B.name);
      for (const [method, url, body] of [
        ['POST', '/v1/namespaces/list', {}],
        ['GET', '/v1/namespaces/research', undefined],
        ['POST', '/v1/buckets/abstracts/objects/list', {}],
        ['POST', '/v1/buckets/abstracts/objects', { blobs: [{ property: 'abstract', type: 'text', data: 'anon' }] }],
        ['POST', '/v1/retrievers/plain-search/execute', { inputs: { query: 'x' } }],
        ['POST', '/v1/namespaces', { namespace_name: 'anon' }],
      ] as const) {
        const r = await call(method, url, undefined, { ns: 'research', ...(body ? { body } : {}) });
        assert.equal(r.status, 401, `${method} ${url}: ${r.text}`);
        assert.ok(!r.text.includes('vitamin') && !r.text.includes('glaciers'));
      }
      assert.deepEqual(await storedKeys(B.name), before);
      for (const ns of [A.name, B.name]) assert.equal((await kubectl(['get', 'quarrynamespaces.quarry.dev', 'anon'], { namespace: ns })).code, 1);
    });
  });

  it('no process hit an RBAC denial', () => {
    for (const p of procs) assert.doesNotMatch(p.log, /forbidden|"code":403|status code 403/i, `${p.name}:\n${p.log.slice(-3000)}`);
  });
});
