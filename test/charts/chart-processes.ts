/**
 * Shared by the tests that run the chart's processes: the rendered Deployments' command and env resolved as the
 * kubelet would (fieldRefs, Secret references), a kubeconfig file holding a ServiceAccount token, and waiting for a
 * process's HTTP endpoint.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import assert from 'node:assert/strict';
import { kubectl } from '../harness/env.ts';
import { ROOT } from '../harness/test-env.ts';
import { kubeConfigAs, kubectlOk, type K8sObject } from './chart-helpers.ts';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
export interface RenderedDeployment {
  kind: string;
  metadata: { name: string };
  spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { command: string[]; env?: EnvVar[]; ports?: { name: string; containerPort: number }[] }[] } } };
}
export interface ServiceMonitor extends K8sObject {
  spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
}
export interface RenderedService extends K8sObject {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] };
}

/**
 * Follows a rendered ServiceMonitor to the process setting that serves it: its endpoint's port name → the one
 * Service its selector matches with that port → the targetPort → the container port of the Deployment (or StatefulSet) that Service
 * selects → the env variable whose value is that port. Returns the path and the variable (which the test points at a
 * free local port).
 */
export function scrapeTarget(objects: K8sObject[], sm: ServiceMonitor): { path: string; envName: string; deployment: string; service: string } {
  const ep = sm.spec.endpoints[0]!;
  const matches = (labels: Record<string, string> | undefined, want: Record<string, string>) => Object.entries(want).every(([k, v]) => labels?.[k] === v);
  const services = (objects.filter((o) => o.kind === 'Service') as RenderedService[]).filter((s) => matches(s.metadata.labels, sm.spec.selector.matchLabels) && s.spec.ports.some((p) => p.name === ep.port));
  assert.equal(services.length, 1, `ServiceMonitor ${sm.metadata.name} selects ${services.length} Services with port ${ep.port}`);
  const svc = services[0]!;
  const target = svc.spec.ports.find((p) => p.name === ep.port)!.targetPort;
  const dep = (objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet') as unknown as RenderedDeployment[]).find((d) => matches(d.spec.template.metadata.labels, svc.spec.selector));
  assert.ok(dep, `no Deployment or StatefulSet behind Service ${svc.metadata.name}`);
  const c = dep.spec.template.spec.containers[0]!;
  const port = typeof target === 'number' ? target : c.ports?.find((p) => p.name === target)?.containerPort;
  assert.ok(port, `Deployment ${dep.metadata.name} has no container port ${String(target)}`);
  const env = c.env?.find((e) => e.value === String(port));
  assert.ok(env, `no env variable of ${dep.metadata.name} sets its metrics port ${port}`);
  return { path: ep.path, envName: env.name, deployment: dep.metadata.name, service: svc.metadata.name };
}

/** The Deployment's command and env as the kubelet would resolve them (fieldRefs and Secret references). */
export async function resolvedEnv(d: RenderedDeployment, namespace: string): Promise<{ command: string[]; env: Record<string, string> }> {
  const c = d.spec.template.spec.containers[0]!;
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = namespace;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = `${d.metadata.name}-test-0`;
    else if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef;
      const b64 = await kubectlOk(['get', 'secret', name, '-o', `jsonpath={.data.${key}}`], { namespace });
      env[e.name] = Buffer.from(b64, 'base64').toString();
    } else throw new Error(`cannot resolve env ${e.name}`);
  }
  return { command: c.command, env };
}

export function kubeconfigFile(dir: string, name: string, token: string): string {
  const kc = kubeConfigAs(token);
  const cluster = kc.getCurrentCluster()!;
  const file = path.join(dir, `${name}.kubeconfig`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: cluster.server, ...(cluster.caFile ? { 'certificate-authority': cluster.caFile } : {}), ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : {}), ...(cluster.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}) } }],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: 'test', user: name } }],
      'current-context': name,
    }),
  );
  return file;
}

export async function waitHttp(url: string, proc: { log: string; child: ChildProcess }, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`process exited (${proc.child.exitCode}) before ${url} answered:\n${proc.log.slice(-4000)}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${proc.log.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}


export interface ChartProcess {
  name: string;
  child: ChildProcess;
  log: string;
}

/** Starts a rendered `node …` command from the repository root with only `env` (plus PATH, HOME), collecting its output. */
export function startProcess(procs: ChartProcess[], home: string, name: string, command: string[], env: Record<string, string>): ChartProcess {
  const [cmd, ...args] = command;
  assert.equal(cmd, 'node');
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: home, NODE_ENV: 'test', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { name, child, log: '' };
  child.stdout!.on('data', (b: Buffer) => (p.log += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (p.log += b.toString()));
  procs.push(p);
  return p;
}

/** SIGTERM, then SIGKILL after a grace period, for every process still running. */
export async function stopProcesses(procs: ChartProcess[], graceMs = 2000): Promise<void> {
  for (const p of procs) {
    if (p.child.exitCode === null) {
      p.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, graceMs));
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }
  }
}

/**
 * Deletes every Quarry resource of `namespace` with deletionPolicy Delete, while the operator still runs, so its
 * finalizers remove the S3 buckets and JetStream streams they provisioned (nothing orphaned in the shared MinIO/NATS).
 */
export async function deleteQuarryResources(namespace: string): Promise<void> {
  for (const kind of ['buckets.quarry.dev', 'quarrynamespaces.quarry.dev', 'collections.quarry.dev']) {
    const names = await kubectl(['get', kind, '-o', 'name'], { namespace });
    for (const n of names.stdout.split('\n').filter(Boolean)) {
      await kubectl(['patch', n, '--type=merge', '-p', '{"spec":{"deletionPolicy":"Delete"}}'], { namespace });
    }
  }
  await kubectl(['delete', 'quarry', '--all', '--timeout=60s'], { namespace });
}
