/**
 * The quarry chart in its split mode on a cluster that runs pods (make test-pods): the operator, the engine and two
 * workers as separate Deployments, against in-cluster NATS and MinIO pods, with the vector store the split mode can
 * use here: the embedded (LanceDB) store served by the chart's vector-store StatefulSet (vectorStore.kind=embedded
 * without allInOne; Qdrant has no server on this machine). Every Deployment becomes Available and the StatefulSet
 * Ready with their probes; the store refuses a wrong token and holds the namespace's collection the operator
 * provisioned; the hybrid-text-search example reconciles and what is ingested through the engine's Service comes
 * back from a retriever; a worker pod force-deleted mid-batch leaves the batch complete with every document exactly
 * once; a Model whose files are in the in-cluster MinIO (s3:// source, credentials Secret) is fetched by the engine
 * pod and both worker pods (each with its own read-only role) and becomes Ready; `helm
 * uninstall` leaves no pod or Job behind.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { S3ObjectStore } from '#engine/objects/s3.ts';
import { RemoteVectorStore } from '#engine/vector/remote/client.ts';
import { createTestNamespace } from '../harness/env.ts';
import { eventually } from '../harness/eventually.ts';
import { ROOT } from '../harness/test-env.ts';
import { helmOk, kubectlOk, uniqueName } from '../charts/chart-helpers.ts';
import { Abstracts, applyHybridExample, assertExactlyOnce, clusterValues, docIdOf, EngineClient, helmInstall, hostPathClaim, installServices, killBatchDocs, pods, ROUND_TRIP_DOCS, removeLeftovers, uninstallLeavesNothing, waitReleaseAvailable } from './pod-helpers.ts';

const TINY_RERANKER = path.join(ROOT, 'test/fixtures/models/tiny_reranker');

describe('split mode on pods: operator, engine, workers and the served embedded vector store as separate pods', () => {
  const release = uniqueName('ps');
  const name = `${release}-quarry`;
  let ns: { name: string; cleanup(): Promise<void> };
  let work: { name: string; cleanup(): Promise<void> };
  const pvs: string[] = [];
  let engine: EngineClient;
  let abstracts: Abstracts;
  /** The served store reached from this machine on its Service's ClusterIP, with the release's token. */
  let store: { url: string; token: string };

  before(async () => {
    await helmOk(['upgrade', '--install', 'quarry-crds', path.join(ROOT, 'charts/quarry-crds'), '--wait']);
    ns = await createTestNamespace('pods-split');
    work = await createTestNamespace('pods-split-work');
    await installServices(ns.name);
    pvs.push(await hostPathClaim(ns.name, 'quarry-models', { dir: path.join(ROOT, 'models'), readOnly: true, size: '5Gi' }));
    pvs.push(await hostPathClaim(ns.name, 'quarry-vectors'));
    await helmInstall(release, ns.name, [
      ...clusterValues(ns.name, 'quarry-models'),
      'vectorStore.kind=embedded', 'vectorStore.server.persistence.existingClaim=quarry-vectors',
      // One node with 2 CPUs: one operator and one engine (leader election stays on), two workers to kill one of,
      // and requests small enough for all of them, NATS and MinIO to be scheduled.
      'operator.replicas=1', 'engine.replicas=1', 'worker.replicas=2',
      'operator.resources.requests.cpu=50m', 'engine.resources.requests.cpu=100m', 'worker.resources.requests.cpu=100m',
      'vectorStore.server.resources.requests.cpu=100m',
      'rbac.scope=namespaces', `rbac.namespaces={${work.name}}`,
      // The in-cluster MinIO may be named by a Model's s3 source (storage policy: QUARRY_STORAGE_ENDPOINTS).
      `storage.endpoints={minio.${ns.name}.svc.cluster.local:9000}`,
    ]);
  });

  after(() => removeLeftovers(release, ns, work, pvs));

  it('every Deployment is Available and the vector-store StatefulSet Ready, with their probes; /v1/health is ok on the remote store', async () => {
    const ready = await waitReleaseAvailable(release, ns.name);
    const byComponent = new Map<string, number>();
    for (const p of ready) {
      const component = p.metadata.labels?.['app.kubernetes.io/component'] ?? '?';
      byComponent.set(component, (byComponent.get(component) ?? 0) + 1);
      assert.equal(p.status.phase, 'Running', p.metadata.name);
      assert.ok(p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), `${p.metadata.name} not Ready`);
      assert.ok(p.spec.containers[0]!.livenessProbe, `${p.metadata.name} has a liveness probe`);
      if (component !== 'worker') assert.ok(p.spec.containers[0]!.readinessProbe, `${p.metadata.name} has a readiness probe`);
    }
    assert.deepEqual(Object.fromEntries(byComponent), { operator: 1, engine: 1, worker: 2, 'vector-store': 1 });
    engine = await EngineClient.forRelease(release, ns.name, 'research');
    abstracts = new Abstracts(engine);
    const health = await engine.call<{ status: string; checks: Record<string, { status: string; kind?: string }> }>('GET', '/v1/health');
    assert.equal(health.checks.vector_store?.kind, 'remote');
    assert.equal(health.checks.job_queue?.kind, 'nats');
    assert.equal(health.checks.object_store?.kind, 's3');
    for (const [check, c] of Object.entries(health.checks)) assert.equal(c.status, 'ok', check);
  });

  it('the served store answers only with the release token', async () => {
    const svc = JSON.parse(await kubectlOk(['get', 'service', `${name}-vector-store`, '-o', 'json'], { namespace: ns.name })) as { spec: { clusterIP: string; ports: { name: string; port: number }[] } };
    const token = Buffer.from(await kubectlOk(['get', 'secret', `${name}-vector-store-token`, '-o', 'jsonpath={.data.token}'], { namespace: ns.name }), 'base64').toString();
    assert.match(token, /^[A-Za-z0-9]{48}$/, 'the generated token');
    store = { url: `http://${svc.spec.clusterIP}:${svc.spec.ports.find((p) => p.name === 'http')!.port}`, token };
    const wrong = new RemoteVectorStore({ url: store.url, token: 'not-the-token' });
    await assert.rejects(wrong.listCollections(), (e: unknown) => e instanceof QuarryError && /HTTP 401/.test(e.message));
    assert.ok(Array.isArray(await new RemoteVectorStore(store).listCollections()));
  });

  it('the hybrid-text-search example reconciles, and what is ingested through the Service comes back from a retriever', async () => {
    await applyHybridExample(work.name);
    // The operator (its own pod) provisioned the namespace's vector collection in the served store.
    const collections = await new RemoteVectorStore(store).listCollections();
    assert.ok(collections.length > 0, 'the operator provisioned no collection in the served store');
    const id = await abstracts.ingest(ROUND_TRIP_DOCS);
    const done = await abstracts.completed(id, 180_000);
    assert.equal(done.tier_tasks[0]!.progress.failed, 0);
    const documents = await abstracts.search('does vitamin D prevent fractures');
    assert.ok(documents[0], 'the retriever returned nothing');
    assert.equal(docIdOf(documents[0]), 'vitamin-d', JSON.stringify(documents.slice(0, 3)));
  });

  it('a worker pod force-deleted mid-batch leaves the batch complete with every document exactly once', async (t) => {
    const n = 150;
    const docs = killBatchDocs(n);
    const id = await abstracts.ingest(docs);
    const mid = await abstracts.underWay(id);
    // The victim: a worker that has been running the batch's jobs (its quarry_jobs_total, read from its metrics port).
    const jobsRun = async (podIP: string) => {
      const text = await (await fetch(`http://${podIP}:9090/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      return [...text.matchAll(/^quarry_jobs_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const { victim, ran } = await eventually('a worker to have run jobs', async () => {
      const workers = await pods(ns.name, `app.kubernetes.io/instance=${release},app.kubernetes.io/component=worker`);
      const counted = await Promise.all(workers.map(async (w) => ({ victim: w, ran: await jobsRun(w.status.podIP!) })));
      const busiest = counted.sort((a, b) => b.ran - a.ran)[0];
      return busiest && busiest.ran > 0 ? busiest : undefined;
    }, 60_000, 200);
    const atKill = await abstracts.batch(id);
    await kubectlOk(['delete', 'pod', victim.metadata.name, '--grace-period=0', '--force'], { namespace: ns.name });
    assert.ok(mid.tier_tasks[0]!.progress.processed > 0 && atKill.tier_tasks[0]!.progress.processed < n, `killed mid-batch (${atKill.tier_tasks[0]!.progress.processed}/${n} done)`);
    t.diagnostic(`killed ${victim.metadata.name} (it had run ${ran} jobs) with ${atKill.tier_tasks[0]!.progress.processed}/${n} jobs of the batch done`);
    const t0 = Date.now();
    const done = await abstracts.completed(id, 600_000);
    t.diagnostic(`the batch completed ${Math.round((Date.now() - t0) / 1000)} s after the kill`);
    assert.equal(done.tier_tasks[0]!.progress.total, n);
    assert.equal(done.tier_tasks[0]!.progress.failed, 0);
    await assertExactlyOnce(abstracts, docs);
    const now = await waitReleaseAvailable(release, ns.name);
    assert.equal(now.filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === 'worker').length, 2, 'the Deployment replaced the killed worker');
    const [vs] = now.filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === 'vector-store');
    assert.equal(vs?.status.containerStatuses?.[0]?.restartCount, 0, 'the served store ran through it');
  });

  it('a Model whose files are in the in-cluster MinIO (s3:// and a credentials Secret) is fetched by the engine and worker pods and becomes Ready', async () => {
    // The files go in through MinIO's Service from this machine, with the credentials installServices made.
    const secret = (key: string) => kubectlOk(['get', 'secret', 'minio-credentials', '-o', `jsonpath={.data.${key}}`], { namespace: ns.name }).then((b) => Buffer.from(b, 'base64').toString());
    const [accessKeyId, secretAccessKey] = [await secret('access-key-id'), await secret('secret-access-key')];
    const minioIp = (await kubectlOk(['get', 'service', 'minio', '-o', 'jsonpath={.spec.clusterIP}'], { namespace: ns.name })).trim();
    const s3 = new S3ObjectStore({ endpoint: `http://${minioIp}:9000`, region: 'us-east-1', accessKeyId, secretAccessKey, forcePathStyle: true });
    const files = ['model.onnx', 'tokenizer.json', 'tokenizer_config.json'];
    try {
      await s3.ensureBucket('model-sources');
      for (const f of files) await s3.put('model-sources', `rerankers/tiny/${f}`, readFileSync(path.join(TINY_RERANKER, f)));
    } finally {
      await s3.close();
    }
    // A Model without namespaceRefs may use a Secret of its namespace that is neither quarry-secrets-* nor labelled for a namespace.
    await kubectlOk(['create', 'secret', 'generic', 'model-reader', `--from-literal=accessKeyId=${accessKeyId}`, `--from-literal=secretAccessKey=${secretAccessKey}`], { namespace: work.name });
    const model = {
      apiVersion: 'quarry.dev/v1alpha1',
      kind: 'Model',
      metadata: { name: 'pods-reranker', namespace: work.name },
      spec: {
        type: 'reranker',
        source: { s3: { url: 's3://model-sources/rerankers/tiny/', endpoint: `http://minio.${ns.name}.svc.cluster.local:9000`, forcePathStyle: true, credentialsSecretRef: { name: 'model-reader' } } },
        files: files.map((f) => ({ path: f, role: f === 'model.onnx' ? 'model' : f.replace('.json', ''), sha256: createHash('sha256').update(readFileSync(path.join(TINY_RERANKER, f))).digest('hex') })),
        runtime: { maxTokens: 24 },
      },
    };
    await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(model) });
    interface ModelView { status?: { servedBy?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] } }
    let last: ModelView | undefined;
    // Served by the engine pod and by both worker pods (their read-only role, token and emptyDir model cache).
    await eventually('the Model to be Ready and served by the engine and both workers', async () => {
      last = JSON.parse(await kubectlOk(['get', 'model', 'pods-reranker', '-o', 'json'], { namespace: work.name })) as ModelView;
      return last.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && (last.status?.servedBy ?? 0) >= 3;
    }, 180_000, 2000).catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(last?.status)}`));
    assert.equal(last!.status!.conditions!.find((c) => c.type === 'Ready')!.reason, 'ModelServed');
  });

  it('helm uninstall runs its guard Job as a pod and leaves no pod or Job behind', async () => {
    await uninstallLeavesNothing(release, ns.name, work.name);
  });
});
