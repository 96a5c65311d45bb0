/**
 * The chart's vector store: by default it runs Qdrant (StatefulSet with a PersistentVolumeClaim, a generated API key
 * Secret, probes, a pinned image) and points every component at it; `connections.qdrant.url` uses an existing
 * Qdrant instead; `allInOne` runs operator, engine and workers as one process on embedded LanceDB on a PVC; embedded
 * with separate processes runs the served store (vector-store.yaml: a one-replica StatefulSet on a PVC, a token, a
 * NetworkPolicy) and points the three Deployments at it; an in-process embedded store set through extraEnv is refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { helm } from '../harness/env.ts';
import { QUARRY_CHART, renderChart, type K8sObject } from './chart-helpers.ts';

interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }
interface Container { name: string; image: string; command?: string[]; env?: EnvVar[]; ports?: { name: string; containerPort: number }[]; livenessProbe?: { httpGet?: { path: string } }; readinessProbe?: { httpGet?: { path: string } }; volumeMounts?: { name: string; mountPath: string }[] }
interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    strategy?: { type: string };
    volumeClaimTemplates?: { metadata: { name: string }; spec: { resources: { requests: { storage: string } } } }[];
    template: { spec: { serviceAccountName?: string; containers: Container[]; volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[] } };
  };
}

const env = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
const deployments = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Deployment') as Workload[];

describe('chart vector store', () => {
  it('default: the chart runs Qdrant (pinned image, PVC, API key Secret, probes) and every component uses it', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { release: 'quarry', namespace: 'quarry-system' });
    const sts = objects.find((o) => o.kind === 'StatefulSet') as Workload | undefined;
    assert.ok(sts, 'no Qdrant StatefulSet by default');
    assert.equal(sts.metadata.name, 'quarry-qdrant');
    const q = sts.spec.template.spec.containers[0]!;
    assert.match(q.image, /^qdrant\/qdrant:v\d+\.\d+\.\d+$/, 'Qdrant image pinned by tag');
    assert.equal(q.livenessProbe?.httpGet?.path, '/livez');
    assert.equal(q.readinessProbe?.httpGet?.path, '/readyz');
    assert.deepEqual(env(q).QDRANT__SERVICE__API_KEY, { secretKeyRef: { name: 'quarry-qdrant-api-key', key: 'api-key' } });
    assert.equal(sts.spec.volumeClaimTemplates?.[0]?.metadata.name, 'storage');
    assert.ok(q.volumeMounts?.some((m) => m.name === 'storage' && m.mountPath === '/qdrant/storage'));
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'quarry-qdrant-api-key') as (K8sObject & { stringData: Record<string, string> }) | undefined;
    assert.ok(secret, 'no API key Secret for the chart Qdrant');
    assert.match(secret.stringData['api-key']!, /^[A-Za-z0-9]{48}$/);
    assert.equal(secret.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    assert.ok(objects.some((o) => o.kind === 'Service' && o.metadata.name === 'quarry-qdrant'));
    const deps = deployments(objects);
    assert.equal(deps.length, 3);
    for (const d of deps) {
      const e = env(d.spec.template.spec.containers[0]!);
      assert.equal(e.QDRANT_URL, 'http://quarry-qdrant.quarry-system.svc:6333', d.metadata.name);
      assert.deepEqual(e.QDRANT_API_KEY, { secretKeyRef: { name: 'quarry-qdrant-api-key', key: 'api-key' } }, d.metadata.name);
      assert.equal(e.QUARRY_VECTOR_STORE, undefined);
    }
  });

  it('connections.qdrant.url: an existing Qdrant, no StatefulSet and no generated key', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { set: ['connections.qdrant.url=http://qdrant.db.svc:6333', 'connections.qdrant.apiKeySecretRef.name=my-qdrant'] });
    assert.ok(!objects.some((o) => o.kind === 'StatefulSet'));
    assert.ok(!objects.some((o) => o.kind === 'Secret'));
    for (const d of deployments(objects)) {
      const e = env(d.spec.template.spec.containers[0]!);
      assert.equal(e.QDRANT_URL, 'http://qdrant.db.svc:6333');
      assert.deepEqual(e.QDRANT_API_KEY, { secretKeyRef: { name: 'my-qdrant', key: 'api-key' } });
    }
  });

  it('allInOne + embedded: one Deployment running operator, engine and workers on LanceDB on a PVC', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { release: 'quarry', namespace: 'q', set: ['allInOne.enabled=true', 'vectorStore.kind=embedded'] });
    const deps = deployments(objects);
    assert.deepEqual(deps.map((d) => d.metadata.name), ['quarry-engine']);
    const d = deps[0]!;
    assert.equal(d.spec.replicas, 1);
    assert.equal(d.spec.strategy?.type, 'Recreate');
    const c = d.spec.template.spec.containers[0]!;
    assert.deepEqual(c.command, ['node', 'engine/src/all-in-one.ts']);
    const e = env(c);
    assert.equal(e.QUARRY_VECTOR_STORE, 'embedded');
    assert.equal(e.QUARRY_DATA_DIR, '/data');
    assert.equal(e.QDRANT_URL, undefined);
    assert.equal(e.LEADER_ELECT, 'false');
    assert.ok(Number(e.QUARRY_ENGINE_WORKERS) > 0);
    assert.ok(c.volumeMounts?.some((m) => m.name === 'data' && m.mountPath === '/data'));
    assert.equal(d.spec.template.spec.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName, 'quarry-engine-data');
    const pvc = objects.find((o) => o.kind === 'PersistentVolumeClaim');
    assert.equal(pvc?.metadata.name, 'quarry-engine-data');
    assert.ok(!objects.some((o) => o.kind === 'StatefulSet'), 'no Qdrant with the embedded store');
    // The one process reconciles too: the operator's rules are bound to the engine's ServiceAccount.
    const opBinding = objects.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === 'quarry-operator') as (K8sObject & { subjects: { name: string }[] }) | undefined;
    assert.deepEqual(opBinding?.subjects.map((s) => s.name), ['quarry-engine']);
    assert.deepEqual(objects.filter((o) => o.kind === 'ServiceAccount' && !o.metadata.annotations?.['helm.sh/hook']).map((o) => o.metadata.name), ['quarry-engine']);
    const ports = (c.ports ?? []).map((p) => p.name).sort();
    assert.deepEqual(ports, ['http', 'metrics', 'op-metrics']);
  });

  it('allInOne with Qdrant: one process, the chart Qdrant', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { set: ['allInOne.enabled=true'] });
    assert.equal(deployments(objects).length, 1);
    assert.ok(objects.some((o) => o.kind === 'StatefulSet'));
    assert.ok(!objects.some((o) => o.kind === 'PersistentVolumeClaim'));
  });

  it('embedded without allInOne: the chart serves the store (StatefulSet, PVC, Service, token Secret, probes, NetworkPolicy) and points the three components at it', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { release: 'quarry', namespace: 'q', set: ['vectorStore.kind=embedded'] });
    const sts = objects.filter((o) => o.kind === 'StatefulSet') as Workload[];
    assert.deepEqual(sts.map((o) => o.metadata.name), ['quarry-vector-store'], 'the served store and no Qdrant');
    const s = sts[0]!;
    assert.equal(s.spec.replicas, 1, 'one process owns the tables');
    const pod = s.spec.template.spec as Workload['spec']['template']['spec'] & { automountServiceAccountToken?: boolean; securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } } };
    const c = pod.containers[0]!;
    assert.deepEqual(c.command, ['node', 'engine/src/vector-store-main.ts']);
    assert.equal(c.image, 'ghcr.io/quarry-dev/quarry:0.1.0', 'the Quarry image');
    const e = env(c);
    assert.equal(e.QUARRY_DATA_DIR, '/data');
    assert.equal(e.QUARRY_HOST, '0.0.0.0');
    assert.equal(e.QUARRY_PORT, '8090');
    assert.deepEqual(e.QUARRY_VECTOR_STORE_TOKEN, { secretKeyRef: { name: 'quarry-vector-store-token', key: 'token' } });
    assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
    assert.ok(c.volumeMounts?.some((m) => m.name === 'data' && m.mountPath === '/data'));
    assert.ok(c.volumeMounts?.some((m) => m.mountPath === '/tmp'), 'a writable /tmp under the read-only root');
    assert.deepEqual(s.spec.volumeClaimTemplates?.map((t) => [t.metadata.name, t.spec.resources.requests.storage]), [['data', '10Gi']]);
    assert.equal(pod.automountServiceAccountToken, false, 'the store needs no Kubernetes API');
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    const cs = (c as Container & { securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean } }).securityContext;
    assert.equal(cs?.readOnlyRootFilesystem, true);
    assert.equal(cs?.allowPrivilegeEscalation, false);

    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'quarry-vector-store') as (K8sObject & { spec: { ports: { name: string; port: number }[] } }) | undefined;
    assert.deepEqual(svc?.spec.ports.map((p) => [p.name, p.port]), [['http', 8090], ['metrics', 9090]]);
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'quarry-vector-store-token') as (K8sObject & { stringData: Record<string, string> }) | undefined;
    assert.ok(secret, 'a generated token Secret');
    assert.match(secret.stringData.token!, /^[A-Za-z0-9]{48}$/);
    assert.equal(secret.metadata.annotations?.['helm.sh/hook'], 'pre-install', 'generated once: upgrades never rotate it');
    assert.equal(secret.metadata.annotations?.['helm.sh/resource-policy'], 'keep');

    interface Policy extends K8sObject { spec: { podSelector: { matchLabels: Record<string, string> }; ingress: { ports: { port: string }[]; from?: { podSelector: { matchExpressions: { key: string; values: string[] }[] } }[] }[] } }
    const np = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'quarry-vector-store') as Policy | undefined;
    assert.ok(np, 'a NetworkPolicy for the store even with networkPolicy.enabled=false');
    assert.equal(np.spec.podSelector.matchLabels['app.kubernetes.io/component'], 'vector-store');
    const api = np.spec.ingress.find((r) => r.ports.some((p) => p.port === 'http'))!;
    const exprs = Object.fromEntries(api.from![0]!.podSelector.matchExpressions.map((x) => [x.key, x.values]));
    assert.deepEqual(exprs, { 'app.kubernetes.io/name': ['quarry'], 'app.kubernetes.io/instance': ['quarry'], 'app.kubernetes.io/component': ['operator', 'engine', 'worker'] });

    const deps = deployments(objects);
    assert.deepEqual(deps.map((d) => d.metadata.name).sort(), ['quarry-engine', 'quarry-operator', 'quarry-worker']);
    for (const d of deps) {
      const de = env(d.spec.template.spec.containers[0]!);
      assert.equal(de.QUARRY_VECTOR_STORE, 'remote', d.metadata.name);
      assert.equal(de.QUARRY_VECTOR_STORE_URL, 'http://quarry-vector-store.q.svc:8090', d.metadata.name);
      assert.deepEqual(de.QUARRY_VECTOR_STORE_TOKEN, { secretKeyRef: { name: 'quarry-vector-store-token', key: 'token' } }, d.metadata.name);
      assert.equal(de.QDRANT_URL, undefined, d.metadata.name);
      assert.ok(!d.spec.template.spec.volumes?.some((v) => v.persistentVolumeClaim && v.name === 'data'), `${d.metadata.name} mounts no store volume`);
    }
    // The engine fetches Model resources: their cache is a writable volume under the read-only root filesystem.
    const en = deps.find((d) => d.metadata.name === 'quarry-engine')!.spec.template.spec;
    assert.equal(env(en.containers[0]!).QUARRY_MODEL_CACHE_DIR, '/model-cache');
    assert.ok(en.containers[0]!.volumeMounts?.some((m) => m.name === 'model-cache' && m.mountPath === '/model-cache'));
    assert.ok(en.volumes?.some((v) => v.name === 'model-cache' && (v as { emptyDir?: unknown }).emptyDir));
  });

  it('the served store with an existing claim, a named token Secret, other ports, no NetworkPolicy', async () => {
    const { objects } = await renderChart(QUARRY_CHART, {
      release: 'quarry',
      namespace: 'q',
      set: ['vectorStore.kind=embedded', 'vectorStore.server.persistence.existingClaim=vectors', 'vectorStore.server.tokenSecretRef.name=my-token', 'vectorStore.server.tokenSecretRef.key=t', 'vectorStore.server.port=7000', 'vectorStore.server.networkPolicy.enabled=false'],
    });
    const s = objects.find((o) => o.kind === 'StatefulSet') as Workload;
    assert.equal(s.spec.volumeClaimTemplates, undefined);
    assert.equal(s.spec.template.spec.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName, 'vectors');
    assert.ok(!objects.some((o) => o.kind === 'Secret' && o.metadata.name.includes('vector-store')), 'no generated token');
    assert.ok(!objects.some((o) => o.kind === 'NetworkPolicy'));
    for (const d of [...deployments(objects), s]) {
      const e = env(d.spec.template.spec.containers[0]!);
      assert.deepEqual(e.QUARRY_VECTOR_STORE_TOKEN, { secretKeyRef: { name: 'my-token', key: 't' } }, d.metadata.name);
    }
    for (const d of deployments(objects)) assert.equal(env(d.spec.template.spec.containers[0]!).QUARRY_VECTOR_STORE_URL, 'http://quarry-vector-store.q.svc:7000');
  });

  it('no served store with Qdrant or allInOne; an in-process embedded store set through extraEnv is still refused', async () => {
    for (const set of [[], ['allInOne.enabled=true', 'vectorStore.kind=embedded'], ['allInOne.enabled=true']]) {
      const { objects } = await renderChart(QUARRY_CHART, { set });
      assert.ok(!objects.some((o) => o.metadata.name.includes('vector-store')), `vector-store objects with ${set.join(' ') || 'defaults'}`);
    }
    const e = await helm(['template', 'x', QUARRY_CHART, '--set', 'worker.extraEnv[0].name=QUARRY_VECTOR_STORE', '--set', 'worker.extraEnv[0].value=embedded']);
    assert.notEqual(e.code, 0);
    assert.match(e.stderr, /worker\.extraEnv sets QUARRY_VECTOR_STORE=embedded.*set vectorStore\.kind=embedded instead/);
  });
});
