/**
 * What the pod suite does on the test cluster: in-cluster NATS and MinIO from the locally built images, hostPath
 * PersistentVolumes pre-bound to their claims (no provisioner on a one-node test cluster), `helm install` of the
 * Quarry chart on the local image, waiting for Deployments, and an HTTP client for the engine's Service (its
 * ClusterIP: kube-proxy's rules serve it on the node too).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { kubectl } from '../harness/env.ts';
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

interface Pod { metadata: { name: string; labels?: Record<string, string> }; status: { phase: string; conditions?: { type: string; status: string }[]; containerStatuses?: { ready: boolean; restartCount: number }[] }; spec: { containers: { readinessProbe?: unknown; livenessProbe?: unknown }[] } }

export async function pods(ns: string, selector: string): Promise<Pod[]> {
  return (JSON.parse(await kubectlOk(['get', 'pods', '-l', selector, '-o', 'json'], { namespace: ns })) as { items: Pod[] }).items;
}

/** Every Deployment of the release Available; returns the release's pods, each Ready. */
export async function waitReleaseAvailable(release: string, ns: string, timeoutS = 300): Promise<Pod[]> {
  const sel = `app.kubernetes.io/instance=${release}`;
  const r = await kubectl(['wait', '--for=condition=Available', 'deployment', '-l', sel, `--timeout=${timeoutS}s`], { namespace: ns });
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
    return new EngineClient(`http://${svc.spec.clusterIP}:${port}`, key, quarryNamespace);
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
