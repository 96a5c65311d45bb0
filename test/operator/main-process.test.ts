/**
 * The operator as a process (operator/src/main.ts), two replicas with LEADER_ELECT=true against the real
 * kube-apiserver: only the leader writes, killing it (SIGKILL) hands over within 20 s, and SIGTERM shuts down
 * gracefully (exit 0, lease released).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { applyCrds, createTestNamespace, kubeConfig, kubectl } from '../harness/env.ts';
import { eventually } from './widgets.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let ns: { name: string; cleanup(): Promise<void> };
const procs: ChildProcess[] = [];

interface Replica {
  name: string;
  proc: ChildProcess;
  port?: number;
  exit?: number | null;
  log: string;
}

function startReplica(name: string): Replica {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'operator/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      POD_NAME: name,
      WATCH_NAMESPACES: ns.name,
      LEADER_ELECT: 'true',
      LEADER_ELECTION_NAMESPACE: ns.name,
      LEADER_ELECTION_ID: 'quarry-operator',
      METRICS_PORT: '0',
      METRICS_BIND_ADDRESS: '127.0.0.1',
      LOG_LEVEL: 'info',
      // No vector store: the namespace must say so rather than pretend (and the test needs no Qdrant).
      QDRANT_URL: '',
      QUARRY_VECTOR_STORE: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  const r: Replica = { name, proc, log: '' };
  const onData = (b: Buffer) => {
    r.log += b.toString();
    const m = r.log.match(/"port":(\d+),"msg":"probe and metrics server listening"/);
    if (m) r.port = Number(m[1]);
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  proc.on('exit', (code) => (r.exit = code));
  return r;
}

async function metrics(r: Replica): Promise<string> {
  return (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
}

function gauge(text: string, name: string): number | undefined {
  const m = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

function quarryWrites(text: string): number {
  let n = 0;
  for (const m of text.matchAll(/^quarry_operator_api_write_calls_total\{verb="[^"]+",resource="quarrynamespaces[^"]*"\} (\S+)$/gm)) n += Number(m[1]);
  return n;
}

before(async () => {
  await applyCrds();
  ns = await createTestNamespace('op-main');
  const qn = {
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'QuarryNamespace',
    metadata: { name: 'docs', namespace: ns.name },
    spec: { featureExtractors: [{ name: 'text_extractor' }], deletionPolicy: 'Retain' },
  };
  const r = await kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(qn), namespace: ns.name });
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  // The finalizer of the test object would outlive the operators; drop it so the namespace can go.
  await kubectl(['patch', 'quarrynamespaces.quarry.dev', 'docs', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]'], { namespace: ns.name });
  await ns?.cleanup();
});

test('two replicas: one leader writes, SIGKILL hands over within 20 s, SIGTERM exits 0 and releases the lease', async () => {
  const a = startReplica('replica-a');
  const b = startReplica('replica-b');
  await eventually(() => a.port !== undefined && b.port !== undefined, 60_000, 'both probe servers');
  const leaderOf = async () => {
    const [ma, mb] = [await metrics(a), await metrics(b)];
    const la = gauge(ma, 'quarry_operator_leader') === 1;
    const lb = gauge(mb, 'quarry_operator_leader') === 1;
    return la !== lb ? (la ? a : b) : undefined;
  };
  const leader = await eventually(leaderOf, 30_000, 'exactly one leader');
  const follower = leader === a ? b : a;

  // The leader reconciles: with no vector store configured the namespace is honestly not Ready.
  await eventually(async () => {
    const r = await kubectl(['get', 'quarrynamespaces.quarry.dev', 'docs', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}'], { namespace: ns.name });
    return r.stdout === 'VectorStoreNotConfigured';
  }, 30_000, 'status written by the leader');
  assert.equal((await fetch(`http://127.0.0.1:${leader.port}/readyz`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${follower.port}/readyz`)).status, 200, 'a standby follower is ready');
  assert.equal((await fetch(`http://127.0.0.1:${follower.port}/healthz`)).status, 200);
  assert.ok(quarryWrites(await metrics(leader)) > 0, 'the leader wrote');
  assert.equal(quarryWrites(await metrics(follower)), 0, 'the follower never writes');

  const killedAt = Date.now();
  leader.proc.kill('SIGKILL');
  await eventually(async () => gauge(await metrics(follower), 'quarry_operator_leader') === 1, 25_000, 'the follower to lead');
  const handover = Date.now() - killedAt;
  assert.ok(handover < 20_000, `hand-over took ${handover} ms`);
  const lease = await kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'quarry-operator', namespace: ns.name });
  assert.equal(lease.spec?.holderIdentity, follower.name);

  follower.proc.kill('SIGTERM');
  await eventually(() => follower.exit !== undefined, 20_000, 'graceful exit');
  assert.equal(follower.exit, 0, follower.log.slice(-2000));
  const released = await kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'quarry-operator', namespace: ns.name });
  assert.equal(released.spec?.holderIdentity ?? '', '', 'the lease was released on shutdown');
});
