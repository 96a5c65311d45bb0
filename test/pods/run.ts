/**
 * `make test-pods`: the pod suite on the single-node test cluster (test/harness/pods/cluster.ts). Brings the cluster
 * up (or reuses a running `make test-cluster-up`), runs test/pods/*.pod-test.ts with Node's test runner against it,
 * and takes down what it started, even on failure or Ctrl-C. The files are named *.pod-test.ts so `make test`'s
 * glob (test/**\/*.test.ts) does not pick them up on a cluster without a kubelet.
 */
import { spawn } from 'node:child_process';
import { clusterDown, clusterIsUp, clusterUp, readClusterState } from '#test/harness/pods/cluster.ts';
import { BIN, ROOT } from '#test/harness/test-env.ts';

const reused = clusterIsUp();
const state = reused ? readClusterState()! : await clusterUp();
let stopping = false;
const teardown = async () => {
  if (stopping) return;
  stopping = true;
  if (!reused) await clusterDown();
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void teardown().then(() => process.exit(130)));

const patterns = process.argv.slice(2);
const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=1200000', ...(patterns.length ? patterns : ['test/pods/*.pod-test.ts'])], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, KUBECONFIG: state.kubeconfig, PATH: `${BIN}:${process.env.PATH ?? ''}`, NODE_ENV: 'test' },
  });
  child.on('close', (c) => resolve(c ?? 1));
});
await teardown();
process.exit(code);
