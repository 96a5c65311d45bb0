/**
 * `make bench-reconcile`: the operator (operator/src/main.ts, as its own process) on the real kube-apiserver, NATS
 * JetStream and MinIO of the test env. Creates N Kubernetes namespaces (BENCH_RECONCILE_NAMESPACES, default 100),
 * each with one QuarryNamespace, one Bucket and N/namespaces Collections (BENCH_RECONCILE_COLLECTIONS, default
 * 1,000), all in one server-side apply, then measures:
 * - seconds_to_ready_1000: from the start of that apply until every Collection reports Ready=True;
 * - peak_rss_mb: the operator process's peak resident set (VmHWM from /proc/<pid>/status);
 * - steady_writes_per_min: after everything is Ready and the work queues are drained, the operator's Kubernetes
 *   write calls (quarry_operator_api_write_calls_total on its /metrics) over BENCH_RECONCILE_STEADY_SECONDS
 *   (default 120, which spans the ~60 s jittered re-observation of every object), per minute. Expected: 0.
 *
 * Starts a private test env under .cache/bench-reconcile/ (so a concurrent `make test` can neither reuse nor stop
 * it, and its objects cannot count as the bench's writes) and stops it afterwards; BENCH_RECONCILE_REUSE_ENV=1
 * reuses a running default env (make test-env-up) instead, on an otherwise idle cluster.
 * Everything created is deleted with the operator still running (deletionPolicy Delete: buckets, queues and vector
 * collections go too).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeResults } from './lib/results.ts';
import { rssKb, startServedStore } from './lib/served-store.ts';
import { apiserverRequests, countersDiff, cpuSeconds, diff, loadavg, operatorCounters, readyTracker } from './lib/reconcile-profile.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COLLECTIONS = Number(process.env.BENCH_RECONCILE_COLLECTIONS ?? 1000);
const NAMESPACES = Math.min(COLLECTIONS, Number(process.env.BENCH_RECONCILE_NAMESPACES ?? 100));
const STEADY_SECONDS = Number(process.env.BENCH_RECONCILE_STEADY_SECONDS ?? 120);
const READY_TIMEOUT_S = Number(process.env.BENCH_RECONCILE_TIMEOUT_SECONDS ?? 1200);
/**
 * The operator's vector store. `remote` (default): the served embedded store (engine/src/vector-store-main.ts) as
 * its own process, as the chart runs it when it brings no Qdrant (the chart never puts an embedded store inside a
 * separate operator pod); its RSS is reported apart. `embedded` puts LanceDB inside the operator process (only
 * allInOne mode does that, with the engine and workers in the same process), `exact` keeps vectors in memory.
 */
const VECTOR_STORE = process.env.BENCH_RECONCILE_VECTOR_STORE ?? 'remote';
const PREFIX = 'bench-rc';
const LABEL = 'quarry.dev/bench=reconcile';
/** Another checkout's operator (e.g. the previous commit's, for a before/after ratio in one run); default: this one. */
const OPERATOR_DIR = path.resolve(process.env.BENCH_RECONCILE_OPERATOR_DIR ?? ROOT);
/**
 * How the chart runs the operator (charts/quarry/templates/operator-deployment.yaml: its command's node flags and
 * MALLOC_ARENA_MAX); keep the two in step. BENCH_RECONCILE_LAUNCH=plain runs a bare `node` instead (an older
 * checkout's operator, as it was deployed before these settings); BENCH_RECONCILE_CHART_FLAGS replaces the node flags
 * (an earlier chart's).
 */
const CHART_NODE_FLAGS =
  process.env.BENCH_RECONCILE_LAUNCH === 'plain' ? [] : (process.env.BENCH_RECONCILE_CHART_FLAGS?.split(' ').filter(Boolean) ?? ['--max-semi-space-size=4', '--heap-growing-percent=50']);
const CHART_ENV: Record<string, string> = process.env.BENCH_RECONCILE_LAUNCH === 'plain' ? {} : { MALLOC_ARENA_MAX: '2' };
/** Extra node flags for the operator process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` or `--heap-prof`. */
const NODE_ARGS = (process.env.BENCH_RECONCILE_NODE_ARGS ?? '').split(' ').filter(Boolean);
/** BENCH_RECONCILE_LOADER=tsx: through the tsx loader, as the chart ran the operator before Node stripped the types. */
const LOADER_ARGS = process.env.BENCH_RECONCILE_LOADER === 'tsx' ? ['--import', 'tsx'] : [];

const log = (msg: string) => process.stderr.write(`[bench-reconcile ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether the default env (.cache/test-env) is running; decided before the harness is imported, since it reads QUARRY_TEST_ENV_DIR at load. */
function defaultEnvUp(): boolean {
  const file = path.join(process.env.QUARRY_CACHE ?? path.join(ROOT, '.cache'), 'test-env', 'state.json');
  if (process.env.QUARRY_TEST_ENV_DIR || !existsSync(file)) return false;
  const state = JSON.parse(readFileSync(file, 'utf8')) as { pids: Record<string, number> };
  return Object.values(state.pids).every(pidAlive);
}
// The operator watches the whole cluster, so on the shared env it would also reconcile (and write to) whatever
// concurrently running tests create: a private env by default, the shared one only when asked.
if (!process.env.QUARRY_TEST_ENV_DIR && !(process.env.BENCH_RECONCILE_REUSE_ENV === '1' && defaultEnvUp())) {
  process.env.QUARRY_TEST_ENV_DIR = path.join(ROOT, '.cache', 'bench-reconcile', 'test-env');
}
const testEnvMod = await import('#test/harness/test-env.ts');
const envMod = await import('#test/harness/env.ts');
const k8s = await import('@kubernetes/client-node');

function manifests(): { yaml: string; namespaces: string[] } {
  const docs: string[] = [];
  const namespaces: string[] = [];
  const perNs = Math.ceil(COLLECTIONS / NAMESPACES);
  let left = COLLECTIONS;
  for (let i = 0; i < NAMESPACES && left > 0; i++) {
    const ns = `${PREFIX}-${String(i).padStart(3, '0')}`;
    namespaces.push(ns);
    docs.push(`apiVersion: v1
kind: Namespace
metadata:
  name: ${ns}
  labels:
    quarry.dev/bench: reconcile`);
    docs.push(`apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata:
  name: research
  namespace: ${ns}
spec:
  description: bench-reconcile
  featureExtractors:
    - name: text_extractor
      version: v1
      params:
        embedding_model: all_minilm_l6_v2
  payloadIndexes:
    - field: text
      type: text
    - field: doc_id
      type: keyword
  autoCreateIndexes: false`);
    docs.push(`apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata:
  name: abstracts
  namespace: ${ns}
spec:
  namespaceRef: research
  deletionPolicy: Delete
  schema:
    properties:
      doc_id:
        type: string
        required: true
      abstract:
        type: text
        required: true
  uniqueKey:
    fields: [doc_id]
    defaultPolicy: upsert`);
    const n = Math.min(perNs, left);
    left -= n;
    for (let c = 0; c < n; c++) {
      docs.push(`apiVersion: quarry.dev/v1alpha1
kind: Collection
metadata:
  name: passages-${c}
  namespace: ${ns}
spec:
  namespaceRef: research
  source:
    bucketRefs: [abstracts]
  featureExtractor:
    name: text_extractor
    version: v1
    params:
      embedding_model: all_minilm_l6_v2
    parameters:
      split_by: sentences
      chunk_size: ${c + 1}
      chunk_overlap: 0
    inputMappings:
      text: abstract
    fieldPassthrough:
      - sourcePath: doc_id
        required: true`);
    }
  }
  return { yaml: docs.join('\n---\n') + '\n', namespaces };
}

interface Cond {
  type: string;
  status: string;
}
interface Listed {
  items: Array<{ metadata: { namespace: string; name: string }; status?: { conditions?: Cond[] } }>;
}

async function countReady(api: InstanceType<typeof k8s.CustomObjectsApi>, plural: string): Promise<{ total: number; ready: number }> {
  const list = (await api.listClusterCustomObject({ group: 'quarry.dev', version: 'v1alpha1', plural, labelSelector: '' })) as Listed;
  const ours = list.items.filter((o) => o.metadata.namespace.startsWith(`${PREFIX}-`));
  return { total: ours.length, ready: ours.filter((o) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length };
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
  return res.text();
}

/** Sum of every sample of a counter family in Prometheus text format. */
function sumMetric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function byLabel(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const key = line.match(new RegExp(`${label}="([^"]*)"`))?.[1] ?? '';
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

async function main(): Promise<void> {
  const reused = testEnvMod.isUp();
  const state = reused ? testEnvMod.readState()! : await testEnvMod.up();
  log(`${reused ? 'reusing' : 'started'} test env (${process.env.QUARRY_TEST_ENV_DIR ?? 'default'})`);
  Object.assign(process.env, state.env);
  await envMod.applyCrds();
  const kc = envMod.kubeConfig();
  const api = kc.makeApiClient(k8s.CustomObjectsApi);

  // Leftovers of an interrupted run would skew the count.
  const stale = await envMod.kubectl(['get', 'namespaces', '-l', LABEL, '-o', 'name']);
  if (stale.stdout.trim()) throw new Error(`namespaces labelled ${LABEL} exist from an earlier run; delete them first:\n${stale.stdout}`);

  const dataDir = mkdtempSync(path.join(tmpdir(), 'quarry-bench-reconcile-'));
  const metricsPort = await testEnvMod.freePort();
  const store = VECTOR_STORE === 'remote' ? await startServedStore({ root: ROOT, dataDir, env: CHART_ENV, freePort: testEnvMod.freePort, log }) : undefined;
  let opLog = '';
  // As the chart runs it: Node strips the types itself, no loader (unless BENCH_RECONCILE_LOADER says otherwise).
  const op = spawn(process.execPath, [...CHART_NODE_FLAGS, ...NODE_ARGS, ...LOADER_ARGS, 'operator/src/main.ts'], {
    cwd: OPERATOR_DIR,
    env: {
      ...process.env,
      ...CHART_ENV,
      QUARRY_VECTOR_STORE: VECTOR_STORE,
      ...store?.clientEnv,
      QUARRY_DATA_DIR: dataDir,
      METRICS_BIND_ADDRESS: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      LEADER_ELECT: 'false',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (c: Buffer) => (opLog = (opLog + c.toString()).slice(-20_000));
  op.stdout.on('data', keep);
  op.stderr.on('data', keep);
  let exited: number | null | undefined;
  op.on('exit', (code) => (exited = code));
  const pid = op.pid!;
  let peakKb = 0;
  let maxRssKb = 0;
  const sampler = setInterval(() => {
    const { hwm, rss } = rssKb(pid);
    peakKb = Math.max(peakKb, hwm);
    maxRssKb = Math.max(maxRssKb, rss);
  }, 250);

  const cleanup = async () => {
    log('cleanup: deleting the bench resources (deletionPolicy Delete) with the operator running');
    const { namespaces } = manifests();
    const kinds = 'collections.quarry.dev,buckets.quarry.dev,quarrynamespaces.quarry.dev';
    // A few namespaces per kubectl call, several calls at once: 2 cores, so not too many.
    const batches: string[][] = [];
    for (let i = 0; i < namespaces.length; i += 10) batches.push(namespaces.slice(i, i + 10));
    for (const batch of batches) {
      await Promise.all(batch.map((ns) => envMod.kubectl(['delete', kinds, '--all', '--ignore-not-found', '--timeout=120s', '--wait=true'], { namespace: ns })));
    }
    if (exited === undefined) {
      op.kill('SIGTERM');
      for (let i = 0; i < 100 && exited === undefined; i++) await sleep(100);
      if (exited === undefined) op.kill('SIGKILL');
    }
    // Anything the operator could not finish: drop finalizers so namespace deletion never hangs.
    for (const ns of namespaces) {
      const left = await envMod.kubectl(['get', kinds, '-o', 'name'], { namespace: ns });
      for (const n of left.stdout.split('\n').filter(Boolean)) {
        log(`leftover ${ns}/${n}: removing its finalizers`);
        await envMod.kubectl(['patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { namespace: ns });
      }
    }
    await envMod.kubectl(['delete', 'namespaces', '-l', LABEL, '--wait=false']);
    await store?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    // The operator is up (metrics served) and its caches synced before the clock starts.
    const startDeadline = Date.now() + 120_000;
    for (;;) {
      if (exited !== undefined) throw new Error(`operator exited (${exited}) at start-up:\n${opLog}`);
      const ok = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > startDeadline) throw new Error(`operator not ready after 120 s:\n${opLog}`);
      await sleep(250);
    }
    const { hwm: idleKb } = rssKb(pid);
    log(`operator pid ${pid} ready on :${metricsPort} (${VECTOR_STORE} vector store), RSS ${(idleKb / 1024).toFixed(0)} MB`);

    const apiserverPid = state.pids['kube-apiserver'] ?? 0;
    const rawMetrics = async () => (await envMod.kubectl(['get', '--raw', '/metrics'])).stdout;
    const snapshot = async () => ({
      t: performance.now(),
      apiserver: apiserverRequests(await rawMetrics()),
      operator: operatorCounters(await scrape(metricsPort)),
      cpu: {
        operator: cpuSeconds(pid),
        apiserver: cpuSeconds(apiserverPid),
        etcd: cpuSeconds(state.pids.etcd ?? 0),
        nats: cpuSeconds(state.pids.nats ?? 0),
        minio: cpuSeconds(state.pids.minio ?? 0),
      },
      loadavg: loadavg(),
    });
    const snap0 = await snapshot();
    // Readiness from watches, started before the apply (a LIST of every Collection each second loaded the apiserver).
    const trackers = {
      quarrynamespaces: await readyTracker(kc, 'quarrynamespaces', `${PREFIX}-`),
      buckets: await readyTracker(kc, 'buckets', `${PREFIX}-`),
      collections: await readyTracker(kc, 'collections', `${PREFIX}-`),
    };
    const stopTrackers = () => Promise.all(Object.values(trackers).map((t) => t.stop()));

    const { yaml, namespaces } = manifests();
    log(`applying ${namespaces.length} namespaces, ${namespaces.length} QuarryNamespaces, ${namespaces.length} Buckets, ${COLLECTIONS} Collections`);
    const t0 = performance.now();
    const applied = await envMod.kubectl(['apply', '--server-side', '--field-manager=quarry-bench', '-f', '-'], { input: yaml });
    if (applied.code !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);
    const applySeconds = (performance.now() - t0) / 1000;
    log(`applied in ${applySeconds.toFixed(1)} s`);

    let readySeconds = Number.NaN;
    let last = { total: 0, ready: 0 };
    let lastLog = 0;
    // When the kinds the Collections wait for were all Ready (each polled until it is).
    const readyAt: Record<string, number> = {};
    const timeline: Array<[number, number]> = [];
    while ((performance.now() - t0) / 1000 < READY_TIMEOUT_S) {
      if (exited !== undefined) throw new Error(`operator exited (${exited}):\n${opLog}`);
      for (const [plural, tracker] of Object.entries(trackers)) {
        if (readyAt[plural] !== undefined || plural === 'collections') continue;
        const c = tracker.counts();
        if (c.total === namespaces.length && c.ready === c.total) readyAt[plural] = Math.round((performance.now() - t0) / 100) / 10;
      }
      last = trackers.collections.counts();
      const second = Math.round((performance.now() - t0) / 1000);
      if (timeline.at(-1)?.[0] !== second) timeline.push([second, last.ready]);
      if (last.total === COLLECTIONS && last.ready === COLLECTIONS) {
        readySeconds = (performance.now() - t0) / 1000;
        break;
      }
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        log(`${last.ready}/${COLLECTIONS} Collections Ready after ${((performance.now() - t0) / 1000).toFixed(0)} s; RSS ${(rssKb(pid).rss / 1024).toFixed(0)} MB`);
      }
      await sleep(250);
    }
    if (Number.isNaN(readySeconds)) await stopTrackers();
    if (Number.isNaN(readySeconds)) throw new Error(`only ${last.ready}/${COLLECTIONS} Collections Ready after ${READY_TIMEOUT_S} s`);
    log(`all ${COLLECTIONS} Collections Ready after ${readySeconds.toFixed(1)} s`);
    await stopTrackers();
    const snap1 = await snapshot();
    const profileToReady = {
      cpu_seconds: Object.fromEntries(
        Object.entries(snap1.cpu).map(([k, v]) => [k, Math.round((v - snap0.cpu[k as keyof typeof snap0.cpu]) * 10) / 10]),
      ),
      all_ready_seconds: { ...readyAt, collections: Math.round(readySeconds * 10) / 10 },
      collections_ready_timeline: timeline.filter((_, i) => i % 5 === 0 || i === timeline.length - 1),
      apiserver_requests: diff(snap1.apiserver, snap0.apiserver),
      operator: countersDiff(snap1.operator, snap0.operator),
      operator_memory_mb_at_apply: snap0.operator.memoryMb,
      operator_memory_mb_at_ready: snap1.operator.memoryMb,
      loadavg_at_apply: snap0.loadavg,
      loadavg_at_ready: snap1.loadavg,
    };
    // Not `kubectl wait --all -A` here: it checks 1,200 objects one at a time and takes minutes on 2 cores.
    const qns = await countReady(api, 'quarrynamespaces');
    const buckets = await countReady(api, 'buckets');

    // Steady state: wait until the queues are drained (depth 0, reconcile count no longer moving), then count writes.
    let settled = await scrape(metricsPort);
    for (let i = 0; i < 60; i++) {
      await sleep(2000);
      const next = await scrape(metricsPort);
      const idle = sumMetric(next, 'quarry_operator_workqueue_depth') === 0;
      const same = sumMetric(next, 'quarry_operator_api_write_calls_total') === sumMetric(settled, 'quarry_operator_api_write_calls_total');
      settled = next;
      if (idle && same) break;
    }
    const before = settled;
    const writesToReady = sumMetric(before, 'quarry_operator_api_write_calls_total');
    log(`steady state: counting write calls for ${STEADY_SECONDS} s`);
    const s0 = performance.now();
    await sleep(STEADY_SECONDS * 1000);
    const after = await scrape(metricsPort);
    const steadyMinutes = (performance.now() - s0) / 60_000;
    const steadyWrites = sumMetric(after, 'quarry_operator_api_write_calls_total') - writesToReady;
    const steadyReconciles = sumMetric(after, 'quarry_operator_reconcile_total') - sumMetric(before, 'quarry_operator_reconcile_total');
    const steadyErrors = sumMetric(after, 'quarry_operator_reconcile_errors_total') - sumMetric(before, 'quarry_operator_reconcile_errors_total');
    const writesByVerb = byLabel(before, 'quarry_operator_api_write_calls_total', 'verb');
    const steadyByVerb = Object.fromEntries(
      Object.entries(byLabel(after, 'quarry_operator_api_write_calls_total', 'verb'))
        .map(([k, v]) => [k, v - (writesByVerb[k] ?? 0)])
        .filter(([, v]) => v !== 0),
    );
    clearInterval(sampler);
    const { hwm } = rssKb(pid);
    peakKb = Math.max(peakKb, hwm);

    const metrics = {
      seconds_to_ready_1000: Math.round(readySeconds * 10) / 10,
      peak_rss_mb: Math.round(peakKb / 102.4) / 10,
      steady_writes_per_min: Math.round((steadyWrites / steadyMinutes) * 100) / 100,
    };
    writeResults(process.env.BENCH_RECONCILE_OUT ?? 'reconcile', metrics, {
      setup: {
        collections: COLLECTIONS,
        namespaces: namespaces.length,
        quarryNamespaces: qns.total,
        buckets: buckets.total,
        scaledDown: COLLECTIONS !== 1000,
        vectorStore: VECTOR_STORE === 'remote' ? 'remote: the served embedded store as its own process (engine/src/vector-store-main.ts), as the chart runs it without Qdrant' : VECTOR_STORE,
        objectStore: 'minio (test env)',
        jobQueue: 'nats jetstream (test env)',
        operator: `operator/src/main.ts as a separate process${OPERATOR_DIR === ROOT ? '' : ` (from ${OPERATOR_DIR})`}, LEADER_ELECT=false, default concurrency and resync${[...CHART_NODE_FLAGS, ...NODE_ARGS, ...LOADER_ARGS].length ? `, node ${[...CHART_NODE_FLAGS, ...NODE_ARGS, ...LOADER_ARGS].join(' ')}` : ''}${Object.entries(CHART_ENV).map(([k, v]) => `, ${k}=${v}`).join('')}`,
      },
      details: {
        apply_seconds: Math.round(applySeconds * 10) / 10,
        ready_quarrynamespaces: qns.ready,
        ready_buckets: buckets.ready,
        idle_rss_mb_before_apply: Math.round(idleKb / 102.4) / 10,
        ...(store ? { served_vector_store_peak_rss_mb: store.peakMb() } : {}),
        max_sampled_rss_mb: Math.round(maxRssKb / 102.4) / 10,
        api_writes_until_ready: writesToReady,
        api_writes_until_ready_by_verb: writesByVerb,
        reconciles_until_ready: byLabel(before, 'quarry_operator_reconcile_total', 'kind'),
        steady_window_seconds: Math.round(steadyMinutes * 600) / 10,
        steady_writes: steadyWrites,
        steady_writes_by_verb: steadyByVerb,
        steady_reconciles: steadyReconciles,
        steady_reconcile_errors: steadyErrors,
        loadavg_at_end: loadavg(),
      },
      profile_to_ready: profileToReady,
      notes:
        'seconds_to_ready_1000 runs from the start of one server-side apply of every object (namespaces, QuarryNamespaces, Buckets, Collections) ' +
        'until all Collections report Ready=True; peak_rss_mb is VmHWM of the operator process; steady_writes_per_min counts ' +
        'quarry_operator_api_write_calls_total (every Kubernetes write: apply, status, patch, create, update, delete, events) after the queues drained.',
    });
  } finally {
    clearInterval(sampler);
    // BENCH_RECONCILE_CLEANUP=0 (profiling runs on a private env, which goes anyway): stop the operator only.
    if (process.env.BENCH_RECONCILE_CLEANUP === '0' && !reused) {
      op.kill('SIGTERM');
      for (let i = 0; i < 300 && exited === undefined; i++) await sleep(100);
      await store?.stop();
    } else await cleanup().catch((err: unknown) => log(`cleanup failed: ${(err as Error).message}`));
    if (!reused) await testEnvMod.down();
  }
}

await main();
