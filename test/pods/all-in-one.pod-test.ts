/**
 * The quarry chart installed with `helm install` on a cluster that runs pods (make test-pods): allInOne mode with the
 * embedded vector store (LanceDB on a PersistentVolumeClaim), the image hack/cluster/images.sh builds, in-cluster NATS
 * and MinIO pods, the models on a read-only claim. The Deployment becomes Available with its probes passing; the
 * hybrid-text-search example reconciles; objects ingested through the engine's Service come back from a retriever;
 * the pod (which runs the workers) killed mid-batch leaves the batch complete with every document exactly once; and
 * `helm uninstall` (its pre-delete guard Job runs as a pod) leaves no pod or Job behind.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestNamespace } from '../harness/env.ts';
import { ROOT } from '../harness/test-env.ts';
import { helmOk, kubectlOk, uniqueName } from '../charts/chart-helpers.ts';
import { Abstracts, applyHybridExample, assertExactlyOnce, clusterValues, docIdOf, EngineClient, helmInstall, hostPathClaim, installServices, killBatchDocs, pods, ROUND_TRIP_DOCS, removeLeftovers, uninstallLeavesNothing, waitReleaseAvailable } from './pod-helpers.ts';

describe('allInOne on pods: helm install, Ready probes, a round trip, a pod killed mid-batch, helm uninstall', () => {
  const release = uniqueName('pa');
  let ns: { name: string; cleanup(): Promise<void> };
  let work: { name: string; cleanup(): Promise<void> };
  const pvs: string[] = [];
  let engine: EngineClient;
  let abstracts: Abstracts;

  before(async () => {
    await helmOk(['upgrade', '--install', 'quarry-crds', path.join(ROOT, 'charts/quarry-crds'), '--wait']);
    ns = await createTestNamespace('pods-aio');
    work = await createTestNamespace('pods-aio-work');
    await installServices(ns.name);
    pvs.push(await hostPathClaim(ns.name, 'quarry-models', { dir: path.join(ROOT, 'models'), readOnly: true, size: '5Gi' }));
    pvs.push(await hostPathClaim(ns.name, 'quarry-data'));
    await helmInstall(release, ns.name, [
      ...clusterValues(ns.name, 'quarry-models'),
      'allInOne.enabled=true', 'vectorStore.kind=embedded', 'allInOne.persistence.existingClaim=quarry-data',
      'rbac.scope=namespaces', `rbac.namespaces={${work.name}}`,
    ]);
  });

  after(() => removeLeftovers(release, ns, work, pvs));

  it('the Deployment is Available, its pod Ready with both probes, and /v1/health is ok on every dependency', async () => {
    const ready = await waitReleaseAvailable(release, ns.name);
    assert.equal(ready.length, 1, 'allInOne runs one pod');
    for (const p of ready) {
      assert.equal(p.status.phase, 'Running');
      assert.ok(p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), `${p.metadata.name} not Ready`);
      assert.ok(p.spec.containers[0]!.readinessProbe && p.spec.containers[0]!.livenessProbe, 'both probes are set');
    }
    engine = await EngineClient.forRelease(release, ns.name, 'research');
    abstracts = new Abstracts(engine);
    const health = await engine.call<{ status: string; checks: Record<string, { status: string; kind?: string }> }>('GET', '/v1/health');
    assert.equal(health.checks.vector_store?.kind, 'embedded');
    assert.equal(health.checks.job_queue?.kind, 'nats');
    assert.equal(health.checks.object_store?.kind, 's3');
    for (const [name, c] of Object.entries(health.checks)) assert.equal(c.status, 'ok', name);
  });

  it('the hybrid-text-search example reconciles, and what is ingested through the Service comes back from a retriever', async () => {
    await applyHybridExample(work.name);
    const id = await abstracts.ingest(ROUND_TRIP_DOCS);
    const done = await abstracts.completed(id, 180_000);
    assert.equal(done.tier_tasks[0]!.progress.failed, 0);
    const documents = await abstracts.search('does vitamin D prevent fractures');
    const top = documents[0];
    assert.ok(top, 'the retriever returned nothing');
    assert.equal(docIdOf(top), 'vitamin-d', JSON.stringify(documents.slice(0, 3)));
  });

  it('the pod running the workers, killed mid-batch, leaves the batch complete with every document exactly once', async (t) => {
    const n = 150;
    const docs = killBatchDocs(n);
    const id = await abstracts.ingest(docs);
    const mid = await abstracts.underWay(id);
    const [victim] = await pods(ns.name, `app.kubernetes.io/instance=${release}`);
    await kubectlOk(['delete', 'pod', victim!.metadata.name, '--grace-period=0', '--force'], { namespace: ns.name });
    assert.ok(mid.tier_tasks[0]!.progress.processed < n, 'killed mid-batch');
    t.diagnostic(`killed ${victim!.metadata.name} with ${mid.tier_tasks[0]!.progress.processed}/${n} jobs done`);
    const t0 = Date.now();
    await waitReleaseAvailable(release, ns.name);
    const done = await abstracts.completed(id, 600_000);
    t.diagnostic(`the batch completed ${Math.round((Date.now() - t0) / 1000)} s after the kill`);
    assert.equal(done.tier_tasks[0]!.progress.total, n);
    assert.equal(done.tier_tasks[0]!.progress.failed, 0);
    await assertExactlyOnce(abstracts, docs);
  });

  it('helm uninstall runs its guard Job as a pod and leaves no pod or Job behind', async () => {
    await uninstallLeavesNothing(release, ns.name, work.name);
  });
});
