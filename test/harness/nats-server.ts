/**
 * A private nats-server (JetStream, file store) for tests that stop and restart the broker itself; the shared test
 * env's server must keep running for everyone else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { until } from '../contract/job-queue.contract.ts';

export async function startNatsServer(port: number, storeDir: string): Promise<ChildProcess> {
  const proc = spawn('/usr/sbin/nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  await until(`nats-server on ${port} ready`, () => {
    if (proc.exitCode !== null) throw new Error(`nats-server exited: ${log}`);
    return log.includes('Server is ready');
  }, 20_000);
  return proc;
}

/** SIGTERM, then SIGKILL after 10 s; resolves once the process has exited. */
export async function stopNatsServer(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}
