/**
 * First-start sample for local mode: engine/sample-data/objects.json lists objects (text notes, photos with
 * captions, a PDF) for the `quickstart` resources in examples/sample-data/quickstart.yaml. Once those resources are
 * Ready (status written by the reconcilers), the objects are stored through the ingestion pipeline, one batch per
 * bucket is submitted, and the seed waits for the batches to finish. A marker file in the data directory records
 * it, so a restart never seeds twice. Object ids are fixed, so the same sample gives the same documents anywhere.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { logger } from '../lib/log.ts';
import type { Resource, ResourceStore } from '../ports/resource-store.ts';
import type { BlobType } from '../ingestion/types.ts';
import type { NamespaceIngestion } from '../ingestion/pipeline.ts';
import { TERMINAL, type Batch } from '../ingestion/batch-model.ts';
import { isReady } from '#core/dependencies.ts';

const log = logger('seed');

export interface SampleSpec {
  namespace: string;
  retriever: string;
  query: string;
  objects: { id: string; bucket: string; metadata: Record<string, unknown>; blobs: { property: string; type: BlobType; file: string }[] }[];
}

export interface SeedResult {
  namespace: string;
  retriever: string;
  query: string;
  batches: { batch_id: string; bucket: string; status: string; errors?: string[] }[];
  seededAt: string;
}

const CONTENT_TYPES: Record<string, string> = { '.txt': 'text/plain', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.pdf': 'application/pdf' };

export function readSample(sampleDir: string): SampleSpec | undefined {
  const file = path.join(sampleDir, 'objects.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SampleSpec) : undefined;
}

export const seedMarker = (dataDir: string) => path.join(dataDir, 'seeded.json');

export function previousSeed(dataDir: string): SeedResult | undefined {
  const f = seedMarker(dataDir);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as SeedResult) : undefined;
}

/** Waits until the QuarryNamespace and every Bucket/Collection/Retriever of it in `k8sNamespace` is Ready. */
export async function waitForReady(store: ResourceStore, k8sNamespace: string, namespace: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let why = '';
  while (Date.now() < deadline && !signal?.aborted) {
    const qn = await store.get('QuarryNamespace', { namespace: k8sNamespace, name: namespace });
    const deps: Resource[] = [];
    for (const kind of ['Bucket', 'Collection', 'Retriever']) {
      for (const o of await store.list(kind, { namespace: k8sNamespace })) if ((o.spec as { namespaceRef?: string }).namespaceRef === namespace) deps.push(o);
    }
    const notReady = [qn, ...deps].find((o) => !isReady(o));
    if (!notReady) return;
    why = qn ? `${notReady?.kind} ${notReady?.metadata.name}: ${JSON.stringify((notReady?.status as { conditions?: unknown })?.conditions ?? 'no status yet')}` : `QuarryNamespace ${namespace} does not exist`;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the sample's resources did not become Ready in ${timeoutMs} ms (${why})`);
}

/** Stores the sample objects, submits one batch per bucket and waits for them to finish. */
export async function seedSample(ingestion: NamespaceIngestion, sample: SampleSpec, sampleDir: string, timeoutMs: number): Promise<SeedResult['batches']> {
  const byBucket = new Map<string, string[]>();
  for (const o of sample.objects) {
    const blobs = [];
    for (const b of o.blobs) {
      const bytes = readFileSync(path.join(sampleDir, b.file));
      const ct = CONTENT_TYPES[path.extname(b.file).toLowerCase()] ?? 'application/octet-stream';
      blobs.push(await ingestion.storeBlob(o.bucket, o.id, b.property, b.type, bytes, ct, path.basename(b.file)));
    }
    await ingestion.putObject({ object_id: o.id, bucket: o.bucket, blobs, metadata: o.metadata });
    byBucket.set(o.bucket, [...(byBucket.get(o.bucket) ?? []), o.id]);
  }
  const batches: Batch[] = [];
  for (const [bucket, ids] of byBucket) {
    const b = await ingestion.createBatch(bucket, ids, { source: 'quarry-sample' });
    batches.push(await ingestion.submit(b.batch_id));
  }
  const deadline = Date.now() + timeoutMs;
  const done: SeedResult['batches'] = [];
  for (const b of batches) {
    let cur = b;
    while (!TERMINAL.has(cur.status)) {
      if (Date.now() > deadline) throw new Error(`sample batch ${b.batch_id} (${b.bucket_id}) did not finish in ${timeoutMs} ms: ${cur.status}`);
      await new Promise((r) => setTimeout(r, 200));
      cur = await ingestion.getBatch(b.batch_id);
    }
    // Which job failed and why (the first few), for the log and the caller.
    const errors = cur.tier_tasks.flatMap((t) => Object.entries(t.outcomes).filter(([, o]) => !o.ok).map(([job, o]) => `${job}: ${o.reason}: ${o.error}`)).slice(0, 5);
    if (cur.status !== 'COMPLETED') log.warn({ batch: cur.batch_id, bucket: cur.bucket_id, status: cur.status, errors }, 'sample batch finished with errors');
    done.push({ batch_id: cur.batch_id, bucket: cur.bucket_id, status: cur.status, ...(errors.length ? { errors } : {}) });
  }
  return done;
}

export function writeSeedMarker(dataDir: string, result: SeedResult): void {
  writeFileSync(seedMarker(dataDir), JSON.stringify(result, null, 2));
}
