/**
 * The Quarry operator process (started by main.ts): reads flags/env (runtime/config.ts), registers one controller
 * per kind from operator/src/controllers/, runs them while holding the leader Lease (LEADER_ELECT=true), serves
 * /metrics, /healthz and /readyz on METRICS_PORT, and shuts down gracefully on SIGTERM/SIGINT (finish running reconciles,
 * release the lease, flush events). Losing the lease exits the process (exit code 1) so a fresh start re-acquires
 * it cleanly, as controller-runtime does.
 */
import { servedModelsReader } from './controllers/collection/served-models.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { logger } from '#core/lib/log.ts';
import { loadConfig } from './runtime/config.ts';
import { Operator } from './runtime/operator.ts';
import { reconcilers } from './controllers/index.ts';
import { portsFromEnv } from './ports.ts';

const log = logger('operator-main');

async function main(): Promise<void> {
  const cfg = loadConfig();
  // The ports the controllers provision through (operator/src/ports.ts): vector store (QDRANT_URL or
  // QUARRY_VECTOR_STORE, e.g. embedded under QUARRY_DATA_DIR), object store (S3_* in cluster mode), job queue
  // (NATS_URL). A missing one makes the kinds needing it report why they cannot become Ready.
  const ports = await portsFromEnv();
  const kc = new KubeConfig();
  kc.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, or the in-cluster service account
  const op = new Operator({
    kubeConfig: kc,
    identity: cfg.identity,
    namespaces: cfg.watchNamespaces,
    reconcilers: reconcilers({
      concurrency: cfg.concurrency,
      resyncMs: cfg.resyncMs,
      ...(ports.vectorStore ? { vectorStore: ports.vectorStore } : {}),
      ...(ports.objectStore ? { objectStore: ports.objectStore } : {}),
      objectStoreFor: ports.objectStoreFor,
      ...(ports.jobQueue ? { jobQueue: ports.jobQueue } : {}),
      // Honest readiness: Collections/Retrievers wait for a worker/engine that serves their models (reported in the
      // job queue's key-value store by the runtimes).
      // One reading of the reports serves every reconcile for 2 s (they are renewed every 15 s).
      ...(ports.jobQueue ? { servedModels: servedModelsReader(ports.jobQueue, { cacheMs: 2_000 }) } : {}),
    }),
    metricsServer: { port: cfg.metricsPort, host: cfg.metricsBindAddress },
    defaultMetrics: true,
    ...(cfg.leaderElect ? { leaderElection: { namespace: cfg.leaderElectionNamespace, name: cfg.leaderElectionId } } : {}),
    onLostLeadership: () => {
      log.error('lost the leader lease: exiting');
      process.exit(1);
    },
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'graceful shutdown');
    const hard = setTimeout(() => {
      log.error({ timeoutMs: cfg.shutdownTimeoutMs }, 'shutdown timed out: exiting');
      process.exit(1);
    }, cfg.shutdownTimeoutMs);
    hard.unref();
    op.stop()
      .then(() => ports.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  await op.start();
  log.info(
    {
      identity: op.identity,
      port: op.port,
      leaderElect: cfg.leaderElect,
      namespaces: cfg.watchNamespaces.length ? cfg.watchNamespaces : 'all',
    },
    'operator started',
  );
}

main().catch((err: unknown) => {
  log.fatal({ err }, 'operator failed to start');
  process.exit(1);
});
