/** `make test-env-up` / `make test-env-down`: start or stop the real test services (see test/harness/test-env.ts). */
import { ENV_SCRIPT, down, up } from '#test/harness/test-env.ts';

const cmd = process.argv[2];
if (cmd === 'up') {
  const state = await up();
  console.log(`test env up (${Object.entries(state.pids).map(([n, p]) => `${n}=${p}`).join(' ')})`);
  console.log(`connection settings: . ${ENV_SCRIPT}`);
} else if (cmd === 'down') {
  await down();
} else {
  console.error('usage: test-env.ts up|down');
  process.exit(2);
}
