/**
 * `helm install` of the quarry chart on the real apiserver (no kubelet: the pods never run, the objects must exist),
 * then its RBAC exercised with tokens minted for the chart's ServiceAccounts through the TokenRequest API: the calls
 * the operator, engine and worker need succeed, and writes outside their rules are forbidden.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { createTestNamespace, helm, kubectl } from '../harness/env.ts';
import { allowed, helmOk, httpStatus, kubeConfigAs, kubectlOk, QUARRY_CHART, serviceAccountToken, uniqueName } from './chart-helpers.ts';

const GROUP = 'quarry.dev';
const VERSION = 'v1alpha1';
const KINDS = ['quarrynamespaces', 'buckets', 'collections', 'retrievers', 'taxonomies'];

type Ns = { name: string; cleanup(): Promise<void> };

function lease(name: string) {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name }, spec: { holderIdentity: 'test', leaseDurationSeconds: 15 } };
}

function event(namespace: string) {
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: uniqueName('quarry-test'), namespace },
    // MicroTime needs six fractional digits; client-node would send a Date's three, which the apiserver rejects (400).
    eventTime: new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as k8s.V1MicroTime,
    reportingController: 'quarry.dev/operator',
    reportingInstance: 'quarry-operator-0',
    action: 'Reconcile',
    reason: 'Provisioned',
    type: 'Normal',
    note: 'chart RBAC test',
    regarding: { apiVersion: `${GROUP}/${VERSION}`, kind: 'Collection', name: 'c', namespace },
  };
}

describe('helm install quarry (cluster scope) and its RBAC', () => {
  let ns: Ns;
  let other: Ns;
  const release = uniqueName('q');
  const sa = (c: string) => `${release}-quarry-${c}`;
  const leaseName = `${release}-quarry-operator`;
  let operator: k8s.KubeConfig;
  let engine: k8s.KubeConfig;
  let worker: k8s.KubeConfig;

  before(async () => {
    ns = await createTestNamespace('chart-install');
    other = await createTestNamespace('chart-other');
    await helmOk(['install', release, QUARRY_CHART, '--namespace', ns.name, '--set', 'apiKeys.bootstrap.create=true']);
    operator = kubeConfigAs(await serviceAccountToken(ns.name, sa('operator')));
    engine = kubeConfigAs(await serviceAccountToken(ns.name, sa('engine')));
    worker = kubeConfigAs(await serviceAccountToken(ns.name, sa('worker')));
  });
  after(async () => {
    await helm(['uninstall', release, '--namespace', ns.name, '--no-hooks']); // the guard Job needs a kubelet: uninstall-guard.test.ts
    await ns?.cleanup();
    await other?.cleanup();
  });

  it('the release is deployed and every object exists', async () => {
    const status = JSON.parse(await helmOk(['status', release, '--namespace', ns.name, '-o', 'json'])) as { info: { status: string } };
    assert.equal(status.info.status, 'deployed');
    const names = (await kubectlOk(['get', 'deployments,services,serviceaccounts,poddisruptionbudgets,roles,rolebindings,secrets', '-o', 'name', '-l', `app.kubernetes.io/instance=${release}`], { namespace: ns.name }))
      .trim()
      .split('\n')
      .sort();
    for (const expected of [
      `deployment.apps/${sa('operator')}`,
      `deployment.apps/${sa('engine')}`,
      `deployment.apps/${sa('worker')}`,
      `service/${sa('engine')}`,
      `service/${sa('operator')}-metrics`,
      `serviceaccount/${sa('operator')}`,
      `serviceaccount/${sa('engine')}`,
      `serviceaccount/${sa('worker')}`,
      `poddisruptionbudget.policy/${sa('operator')}`,
      `role.rbac.authorization.k8s.io/${sa('operator')}-leader-election`,
      `rolebinding.rbac.authorization.k8s.io/${sa('engine')}-api-keys`,
      `secret/${release}-quarry-bootstrap-api-key`,
    ]) {
      assert.ok(names.includes(expected), `${expected} missing; found:\n${names.join('\n')}`);
    }
    for (const cr of [sa('operator'), sa('engine')]) {
      await kubectlOk(['get', 'clusterrole', cr]);
      await kubectlOk(['get', 'clusterrolebinding', cr]);
    }
    await kubectlOk(['get', 'clusterrole', `${release}-quarry-view`]);
    const aggregated = await kubectlOk(['get', 'clusterrole', `${release}-quarry-edit`, '-o', 'jsonpath={.metadata.labels.rbac\\.authorization\\.k8s\\.io/aggregate-to-edit}']);
    assert.equal(aggregated, 'true', 'the edit role aggregates into the built-in edit role');
    const replicas = await kubectlOk(['get', 'deployment', sa('operator'), '-o', 'jsonpath={.spec.replicas}'], { namespace: ns.name });
    assert.equal(replicas, '2');
  });

  it('upgrade keeps the bootstrap API key (generated once, by a pre-install hook)', async () => {
    const read = () => kubectlOk(['get', 'secret', `${release}-quarry-bootstrap-api-key`, '-o', 'jsonpath={.data.api-key}'], { namespace: ns.name });
    const before = Buffer.from(await read(), 'base64').toString();
    assert.match(before, /^sk_[A-Za-z0-9]{40}$/);
    await helmOk(['upgrade', release, QUARRY_CHART, '--namespace', ns.name, '--reuse-values', '--set', 'engine.replicas=3']);
    assert.equal(Buffer.from(await read(), 'base64').toString(), before);
    assert.equal(await kubectlOk(['get', 'deployment', sa('engine'), '-o', 'jsonpath={.spec.replicas}'], { namespace: ns.name }), '3');
  });

  it('operator: reads and patches every kind, writes status and finalizers, in any namespace', async () => {
    for (const resource of KINDS) {
      for (const verb of ['get', 'list', 'watch', 'patch']) {
        assert.ok(await allowed(operator, { verb, group: GROUP, resource, namespace: other.name }), `${verb} ${resource}`);
      }
      assert.ok(await allowed(operator, { verb: 'patch', group: GROUP, resource, subresource: 'status', namespace: other.name }), `patch ${resource}/status`);
      assert.ok(await allowed(operator, { verb: 'update', group: GROUP, resource, subresource: 'finalizers', namespace: other.name }), `update ${resource}/finalizers`);
      assert.ok(!(await allowed(operator, { verb: 'create', group: GROUP, resource, namespace: other.name })), `create ${resource} must be denied`);
      assert.ok(!(await allowed(operator, { verb: 'delete', group: GROUP, resource, namespace: other.name })), `delete ${resource} must be denied`);
    }
    // A real list across all namespaces: authorized (200, or 404 while the CRDs are absent), never 403.
    const custom = operator.makeApiClient(k8s.CustomObjectsApi);
    const list = await httpStatus(() => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'collections' }));
    assert.notEqual(list, 403);
  });

  it('operator: leader election on its own Lease only, events, Secrets get-only', async () => {
    const leases = operator.makeApiClient(k8s.CoordinationV1Api);
    assert.equal(await httpStatus(() => leases.createNamespacedLease({ namespace: ns.name, body: lease(leaseName) })), 200);
    const got = await leases.readNamespacedLease({ namespace: ns.name, name: leaseName });
    got.spec!.holderIdentity = 'test-2';
    assert.equal(await httpStatus(() => leases.replaceNamespacedLease({ namespace: ns.name, name: leaseName, body: got })), 200);
    // Someone else's Lease, or a Lease in another namespace: forbidden.
    await kubectlOk(['create', '-f', '-'], { namespace: ns.name, input: JSON.stringify(lease('not-quarry')) });
    assert.equal(await httpStatus(() => leases.readNamespacedLease({ namespace: ns.name, name: 'not-quarry' })), 403);
    assert.equal(await httpStatus(() => leases.createNamespacedLease({ namespace: other.name, body: lease(leaseName) })), 403);

    const events = operator.makeApiClient(k8s.EventsV1Api);
    assert.equal(await httpStatus(() => events.createNamespacedEvent({ namespace: other.name, body: event(other.name) })), 200);

    const core = operator.makeApiClient(k8s.CoreV1Api);
    assert.equal(await httpStatus(() => core.readNamespacedSecret({ namespace: ns.name, name: `${release}-quarry-bootstrap-api-key` })), 200);
    assert.equal(await httpStatus(() => core.listNamespacedSecret({ namespace: ns.name })), 403);
  });

  it('operator: writes outside its rules are forbidden', async () => {
    const core = operator.makeApiClient(k8s.CoreV1Api);
    const apps = operator.makeApiClient(k8s.AppsV1Api);
    const custom = operator.makeApiClient(k8s.CustomObjectsApi);
    const secret = { metadata: { name: 'stolen' }, stringData: { a: 'b' } };
    assert.equal(await httpStatus(() => core.createNamespacedSecret({ namespace: other.name, body: secret })), 403);
    assert.equal(await httpStatus(() => core.deleteNamespace({ name: other.name })), 403);
    assert.equal(await httpStatus(() => apps.deleteNamespacedDeployment({ namespace: ns.name, name: sa('engine') })), 403);
    assert.equal(await httpStatus(() => custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: other.name, plural: 'collections', name: 'x' })), 403);
    assert.equal(
      await httpStatus(() => core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'x' } } })),
      403,
    );
  });

  it('engine: manages resources and API-key Secrets in its own namespace only', async () => {
    for (const resource of KINDS) {
      for (const verb of ['get', 'list', 'watch', 'patch', 'create', 'delete']) {
        assert.ok(await allowed(engine, { verb, group: GROUP, resource, namespace: other.name }), `${verb} ${resource}`);
      }
      assert.ok(!(await allowed(engine, { verb: 'patch', group: GROUP, resource, subresource: 'status', namespace: other.name })), `${resource}/status is the operator's`);
    }
    const core = engine.makeApiClient(k8s.CoreV1Api);
    const key = { metadata: { name: uniqueName('apikey') }, stringData: { hash: 'x' } };
    assert.equal(await httpStatus(() => core.createNamespacedSecret({ namespace: ns.name, body: key })), 200);
    assert.equal(await httpStatus(() => core.listNamespacedSecret({ namespace: ns.name })), 200);
    assert.equal(await httpStatus(() => core.createNamespacedSecret({ namespace: other.name, body: key })), 403);
    // Elsewhere it may only read (a Bucket's referenced credentials), never list or write.
    assert.equal(await httpStatus(() => core.readNamespacedSecret({ namespace: other.name, name: 'anything' })), 404);
    assert.equal(await httpStatus(() => core.listNamespacedSecret({ namespace: other.name })), 403);
    assert.equal(await httpStatus(() => core.deleteNamespace({ name: other.name })), 403);
    const leases = engine.makeApiClient(k8s.CoordinationV1Api);
    assert.equal(await httpStatus(() => leases.readNamespacedLease({ namespace: ns.name, name: leaseName })), 403);
  });

  it('worker: no Kubernetes API rights at all', async () => {
    const custom = worker.makeApiClient(k8s.CustomObjectsApi);
    assert.equal(await httpStatus(() => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'collections' })), 403);
    const core = worker.makeApiClient(k8s.CoreV1Api);
    assert.equal(await httpStatus(() => core.listNamespacedSecret({ namespace: ns.name })), 403);
    assert.ok(!(await allowed(worker, { verb: 'get', group: GROUP, resource: 'collections', namespace: ns.name })));
  });
});

describe('helm install quarry (rbac.scope=namespaces)', () => {
  let ns: Ns;
  let managed: Ns;
  let outside: Ns;
  const release = uniqueName('qn');
  let operator: k8s.KubeConfig;

  before(async () => {
    ns = await createTestNamespace('chart-nsscope');
    managed = await createTestNamespace('chart-managed');
    outside = await createTestNamespace('chart-outside');
    await helmOk(['install', release, QUARRY_CHART, '--namespace', ns.name, '--set', 'rbac.scope=namespaces', '--set', `rbac.namespaces={${managed.name}}`]);
    operator = kubeConfigAs(await serviceAccountToken(ns.name, `${release}-quarry-operator`));
  });
  after(async () => {
    await helm(['uninstall', release, '--namespace', ns.name, '--no-hooks']); // the guard Job needs a kubelet: uninstall-guard.test.ts
    await ns?.cleanup();
    await managed?.cleanup();
    await outside?.cleanup();
  });

  it('creates Roles in the managed namespace and no cluster-wide rights', async () => {
    await kubectlOk(['get', 'role', `${release}-quarry-operator`], { namespace: managed.name });
    const r = await kubectl(['get', 'clusterrole', `${release}-quarry-operator`]);
    assert.notEqual(r.code, 0, 'no ClusterRole with rbac.scope=namespaces');
    const env = await kubectlOk(['get', 'deployment', `${release}-quarry-operator`, '-o', 'jsonpath={.spec.template.spec.containers[0].env[?(@.name=="WATCH_NAMESPACES")].value}'], { namespace: ns.name });
    assert.equal(env, managed.name);
  });

  it('the operator may work in the managed namespace and nowhere else', async () => {
    const custom = operator.makeApiClient(k8s.CustomObjectsApi);
    assert.notEqual(await httpStatus(() => custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: managed.name, plural: 'collections' })), 403);
    assert.equal(await httpStatus(() => custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: outside.name, plural: 'collections' })), 403);
    assert.equal(await httpStatus(() => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'collections' })), 403);
    assert.ok(await allowed(operator, { verb: 'get', resource: 'secrets', namespace: managed.name }));
    assert.ok(!(await allowed(operator, { verb: 'get', resource: 'secrets', namespace: outside.name })));
    assert.ok(await allowed(operator, { verb: 'patch', group: GROUP, resource: 'collections', subresource: 'status', namespace: managed.name }));
    assert.ok(!(await allowed(operator, { verb: 'patch', group: GROUP, resource: 'collections', subresource: 'status', namespace: outside.name })));
    const events = operator.makeApiClient(k8s.EventsV1Api);
    assert.equal(await httpStatus(() => events.createNamespacedEvent({ namespace: managed.name, body: event(managed.name) })), 200);
    assert.equal(await httpStatus(() => events.createNamespacedEvent({ namespace: outside.name, body: event(outside.name) })), 403);
  });
});
