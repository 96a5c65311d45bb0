/** `make test-cluster-up` / `make test-cluster-down`: start or stop the single-node test cluster (test/harness/pods/cluster.ts). */
import { CLUSTER_ENV_SCRIPT, clusterDown, clusterUp } from '#test/harness/pods/cluster.ts';

const cmd = process.argv[2];
if (cmd === 'up') {
  const t0 = Date.now();
  const state = await clusterUp();
  console.log(`test cluster up in ${Math.round((Date.now() - t0) / 1000)} s (${Object.entries(state.pids).map(([n, p]) => `${n}=${p}`).join(' ')})`);
  console.log(`connection settings: . ${CLUSTER_ENV_SCRIPT}`);
} else if (cmd === 'down') {
  await clusterDown();
} else {
  console.error('usage: test-cluster.ts up|down');
  process.exit(2);
}
