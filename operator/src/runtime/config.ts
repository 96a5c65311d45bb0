/**
 * Operator settings from flags and environment (flags win). The Helm chart sets the environment:
 * WATCH_NAMESPACES, LEADER_ELECT, LEADER_ELECTION_NAMESPACE, LEADER_ELECTION_ID, METRICS_PORT.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';

export interface OperatorConfig {
  /** Empty: the whole cluster. */
  watchNamespaces: string[];
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  /** 0: any free port. */
  metricsPort: number;
  metricsBindAddress: string;
  identity: string;
  /** Concurrent reconciles per kind. */
  concurrency: number;
  /** Re-observation period of external state, ms (jittered). */
  resyncMs: number;
  shutdownTimeoutMs: number;
}

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function bool(v: string | undefined, dflt: boolean): boolean {
  if (v === undefined || v === '') return dflt;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new Error(`not a boolean: ${v}`);
}

function int(name: string, v: string | undefined, dflt: number, min = 0): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${v}`);
  return n;
}

function podNamespace(): string | undefined {
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function parseNamespaces(v: string | undefined): string[] {
  return [...new Set((v ?? '').split(',').map((s) => s.trim()).filter(Boolean))];
}

export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      'watch-namespaces': { type: 'string' },
      'leader-elect': { type: 'string' },
      'leader-election-namespace': { type: 'string' },
      'leader-election-id': { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-bind-address': { type: 'string' },
      concurrency: { type: 'string' },
      'resync-seconds': { type: 'string' },
    },
    strict: true,
  });
  return {
    watchNamespaces: parseNamespaces(values['watch-namespaces'] ?? env.WATCH_NAMESPACES),
    leaderElect: bool(values['leader-elect'] ?? env.LEADER_ELECT, false),
    leaderElectionNamespace: values['leader-election-namespace'] ?? env.LEADER_ELECTION_NAMESPACE ?? podNamespace() ?? 'default',
    leaderElectionId: values['leader-election-id'] ?? env.LEADER_ELECTION_ID ?? 'quarry-operator',
    metricsPort: int('METRICS_PORT', values['metrics-port'] ?? env.METRICS_PORT, 8081),
    metricsBindAddress: values['metrics-bind-address'] ?? env.METRICS_BIND_ADDRESS ?? '0.0.0.0',
    identity: env.POD_NAME ?? `${os.hostname()}_${process.pid}`,
    concurrency: int('CONCURRENCY', values.concurrency ?? env.RECONCILE_CONCURRENCY, 4, 1),
    resyncMs: int('RESYNC_SECONDS', values['resync-seconds'] ?? env.RESYNC_SECONDS, 60, 1) * 1000,
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_SECONDS', env.SHUTDOWN_TIMEOUT_SECONDS, 25, 1) * 1000,
  };
}
