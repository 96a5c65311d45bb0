/**
 * Acceptance: at steady state with 500 resources the operator makes no write calls over two minutes, counted
 * through its own metrics. The operator runs as its own process (operator/src/main.ts) on the real kube-apiserver,
 * NATS JetStream, MinIO and the embedded vector store, with every Quarry kind that has a controller: across five
 * Kubernetes namespaces, 10 QuarryNamespaces, 20 Buckets, 370 Collections and 100 Retrievers. Once all are Ready
 * and the work queues are drained, quarry_operator_api_write_calls_total (every Kubernetes write: status, patch,
 * create, update, delete, events) is read from /metrics, and again after 120 s (STEADY_SECONDS) in which every
 * object is re-observed several times (RESYNC_SECONDS=30, so external state is re-checked too): it must not move.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { applyCrds, createTestNamespace, kubeConfig, kubectl, testEnv } from '../harness/env.ts';
import { freePort, ROOT } from '../harness/test-env.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { createObjectStore } from '#engine/objects/config.ts';
import { createJobQueue } from '#engine/queue/config.ts';
import { extractionQueueName, objectBucketName, stateBucketName } from '#core/naming.ts';
import { eventually } from './widgets.ts';

const NAMESPACES = 5;
const STEADY_SECONDS = Number(process.env.STEADY_SECONDS ?? 120);
const PLURALS = ['quarrynamespaces', 'buckets', 'collections', 'retrievers'];
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-op-steady-'));
const namespaces: { name: string; cleanup(): Promise<void> }[] = [];
let proc: ChildProcess | undefined;
let exited: Promise<void> | undefined;
let log = '';
let port = 0;

/** Per Kubernetes namespace: 2 QuarryNamespaces, each with 2 Buckets, 37 Collections and 10 Retrievers (100). */
function manifests(ns: string): string[] {
  const docs: Record<string, unknown>[] = [];
  const add = (kind: string, name: string, spec: Record<string, unknown>) => docs.push({ apiVersion: 'quarry.dev/v1alpha1', kind, metadata: { name, namespace: ns }, spec });
  const text = { name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };
  for (const qn of ['alpha', 'beta']) {
    add('QuarryNamespace', qn, { featureExtractors: [text], payloadIndexes: [{ field: 'doc_id', type: 'keyword' }] });
    add('Bucket', `${qn}-raw`, { namespaceRef: qn, schema: { properties: { body: { type: 'text' }, doc_id: { type: 'string' } } } });
    add('Bucket', `${qn}-docs`, { namespaceRef: qn, schema: { properties: { body: { type: 'text' }, doc_id: { type: 'string' } } }, storage: { bucketName: `qs-${ns}`, prefix: `${qn}/` } });
    for (let c = 0; c < 37; c++) {
      add('Collection', `${qn}-c${c}`, {
        namespaceRef: qn,
        // Deleting the QuarryNamespace drops its whole vector collection: cleanup need not delete per Collection.
        deletionPolicy: 'Retain',
        source: { bucketRefs: [c % 2 ? `${qn}-raw` : `${qn}-docs`] },
        featureExtractor: { ...text, parameters: { split_by: 'sentences', chunk_size: (c % 5) + 1 }, inputMappings: { text: 'body' }, fieldPassthrough: [{ sourcePath: 'doc_id' }] },
      });
    }
    for (let r = 0; r < 10; r++) {
      add('Retriever', `${qn}-search-${r}`, {
        namespaceRef: qn,
        collectionRefs: [`${qn}-c${r}`],
        inputSchema: { query: { type: 'text', required: true } },
        stages: [
          {
            stageName: 'search',
            stageType: 'filter',
            config: {
              stageId: 'feature_search',
              parameters: { searches: [{ feature_uri: 'quarry://text_extractor@v1/all_minilm_l6_v2', query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 10 }] },
            },
          },
        ],
      });
    }
  }
  return docs.map((d) => JSON.stringify(d));
}

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
  return res.text();
}

/** Sum of every sample of a metric family (Prometheus text format). */
function sum(text: string, name: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`));
}

before(async () => {
  await applyCrds();
  for (let i = 0; i < NAMESPACES; i++) namespaces.push(await createTestNamespace(`op-steady500-${i}`));
  port = await freePort();
  proc = spawn(process.execPath, ['--import', 'tsx', 'operator/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      WATCH_NAMESPACES: namespaces.map((n) => n.name).join(','),
      LEADER_ELECT: 'false',
      METRICS_PORT: String(port),
      METRICS_BIND_ADDRESS: '127.0.0.1',
      RESYNC_SECONDS: '30',
      QUARRY_VECTOR_STORE: 'embedded',
      QUARRY_DATA_DIR: scratch,
      QDRANT_URL: '',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (b: Buffer) => (log = (log + b.toString()).slice(-20_000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  exited = new Promise((resolve) => proc!.on('exit', () => resolve()));
});

after(async () => {
  // Delete with the operator running (deletionPolicy Delete drops the external state), then stop it.
  if (proc && proc.exitCode === null) {
    await Promise.all(namespaces.map((ns) => kubectl(['delete', PLURALS.map((p) => `${p}.quarry.dev`).join(','), '--all', '--timeout=180s'], { namespace: ns.name })));
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
  for (const ns of namespaces) {
    const left = await kubectl(['get', PLURALS.map((p) => `${p}.quarry.dev`).join(','), '-o', 'name'], { namespace: ns.name });
    for (const n of left.stdout.split('\n').filter(Boolean)) await kubectl(['patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { namespace: ns.name });
  }
  // Leftovers of a failed run.
  const t = testEnv();
  let queue: JobQueue | undefined;
  let objects: ObjectStore | undefined;
  try {
    queue = await createJobQueue({ kind: 'nats', servers: [t.natsUrl] });
    objects = createObjectStore({ kind: 's3', endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true });
    for (const ns of namespaces) {
      await objects.deleteBucket(`qs-${ns.name}`, { force: true }).catch(() => undefined);
      for (const qn of ['alpha', 'beta']) {
        const key = { k8sNamespace: ns.name, name: qn };
        await queue.deleteQueue(extractionQueueName(key)).catch(() => undefined);
        await queue.deleteKv?.(stateBucketName(key)).catch(() => undefined);
        await objects.deleteBucket(objectBucketName(ns.name, `${qn}-raw`), { force: true }).catch(() => undefined);
      }
    }
  } finally {
    await queue?.close();
    await objects?.close();
  }
  for (const ns of namespaces) await ns.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

test(`500 resources at steady state: no write calls over ${STEADY_SECONDS} s (operator metrics)`, async () => {
  await eventually(() => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false), 90_000, 'operator ready');
  const docs = namespaces.flatMap((ns) => manifests(ns.name));
  assert.equal(docs.length, 500);
  const applied = await kubectl(['apply', '--server-side', '--field-manager=quarry-steady-test', '-f', '-'], { input: docs.join('\n') });
  assert.equal(applied.code, 0, applied.stderr);

  const api = kubeConfig().makeApiClient(CustomObjectsApi);
  type Listed = { items: Array<{ metadata: { generation?: number }; status?: { observedGeneration?: number; conditions?: Condition[] } }> };
  let readyCount = 0;
  await eventually(async () => {
    if (proc!.exitCode !== null) throw new Error(`operator exited:\n${log}`);
    readyCount = 0;
    for (const plural of PLURALS) {
      const list = (await api.listClusterCustomObject({ group: 'quarry.dev', version: 'v1alpha1', plural })) as Listed & { items: Array<{ metadata: { namespace?: string } }> };
      for (const o of list.items) {
        if (!namespaces.some((n) => n.name === o.metadata.namespace)) continue;
        const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status === 'True' && o.status?.observedGeneration === o.metadata.generation) readyCount++;
      }
    }
    return readyCount === 500;
  }, 240_000, 'all 500 Ready').catch((err: Error) => {
    throw new Error(`${err.message} (${readyCount}/500 Ready)\n${log.slice(-3000)}`);
  });

  // Steady: the queues drained and the write counter no longer moving (events and status writes of the last
  // reconciles may still be in flight right after the last object turned Ready).
  let settled = await scrape();
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 2000));
    const next = await scrape();
    const idle = sum(next, 'quarry_operator_workqueue_depth') === 0;
    const same = sum(next, 'quarry_operator_api_write_calls_total') === sum(settled, 'quarry_operator_api_write_calls_total');
    settled = next;
    if (idle && same) break;
  }
  const writesBefore = sum(settled, 'quarry_operator_api_write_calls_total');
  const reconcilesBefore = sum(settled, 'quarry_operator_reconcile_total');
  assert.ok(writesBefore > 0, 'the operator wrote to get there (the counter counts)');

  await new Promise((r) => setTimeout(r, STEADY_SECONDS * 1000));
  const final = await scrape();
  assert.equal(proc!.exitCode, null, 'the operator is still running');
  const reconciles = sum(final, 'quarry_operator_reconcile_total') - reconcilesBefore;
  assert.ok(reconciles >= 500, `every object was re-observed during the window (${reconciles} reconciles)`);
  assert.equal(
    sum(final, 'quarry_operator_api_write_calls_total'),
    writesBefore,
    `write calls during the window:\nbefore ${samples(settled, 'quarry_operator_api_write_calls_total').join('\n')}\nafter ${samples(final, 'quarry_operator_api_write_calls_total').join('\n')}`,
  );
  assert.equal(sum(final, 'quarry_operator_reconcile_errors_total') - sum(settled, 'quarry_operator_reconcile_errors_total'), 0, 'no reconcile failed');
});
