/** Lease leader election on the real kube-apiserver with two in-process electors. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { createTestNamespace, kubeConfig } from '../harness/env.ts';
import { LeaderElector } from '#operator/runtime/leader-election.ts';
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

/**
 * A TCP pass-through to the apiserver that can be switched to "accept, never answer": every Lease call through it
 * then hangs (TLS passes through untouched, so the client sees a stalled connection, not an error).
 */
async function stallableProxy(): Promise<{ kubeConfig: KubeConfig; stall(): void; close(): Promise<void> }> {
  const kc = kubeConfig();
  const target = new URL(kc.getCurrentCluster()!.server);
  let stalled = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (stalled) return;
    const up = connect(Number(target.port), target.hostname);
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => client.destroy());
    client.on('data', (d) => void (stalled || up.write(d)));
    up.on('data', (d) => void (stalled || client.write(d)));
    client.on('end', () => up.end());
    up.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const cluster = kc.getCurrentCluster()!;
  const proxied = new KubeConfig();
  proxied.loadFromOptions({
    clusters: [{ ...cluster, server: `${target.protocol}//127.0.0.1:${port}` }],
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return {
    kubeConfig: proxied,
    stall: () => void (stalled = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('a leader whose Lease calls hang stops leading at its renew deadline, before another replica can take over', async () => {
  const proxy = await stallableProxy();
  const opts = { namespace: ns.name, name: 'hung', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };
  let lost = 0;
  const a = new LeaderElector({ ...opts, kubeConfig: proxy.kubeConfig, identity: 'a', onStoppedLeading: () => void lost++ });
  const ran = a.run();
  try {
    await eventually(() => a.isLeader(), 10_000, 'a leads through the proxy');
    proxy.stall(); // every renewal from now on hangs: no answer, no error
    let aLeadingWhenBTookOver: boolean | undefined;
    const b = new LeaderElector({ ...opts, kubeConfig: kubeConfig(), identity: 'b', onStartedLeading: () => void (aLeadingWhenBTookOver = a.isLeader()) });
    void b.run();
    try {
      await eventually(() => b.isLeader(), 20_000, 'b takes over the unrenewed lease');
      assert.equal(aLeadingWhenBTookOver, false, 'a still believed it led when b took the lease over');
      await ran;
      assert.equal(lost, 1, 'onStoppedLeading ran once (main.ts exits the process there)');
    } finally {
      await b.stop();
    }
  } finally {
    await proxy.close(); // first: ends a call still hanging in there, so stop() can return
    await a.stop();
  }
});
