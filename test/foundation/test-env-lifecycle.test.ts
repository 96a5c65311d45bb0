/**
 * `make test-env-up` / `make test-env-down` (hack/test-env.ts): up starts healthy services and writes the env
 * script; down stops exactly the processes up started and leaves none behind. Runs a second, independent env in
 * a temporary state dir so it does not disturb the one the rest of the suite uses.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../harness/env.ts';
import { alive, BIN, ROOT } from '../harness/test-env.ts';

test('test-env up starts every service; down leaves no process behind', async () => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'quarry-env-'));
  const env = { QUARRY_TEST_ENV_DIR: path.join(base, 'state') };
  const cli = path.join(ROOT, 'hack', 'test-env.ts');

  let stopped = false;
  // Whatever fails below, the second env never outlives the test (stopped before its state dir is removed).
  after(async () => {
    if (!stopped) await run(process.execPath, ['--import', 'tsx', cli, 'down'], { env });
    rmSync(base, { recursive: true, force: true });
  });
  const upRes = await run(process.execPath, ['--import', 'tsx', cli, 'up'], { env });
  assert.equal(upRes.code, 0, upRes.stderr);
  const state = JSON.parse(readFileSync(path.join(base, 'state', 'state.json'), 'utf8')) as { pids: Record<string, number> };
  assert.deepEqual(Object.keys(state.pids).sort(), ['etcd', 'kube-apiserver', 'minio', 'nats']);
  for (const [name, pid] of Object.entries(state.pids)) assert.ok(alive(pid), `${name} is running`);
  const script = readFileSync(path.join(base, 'test-env.sh'), 'utf8');
  for (const v of ['KUBECONFIG', 'NATS_URL', 'S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'PATH']) assert.match(script, new RegExp(`export ${v}=`));

  const kubeconfig = /export KUBECONFIG="([^"]+)"/.exec(script)![1]!;
  const ns = await run(path.join(BIN, 'kubectl'), ['--kubeconfig', kubeconfig, 'get', 'ns', '-o', 'name']);
  assert.equal(ns.code, 0, ns.stderr);
  assert.match(ns.stdout, /namespace\/kube-system/);

  const downRes = await run(process.execPath, ['--import', 'tsx', cli, 'down'], { env });
  stopped = true;
  assert.equal(downRes.code, 0, downRes.stderr);
  for (const [name, pid] of Object.entries(state.pids)) assert.ok(!alive(pid), `${name} (pid ${pid}) stopped`);
  const leftovers = await run('pgrep', ['-f', base]);
  assert.equal(leftovers.stdout.trim(), '', 'no process refers to the env dir any more');
});
