/**
 * The quarry chart installed with `helm install` on a cluster that runs pods (make test-pods): allInOne mode with the
 * embedded vector store (LanceDB on a PersistentVolumeClaim), the image hack/cluster/images.sh builds, in-cluster NATS
 * and MinIO pods, the models on a read-only claim. The Deployment becomes Available with its probes passing; the
 * hybrid-text-search example reconciles; objects ingested through the engine's Service come back from a retriever;
 * the pod (which runs the workers) killed mid-batch leaves the batch complete with every document exactly once; and
 * `helm uninstall` (its pre-delete guard Job runs as a pod) leaves no pod or Job behind.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestNamespace, helm, kubectl } from '../harness/env.ts';
import { eventually } from '../harness/eventually.ts';
import { ROOT } from '../harness/test-env.ts';
import { helmOk, kubectlOk, uniqueName } from '../charts/chart-helpers.ts';
import { clusterValues, EngineClient, helmInstall, hostPathClaim, installServices, pods, waitQuarryReady, waitReleaseAvailable, waitReleaseGone } from './pod-helpers.ts';

interface BatchView { batch_id: string; status: string; tier_tasks: { progress: { total: number; processed: number; failed: number; documents_written: number } }[] }
/** fieldPassthrough puts doc_id at the top level or under metadata, as the collection declares. */
const docIdOf = (d: Record<string, unknown>) => String(d.doc_id ?? (d.metadata as Record<string, unknown> | undefined)?.doc_id);
const TERMINAL = new Set(['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELED']);

describe('allInOne on pods: helm install, Ready probes, a round trip, a pod killed mid-batch, helm uninstall', () => {
  const release = uniqueName('pa');
  let ns: { name: string; cleanup(): Promise<void> };
  let work: { name: string; cleanup(): Promise<void> };
  const pvs: string[] = [];
  let engine: EngineClient;

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

  after(async () => {
    // Whatever a failed test left: the release without its guard, the namespaces, the volumes.
    if (ns) await helm(['uninstall', release, '--namespace', ns.name, '--no-hooks', '--wait']);
    await work?.cleanup();
    await ns?.cleanup();
    for (const pv of pvs) await kubectl(['delete', 'pv', pv, '--wait=false']);
  });

  it('the Deployment is Available, its pod Ready with both probes, and /v1/health is ok on every dependency', async () => {
    const ready = await waitReleaseAvailable(release, ns.name);
    assert.equal(ready.length, 1, 'allInOne runs one pod');
    for (const p of ready) {
      assert.equal(p.status.phase, 'Running');
      assert.ok(p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), `${p.metadata.name} not Ready`);
      assert.ok(p.spec.containers[0]!.readinessProbe && p.spec.containers[0]!.livenessProbe, 'both probes are set');
    }
    engine = await EngineClient.forRelease(release, ns.name, 'research');
    const health = await engine.call<{ status: string; checks: Record<string, { status: string; kind?: string }> }>('GET', '/v1/health');
    assert.equal(health.checks.vector_store?.kind, 'embedded');
    assert.equal(health.checks.job_queue?.kind, 'nats');
    assert.equal(health.checks.object_store?.kind, 's3');
    for (const [name, c] of Object.entries(health.checks)) assert.equal(c.status, 'ok', name);
  });

  const ingest = async (docs: { id: string; text: string }[]) => {
    const ids: string[] = [];
    for (const d of docs) {
      const o = await engine.call<{ object_id: string }>('POST', '/v1/buckets/abstracts/objects', { blobs: [{ property: 'abstract', type: 'text', data: d.text }], metadata: { doc_id: d.id, title: d.id, year: 2020 } });
      ids.push(o.object_id);
    }
    const b = await engine.call<{ batch_id: string }>('POST', '/v1/buckets/abstracts/batches', { object_ids: ids });
    await engine.call('POST', `/v1/buckets/abstracts/batches/${b.batch_id}/submit`);
    return b.batch_id;
  };
  const batch = (id: string) => engine.call<BatchView>('GET', `/v1/buckets/abstracts/batches/${id}`);
  const completed = (id: string, timeoutMs: number) => eventually(`batch ${id} to complete`, async () => {
    const b = await batch(id);
    if (TERMINAL.has(b.status) && b.status !== 'COMPLETED') throw new Error(`batch ended ${b.status}: ${JSON.stringify(b.tier_tasks)}`);
    return b.status === 'COMPLETED' ? b : undefined;
  }, timeoutMs, 1000);

  it('the hybrid-text-search example reconciles, and what is ingested through the Service comes back from a retriever', async () => {
    await kubectlOk(['apply', '-f', path.join(ROOT, 'examples/hybrid-text-search')], { namespace: work.name });
    // Its named retriever reranks with ms_marco_minilm_l6_v2: Ready only where that model is installed (honest readiness).
    const reranker = existsSync(path.join(ROOT, 'models', 'ms_marco_minilm_l6_v2'));
    await waitQuarryReady(work.name, reranker ? [] : ['Retriever/abstract-hybrid-search']);
    const id = await ingest([
      { id: 'vitamin-d', text: 'Vitamin D supplements reduce fracture risk in older adults.' },
      { id: 'coffee', text: 'Coffee consumption is associated with lower mortality.' },
      { id: 'exercise', text: 'Aerobic exercise improves memory in the elderly.' },
    ]);
    const done = await completed(id, 180_000);
    assert.equal(done.tier_tasks[0]!.progress.failed, 0);
    const res = await engine.call<{ documents: Record<string, unknown>[] }>('POST', '/v1/retrievers/execute', {
      collection_identifiers: ['abstract-passages'],
      input_schema: { query: { type: 'text', required: true } },
      stages: [{ stage_name: 'search', stage_type: 'filter', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: 'quarry://text_extractor@v1/all_minilm_l6_v2', query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 3 }] } } }],
      inputs: { query: 'does vitamin D prevent fractures' },
    });
    const top = res.documents[0];
    assert.ok(top, `the retriever returned nothing: ${JSON.stringify(res)}`);
    assert.equal(docIdOf(top), 'vitamin-d', JSON.stringify(res.documents.slice(0, 3)));
  });

  it('the pod running the workers, killed mid-batch, leaves the batch complete with every document exactly once', async (t) => {
    const n = 150;
    const docs = Array.from({ length: n }, (_, i) => ({ id: `kill-${i}`, text: `Trial number ${i} measured outcome ${i * 7} in cohort ${i % 9}.` }));
    const id = await ingest(docs);
    // Kill once the workers have started on it and before they are done: mid-batch, not before or after.
    const mid = await eventually('the batch to be under way', async () => {
      const b = await batch(id);
      if (TERMINAL.has(b.status)) throw new Error(`the batch finished (${b.status}) before the kill: make it bigger`);
      return b.tier_tasks[0]!.progress.processed > 0 ? b : undefined;
    }, 120_000, 100);
    const [victim] = await pods(ns.name, `app.kubernetes.io/instance=${release}`);
    await kubectlOk(['delete', 'pod', victim!.metadata.name, '--grace-period=0', '--force'], { namespace: ns.name });
    assert.ok(mid.tier_tasks[0]!.progress.processed < n, 'killed mid-batch');
    t.diagnostic(`killed ${victim!.metadata.name} with ${mid.tier_tasks[0]!.progress.processed}/${n} jobs done`);
    const t0 = Date.now();
    await waitReleaseAvailable(release, ns.name);
    const done = await completed(id, 600_000);
    t.diagnostic(`the batch completed ${Math.round((Date.now() - t0) / 1000)} s after the kill`);
    assert.equal(done.tier_tasks[0]!.progress.total, n);
    assert.equal(done.tier_tasks[0]!.progress.failed, 0);
    // Every document exactly once in the collection: one passage per abstract (one sentence each).
    const counts = new Map<string, number>();
    for (let offset = 0; ; offset += 500) {
      const page = await engine.call<{ results: Record<string, unknown>[] }>('POST', '/v1/collections/abstract-passages/documents/list', { limit: 500, offset, select: ['doc_id', 'metadata.doc_id'] });
      for (const d of page.results) {
        const docId = docIdOf(d);
        if (docId.startsWith('kill-')) counts.set(docId, (counts.get(docId) ?? 0) + 1);
      }
      if (page.results.length < 500) break;
    }
    const missing = docs.filter((d) => !counts.has(d.id)).map((d) => d.id);
    const twice = [...counts].filter(([, c]) => c > 1);
    assert.deepEqual({ missing, twice }, { missing: [], twice: [] });
    assert.equal(counts.size, n);
  });

  it('helm uninstall runs its guard Job as a pod and leaves no pod or Job behind', async () => {
    // The resources first, while the operator runs (their finalizers), as the README's uninstall order says.
    await kubectlOk(['delete', 'quarry', '--all', '--wait', '--timeout=180s'], { namespace: work.name });
    // The guard Job (operator/src/uninstall-guard.ts, in a pod of the same image) deletes the engine's API keys: that
    // they go shows it ran.
    const keys = () => kubectlOk(['get', 'secrets', '-l', 'quarry.dev/api-key=true', '-o', 'name'], { namespace: ns.name });
    assert.notEqual((await keys()).trim(), '', 'the engine created its API key Secrets');
    await helmOk(['uninstall', release, '--namespace', ns.name, '--wait', '--timeout', '5m']);
    assert.equal((await keys()).trim(), '', 'the guard Job deleted the API keys');
    await waitReleaseGone(release, ns.name);
    const left = await kubectlOk(['get', 'deployments,statefulsets,services', '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name'], { namespace: ns.name });
    assert.equal(left.trim(), '');
  });
});
