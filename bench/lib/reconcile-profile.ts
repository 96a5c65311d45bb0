/**
 * Profiling helpers of `make bench-reconcile` (bench/reconcile.ts): where the time to Ready goes, read from the
 * processes and counters that already exist, so every run records it beside its figures:
 * - Kubernetes API requests by verb and resource, counted on the apiserver (`apiserver_request_total` on its
 *   /metrics): every client's requests, the operator's reads included (its own counter has writes only);
 * - CPU seconds of the operator and of the apiserver (/proc/<pid>/stat), so a run shows which of them was busy;
 * - the operator's reconcile time and count by kind, and its external calls by service and operation (its /metrics);
 * - the machine's load average, since other sessions share its CPUs.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { CustomObjectsApi, ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';

/** Prometheus text → samples of one family: labels and value. */
export function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labels: Record<string, string> = {};
    const body = line.slice(name.length).match(/^\{(.*)\}/)?.[1] ?? '';
    for (const m of body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

/** Sum of a family's samples grouped by `key(labels)`; zero groups are dropped. */
export function grouped(text: string, name: string, key: (l: Record<string, string>) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples(text, name)) {
    const k = key(s.labels);
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

/** after - before, per key, zeros dropped, largest first. */
export function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const rows = Object.entries(after)
    .map(([k, v]) => [k, Math.round((v - (before[k] ?? 0)) * 1000) / 1000] as const)
    .filter(([, v]) => v !== 0)
    .sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(rows);
}

/** apiserver requests by "VERB resource[/subresource]". */
export function apiserverRequests(metricsText: string): Record<string, number> {
  return grouped(metricsText, 'apiserver_request_total', (l) => `${l.verb} ${l.resource || l.subresource || '?'}${l.resource && l.subresource ? `/${l.subresource}` : ''}`);
}

/** User + system CPU seconds of a process so far (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11], fields[12]: utime, stime (fields 14 and 15 of proc(5), counted from the state field)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export function loadavg(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

/** The operator's counters at one moment, from its /metrics. */
export function operatorCounters(text: string) {
  return {
    reconcileSeconds: grouped(text, 'quarry_operator_reconcile_duration_seconds_sum', (l) => l.kind ?? ''),
    reconciles: grouped(text, 'quarry_operator_reconcile_total', (l) => `${l.kind} ${l.result}`),
    external: grouped(text, 'quarry_operator_external_calls_total', (l) => `${l.service} ${l.operation}${l.result === 'error' ? ' (error)' : ''}`),
    writes: grouped(text, 'quarry_operator_api_write_calls_total', (l) => `${l.verb} ${l.resource}`),
    externalSeconds: grouped(text, 'quarry_operator_external_call_duration_seconds_sum', (l) => `${l.service} ${l.operation}`),
    apiSeconds: grouped(text, 'quarry_operator_api_request_duration_seconds_sum', (l) => `${l.verb} ${l.resource}`),
    events: grouped(text, 'quarry_operator_events_total', (l) => `${l.reason} ${l.outcome}`),
    heapMb: Math.round((samples(text, 'nodejs_heap_size_used_bytes')[0]?.value ?? 0) / 2 ** 20),
    memoryMb: Object.fromEntries(
      ['nodejs_heap_size_used_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes', 'process_resident_memory_bytes'].map((n) => [
        n.replace(/^(nodejs|process)_|_bytes$/g, ''),
        Math.round((samples(text, n)[0]?.value ?? 0) / 2 ** 20),
      ]),
    ),
  };
}

export type OperatorCounters = ReturnType<typeof operatorCounters>;

export function countersDiff(after: OperatorCounters, before: OperatorCounters) {
  return {
    reconcile_seconds_by_kind: diff(after.reconcileSeconds, before.reconcileSeconds),
    reconciles_by_kind_result: diff(after.reconciles, before.reconciles),
    external_calls: diff(after.external, before.external),
    api_writes: diff(after.writes, before.writes),
    external_call_seconds: diff(after.externalSeconds, before.externalSeconds),
    api_request_seconds: diff(after.apiSeconds, before.apiSeconds),
    events_by_reason: diff(after.events, before.events),
  };
}

interface Watched {
  metadata?: { namespace?: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

/**
 * How many objects of a Quarry kind (in namespaces starting with `prefix`) exist and report Ready=True, from one
 * watch (client-node's ListWatch) instead of a LIST of every object each poll: the bench's own polling then costs
 * the apiserver next to nothing, where 1,000 Collections listed every second took a noticeable share of its CPU.
 */
export async function readyTracker(kc: KubeConfig, plural: string, prefix: string) {
  const api = kc.makeApiClient(CustomObjectsApi);
  const list = () => api.listClusterCustomObject({ group: 'quarry.dev', version: 'v1alpha1', plural }) as Promise<KubernetesListObject<KubernetesObject>>;
  const lw = new ListWatch<KubernetesObject>(`/apis/quarry.dev/v1alpha1/${plural}`, new Watch(kc), list, false);
  await lw.start();
  return {
    counts(): { total: number; ready: number } {
      const ours = (lw.list() as Watched[]).filter((o) => o.metadata?.namespace?.startsWith(prefix));
      return { total: ours.length, ready: ours.filter((o) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length };
    },
    stop: () => lw.stop(),
  };
}
