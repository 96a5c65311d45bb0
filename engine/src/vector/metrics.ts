/**
 * `quarry_vector_store_reads_running` and `quarry_vector_store_reads_waiting`: the embedded store's reads inside
 * LanceDB and those queued behind its read limit (QUARRY_EMBEDDED_MAX_CONCURRENT_READS), read at scrape time. A
 * waiting count that stays above zero means the process gets more searches than its cores answer: add replicas or
 * CPUs rather than raising the limit (unbounded reads slow every search and grow memory; bench-read-burst).
 */
import { Gauge, type Registry } from 'prom-client';
import { embeddedReads } from './create.ts';

export function registerEmbeddedReadMetrics(registry: Registry): void {
  new Gauge({
    name: 'quarry_vector_store_reads_running',
    help: 'Embedded vector store reads (searches, scrolls, counts) running inside LanceDB now.',
    registers: [registry],
    collect() {
      this.set(embeddedReads().running);
    },
  });
  new Gauge({
    name: 'quarry_vector_store_reads_waiting',
    help: 'Embedded vector store reads waiting for a turn behind the read limit (QUARRY_EMBEDDED_MAX_CONCURRENT_READS).',
    registers: [registry],
    collect() {
      this.set(embeddedReads().waiting);
    },
  });
}
