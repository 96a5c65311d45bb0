/**
 * What the pod suite does on the test cluster: in-cluster NATS and MinIO from the locally built images, hostPath
 * PersistentVolumes pre-bound to their claims (no provisioner on a one-node test cluster), `helm install` of the
 * Quarry chart on the local image, waiting for Deployments, and an HTTP client for the engine's Service (its
 * ClusterIP: kube-proxy's rules serve it on the node too).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { helm, kubectl } from '../harness/env.ts';
import { eventually } from '../harness/eventually.ts';
import { CLUSTER_DIR } from '../harness/pods/cluster.ts';
import { ROOT } from '../harness/test-env.ts';
import { helmOk, kubectlOk } from '../charts/chart-helpers.ts';

export const QUARRY_IMAGE = { repository: 'quarry.local/quarry', tag: 'test' };

/** NATS (JetStream) and MinIO Deployments + Services in `ns` (test/pods/fixtures/services.yaml), Available. */
export async function installServices(ns: string): Promise<void> {
  await kubectlOk(['create', 'secret', 'generic', 'minio-credentials', '--from-literal=access-key-id=quarry-pods', `--from-literal=secret-access-key=${randomBytes(16).toString('hex')}`], { namespace: ns });
  await kubectlOk(['apply', '-f', path.join(ROOT, 'test/pods/fixtures/services.yaml')], { namespace: ns });
  await kubectlOk(['wait', '--for=condition=Available', 'deployment/nats', 'deployment/minio', '--timeout=180s'], { namespace: ns });
}

/**
 * A PersistentVolume on a node directory, bound to the claim `claim` in `ns` (claimRef + volumeName, so nothing else
 * takes it). `dir` undefined: a fresh writable directory under the cluster's state directory.
 */
export async function hostPathClaim(ns: string, claim: string, opts: { dir?: string; readOnly?: boolean; size?: string } = {}): Promise<string> {
  const dir = opts.dir ?? path.join(CLUSTER_DIR, 'volumes', `${ns}-${claim}`);
  if (!opts.dir) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777); // hostPath volumes ignore fsGroup: the pods run as UID 10001
  }
  const pv = `${ns}-${claim}`;
  const mode = opts.readOnly ? 'ReadOnlyMany' : 'ReadWriteOnce';
  const size = opts.size ?? '10Gi';
  await kubectlOk(['apply', '-f', '-'], {
    input: [
      { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: pv, labels: { 'quarry.dev/test': 'pods' } }, spec: { capacity: { storage: size }, accessModes: [mode], storageClassName: '', persistentVolumeReclaimPolicy: 'Retain', hostPath: { path: realpathSync(dir), type: 'Directory' }, claimRef: { namespace: ns, name: claim } } },
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: claim, namespace: ns }, spec: { accessModes: [mode], storageClassName: '', volumeName: pv, resources: { requests: { storage: size } } } },
    ].map((o) => JSON.stringify(o)).join('\n'),
  });
  return pv;
}

/** The chart's values for this cluster: the local image, the in-cluster NATS and MinIO of `ns`, models from a claim. */
export function clusterValues(ns: string, modelsClaim: string): string[] {
  return [
    `image.repository=${QUARRY_IMAGE.repository}`, `image.tag=${QUARRY_IMAGE.tag}`, 'image.pullPolicy=Never',
    `connections.nats.url=nats://nats.${ns}.svc.cluster.local:4222`,
    `connections.s3.endpoint=http://minio.${ns}.svc.cluster.local:9000`, 'connections.s3.forcePathStyle=true',
    'connections.s3.credentialsSecretRef.name=minio-credentials',
    'models.volume=persistentVolumeClaim', `models.claimName=${modelsClaim}`,
    'apiKeys.bootstrap.create=true',
  ];
}

export async function helmInstall(release: string, ns: string, set: string[]): Promise<void> {
  await helmOk(['install', release, path.join(ROOT, 'charts/quarry'), '--namespace', ns, ...set.flatMap((s) => ['--set', s])]);
}

interface Pod { metadata: { name: string; labels?: Record<string, string> }; status: { phase: string; podIP?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { ready: boolean; restartCount: number }[] }; spec: { containers: { readinessProbe?: unknown; livenessProbe?: unknown }[] } }

export async function pods(ns: string, selector: string): Promise<Pod[]> {
  return (JSON.parse(await kubectlOk(['get', 'pods', '-l', selector, '-o', 'json'], { namespace: ns })) as { items: Pod[] }).items;
}

/** Every Deployment of the release Available and every StatefulSet rolled out; returns the release's pods, each Ready. */
export async function waitReleaseAvailable(release: string, ns: string, timeoutS = 300): Promise<Pod[]> {
  const sel = `app.kubernetes.io/instance=${release}`;
  let r = await kubectl(['wait', '--for=condition=Available', 'deployment', '-l', sel, `--timeout=${timeoutS}s`], { namespace: ns });
  const statefulSets = (await kubectlOk(['get', 'statefulsets', '-l', sel, '-o', 'name'], { namespace: ns })).split('\n').filter(Boolean);
  for (const s of statefulSets) if (r.code === 0) r = await kubectl(['rollout', 'status', s, `--timeout=${timeoutS}s`], { namespace: ns });
  if (r.code !== 0) {
    const diag = await kubectl(['describe', 'pods', '-l', sel], { namespace: ns });
    const logs = await kubectl(['logs', '-l', sel, '--tail=40', '--all-containers'], { namespace: ns });
    assert.fail(`release ${release} not Available: ${r.stderr}\n${diag.stdout.slice(-4000)}\n${logs.stdout.slice(-4000)}`);
  }
  return pods(ns, sel);
}

/** Waits until no pod and no Job of the release is left in `ns`. */
export async function waitReleaseGone(release: string, ns: string): Promise<void> {
  await eventually(`release ${release}'s pods and jobs to go`, async () => {
    const left = await kubectlOk(['get', 'pods,jobs', '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name'], { namespace: ns });
    return left.trim() === '' ? true : undefined;
  }, 120_000, 1000);
}

/** The engine's API on its Service's ClusterIP, with the release's bootstrap API key. */
export class EngineClient {
  readonly base: string;
  readonly xns: string;
  private readonly key: string;

  private constructor(base: string, key: string, xns: string) {
    this.base = base;
    this.key = key;
    this.xns = xns;
  }

  static async forRelease(release: string, ns: string, quarryNamespace: string): Promise<EngineClient> {
    const svc = JSON.parse(await kubectlOk(['get', 'service', `${release}-quarry-engine`, '-o', 'json'], { namespace: ns })) as { spec: { clusterIP: string; ports: { name: string; port: number }[] } };
    const port = svc.spec.ports.find((p) => p.name === 'http')?.port ?? 8080;
    const key = Buffer.from(await kubectlOk(['get', 'secret', `${release}-quarry-bootstrap-api-key`, '-o', 'jsonpath={.data.api-key}'], { namespace: ns }), 'base64').toString();
    assert.match(key, /^sk_/);
    const base = `http://${svc.spec.clusterIP}:${port}`;
    // A Ready pod is routed through its Service's ClusterIP once kube-proxy has programmed the new endpoints, a moment
    // later: until then a connection is refused ("fetch failed"). Wait for the Service to answer at all.
    await eventually(`the engine Service ${base} answers`, async () => (await fetch(`${base}/v1/health`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined)) !== undefined, 60_000, 500);
    return new EngineClient(base, key, quarryNamespace);
  }

  async call<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<T> {
    const r = await fetch(`${this.base}${url}`, {
      method,
      headers: { authorization: `Bearer ${this.key}`, 'x-namespace': this.xns, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }
}

export interface BatchView { batch_id: string; status: string; tier_tasks: { progress: { total: number; processed: number; failed: number; documents_written: number } }[] }
/** fieldPassthrough puts doc_id at the top level or under metadata, as the collection declares. */
export const docIdOf = (d: Record<string, unknown>) => String(d.doc_id ?? (d.metadata as Record<string, unknown> | undefined)?.doc_id);
export const TERMINAL = new Set(['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELED']);

/**
 * The examples/hybrid-text-search round trip through the engine's API: abstracts ingested as one submitted batch,
 * the batch awaited, the collection's documents counted by doc_id, a feature search on the abstracts.
 */
export class Abstracts {
  private readonly engine: EngineClient;

  constructor(engine: EngineClient) {
    this.engine = engine;
  }

  async ingest(docs: { id: string; text: string }[]): Promise<string> {
    const ids: string[] = [];
    for (const d of docs) {
      const o = await this.engine.call<{ object_id: string }>('POST', '/v1/buckets/abstracts/objects', { blobs: [{ property: 'abstract', type: 'text', data: d.text }], metadata: { doc_id: d.id, title: d.id, year: 2020 } });
      ids.push(o.object_id);
    }
    const b = await this.engine.call<{ batch_id: string }>('POST', '/v1/buckets/abstracts/batches', { object_ids: ids });
    await this.engine.call('POST', `/v1/buckets/abstracts/batches/${b.batch_id}/submit`);
    return b.batch_id;
  }

  batch(id: string): Promise<BatchView> {
    return this.engine.call<BatchView>('GET', `/v1/buckets/abstracts/batches/${id}`);
  }

  completed(id: string, timeoutMs: number): Promise<BatchView> {
    return eventually(`batch ${id} to complete`, async () => {
      const b = await this.batch(id);
      if (TERMINAL.has(b.status) && b.status !== 'COMPLETED') throw new Error(`batch ended ${b.status}: ${JSON.stringify(b.tier_tasks)}`);
      return b.status === 'COMPLETED' ? b : undefined;
    }, timeoutMs, 1000);
  }

  /** The batch once the workers have started on it and before they are done: mid-batch, not before or after. */
  underWay(id: string): Promise<BatchView> {
    return eventually('the batch to be under way', async () => {
      const b = await this.batch(id);
      if (TERMINAL.has(b.status)) throw new Error(`the batch finished (${b.status}) before the kill: make it bigger`);
      return b.tier_tasks[0]!.progress.processed > 0 ? b : undefined;
    }, 120_000, 100);
  }

  /** How many documents of abstract-passages carry each doc_id starting with `prefix`. */
  async documentCounts(prefix: string): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (let offset = 0; ; offset += 500) {
      const page = await this.engine.call<{ results: Record<string, unknown>[] }>('POST', '/v1/collections/abstract-passages/documents/list', { limit: 500, offset, select: ['doc_id', 'metadata.doc_id'] });
      for (const d of page.results) {
        const docId = docIdOf(d);
        if (docId.startsWith(prefix)) counts.set(docId, (counts.get(docId) ?? 0) + 1);
      }
      if (page.results.length < 500) break;
    }
    return counts;
  }

  /** The top documents of a dense search on the abstracts' MiniLM embeddings. */
  async search(query: string): Promise<Record<string, unknown>[]> {
    const res = await this.engine.call<{ documents: Record<string, unknown>[] }>('POST', '/v1/retrievers/execute', {
      collection_identifiers: ['abstract-passages'],
      input_schema: { query: { type: 'text', required: true } },
      stages: [{ stage_name: 'search', stage_type: 'filter', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: 'quarry://text_extractor@v1/all_minilm_l6_v2', query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 3 }] } } }],
      inputs: { query },
    });
    return res.documents;
  }
}

/** Every document of `docs` exactly once in abstract-passages: one passage per abstract (one sentence each). */
export async function assertExactlyOnce(abstracts: Abstracts, docs: { id: string }[]): Promise<void> {
  const counts = await abstracts.documentCounts('kill-');
  const missing = docs.filter((d) => !counts.has(d.id)).map((d) => d.id);
  const twice = [...counts].filter(([, c]) => c > 1);
  assert.deepEqual({ missing, twice }, { missing: [], twice: [] });
  assert.equal(counts.size, docs.length);
}

/**
 * The README's uninstall order: the Quarry resources of `work` first, while the operator runs (their finalizers),
 * then `helm uninstall`, whose guard Job (operator/src/uninstall-guard.ts, a pod of the same image) deletes the
 * engine's API keys (that they go shows it ran); then no pod, Job, Deployment, StatefulSet or Service of the release
 * is left.
 */
export async function uninstallLeavesNothing(release: string, ns: string, work: string): Promise<void> {
  await kubectlOk(['delete', 'quarry', '--all', '--wait', '--timeout=180s'], { namespace: work });
  const keys = () => kubectlOk(['get', 'secrets', '-l', 'quarry.dev/api-key=true', '-o', 'name'], { namespace: ns });
  assert.notEqual((await keys()).trim(), '', 'the engine created its API key Secrets');
  await helmOk(['uninstall', release, '--namespace', ns, '--wait', '--timeout', '5m']);
  assert.equal((await keys()).trim(), '', 'the guard Job deleted the API keys');
  await waitReleaseGone(release, ns);
  const left = await kubectlOk(['get', 'deployments,statefulsets,services', '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name'], { namespace: ns });
  assert.equal(left.trim(), '');
}

/** What a failed test left of a release: the release without its guard, the namespaces, the volumes. */
export async function removeLeftovers(release: string, ns: { name: string; cleanup(): Promise<void> } | undefined, work: { cleanup(): Promise<void> } | undefined, pvs: string[]): Promise<void> {
  if (ns) await helm(['uninstall', release, '--namespace', ns.name, '--no-hooks', '--wait']);
  await work?.cleanup();
  await ns?.cleanup();
  for (const pv of pvs) await kubectl(['delete', 'pv', pv, '--wait=false']);
}

/** examples/hybrid-text-search applied to `work` and Ready (its reranking retriever only where the reranker is installed). */
export async function applyHybridExample(work: string): Promise<void> {
  await kubectlOk(['apply', '-f', path.join(ROOT, 'examples/hybrid-text-search')], { namespace: work });
  // Its named retriever reranks with ms_marco_minilm_l6_v2: Ready only where that model is installed (honest readiness).
  const reranker = existsSync(path.join(ROOT, 'models', 'ms_marco_minilm_l6_v2'));
  await waitQuarryReady(work, reranker ? [] : ['Retriever/abstract-hybrid-search']);
}

/** Three short abstracts; a search for "does vitamin D prevent fractures" must return vitamin-d first. */
export const ROUND_TRIP_DOCS = [
  { id: 'vitamin-d', text: 'Vitamin D supplements reduce fracture risk in older adults.' },
  { id: 'coffee', text: 'Coffee consumption is associated with lower mortality.' },
  { id: 'exercise', text: 'Aerobic exercise improves memory in the elderly.' },
];

/** `n` abstracts for a batch big enough to kill a pod in the middle of. */
export const killBatchDocs = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `kill-${i}`, text: `Trial number ${i} measured outcome ${i * 7} in cohort ${i % 9}.` }));

/** Waits for every Quarry resource of `ns` to be Ready at its current generation, but `except` (kind/name). */
export async function waitQuarryReady(ns: string, except: string[] = [], timeoutMs = 240_000): Promise<void> {
  interface Item { kind: string; metadata: { name: string; generation?: number }; status?: { observedGeneration?: number; conditions?: { type: string; status: string; message?: string }[] } }
  let notReady: Item[] = [];
  await eventually(`the Quarry resources of ${ns} to be Ready`, async () => {
    const items = (JSON.parse(await kubectlOk(['get', 'quarry', '-o', 'json'], { namespace: ns })) as { items: Item[] }).items.filter((o) => !except.includes(`${o.kind}/${o.metadata.name}`));
    notReady = items.filter((o) => !(o.status?.observedGeneration === o.metadata.generation && o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')));
    return items.length > 0 && notReady.length === 0;
  }, timeoutMs, 2000).catch((err: Error) => {
    throw new Error(`${err.message}: ${notReady.map((o) => `${o.kind}/${o.metadata.name} ${JSON.stringify(o.status?.conditions ?? [])}`).join('\n')}`);
  });
}
