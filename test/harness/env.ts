/**
 * What tests use to reach the real services started by test/harness/test-env.ts.
 * A missing service is a failure, never a skip: every accessor throws a clear error when the env is not up.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { BIN, ROOT } from './test-env.ts';

export interface TestEnv {
  kubeconfig: string;
  natsUrl: string;
  s3: { endpoint: string; accessKey: string; secretKey: string; region: string };
}

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: the real test services are not up. Run tests with 'make test', or ` +
        `'make test-env-up && . .cache/test-env.sh' before running a single test file.`,
    );
  }
  return v;
}

export function testEnv(): TestEnv {
  return {
    kubeconfig: need('KUBECONFIG'),
    natsUrl: need('NATS_URL'),
    s3: {
      endpoint: need('S3_ENDPOINT'),
      accessKey: need('S3_ACCESS_KEY'),
      secretKey: need('S3_SECRET_KEY'),
      region: process.env.S3_REGION ?? 'us-east-1',
    },
  };
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(need('KUBECONFIG'));
  return kc;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, feeding `input` on stdin. */
export function run(cmd: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** The version-matched kubectl built into .cache/bin, against the test apiserver. */
export function kubectl(args: string[], opts: { input?: string; namespace?: string } = {}): Promise<CommandResult> {
  const kc = need('KUBECONFIG');
  const ns = opts.namespace ? ['--namespace', opts.namespace] : [];
  return run(path.join(BIN, 'kubectl'), ['--kubeconfig', kc, ...ns, ...args], opts.input === undefined ? {} : { input: opts.input });
}

/** The version-stamped helm built into .cache/bin. */
/** Server-side applies Quarry resources (apiVersion quarry.dev/v1alpha1 and the namespace filled in) with kubectl. */
export async function applyQuarry(namespace: string, ...objs: Record<string, unknown>[]): Promise<void> {
  const r = await kubectl(['apply', '--server-side', '-f', '-'], {
    input: objs.map((o) => JSON.stringify({ apiVersion: 'quarry.dev/v1alpha1', ...o, metadata: { ...(o.metadata as object), namespace } })).join('\n'),
    namespace,
  });
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

export function helm(args: string[]): Promise<CommandResult> {
  return run(path.join(BIN, 'helm'), args, { env: { KUBECONFIG: need('KUBECONFIG') } });
}

/** A fresh, uniquely named Kubernetes namespace for one test; cleanup deletes it (never waits for finalizers). */
export async function createTestNamespace(prefix: string): Promise<{ name: string; cleanup(): Promise<void> }> {
  const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const safe = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40).replace(/-+$/, '');
  const name = `${safe}-${randomBytes(3).toString('hex')}`;
  await api.createNamespace({ body: { metadata: { name, labels: { 'quarry.dev/test': 'true' } } } });
  return {
    name,
    async cleanup() {
      try {
        await api.deleteNamespace({ name });
      } catch {
        /* already gone */
      }
    },
  };
}

/** Server-side applies every CRD in `dir` and waits until each is Established and served by discovery. */
export async function applyCrds(dir = path.join(ROOT, 'crds'), timeoutMs = 60_000): Promise<void> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
  if (files.length === 0) throw new Error(`no CRD files in ${dir}`);
  const res = await kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=quarry-test', '-f', dir]);
  if (res.code !== 0) throw new Error(`kubectl apply of ${dir} failed: ${res.stderr}`);
  const names = res.stdout
    .split('\n')
    .map((l) => l.match(/customresourcedefinition\.apiextensions\.k8s\.io\/(\S+)/)?.[1])
    .filter((n): n is string => !!n);
  const wait = await kubectl(['wait', '--for=condition=Established', `--timeout=${Math.round(timeoutMs / 1000)}s`, ...names.map((n) => `crd/${n}`)]);
  if (wait.code !== 0) throw new Error(`CRDs not established: ${wait.stderr}`);
  // Established can precede discovery; poll until every resource is served.
  const deadline = Date.now() + timeoutMs;
  for (const crd of names) {
    const [plural, ...groupParts] = crd.split('.');
    const group = groupParts.join('.');
    for (;;) {
      const r = await kubectl(['get', `${plural}.${group}`, '--all-namespaces', '-o', 'name']);
      if (r.code === 0) break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd} not served: ${r.stderr}`);
      await new Promise((r2) => setTimeout(r2, 200));
    }
  }
}
