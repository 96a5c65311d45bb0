/**
 * The informer wrapper against the real kube-apiserver: create/update/delete, recovery after a real watch failure
 * (a loopback TCP proxy in front of the apiserver drops every connection and refuses new ones for a while), and a
 * watchdog relist that emits only real differences.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import type { Resource, WatchEvent } from '#core/ports/resource-store.ts';
import { WIDGET, eventually, installWidgetCrd, widget } from './widgets.ts';

let ns: { name: string; cleanup(): Promise<void> };

/** A loopback TCP proxy to the apiserver that can cut every connection and refuse new ones. */
async function startProxy(target: URL) {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    cut() {
      refusing = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    heal() {
      refusing = false;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function viaProxy(kc: KubeConfig, server: string): KubeConfig {
  const out = new KubeConfig();
  const cluster = kc.getCurrentCluster()!;
  out.loadFromOptions({
    clusters: [{ ...cluster, server }],
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return out;
}

before(async () => {
  await installWidgetCrd();
  ns = await createTestNamespace('op-informer');
});

after(async () => {
  await ns?.cleanup();
});

async function k(args: string[], input?: string) {
  const r = await kubectl(args, { namespace: ns.name, ...(input ? { input } : {}) });
  assert.equal(r.code, 0, r.stderr);
}

test('the informer sees create, update and delete, and recovers after the watch connection fails', async () => {
  const kc = kubeConfig();
  const proxy = await startProxy(new URL(kc.getCurrentCluster()!.server));
  const store = new KubeResourceStore(viaProxy(kc, proxy.url), {
    kinds: [WIDGET],
    informer: { backoffBaseMs: 200, backoffMaxMs: 1000 },
  });
  const events: WatchEvent<Resource>[] = [];
  const seen = (type: string, name: string) => events.some((e) => e.type === type && e.object.metadata.name === name);
  const handle = store.watch<Resource>('Widget', { namespace: ns.name }, (e) => events.push(e));
  try {
    await handle.synced;
    assert.equal(handle.isSynced(), true);

    await k(['create', '-f', '-'], JSON.stringify(widget(ns.name, 'w1', { size: 1 })));
    await eventually(() => seen('added', 'w1'), 15_000, 'added w1');
    await k(['patch', 'widgets.runtime-test.quarry.dev', 'w1', '--type=merge', '-p', '{"spec":{"size":2}}']);
    await eventually(() => seen('modified', 'w1'), 15_000, 'modified w1');
    assert.equal((handle.get({ namespace: ns.name, name: 'w1' })!.spec as { size: number }).size, 2, 'cache follows');
    await k(['create', '-f', '-'], JSON.stringify(widget(ns.name, 'w-doomed')));
    await eventually(() => seen('added', 'w-doomed'), 15_000, 'added w-doomed');
    await k(['delete', 'widgets.runtime-test.quarry.dev', 'w1']);
    await eventually(() => seen('deleted', 'w1'), 15_000, 'deleted w1');
    assert.equal(handle.get({ namespace: ns.name, name: 'w1' }), undefined);

    // Cut the connection: the watch fails; changes made meanwhile must arrive after recovery.
    const informer = handle.informer;
    const generations = informer.stats.generations;
    proxy.cut();
    await eventually(() => informer.stats.errors > 0, 15_000, 'the watch to fail');
    await k(['create', '-f', '-'], JSON.stringify(widget(ns.name, 'w2')));
    await k(['delete', 'widgets.runtime-test.quarry.dev', 'w-doomed']);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(seen('added', 'w2'), false, 'nothing gets through while the proxy is down');
    proxy.heal();
    await eventually(() => seen('added', 'w2'), 20_000, 'w2 after recovery');
    await eventually(() => seen('deleted', 'w-doomed'), 20_000, 'deletion while down detected by the relist');
    assert.ok(informer.stats.generations > generations, 'a new list+watch generation started');

    // And the recovered watch is live again.
    await k(['create', '-f', '-'], JSON.stringify(widget(ns.name, 'w3')));
    await eventually(() => seen('added', 'w3'), 15_000, 'added w3 on the recovered watch');
    // Listing by namespace (its own index) agrees with the whole cache.
    assert.deepEqual(handle.list(ns.name).map((o) => o.metadata.name).sort(), ['w2', 'w3']);
    assert.deepEqual(handle.list(undefined).map((o) => o.metadata.name).sort(), ['w2', 'w3']);
    assert.deepEqual(handle.list('no-such-namespace'), []);
  } finally {
    await handle.stop();
    proxy.cut();
    await proxy.close();
  }
});

test('the watchdog relists a silent watch and a relist emits only real differences', async () => {
  await k(['create', '-f', '-'], JSON.stringify(widget(ns.name, 'quiet')));
  const store = new KubeResourceStore(kubeConfig(), { kinds: [WIDGET], informer: { watchdogMs: 600 } });
  const events: WatchEvent<Resource>[] = [];
  const handle = store.watch<Resource>('Widget', { namespace: ns.name }, (e) => events.push(e));
  try {
    await handle.synced;
    const initial = events.length;
    assert.ok(initial >= 1);
    await eventually(() => handle.informer.stats.relists >= 2, 15_000, 'watchdog relists');
    assert.equal(events.length, initial, 'relisting unchanged objects emits nothing');
    await k(['annotate', 'widgets.runtime-test.quarry.dev', 'quiet', 'touched=yes']);
    await eventually(() => events.some((e) => e.type === 'modified' && e.object.metadata.name === 'quiet'), 15_000, 'modified');
  } finally {
    await handle.stop();
  }
});
