/**
 * The operator's Prometheus metrics (prom-client). One registry per operator instance, so two operators in one
 * process (the leader-election tests) never share counters. `apiWrites` counts every write the operator sends to
 * the Kubernetes API: the steady-state "no writes" check reads it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class OperatorMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'kind' | 'result'>;
  readonly reconcileDuration: Histogram<'kind'>;
  readonly reconcileErrors: Counter<'kind'>;
  readonly queueDepth: Gauge<'kind'>;
  readonly apiWrites: Counter<'verb' | 'resource'>;
  readonly externalCalls: Counter<'service' | 'operation' | 'result'>;
  readonly externalDuration: Histogram<'service' | 'operation'>;
  readonly apiRequestDuration: Histogram<'verb' | 'resource'>;
  readonly events: Counter<'type' | 'reason' | 'outcome'>;
  readonly isLeader: Gauge;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [(this.registry = new Registry())];
    // Unprefixed process_* and nodejs_* series, so stock Node.js dashboards and alerts work.
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.reconcileTotal = new Counter({
      name: 'quarry_operator_reconcile_total',
      help: 'Reconciles run, by kind and result (success, error, requeue, paused, deleted).',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'quarry_operator_reconcile_duration_seconds',
      help: 'Time spent in one reconcile, by kind.',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'quarry_operator_reconcile_errors_total',
      help: 'Reconciles that failed and were retried with backoff, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'quarry_operator_workqueue_depth',
      help: 'Keys waiting in the work queue, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.apiWrites = new Counter({
      name: 'quarry_operator_api_write_calls_total',
      help: 'Write calls sent to the Kubernetes API, by verb (apply, apply-status, patch, create, update, delete) and resource.',
      labelNames: ['verb', 'resource'],
      registers,
    });
    this.externalCalls = new Counter({
      name: 'quarry_operator_external_calls_total',
      help: 'Calls to external services (vector store, object store, job queue), by service, operation and result.',
      labelNames: ['service', 'operation', 'result'],
      registers,
    });
    this.externalDuration = new Histogram({
      name: 'quarry_operator_external_call_duration_seconds',
      help: 'Time of one call to an external service, by service and operation (where reconciles wait).',
      labelNames: ['service', 'operation'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.apiRequestDuration = new Histogram({
      name: 'quarry_operator_api_request_duration_seconds',
      help: 'Time of one Kubernetes API request the reconcilers make (get, apply, apply-status, patch, delete), by verb and resource.',
      labelNames: ['verb', 'resource'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.events = new Counter({
      name: 'quarry_operator_events_total',
      help: 'Kubernetes events, by type, reason and outcome (created, updated, deduplicated, throttled, failed).',
      labelNames: ['type', 'reason', 'outcome'],
      registers,
    });
    this.isLeader = new Gauge({
      name: 'quarry_operator_leader',
      help: '1 while this instance holds the leader lease.',
      registers,
    });
  }

  /** Total write calls so far (all verbs and resources). */
  async writeCount(): Promise<number> {
    const m = await this.apiWrites.get();
    return m.values.reduce((s, v) => s + v.value, 0);
  }

  /** Wraps one external call so it is counted with its result. */
  async external<T>(service: string, operation: string, fn: () => Promise<T>): Promise<T> {
    const stop = this.externalDuration.startTimer({ service, operation });
    try {
      const r = await fn();
      this.externalCalls.inc({ service, operation, result: 'success' });
      return r;
    } catch (err) {
      this.externalCalls.inc({ service, operation, result: 'error' });
      throw err;
    } finally {
      stop();
    }
  }
}
