/**
 * The real backing services for tests, started as plain processes (envtest-style): etcd + kube-apiserver,
 * NATS with JetStream, and MinIO. Used by `make test-env-up` / `make test-env-down` (hack/test-env.ts) and by the
 * test runner (test/run.ts), so both start exactly the same things.
 *
 * State lives under .cache/test-env/ (pids, ports, data dirs); .cache/test-env.sh exports the connection settings.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import https from 'node:https';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHE = process.env.QUARRY_CACHE ?? path.join(ROOT, '.cache');
export const BIN = path.join(CACHE, 'bin');
/** QUARRY_TEST_ENV_DIR lets a second, independent env run beside the default one (the harness's own test). */
const STATE_DIR = process.env.QUARRY_TEST_ENV_DIR ?? path.join(CACHE, 'test-env');
const STATE_FILE = path.join(STATE_DIR, 'state.json');
export const ENV_SCRIPT = process.env.QUARRY_TEST_ENV_DIR ? path.join(STATE_DIR, '..', 'test-env.sh') : path.join(CACHE, 'test-env.sh');

export interface TestEnvState {
  startedAt: string;
  pids: Record<string, number>;
  env: Record<string, string>;
}

const log = (msg: string) => process.stderr.write(`[test-env] ${msg}\n`);

export function bin(name: string): string {
  const p = path.join(BIN, name);
  if (!existsSync(p)) throw new Error(`${p} is missing: run 'make tools' (hack/tools/build-tools.sh) first`);
  return p;
}

function systemBin(name: string, candidates: string[]): string {
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error(`${name} not found (looked in ${candidates.join(', ')}): install the Debian package '${name}'`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `cmd` as its own process group leader, its output in `<dir>/<name>.log` (dir: the test env's state dir). */
export function startDetached(name: string, cmd: string, args: string[], env: Record<string, string> = {}, dir = STATE_DIR): number {
  const out = openSync(path.join(dir, `${name}.log`), 'a');
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...env },
  });
  child.unref();
  if (!child.pid) throw new Error(`failed to start ${name}`);
  return child.pid;
}

/** GET a health URL; the test apiserver's serving certificate is self-signed, so TLS is not verified here. */
function httpGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { headers, rejectUnauthorized: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export async function waitHealthy(name: string, url: string, pid: number, headers: Record<string, string> = {}, timeoutMs = 60_000, dir = STATE_DIR) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!alive(pid)) throw new Error(`${name} exited during start-up; see ${path.join(dir, `${name}.log`)}`);
    try {
      const res = await httpGet(url, headers);
      if (res.status === 200) return;
      last = `${res.status} ${res.body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} not healthy at ${url} after ${timeoutMs} ms: ${last}`);
}

/** True while the process runs; a zombie (exited, not yet reaped by its new parent) counts as stopped. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function readState(): TestEnvState | undefined {
  if (!existsSync(STATE_FILE)) return undefined;
  return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as TestEnvState;
}

/** True when a previous `up` is still running (every recorded process alive). */
export function isUp(): boolean {
  const s = readState();
  return !!s && Object.values(s.pids).every(alive);
}

function writeEnvScript(env: Record<string, string>) {
  const lines = Object.entries(env).map(([k, v]) => `export ${k}=${JSON.stringify(v)}`);
  lines.push(`export PATH=${JSON.stringify(`${BIN}:${path.join(ROOT, 'node_modules', '.bin')}`)}:"$PATH"`);
  writeFileSync(ENV_SCRIPT, `# written by make test-env-up; source it: . .cache/test-env.sh\n${lines.join('\n')}\n`);
}

async function startEtcd(pids: Record<string, number>): Promise<string> {
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const dataDir = path.join(STATE_DIR, 'etcd-data');
  pids.etcd = startDetached('etcd', bin('etcd'), [
    '--name=quarry-test',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-cluster=quarry-test=http://127.0.0.1:${peer}`,
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ]);
  await waitHealthy('etcd', `${url}/health`, pids.etcd);
  log(`etcd ready at ${url}`);
  return url;
}

async function startApiserver(pids: Record<string, number>, etcdUrl: string): Promise<Record<string, string>> {
  const port = await freePort();
  const certDir = path.join(STATE_DIR, 'apiserver-certs');
  mkdirSync(certDir, { recursive: true });
  // Service-account signing key pair (mandatory flags); the serving cert is self-signed into --cert-dir.
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(path.join(certDir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(path.join(certDir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  // Static token auth: an admin in system:masters. Tests that check RBAC mint ServiceAccount tokens instead.
  const token = randomBytes(24).toString('hex');
  writeFileSync(path.join(certDir, 'tokens.csv'), `${token},quarry-admin,quarry-admin-uid,"system:masters"\n`);
  const server = `https://127.0.0.1:${port}`;
  pids['kube-apiserver'] = startDetached('kube-apiserver', bin('kube-apiserver'), [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${certDir}`,
    `--secure-port=${port}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--service-account-issuer=${server}/`,
    `--service-account-key-file=${path.join(certDir, 'sa.pub')}`,
    `--service-account-signing-key-file=${path.join(certDir, 'sa.key')}`,
    `--token-auth-file=${path.join(certDir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    '--disable-admission-plugins=ServiceAccount',
    '--enable-priority-and-fairness=false',
    '--v=0',
  ]);
  await waitHealthy('kube-apiserver', `${server}/readyz`, pids['kube-apiserver'], { authorization: `Bearer ${token}` }, 120_000);
  const kubeconfig = path.join(STATE_DIR, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: quarry-test',
      '  cluster:',
      `    server: ${server}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: quarry-admin',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: quarry-test',
      '  context:',
      '    cluster: quarry-test',
      '    user: quarry-admin',
      '    namespace: default',
      'current-context: quarry-test',
      '',
    ].join('\n'),
  );
  log(`kube-apiserver ready at ${server}`);
  return { KUBECONFIG: kubeconfig, QUARRY_TEST_APISERVER: server, QUARRY_TEST_ADMIN_TOKEN: token };
}

async function startNats(pids: Record<string, number>): Promise<Record<string, string>> {
  const [port, monitor] = [await freePort(), await freePort()];
  const natsBin = systemBin('nats-server', ['/usr/sbin/nats-server', '/usr/bin/nats-server', path.join(BIN, 'nats-server')]);
  pids.nats = startDetached('nats', natsBin, [
    '-js',
    '-a', '127.0.0.1',
    '-p', String(port),
    '-m', String(monitor),
    '-sd', path.join(STATE_DIR, 'nats-data'),
    '-n', 'quarry-test',
  ]);
  await waitHealthy('nats', `http://127.0.0.1:${monitor}/healthz?js-enabled-only=true`, pids.nats);
  log(`nats ready at nats://127.0.0.1:${port}`);
  return { NATS_URL: `nats://127.0.0.1:${port}`, NATS_MONITOR_URL: `http://127.0.0.1:${monitor}` };
}

async function startMinio(pids: Record<string, number>): Promise<Record<string, string>> {
  const [port, consolePort] = [await freePort(), await freePort()];
  const accessKey = 'quarry-test';
  const secretKey = randomBytes(16).toString('hex');
  pids.minio = startDetached(
    'minio',
    bin('minio'),
    ['server', path.join(STATE_DIR, 'minio-data'), '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'],
    { MINIO_ROOT_USER: accessKey, MINIO_ROOT_PASSWORD: secretKey, MINIO_BROWSER: 'off', MINIO_UPDATE: 'off' },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  await waitHealthy('minio', `${endpoint}/minio/health/ready`, pids.minio);
  log(`minio ready at ${endpoint}`);
  return { S3_ENDPOINT: endpoint, S3_ACCESS_KEY: accessKey, S3_SECRET_KEY: secretKey, S3_REGION: 'us-east-1', S3_FORCE_PATH_STYLE: 'true' };
}

/** Starts every service (or reuses a running set) and returns the environment to export. */
export async function up(): Promise<TestEnvState> {
  const existing = readState();
  if (existing && isUp()) {
    log('already up; reusing');
    writeEnvScript(existing.env);
    return existing;
  }
  if (existing) await down();
  rmSync(STATE_DIR, { recursive: true, force: true });
  mkdirSync(STATE_DIR, { recursive: true });
  const state: TestEnvState = { startedAt: new Date().toISOString(), pids: {}, env: {} };
  const save = () => writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
  try {
    const etcdUrl = await startEtcd(state.pids);
    save();
    const [k8s, nats, s3] = await Promise.all([
      startApiserver(state.pids, etcdUrl),
      startNats(state.pids),
      startMinio(state.pids),
    ]);
    save();
    Object.assign(state.env, k8s, nats, s3);
    save();
    writeEnvScript(state.env);
    return state;
  } catch (err) {
    save();
    await down();
    throw err;
  }
}

/** Stops exactly the processes `up` started (by pid), then removes their state. */
export async function down(): Promise<void> {
  const state = readState();
  if (!state) {
    log('nothing to stop');
    return;
  }
  const pids = Object.entries(state.pids);
  // etcd goes last: a kube-apiserver whose etcd is gone retries its storage instead of finishing its graceful shutdown.
  await stopAll(pids.filter(([name]) => name !== 'etcd'));
  await stopAll(pids.filter(([name]) => name === 'etcd'));
  rmSync(STATE_DIR, { recursive: true, force: true });
  rmSync(ENV_SCRIPT, { force: true });
  log(`stopped ${pids.map(([n, p]) => `${n}(${p})`).join(', ')}`);
}

/** SIGTERM, up to 15 s of grace, then SIGKILL; returns once every process is gone (a SIGKILL is not instant either). */
export async function stopAll(pids: [string, number][]): Promise<void> {
  const waitGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && pids.some(([, pid]) => alive(pid))) await new Promise((r) => setTimeout(r, 100));
  };
  for (const [, pid] of pids) signal(pid, 'SIGTERM');
  await waitGone(15_000);
  for (const [name, pid] of pids) {
    if (alive(pid)) {
      log(`${name} (pid ${pid}) ignored SIGTERM; killing`);
      signal(pid, 'SIGKILL');
    }
  }
  await waitGone(10_000);
  for (const [name, pid] of pids) if (alive(pid)) log(`${name} (pid ${pid}) is still running after SIGKILL`);
}

function signal(pid: number, sig: NodeJS.Signals) {
  // Each service was started detached as its own process group leader: signal the group so helpers go too.
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}
