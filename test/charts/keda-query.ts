/**
 * What the rendered KEDA ScaledObject's Prometheus trigger selects, and the series a live /metrics text exposes, so a
 * test can check that the query names a metric and labels a real process serves.
 *
 * Hand-written (no PromQL or exposition-format parser is among the dependencies): the chart's query has one shape,
 * `sum(max by (<label>) (<metric>{<matchers>}))`, and exposition lines are `name{k="v",…} value`.
 */
import assert from 'node:assert/strict';
import type { K8sObject } from './chart-helpers.ts';

export interface KedaQueryTargets {
  query: string;
  metric: string;
  /** The label the query groups by (one series per stream). */
  groupBy: string;
  /** The `namespace` matcher: Prometheus sets it to the scrape target's namespace. */
  namespace: string;
  /** Whether the `job` matcher (a regex, anchored as Prometheus anchors it) selects a target whose job is `job`. */
  jobMatches(job: string): boolean;
}

export function kedaQueryTargets(objects: K8sObject[], releaseNamespace: string): KedaQueryTargets {
  const so = objects.find((o) => o.kind === 'ScaledObject') as (K8sObject & { spec: { triggers: { type: string; metadata: { query: string } }[] } }) | undefined;
  assert.ok(so, 'the chart renders no ScaledObject');
  assert.equal(so.metadata.namespace, releaseNamespace);
  const trigger = so.spec.triggers.find((t) => t.type === 'prometheus');
  assert.ok(trigger, 'the ScaledObject has no prometheus trigger');
  const query = trigger.metadata.query;
  const m = /^sum\(max by \((\w+)\) \((\w+)\{([^}]*)\}\)\)$/.exec(query);
  assert.ok(m, `unexpected query shape: ${query}`);
  const matchers = new Map<string, { op: string; value: string }>();
  for (const x of m[3]!.matchAll(/(\w+)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"/g)) matchers.set(x[1]!, { op: x[2]!, value: x[3]!.replace(/\\(.)/g, '$1') });
  const ns = matchers.get('namespace');
  const job = matchers.get('job');
  assert.ok(ns?.op === '=' && job?.op === '=~', `the query must select namespace= and job=~: ${query}`);
  assert.deepEqual([...matchers.keys()].sort(), ['job', 'namespace'], `matchers other than the target labels would need the live series to carry them: ${query}`);
  return { query, metric: m[2]!, groupBy: m[1]!, namespace: ns.value, jobMatches: (j) => new RegExp(`^(?:${job.value})$`).test(j) };
}

export interface Series {
  labels: Record<string, string>;
  value: number;
}

/** The samples of `metric` in Prometheus text exposition format. */
export function seriesOf(text: string, metric: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `)) continue;
    const m = /^[^{\s]+(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}
