/**
 * Both charts pass `helm lint --strict` with their defaults and with every ci/*-values.yaml; the strict values schema
 * rejects typos; the rendered workloads carry the promised security, probes and scheduling settings.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { helm } from '../harness/env.ts';
import { ciValuesFiles, CRDS_CHART, QUARRY_CHART, renderChart, type K8sObject } from './chart-helpers.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-chart-lint-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function valuesFile(name: string, yaml: string): string {
  const f = path.join(scratch, name);
  writeFileSync(f, yaml);
  return f;
}

async function lint(chart: string, valuesFiles: string[] = []) {
  return helm(['lint', '--strict', chart, ...valuesFiles.flatMap((f) => ['-f', f])]);
}

describe('helm lint --strict', () => {
  for (const chart of [QUARRY_CHART, CRDS_CHART]) {
    const name = path.basename(chart);
    it(`${name}: defaults`, async () => {
      const r = await lint(chart);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });
    const files = ciValuesFiles(chart);
    it(`${name}: has ci values variants`, () => assert.ok(files.length >= 2, `only ${files.length} ci values files`));
    for (const f of files) {
      it(`${name}: ${path.basename(f)}`, async () => {
        const r = await lint(chart, [f]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
      });
    }
  }
});

describe('values.schema.json rejects mistakes', () => {
  const cases: { name: string; chart: string; yaml: string; error: RegExp }[] = [
    { name: 'top-level typo', chart: QUARRY_CHART, yaml: 'imagee:\n  tag: v1\n', error: /additional properties 'imagee' not allowed/ },
    { name: 'nested typo', chart: QUARRY_CHART, yaml: 'operator:\n  replica: 3\n', error: /at '\/operator'.*additional properties 'replica' not allowed/ },
    { name: 'typo in a resources block', chart: QUARRY_CHART, yaml: 'worker:\n  resources:\n    request: { cpu: 1 }\n', error: /additional properties 'request' not allowed/ },
    { name: 'typo in a Secret reference', chart: QUARRY_CHART, yaml: 'connections:\n  s3:\n    credentialsSecretRef:\n      nam: s3\n', error: /additional properties 'nam' not allowed/ },
    { name: 'unknown rbac scope', chart: QUARRY_CHART, yaml: 'rbac:\n  scope: namespace\n', error: /rbac\/scope/ },
    { name: 'namespaces scope without namespaces', chart: QUARRY_CHART, yaml: 'rbac:\n  scope: namespaces\n', error: /rbac\/namespaces/ },
    { name: 'credentials inline instead of by Secret', chart: QUARRY_CHART, yaml: 'connections:\n  qdrant:\n    apiKey: hunter2\n', error: /additional properties 'apiKey' not allowed/ },
    { name: 'bad digest', chart: QUARRY_CHART, yaml: 'image:\n  digest: latest\n', error: /image\/digest/ },
    { name: 'KEDA with a Prometheus address that is not a URL', chart: QUARRY_CHART, yaml: 'worker:\n  keda:\n    enabled: true\n    prometheus:\n      serverAddress: prometheus:9090\n', error: /worker\/keda\/prometheus\/serverAddress/ },
    { name: 'typo in the served vector store', chart: QUARRY_CHART, yaml: 'vectorStore:\n  kind: embedded\n  server:\n    replicas: 2\n', error: /at '\/vectorStore\/server'.*additional properties 'replicas' not allowed/ },
    { name: 'unknown vector store', chart: QUARRY_CHART, yaml: 'vectorStore:\n  kind: lancedb\n', error: /vectorStore\/kind/ },
    { name: 'wrong type', chart: QUARRY_CHART, yaml: 'engine:\n  replicas: "two"\n', error: /engine\/replicas/ },
    { name: 'stream prefix NATS cannot name', chart: QUARRY_CHART, yaml: 'connections:\n  nats:\n    streamPrefix: team.a\n', error: /connections\/nats\/streamPrefix/ },
    {
      name: 'two operator replicas without leader election',
      chart: QUARRY_CHART,
      yaml: 'operator:\n  leaderElection:\n    enabled: false\n',
      error: /at '\/operator\/replicas': maximum: got 2, want 1/,
    },
    { name: 'crds chart typo', chart: CRDS_CHART, yaml: 'crds:\n  keepp: true\n', error: /additional properties 'keepp' not allowed/ },
  ];
  for (const c of cases) {
    it(`${path.basename(c.chart)}: ${c.name}`, async () => {
      const f = valuesFile(`${c.name.replace(/\W+/g, '-')}.yaml`, c.yaml);
      const r = await lint(c.chart, [f]);
      assert.notEqual(r.code, 0, `lint accepted:\n${c.yaml}`);
      assert.match(r.stdout + r.stderr, c.error);
      const t = await helm(['template', 'x', c.chart, '-f', f]);
      assert.notEqual(t.code, 0, 'helm template accepted it too');
    });
  }
});

describe('operator replicas and leader election', () => {
  it('one replica without leader election renders (LEADER_ELECT=false); more need leader election (cases above)', async () => {
    const f = valuesFile('single-operator.yaml', 'operator:\n  replicas: 1\n  leaderElection:\n    enabled: false\n');
    const r = await lint(QUARRY_CHART, [f]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const { objects } = await renderChart(QUARRY_CHART, { valuesFiles: [f] });
    const op = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-operator')) as unknown as Deployment;
    assert.equal(op.spec.replicas, 1);
    assert.equal(envOf(op).LEADER_ELECT, 'false');
  });

  it('the template refuses several replicas without leader election even when the schema is skipped', async () => {
    const f = valuesFile('racing-operators.yaml', 'operator:\n  replicas: 3\n  leaderElection:\n    enabled: false\n');
    const t = await helm(['template', 'x', QUARRY_CHART, '-f', f, '--skip-schema-validation']);
    assert.notEqual(t.code, 0, 'rendered three active operators');
    assert.match(t.stderr, /operator\.replicas=3 with operator\.leaderElection\.enabled=false would run 3 active operators on the same objects/);
  });
});

describe('rendered workloads', () => {
  const workloads = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Deployment') as unknown as Deployment[];

  it('no webhooks and no lookup anywhere', () => {
    const dir = path.join(QUARRY_CHART, 'templates');
    const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.ok(files.length > 10);
    for (const e of files) {
      const f = path.relative(dir, path.join(e.parentPath, e.name));
      const text = readFileSync(path.join(dir, f), 'utf8');
      assert.doesNotMatch(text, /\blookup\b/, `${f} uses lookup`);
      assert.doesNotMatch(text, /WebhookConfiguration/, `${f} defines a webhook`);
    }
  });

  it('worker.modelResources=false: the worker gets no token, no role and no model cache', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { release: 'quarry', namespace: 'quarry-system', set: ['worker.modelResources=false'] });
    const wk = workloads(objects).find((d) => d.metadata.name === 'quarry-worker')!;
    assert.equal(wk.spec.template.spec.automountServiceAccountToken, false);
    assert.equal(envOf(wk).QUARRY_WORKER_MODEL_RESOURCES, 'false');
    assert.equal(envOf(wk).QUARRY_MODEL_CACHE_DIR, undefined);
    assert.equal(objects.filter((o) => /Role/.test(o.kind) && o.metadata.name === 'quarry-worker').length, 0);
    const sa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'quarry-worker') as unknown as { automountServiceAccountToken?: boolean };
    assert.equal(sa.automountServiceAccountToken, false);
  });

  it('defaults: operator x2 with leader election, engine + Service, worker; hardened pods with probes', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { release: 'quarry', namespace: 'quarry-system' });
    const deps = workloads(objects);
    assert.deepEqual(deps.map((d) => d.metadata.name).sort(), ['quarry-engine', 'quarry-operator', 'quarry-worker']);
    const byName = new Map(deps.map((d) => [d.metadata.name, d]));

    const op = byName.get('quarry-operator')!;
    assert.equal(op.spec.replicas, 2);
    const opEnv = envOf(op);
    assert.equal(opEnv.LEADER_ELECT, 'true');
    assert.equal(opEnv.LEADER_ELECTION_ID, 'quarry-operator');
    assert.equal(opEnv.WATCH_NAMESPACES, '');
    const opc = op.spec.template.spec.containers[0]!;
    assert.deepEqual(opc.command, ['node', '--max-semi-space-size=4', '--heap-growing-percent=50', 'operator/src/main.ts']);
    assert.equal(opEnv.MALLOC_ARENA_MAX, '2', 'the memory settings bench-reconcile measures the operator with');
    assert.deepEqual(opc.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(opc.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' });
    assert.equal(opc.ports?.[0]?.containerPort, 8081);

    const en = byName.get('quarry-engine')!;
    const enc = en.spec.template.spec.containers[0]!;
    assert.deepEqual(enc.command, ['node', 'engine/src/main.ts']);
    assert.deepEqual(enc.readinessProbe?.httpGet, { path: '/v1/health', port: 'http' }, 'readiness: every dependency');
    assert.deepEqual(enc.livenessProbe?.httpGet, { path: '/v1/health/liveness', port: 'http' }, 'liveness: a dependency outage must not restart the engine');
    assert.equal(enc.ports?.[0]?.containerPort, 8080);
    assert.equal(envOf(en).QUARRY_HOST, '0.0.0.0');
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'quarry-engine') as unknown as { spec: { ports: { port: number }[] } };
    assert.equal(svc.spec.ports[0]!.port, 8080);

    const wk = byName.get('quarry-worker')!;
    assert.deepEqual(wk.spec.template.spec.containers[0]!.command, ['node', 'engine/src/worker.ts']);
    // The worker reads Kubernetes only to serve Model resources: a token, a read-only role, a cache on an emptyDir.
    assert.equal(wk.spec.template.spec.automountServiceAccountToken, true, 'the worker watches Model resources');
    assert.equal(envOf(wk).QUARRY_WORKER_MODEL_RESOURCES, 'true');
    assert.equal(envOf(wk).QUARRY_MODEL_CACHE_DIR, '/model-cache');
    assert.equal(envOf(wk).WATCH_NAMESPACES, '');
    assert.ok(wk.spec.template.spec.containers[0]!.volumeMounts?.some((m) => m.mountPath === '/model-cache'), 'the worker has no model cache volume');
    const workerRole = objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'quarry-worker') as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] } | undefined;
    assert.deepEqual(workerRole?.rules, [
      { apiGroups: ['quarry.dev'], resources: ['models'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
    ], 'the worker\'s role is read-only: Models and the Secrets their sources name');
    const binding = objects.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === 'quarry-worker') as unknown as { subjects: { name: string }[] } | undefined;
    assert.deepEqual(binding?.subjects.map((x) => x.name), ['quarry-worker']);

    for (const d of deps) {
      const pod = d.spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true, d.metadata.name);
      assert.equal(pod.securityContext.seccompProfile?.type, 'RuntimeDefault', d.metadata.name);
      for (const c of pod.containers) {
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, `${d.metadata.name}/${c.name}`);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
        assert.deepEqual(c.securityContext.capabilities?.drop, ['ALL']);
        assert.ok(c.resources?.requests, `${c.name} has no resource requests`);
        assert.ok(c.volumeMounts?.some((m) => m.mountPath === '/tmp'), `${c.name}: writable /tmp missing`);
      }
    }
    const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget');
    assert.equal(pdbs.length, 3);
    // The only Secret by default: the API key of the chart's own Qdrant, generated once by a pre-install hook.
    const secrets = objects.filter((o) => o.kind === 'Secret');
    assert.deepEqual(secrets.map((o) => o.metadata.name), ['quarry-qdrant-api-key']);
    assert.equal(secrets[0]!.metadata.annotations?.['helm.sh/hook'], 'pre-install');
  });

  it('production values: digest, pull secrets, Secret references, scheduling knobs per component', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { valuesFiles: [path.join(QUARRY_CHART, 'ci/production-values.yaml')] });
    const deps = workloads(objects);
    for (const d of deps) {
      const pod = d.spec.template.spec;
      assert.match(pod.containers[0]!.image, /^registry\.example\.com\/quarry\/quarry@sha256:[0-9a-f]{64}$/);
      assert.deepEqual(pod.imagePullSecrets, [{ name: 'regcred' }]);
      const env = pod.containers[0]!.env!;
      const ref = (name: string) => env.find((e) => e.name === name)?.valueFrom?.secretKeyRef;
      assert.deepEqual(ref('QDRANT_API_KEY'), { name: 'quarry-qdrant', key: 'api-key' });
      assert.deepEqual(ref('S3_SECRET_KEY'), { name: 'quarry-s3', key: 'AWS_SECRET_ACCESS_KEY' });
      assert.deepEqual(ref('NATS_PASSWORD'), { name: 'quarry-nats', key: 'password' });
      assert.ok(pod.volumes?.some((v) => (v as { persistentVolumeClaim?: { claimName: string } }).persistentVolumeClaim?.claimName === 'quarry-models'));
    }
    const byName = new Map(deps.map((d) => [d.metadata.name, d.spec.template.spec]));
    assert.equal(byName.get('quarry-worker')!.tolerations?.[0]?.key, 'workload');
    assert.ok(byName.get('quarry-worker')!.nodeSelector);
    assert.ok(byName.get('quarry-engine')!.affinity?.podAntiAffinity);
    assert.equal(byName.get('quarry-engine')!.topologySpreadConstraints?.[0]?.topologyKey, 'topology.kubernetes.io/zone');
    assert.equal(byName.get('quarry-operator')!.topologySpreadConstraints?.[0]?.topologyKey, 'kubernetes.io/hostname');
    assert.equal(objects.filter((o) => o.kind === 'NetworkPolicy').length, 3);
    const pdb = (name: string) => (objects.find((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === name) as unknown as { spec: Record<string, unknown> }).spec;
    assert.equal(pdb('quarry-engine').minAvailable, 2, 'minAvailable, when set, wins');
    assert.equal(pdb('quarry-engine').maxUnavailable, undefined);
    assert.equal(pdb('quarry-operator').maxUnavailable, 1);
    assert.equal(envOf(deps.find((d) => d.metadata.name === 'quarry-engine')!).QUARRY_BOOTSTRAP_API_KEY, undefined);
  });

  it('NATS stream prefix: QUARRY by default, per installation when set, in every component', async () => {
    const prefixes = async (set: string[]) => workloads((await renderChart(QUARRY_CHART, { release: 'q', namespace: 'q', set })).objects).map((d) => envOf(d).NATS_STREAM_PREFIX);
    assert.deepEqual(await prefixes([]), ['QUARRY', 'QUARRY', 'QUARRY']);
    assert.deepEqual(await prefixes(['connections.nats.streamPrefix=TEAM_A']), ['TEAM_A', 'TEAM_A', 'TEAM_A']);
  });

  it('namespaced RBAC: Roles only in the listed namespaces, WATCH_NAMESPACES set, no ClusterRoles', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { valuesFiles: [path.join(QUARRY_CHART, 'ci/namespaced-values.yaml')] });
    assert.equal(objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding').length, 0);
    const roleNs = new Set(objects.filter((o) => o.kind === 'Role' && /-(operator|engine)$/.test(o.metadata.name)).map((o) => o.metadata.namespace));
    assert.deepEqual([...roleNs].sort(), ['quarry-ci-team-a', 'quarry-ci-team-b']);
    const op = workloads(objects).find((d) => d.metadata.name.endsWith('-operator'))!;
    assert.equal(envOf(op).WATCH_NAMESPACES, 'quarry-ci-team-a,quarry-ci-team-b');
  });

  it('KEDA: a ScaledObject on Quarry\'s pending-jobs metric, and the worker Deployment leaves replicas to it', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { valuesFiles: [path.join(QUARRY_CHART, 'ci/observability-values.yaml')] });
    const so = objects.find((o) => o.kind === 'ScaledObject') as unknown as { spec: { scaleTargetRef: { name: string }; triggers: { type: string; metadata: Record<string, string> }[] } };
    assert.equal(so.spec.scaleTargetRef.name, 'quarry-worker');
    assert.equal(so.spec.triggers[0]!.type, 'prometheus');
    assert.equal(so.spec.triggers[0]!.metadata.threshold, '20');
    assert.equal(so.spec.triggers[0]!.metadata.query, 'sum(max by (queue) (quarry_jobs_pending{namespace="quarry-system", job=~"quarry-engine|quarry-worker-metrics"}))');
    const worker = workloads(objects).find((d) => d.metadata.name === 'quarry-worker')!;
    assert.equal(worker.spec.replicas, undefined);
    // The query's job label is the Service name the ServiceMonitor scrapes: both Services exist with a metrics port.
    for (const name of ['quarry-engine', 'quarry-worker-metrics']) {
      const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === name) as unknown as { spec: { ports: { name: string }[] } } | undefined;
      assert.ok(svc?.spec.ports.some((p) => p.name === 'metrics'), `${name} has no metrics port`);
    }
    assert.equal(objects.filter((o) => o.kind === 'ServiceMonitor').length, 3);
  });

  it('Grafana dashboard: a ConfigMap with valid dashboard JSON whose every query names a series Quarry exports', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { valuesFiles: [path.join(QUARRY_CHART, 'ci/observability-values.yaml')] });
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'quarry-dashboard') as unknown as K8sObject & { data: Record<string, string> };
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    const dash = JSON.parse(cm.data['quarry.json']!) as { panels: { targets: { expr: string }[] }[] };
    const sources = ['engine/src/http/metrics.ts', 'engine/src/lib/metrics.ts', 'engine/src/queue/metrics.ts', 'engine/src/vector/metrics.ts', 'operator/src/runtime/metrics.ts'].map((f) => readFileSync(path.join(QUARRY_CHART, '../..', f), 'utf8')).join('\n');
    assert.ok(dash.panels.length >= 10);
    for (const p of dash.panels) {
      for (const t of p.targets) {
        const names = [...t.expr.matchAll(/\b((?:quarry|http|process|nodejs)_[a-z_]+?)(?:_bucket)?\{/g)].map((m) => m[1]!);
        assert.ok(names.length > 0, t.expr);
        for (const n of names) assert.ok(n.startsWith('process_') || n.startsWith('nodejs_') || sources.includes(`'${n}'`), `${n} is not exported (${t.expr})`);
      }
    }
  });

  it('bootstrap API key: generated once by a pre-install hook, kept, wired into the engine', async () => {
    const { objects } = await renderChart(QUARRY_CHART, { valuesFiles: [path.join(QUARRY_CHART, 'ci/bootstrap-key-values.yaml')] });
    const secret = objects.find((o) => o.kind === 'Secret') as unknown as K8sObject & { stringData: Record<string, string> };
    assert.equal(secret.metadata.annotations?.['helm.sh/hook'], 'pre-install');
    assert.equal(secret.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    assert.match(secret.stringData['api-key']!, /^sk_[A-Za-z0-9]{40}$/);
    const engine = workloads(objects).find((d) => d.metadata.name.endsWith('-engine'))!;
    const ref = engine.spec.template.spec.containers[0]!.env!.find((e) => e.name === 'QUARRY_BOOTSTRAP_API_KEY')?.valueFrom?.secretKeyRef;
    assert.deepEqual(ref, { name: secret.metadata.name, key: 'api-key' });
  });
});

interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  ports?: { containerPort: number }[];
  livenessProbe?: { httpGet?: unknown };
  readinessProbe?: { httpGet?: unknown };
  resources?: { requests?: unknown };
  securityContext: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { mountPath: string }[];
}
interface Deployment {
  metadata: { name: string };
  spec: {
    replicas?: number;
    template: {
      spec: {
        automountServiceAccountToken?: boolean;
        securityContext: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
        imagePullSecrets?: { name: string }[];
        nodeSelector?: Record<string, string>;
        tolerations?: { key: string }[];
        affinity?: { podAntiAffinity?: unknown };
        topologySpreadConstraints?: { topologyKey: string }[];
        volumes?: unknown[];
        containers: Container[];
      };
    };
  };
}

function envOf(d: Deployment): Record<string, string | undefined> {
  return Object.fromEntries((d.spec.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
}
