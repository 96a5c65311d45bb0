/** Lease leader election on the real kube-apiserver with two in-process electors. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { createTestNamespace, kubeConfig } from '../harness/env.ts';
import { LeaderElector } from '../../operator/src/runtime/leader-election.ts';
import { eventually } from './widgets.ts';

let ns: { name: string; cleanup(): Promise<void> };

before(async () => {
  ns = await createTestNamespace('op-lease');
});

after(async () => {
  await ns?.cleanup();
});

test('only one of two electors leads; when the leader stops renewing the other takes over within 20 s', async () => {
  const mk = (identity: string) => new LeaderElector({ kubeConfig: kubeConfig(), namespace: ns.name, name: 'quarry-operator', identity });
  const a = mk('replica-a');
  const b = mk('replica-b');
  void a.run();
  void b.run();
  try {
    const leader = await eventually(() => (a.isLeader() ? a : b.isLeader() ? b : undefined), 15_000, 'a leader');
    const follower = leader === a ? b : a;
    // Over several renew periods exactly one leads.
    for (let i = 0; i < 6; i++) {
      assert.equal(Number(a.isLeader()) + Number(b.isLeader()), 1);
      await new Promise((r) => setTimeout(r, 500));
    }
    const lease = await kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'quarry-operator', namespace: ns.name });
    assert.equal(lease.spec?.holderIdentity, leader.identity);
    assert.equal(lease.spec?.leaseDurationSeconds, 15);

    // The leader stops renewing without releasing (as if the process froze).
    const stoppedAt = Date.now();
    await leader.stop();
    await eventually(() => follower.isLeader(), 20_000, 'the follower to take over');
    const handover = Date.now() - stoppedAt;
    assert.ok(handover < 20_000, `hand-over took ${handover} ms`);
    assert.ok(handover >= 10_000, `the follower waited for the lease to expire (${handover} ms)`);
    const after = await kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'quarry-operator', namespace: ns.name });
    assert.equal(after.spec?.holderIdentity, follower.identity);
    assert.equal(after.spec?.leaseTransitions, (lease.spec?.leaseTransitions ?? 0) + 1);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a leader whose lease is taken away stops leading after the renew deadline; release hands over at once', async () => {
  let lost = 0;
  const opts = { kubeConfig: kubeConfig(), namespace: ns.name, name: 'fast', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };
  const a = new LeaderElector({ ...opts, identity: 'a', onStoppedLeading: () => void lost++ });
  const ran = a.run();
  await eventually(() => a.isLeader(), 10_000, 'a leads');
  // Someone else grabs the lease with a long duration (what a partitioned leader would find).
  const api = kubeConfig().makeApiClient(CoordinationV1Api);
  const lease = await api.readNamespacedLease({ name: 'fast', namespace: ns.name });
  await api.replaceNamespacedLease({ name: 'fast', namespace: ns.name, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', leaseDurationSeconds: 3600 } } });
  await ran;
  assert.equal(lost, 1, 'onStoppedLeading ran once');
  assert.equal(a.isLeader(), false);

  // Release: a leader that stops with release lets the next one in without waiting for expiry.
  const l1 = new LeaderElector({ ...opts, name: 'release', identity: 'l1', leaseDurationMs: 30_000, renewDeadlineMs: 20_000 });
  const l2 = new LeaderElector({ ...opts, name: 'release', identity: 'l2', leaseDurationMs: 30_000, renewDeadlineMs: 20_000 });
  void l1.run();
  await eventually(() => l1.isLeader(), 10_000, 'l1 leads');
  void l2.run();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(l2.isLeader(), false);
  const t0 = Date.now();
  await l1.stop({ release: true });
  await eventually(() => l2.isLeader(), 10_000, 'l2 takes over after the release');
  assert.ok(Date.now() - t0 < 5000);
  await l2.stop();
});
