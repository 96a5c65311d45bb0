/**
 * `make test`: brings up the real services once for the whole run (or reuses a running `make test-env-up`),
 * runs every test file with Node's test runner, and tears down what it started, even on failure or Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { down, isUp, readState, ROOT, up } from './harness/test-env.ts';

const reused = isUp();
const state = reused ? readState()! : await up();
let stopping = false;
const teardown = async () => {
  if (stopping) return;
  stopping = true;
  if (!reused) await down();
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => void teardown().then(() => process.exit(130)));
}

const patterns = process.argv.slice(2);
const args = [
  '--import', 'tsx',
  '--test',
  '--test-concurrency=2',
  '--test-timeout=900000',
  ...(patterns.length ? patterns : ['test/**/*.test.ts']),
];
const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...state.env, NODE_ENV: 'test' },
  });
  child.on('close', (c) => resolve(c ?? 1));
});
await teardown();
process.exit(code);
