/**
 * Fault test: the operator as its own process (operator/src/main.ts) on the real kube-apiserver, NATS JetStream,
 * MinIO and the embedded vector store (on disk, surviving restarts), SIGKILLed 10 times at random (seeded) points
 * while it reconciles 100 resources across three Kubernetes namespaces, and while 23 of them are being deleted.
 * After a last restart:
 * - every live resource is Ready with observedGeneration == generation and still holds its finalizer; every
 *   deleted one is gone (its finalizer ran and was removed);
 * - the external state is exactly what the live resources need: the vector collections, S3 buckets, objects under
 *   Bucket prefixes, and JetStream streams (extraction queues, dead-letter queues, state KV buckets) of the test
 *   namespaces equal the expected sets: nothing orphaned by a deletion, nothing created twice;
 * - each Collection enqueued its source object exactly once (one batch per Collection, no job published twice),
 *   though kills fell between creating a batch, submitting it and reporting it.
 * A restart at steady state then writes nothing (no status flaps while the caches fill), and deleting everything
 * afterwards leaves nothing behind but the shared S3 bucket the test created before the operator saw it (emptied of
 * the Buckets' prefixes; Quarry deletes only buckets it created).
 * Seed: FAULT_SEED (default 6); the kill delays are logged, so a failing schedule can be replayed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { applyCrds, createTestNamespace, kubeConfig, kubectl, testEnv } from '../harness/env.ts';
import { freePort, ROOT } from '../harness/test-env.ts';
import type { Condition } from '#operator/runtime/conditions.ts';
import { QUARRY_FINALIZER } from '#operator/runtime/kinds.ts';
import { OPERATOR_TRIGGER } from '#operator/controllers/collection/ingest.ts';
import type { JobQueue } from '#core/ports/job-queue.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { createObjectStore } from '#engine/objects/config.ts';
import { createJobQueue } from '#engine/queue/config.ts';
import { queueNames, token } from '#engine/queue/names.ts';
import { createVectorStore } from '#engine/vector/create.ts';
import { NamespaceIngestion } from '#engine/ingestion/pipeline.ts';
import type { Batch } from '#engine/ingestion/batch-model.ts';
import { OWNERS_DIR, readClaims } from '#engine/objects/storage-ownership.ts';
import { extractionQueueName, objectBucketName, stateBucketName, vectorCollectionName, type NamespaceKey } from '#core/naming.ts';
import { mulberry32 } from '#engine/retriever/stages/reduce/sample.ts';
import { eventually } from './widgets.ts';

const SEED = Number(process.env.FAULT_SEED ?? 6);
/**
 * The operator's and the test's JetStream names start with a prefix of their own: extraction workers of other
 * tests sharing the NATS server discover every `QUARRY_JOBS_*` stream and would consume (and so remove) our jobs.
 */
const NATS_PREFIX = `QFAULT${randomBytes(3).toString('hex').toUpperCase()}`;
const KILLS = 10;
const QNS = ['alpha', 'beta'] as const;
const PLURAL: Record<string, string> = { QuarryNamespace: 'quarrynamespaces', Bucket: 'buckets', Collection: 'collections', Retriever: 'retrievers' };

interface Res {
  kind: string;
  namespace: string;
  name: string;
  body: Record<string, unknown>;
}

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-op-fault-'));
const namespaces: { name: string; cleanup(): Promise<void> }[] = [];
let resources: Res[] = [];
let doomed = new Set<string>();
let queue: JobQueue;
let objects: ObjectStore;
let s3: S3Client;
let nc: NatsConnection;
let jsm: JetStreamManager;
let operator: { proc: ChildProcess; port: number; exited: Promise<void>; log: () => string } | undefined;

const id = (r: { kind: string; namespace: string; name: string }) => `${r.kind}/${r.namespace}/${r.name}`;
const sharedBucket = (ns: string) => `qf-${ns}`;
const sourceObject = (qn: string) => `obj_fault_${qn}`;

/** 100 resources: per Kubernetes namespace 2 QuarryNamespaces, each with 2 Buckets, 10 Collections, 3 Retrievers (+4 in the first). */
function manifests(nsNames: string[]): Res[] {
  const out: Res[] = [];
  const add = (kind: string, namespace: string, name: string, spec: Record<string, unknown>) =>
    out.push({ kind, namespace, name, body: { apiVersion: 'quarry.dev/v1alpha1', kind, metadata: { name, namespace }, spec } });
  const text = { name: 'text_extractor', version: 'v1', params: { embedding_model: 'all_minilm_l6_v2' } };
  for (const [i, ns] of nsNames.entries()) {
    for (const qn of QNS) {
      add('QuarryNamespace', ns, qn, { featureExtractors: [text], payloadIndexes: [{ field: 'doc_id', type: 'keyword' }] });
      // One bucket Quarry owns outright, one under a prefix of an S3 bucket shared by both QuarryNamespaces.
      add('Bucket', ns, `${qn}-raw`, { namespaceRef: qn, schema: { properties: { body: { type: 'text' } } } });
      add('Bucket', ns, `${qn}-docs`, { namespaceRef: qn, schema: { properties: { body: { type: 'text' } } }, storage: { bucketName: sharedBucket(ns), prefix: `${qn}/docs/` } });
      for (const src of ['raw', 'docs']) {
        for (let c = 0; c < 5; c++) {
          add('Collection', ns, `${qn}-${src}-${c}`, {
            namespaceRef: qn,
            source: { bucketRefs: [`${qn}-${src}`] },
            featureExtractor: { ...text, parameters: { split_by: 'sentences', chunk_size: c + 1 }, inputMappings: { text: 'body' } },
          });
        }
      }
      const retrievers = i === 0 && qn === 'alpha' ? 7 : 3;
      for (let r = 0; r < retrievers; r++) {
        add('Retriever', ns, `${qn}-search-${r}`, {
          namespaceRef: qn,
          collectionRefs: [`${qn}-raw-${r % 5}`],
          inputSchema: { query: { type: 'text', required: true } },
          stages: [
            {
              stageName: 'search',
              stageType: 'filter',
              config: {
                stageId: 'feature_search',
                parameters: { searches: [{ feature_uri: 'quarry://text_extractor@v1/all_minilm_l6_v2', query: { input_mode: 'text', value: '{{INPUT.query}}' }, top_k: 10 + r }] },
              },
            },
          ],
        });
      }
    }
  }
  return out;
}

/** Deleted mid-run: a whole QuarryNamespace with everything in it; a Bucket under a shared prefix with its Collections; one Collection. */
function doomedSet(nsNames: string[]): Set<string> {
  const d = new Set<string>();
  for (const r of resources) {
    if (r.namespace === nsNames[0] && (r.name === 'beta' || r.name.startsWith('beta-'))) d.add(id(r));
    if (r.namespace === nsNames[1] && (r.name === 'beta-docs' || r.name.startsWith('beta-docs-'))) d.add(id(r));
    if (r.namespace === nsNames[1] && r.name === 'alpha-raw-4') d.add(id(r));
  }
  return d;
}

function startOperator(port: number): NonNullable<typeof operator> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'operator/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      WATCH_NAMESPACES: namespaces.map((n) => n.name).join(','),
      LEADER_ELECT: 'false',
      METRICS_PORT: String(port),
      METRICS_BIND_ADDRESS: '127.0.0.1',
      QUARRY_VECTOR_STORE: 'embedded',
      QUARRY_DATA_DIR: scratch,
      QDRANT_URL: '',
      NATS_STREAM_PREFIX: NATS_PREFIX,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (b: Buffer) => (log = (log + b.toString()).slice(-20_000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  return { proc, port, exited, log: () => log };
}

async function readyz(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
}

type Live = { metadata: { name: string; namespace: string; generation?: number; finalizers?: string[] }; status?: { observedGeneration?: number; conditions?: Condition[] } };

async function listAll(): Promise<Map<string, Live>> {
  const api = kubeConfig().makeApiClient(CustomObjectsApi);
  const out = new Map<string, Live>();
  for (const ns of namespaces) {
    for (const [kind, plural] of Object.entries(PLURAL)) {
      const list = (await api.listNamespacedCustomObject({ group: 'quarry.dev', version: 'v1alpha1', namespace: ns.name, plural })) as { items: Live[] };
      for (const o of list.items) out.set(id({ kind, namespace: ns.name, name: o.metadata.name }), o);
    }
  }
  return out;
}

/** Test-owned names (S3 buckets, streams, vector collections) contain the namespace name in some spelling. */
function mentionsTestNamespace(name: string): boolean {
  const n = name.toLowerCase().replace(/_/g, '-');
  return namespaces.some((ns) => n.includes(ns.name));
}

async function streamsOfTest(): Promise<string[]> {
  const out: string[] = [];
  for await (const si of jsm.streams.list()) if (mentionsTestNamespace(si.config.name)) out.push(si.config.name);
  return out.sort();
}

async function s3BucketsOfTest(): Promise<string[]> {
  const res = await s3.send(new ListBucketsCommand({}));
  return (res.Buckets ?? []).map((b) => b.Name!).filter(mentionsTestNamespace).sort();
}

async function vectorCollectionsOfTest(): Promise<string[]> {
  // The embedded store is a directory of tables: a second reader next to the operator sees the same tables.
  const vs = createVectorStore({ kind: 'embedded', dataDir: path.join(scratch, 'vectors') });
  try {
    return (await vs.listCollections()).filter(mentionsTestNamespace).sort();
  } finally {
    await vs.close();
  }
}

/** Data keys (storage-ownership claims aside). */
async function keysUnder(bucket: string): Promise<string[]> {
  const page = await objects.list(bucket, { maxKeys: 1000 });
  return page.objects.map((o) => o.key).filter((k) => !k.startsWith(OWNERS_DIR)).sort();
}

const streamsOf = (key: NamespaceKey) => {
  const q = queueNames(NATS_PREFIX, extractionQueueName(key));
  return [q.stream, q.dlqStream, `KV_${NATS_PREFIX}_${token(stateBucketName(key))}`];
};

before(async () => {
  await applyCrds();
  for (let i = 0; i < 3; i++) namespaces.push(await createTestNamespace(`op-fault-${i}`));
  const t = testEnv();
  queue = await createJobQueue({ kind: 'nats', servers: [t.natsUrl], prefix: NATS_PREFIX });
  objects = createObjectStore({ kind: 's3', endpoint: t.s3.endpoint, region: t.s3.region, accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey, forcePathStyle: true });
  s3 = new S3Client({ endpoint: t.s3.endpoint, region: t.s3.region, forcePathStyle: true, credentials: { accessKeyId: t.s3.accessKey, secretAccessKey: t.s3.secretKey } });
  nc = await connect({ servers: t.natsUrl });
  jsm = await jetstreamManager(nc);
  const names = namespaces.map((n) => n.name);
  resources = manifests(names);
  doomed = doomedSet(names);
  assert.equal(resources.length, 100);
  assert.equal(doomed.size, 23);

  // Data the operator must respect: one blob under each Bucket's prefix of the shared S3 bucket, and one object
  // record per QuarryNamespace in its `-raw` Bucket (as the engine's API would have stored it).
  for (const ns of names) {
    await s3.send(new CreateBucketCommand({ Bucket: sharedBucket(ns) }));
    for (const qn of QNS) {
      await objects.put(sharedBucket(ns), `${qn}/docs/marker.txt`, Buffer.from(qn));
      const engine = new NamespaceIngestion({ queue, objects, vectors: {} as never, models: {} as never }, { key: { k8sNamespace: ns, name: qn }, collections: async () => [], storageBucket: async (b) => b });
      await engine.putObject({ object_id: sourceObject(qn), bucket: `${qn}-raw`, blobs: [], metadata: { body: 'A note.' } });
    }
  }
});

after(async () => {
  if (operator && operator.proc.exitCode === null && operator.proc.signalCode === null) {
    operator.proc.kill('SIGKILL');
    await operator.exited;
  }
  // Whatever a failed run left: finalizers would outlive the operator, external state the test.
  for (const ns of namespaces) {
    const left = await kubectl(['get', Object.values(PLURAL).map((p) => `${p}.quarry.dev`).join(','), '-o', 'name'], { namespace: ns.name });
    for (const n of left.stdout.split('\n').filter(Boolean)) await kubectl(['patch', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { namespace: ns.name });
  }
  if (jsm) for (const s of await streamsOfTest().catch(() => [])) await jsm.streams.delete(s).catch(() => undefined);
  if (s3) for (const b of await s3BucketsOfTest().catch(() => [])) await objects.deleteBucket(b, { force: true }).catch(() => undefined);
  await nc?.close();
  await queue?.close();
  await objects?.close();
  s3?.destroy();
  for (const ns of namespaces) await ns.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

test(`SIGKILL ${KILLS} times while reconciling 100 resources and deleting 23: everything converges with no orphan and no duplicate`, async () => {
  const rand = mulberry32(SEED); // seeded, so a failing kill schedule can be replayed with FAULT_SEED
  const port = await freePort();
  const applied = await kubectl(['apply', '--server-side', '--field-manager=quarry-fault-test', '-f', '-'], { input: resources.map((r) => JSON.stringify(r.body)).join('\n') });
  assert.equal(applied.code, 0, applied.stderr);

  const unconverged = (all: Map<string, Live>): string[] => {
    const bad: string[] = [];
    for (const r of resources) {
      const o = all.get(id(r));
      if (doomed.has(id(r))) {
        if (o) bad.push(`${id(r)} still exists (finalizers ${JSON.stringify(o.metadata.finalizers)})`);
        continue;
      }
      const ready = o?.status?.conditions?.find((c) => c.type === 'Ready');
      if (!o || ready?.status !== 'True' || o.status?.observedGeneration !== o.metadata.generation) {
        bad.push(`${id(r)}: ${o ? `${ready?.reason}: ${ready?.message} (observed ${o.status?.observedGeneration}/${o.metadata.generation})` : 'missing'}`);
      }
    }
    return bad;
  };
  const schedule: string[] = [];
  const t0 = Date.now();
  const at = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
  for (let k = 0; k < KILLS; k++) {
    operator = startOperator(port);
    const op = operator;
    // Kill somewhere in the first seconds of reconciling: after the caches synced (readyz), plus 0–2.5 s.
    await eventually(async () => (await readyz(port)) || op.proc.exitCode !== null, 90_000, `operator run ${k} ready`);
    assert.equal(op.proc.exitCode, null, `operator run ${k} exited early:\n${op.log()}`);
    if (k === 3) {
      // Deletions issued while this run reconciles: the next kills land in finalizers too.
      const byKind = new Map<string, string[]>();
      for (const r of resources) if (doomed.has(id(r))) byKind.set(`${r.namespace} ${PLURAL[r.kind]}.quarry.dev`, [...(byKind.get(`${r.namespace} ${PLURAL[r.kind]}.quarry.dev`) ?? []), r.name]);
      for (const [key, names] of byKind) {
        const [ns, type] = key.split(' ') as [string, string];
        const d = await kubectl(['delete', type, ...names, '--wait=false'], { namespace: ns });
        assert.equal(d.code, 0, d.stderr);
      }
    }
    const delay = Math.round(rand() * 2500);
    await new Promise((r) => setTimeout(r, delay));
    op.proc.kill('SIGKILL');
    await op.exited;
    schedule.push(`run ${k} (at ${at()}): killed ${delay} ms after ready with ${unconverged(await listAll()).length} resources not yet converged`);
  }
  process.stderr.write(`fault-kill (FAULT_SEED=${SEED}): ${schedule.join('; ')}\n`);

  // A last, uninterrupted run converges.
  operator = startOperator(port);
  const last = operator;
  let lastBad: string[] = [];
  await eventually(async () => {
    if (last.proc.exitCode !== null) throw new Error(`the last operator run exited:\n${last.log()}`);
    lastBad = unconverged(await listAll());
    return lastBad.length === 0;
  }, 180_000, 'convergence').catch((err: Error) => {
    throw new Error(`${err.message}\n${lastBad.slice(0, 20).join('\n')}\n--- operator log ---\n${last.log().slice(-4000)}`);
  });
  process.stderr.write(`fault-kill: converged at ${at()}\n`);
  const all = await listAll();
  for (const r of resources) {
    if (doomed.has(id(r)) || r.kind === 'Retriever') continue; // Retrievers have no external state and no finalizer
    assert.ok(all.get(id(r))!.metadata.finalizers?.includes(QUARRY_FINALIZER), `${id(r)} keeps its finalizer`);
  }

  // Exactly the external state the live resources need.
  const live = resources.filter((r) => !doomed.has(id(r)));
  const liveQns = live.filter((r) => r.kind === 'QuarryNamespace').map((r) => ({ k8sNamespace: r.namespace, name: r.name }));
  assert.equal(liveQns.length, 5);
  assert.deepEqual(await vectorCollectionsOfTest(), liveQns.map((k) => vectorCollectionName(k)).sort(), 'vector collections');
  assert.deepEqual(await streamsOfTest(), liveQns.flatMap(streamsOf).sort(), 'JetStream streams: queue, dead letters and state of each live QuarryNamespace');
  const expectedS3 = [...new Set(live.filter((r) => r.kind === 'Bucket').map((r) => (r.name.endsWith('-docs') ? sharedBucket(r.namespace) : objectBucketName(r.namespace, r.name))))].sort();
  assert.deepEqual(await s3BucketsOfTest(), expectedS3, 'S3 buckets');
  for (const ns of namespaces) {
    const liveDocs = live.filter((r) => r.kind === 'Bucket' && r.namespace === ns.name && r.name.endsWith('-docs')).map((r) => `${r.name.replace(/-docs$/, '')}/docs/marker.txt`);
    // A doomed Bucket deleted before any run got to claim its prefix never owned it: its data is kept (storage
    // ownership), and the operator says so in an ExternalResourceKept event. Any other doomed prefix is emptied.
    const keptUnclaimed: string[] = [];
    for (const r of resources.filter((x) => doomed.has(id(x)) && x.kind === 'Bucket' && x.namespace === ns.name && x.name.endsWith('-docs'))) {
      const ev = await kubectl(['get', 'events', '-o', 'json', '--field-selector', `involvedObject.name=${r.name},reason=ExternalResourceKept`], { namespace: ns.name });
      assert.equal(ev.code, 0, ev.stderr);
      const items = (JSON.parse(ev.stdout) as { items: { message?: string }[] }).items;
      if (items.some((e) => /not owned by this Bucket/.test(e.message ?? ''))) keptUnclaimed.push(`${r.name.replace(/-docs$/, '')}/docs/marker.txt`);
    }
    assert.deepEqual(await keysUnder(sharedBucket(ns.name)), [...liveDocs, ...keptUnclaimed].sort(), `objects under the Bucket prefixes of ${sharedBucket(ns.name)}`);
    // What nothing owns any more is the test's to remove (the next test deletes everything else through Quarry).
    for (const k of keptUnclaimed) await objects.delete(sharedBucket(ns.name), k);
    // Each live Bucket there holds exactly one claim on its prefix; deleted ones released theirs.
    const claims = (await readClaims(objects, sharedBucket(ns.name))).map((c) => `${c.name}:${c.prefix}`).sort();
    const docBuckets = live.filter((r) => r.kind === 'Bucket' && r.namespace === ns.name && r.name.endsWith('-docs'));
    assert.deepEqual(claims, docBuckets.map((r) => `${r.name}:${r.name.replace(/-docs$/, '')}/docs/`).sort(), `claims in ${sharedBucket(ns.name)}`);
  }

  // Each live `-raw` Collection took its source object through exactly one batch; no job was published twice.
  for (const key of liveQns) {
    const engine = new NamespaceIngestion({ queue, objects, vectors: {} as never, models: {} as never }, { key, collections: async () => [], storageBucket: async (b) => b });
    const batches: Batch[] = await engine.listBatches();
    assert.deepEqual(batches.filter((b) => b.status === 'DRAFT'), [], `${key.k8sNamespace}/${key.name}: no batch left half-made`);
    for (const c of live.filter((r) => r.kind === 'Collection' && r.namespace === key.k8sNamespace && r.name.startsWith(`${key.name}-`))) {
      const taken = batches.filter((b) => b.collection_ids.includes(c.name));
      if (c.name.includes('-docs-')) {
        assert.equal(taken.length, 0, `${c.name}: its bucket has no object`);
        continue;
      }
      assert.equal(taken.length, 1, `${c.namespace}/${c.name}: exactly one batch (${taken.map((b) => b.batch_id).join(', ')})`);
      assert.deepEqual(taken[0]!.object_ids, [sourceObject(key.name)]);
      assert.equal(taken[0]!.metadata.trigger, OPERATOR_TRIGGER);
      const status = (all.get(id(c)) as Live & { status: { lastBatch?: { batchId?: string } } }).status.lastBatch;
      assert.equal(status?.batchId, taken[0]!.batch_id, `${c.name}: status.lastBatch names its batch`);
    }
    const jobs = batches.reduce((n, b) => n + b.tier_tasks.reduce((m, t) => m + t.total_jobs, 0), 0);
    const detail = batches.map((b) => `${b.batch_id} ${b.status} enqueued_at=${b.tier_tasks[0]?.enqueued_at} outcomes=${Object.keys(b.tier_tasks[0]?.outcomes ?? {}).length}`);
    assert.equal(await queue.pending(extractionQueueName(key)), jobs, `${key.k8sNamespace}/${key.name}: jobs queued == jobs the batches declare\n${detail.join('\n')}`);
  }
});

test('a restart at steady state writes nothing: statuses do not flap while the caches fill', async () => {
  assert.ok(operator, 'the operator of the previous test');
  const port = operator.port;
  operator.proc.kill('SIGKILL');
  await operator.exited;
  operator = startOperator(port);
  const op = operator;
  const live = resources.filter((r) => !doomed.has(id(r))).length;
  const metric = (text: string, name: string) =>
    text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  // Every live object re-observed once and the queues drained.
  const text = await eventually(async () => {
    if (op.proc.exitCode !== null) throw new Error(`the operator exited:\n${op.log()}`);
    const t = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => (r.ok ? r.text() : undefined), () => undefined);
    return t && metric(t, 'quarry_operator_reconcile_total') >= live && metric(t, 'quarry_operator_workqueue_depth') === 0 ? t : undefined;
  }, 120_000, 'every object re-observed after the restart');
  const writes = text.split('\n').filter((l) => l.startsWith('quarry_operator_api_write_calls_total{'));
  assert.equal(metric(text, 'quarry_operator_api_write_calls_total'), 0, writes.join('\n'));
});

test('deleting everything with the operator running leaves no external state behind', async () => {
  assert.ok(operator && operator.proc.exitCode === null, 'the operator of the previous test is running');
  for (const ns of namespaces) {
    const d = await kubectl(['delete', Object.values(PLURAL).map((p) => `${p}.quarry.dev`).join(','), '--all', '--timeout=120s'], { namespace: ns.name });
    assert.equal(d.code, 0, `${d.stderr}\n${operator.log().slice(-3000)}`);
  }
  assert.equal((await listAll()).size, 0);
  assert.deepEqual(await vectorCollectionsOfTest(), []);
  assert.deepEqual(await streamsOfTest(), []);
  // The shared S3 bucket existed before its Buckets named it (the test created it): Quarry did not create it, so
  // it is kept, with only the Buckets' prefixes emptied.
  assert.deepEqual(await s3BucketsOfTest(), namespaces.map((n) => sharedBucket(n.name)).sort());
  for (const ns of namespaces) assert.deepEqual(await keysUnder(sharedBucket(ns.name)), [], `nothing left under the prefixes of ${sharedBucket(ns.name)}`);
  operator.proc.kill('SIGTERM');
  await operator.exited;
  assert.equal(operator.proc.exitCode, 0, operator.log().slice(-2000));
});
