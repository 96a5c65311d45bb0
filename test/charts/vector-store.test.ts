/**
 * The chart's vector store: by default it runs Qdrant (StatefulSet with a PersistentVolumeClaim, a generated API key
 * Secret, probes, a pinned image) and points every component at it; `connections.qdrant.url` uses an existing
 * Qdrant instead; `allInOne` runs operator, engine and workers as one process on embedded LanceDB on a PVC; embedded
 * with separate processes is refused by the schema and, with the schema skipped, by the templates.
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
    assert.deepEqual(c.command, ['node', '--import', 'tsx', 'engine/src/all-in-one.ts']);
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

  it('embedded with separate processes is refused by the schema', async () => {
    const r = await helm(['template', 'x', QUARRY_CHART, '--set', 'vectorStore.kind=embedded']);
    assert.notEqual(r.code, 0, 'rendered an embedded store shared by three Deployments');
    assert.match(r.stderr, /allInOne\/enabled/);
  });

  it('... and by the templates when the schema is skipped, also through extraEnv', async () => {
    const r = await helm(['template', 'x', QUARRY_CHART, '--set', 'vectorStore.kind=embedded', '--skip-schema-validation']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /vectorStore\.kind=embedded needs allInOne\.enabled=true/);
    const e = await helm(['template', 'x', QUARRY_CHART, '--set', 'worker.extraEnv[0].name=QUARRY_VECTOR_STORE', '--set', 'worker.extraEnv[0].value=embedded']);
    assert.notEqual(e.code, 0);
    assert.match(e.stderr, /worker\.extraEnv sets QUARRY_VECTOR_STORE=embedded/);
  });
});
