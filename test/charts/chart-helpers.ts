/**
 * Shared by the chart tests: paths, `helm template` into parsed objects, ci values files, and ServiceAccount tokens
 * minted through the TokenRequest API.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { sync } from '#hack/chart-crds.ts';
import { helm, kubeConfig, kubectl } from '../harness/env.ts';
import { ROOT } from '../harness/test-env.ts';

export const QUARRY_CHART = path.join(ROOT, 'charts/quarry');
export const CRDS_CHART = path.join(ROOT, 'charts/quarry-crds');
export const CRDS_DIR = path.join(ROOT, 'crds');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** ci/*-values.yaml of a chart, as absolute paths. */
export function ciValuesFiles(chart: string): string[] {
  return readdirSync(path.join(chart, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .sort()
    .map((f) => path.join(chart, 'ci', f));
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** Fails with helm's own output when a helm command does not exit 0. */
export async function helmOk(args: string[]): Promise<string> {
  const r = await helm(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

export async function kubectlOk(args: string[], opts: { input?: string; namespace?: string } = {}): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Parses multi-document YAML into objects, dropping empty documents. */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`unparsable YAML: ${d.errors[0]!.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** `helm template` of a chart; returns the raw text and the parsed objects. */
export async function renderChart(
  chart: string,
  opts: { release?: string; namespace?: string; valuesFiles?: string[]; set?: string[] } = {},
): Promise<{ text: string; objects: K8sObject[] }> {
  const args = ['template', opts.release ?? 'quarry', chart, '--namespace', opts.namespace ?? 'quarry-system'];
  for (const f of opts.valuesFiles ?? []) args.push('-f', f);
  for (const s of opts.set ?? []) args.push('--set', s);
  const text = await helmOk(args);
  return { text, objects: parseObjects(text) };
}

/** A short-lived token for a ServiceAccount, minted by the TokenRequest API (`kubectl create token`). */
export async function serviceAccountToken(namespace: string, name: string): Promise<string> {
  const token = (await kubectlOk(['create', 'token', name, '--namespace', namespace, '--duration=10m'])).trim();
  if (token.split('.').length !== 3) throw new Error(`TokenRequest for ${namespace}/${name} returned no JWT`);
  return token;
}

/** Runs kubectl as the holder of `token` (the kubeconfig's server and CA, the token instead of the admin user). */
export function kubectlAs(token: string, args: string[], opts: { input?: string } = {}) {
  return kubectl(['--token', token, ...args], opts);
}

/** `kubectl auth can-i` as the token holder: true for "yes", false for "no", throws on anything else. */
export async function canI(token: string, args: string[]): Promise<boolean> {
  const r = await kubectlAs(token, ['auth', 'can-i', ...args]);
  const answer = r.stdout.trim();
  if (answer === 'yes') return true;
  if (answer === 'no') return false;
  throw new Error(`kubectl auth can-i ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

/** A KubeConfig for the test apiserver that authenticates with `token` instead of the admin credentials. */
export function kubeConfigAs(token: string): k8s.KubeConfig {
  const admin = kubeConfig();
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the test kubeconfig has no current cluster');
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'sa', token }],
    contexts: [{ name: 'sa', cluster: cluster.name, user: 'sa' }],
    currentContext: 'sa',
  });
  return kc;
}

export interface Access {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** Asks the apiserver's authorizer (SelfSubjectAccessReview) whether the token holder may do `a`. */
export async function allowed(kc: k8s.KubeConfig, a: Access): Promise<boolean> {
  const api = kc.makeApiClient(k8s.AuthorizationV1Api);
  const review = await api.createSelfSubjectAccessReview({
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { group: '', ...a } } },
  });
  return review.status?.allowed === true;
}

/** The HTTP status of a real API call: 200/201 on success, the apiserver's error code otherwise. */
export async function httpStatus(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 200;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw e;
  }
}

/** A copy of the quarry-crds chart at `dest` whose CRD templates are generated from `srcDir`. */
export function crdsChartFrom(srcDir: string, dest: string): string {
  cpSync(CRDS_CHART, dest, { recursive: true });
  for (const f of readdirSync(path.join(dest, 'templates'))) {
    if (f !== '_helpers.tpl') rmSync(path.join(dest, 'templates', f));
  }
  sync(srcDir, path.join(dest, 'templates'), false);
  return dest;
}
