/**
 * The ingestion pipeline of one QuarryNamespace: object records, batches, extraction jobs on the JobQueue and
 * the worker that turns jobs into documents in the VectorStore. Written only against the ports, so the same
 * code runs on NATS + S3 + Qdrant in a cluster and on the in-process adapters in local mode.
 */
import { createWriteStream } from 'node:fs';
import { pipeline as streamPipeline } from 'node:stream/promises';
import type { JobContext, Subscription } from '../ports/job-queue.ts';
import type { Point } from '../ports/vector-store.ts';
import type { FilterNode } from '../ports/filter.ts';
import { QuarryError, notFound } from '../lib/errors.ts';
import { logger } from '../lib/log.ts';
import { compileFilter, matchesFilter, type FilterExpr } from '../vector/filter-compile.ts';
import { jobKey, newBatch, parseJobKey, recordOutcome, recordRanges, refreshBatch, TERMINAL, type Batch } from './batch-model.ts';
import type { MediaRange } from '../media/plan.ts';
import { planTiers, type CollectionPlan } from './collections.ts';
import { documentId } from './document-id.ts';
import { newId } from './ids.ts';
import { passthroughFields } from './field-passthrough.ts';
import { groupUpsert } from './group-writer.ts';
import { ExtractionError, type StoredObject } from './types.ts';
import { TRANSIENT_REASONS, MAX_DELIVER, sourceFilter } from './pipeline-model.ts';
import { compactAfterBatch, settleCompaction } from './compaction.ts';
import type { ExtractionJob, ObjectRecord } from './pipeline-model.ts';
import { NamespaceState } from './namespace-state.ts';
export { TRANSIENT_REASONS, MAX_DELIVER, extractionQueueSpec } from './pipeline-model.ts';
export type { IngestionPorts, NamespaceView, ExtractionJob, ObjectRecord, NewObject, ObjectIndex } from './pipeline-model.ts';

const log = logger('ingestion');

export class NamespaceIngestion extends NamespaceState {
  async createBatch(bucket: string, objectIds: string[], metadata: Record<string, unknown> = {}): Promise<Batch> {
    await this.ns.storageBucket(bucket); // unknown buckets fail here with NotFound
    const batch = newBatch(newId('btch'), bucket, objectIds, metadata);
    await (await this.kv()).put(`batch.${batch.batch_id}`, batch);
    return batch;
  }

  /** Every batch record of the namespace (the operator reads which objects batches already took through a collection). */
  async listBatches(): Promise<Batch[]> {
    const kv = await this.kv();
    const records = await Promise.all((await kv.keys('batch.')).map((k) => kv.get<Batch>(k)));
    return records.filter((r): r is NonNullable<typeof r> => !!r).map((r) => r.value);
  }

  async getBatch(batchId: string): Promise<Batch> {
    const e = await (await this.kv()).get<Batch>(`batch.${batchId}`);
    if (!e) throw notFound('batch', batchId);
    return e.value;
  }

  private async mutateBatch(batchId: string, fn: (b: Batch) => Batch): Promise<Batch> {
    return (await this.kv()).mutate<Batch>(`batch.${batchId}`, (cur) => {
      if (!cur) throw notFound('batch', batchId);
      return fn(cur);
    });
  }

  async addObjects(batchId: string, objectIds: string[]): Promise<Batch> {
    return this.mutateBatch(batchId, (b) => {
      if (b.status !== 'DRAFT') throw new QuarryError('BadRequestError', `batch ${batchId} is ${b.status}; objects can only be added to a DRAFT batch`);
      b.object_ids = [...new Set([...b.object_ids, ...objectIds])];
      b.updated_at = new Date().toISOString();
      return b;
    });
  }

  /**
   * DRAFT → PENDING: plans the collection tiers, applies bucket-sourced collections' source filters to the objects
   * and enqueues tier 0. Submitting a PENDING batch whose tier 0 was never fully published (the queue was
   * unreachable) publishes it again; job ids make that idempotent.
   */
  async submit(batchId: string): Promise<Batch> {
    const pre = await this.getBatch(batchId);
    if (pre.status === 'PENDING' && pre.tier_tasks[0] && !pre.tier_tasks[0].enqueued_at) {
      await this.enqueueTier(pre, 0);
      return this.advanceFrom(await this.getBatch(batchId), 0);
    }
    if (pre.status !== 'DRAFT') throw new QuarryError('BadRequestError', `batch ${batchId} was already submitted (status ${pre.status})`);
    if (pre.object_ids.length === 0) throw new QuarryError('BadRequestError', `batch ${batchId} has no objects; add object_ids before submitting`);
    const collections = await this.ns.collections();
    const only = pre.metadata.restrict_collections as string[] | undefined;
    const tiers = planTiers(pre.bucket_id, collections, only);
    const storage = await this.ns.storageBucket(pre.bucket_id);
    const storagePrefix = (await this.ns.storagePrefix?.(pre.bucket_id)) ?? '';
    const plans = Object.fromEntries(collections.filter((c) => tiers.flat().includes(c.name)).map((c) => [c.name, c]));
    for (const p of Object.values(plans)) sourceFilter(p); // a bad filter fails the submit, not every job
    const selected = await this.selectObjects(pre.object_ids, (tiers[0] ?? []).map((name) => plans[name]!));
    const batch = await this.mutateBatch(batchId, (b) => {
      if (b.status !== 'DRAFT') throw new QuarryError('BadRequestError', `batch ${batchId} was already submitted (status ${b.status})`);
      const now = new Date().toISOString();
      b.dag_tiers = tiers;
      b.plans = plans;
      b.storage = storage;
      if (storagePrefix) b.storage_prefix = storagePrefix;
      b.object_filter = selected;
      b.collection_ids = tiers.flat();
      b.total_tiers = tiers.length;
      b.task_id = newId('task');
      b.tier_tasks = tiers.map((ids, n) => {
        const jobs = ids.reduce((sum, c) => sum + (selected[c] ?? b.object_ids).length, 0);
        return {
          tier_num: n,
          task_id: `${b.task_id}_t${n}`,
          // A tier whose source filters left nothing to do is done at once.
          status: jobs === 0 ? 'COMPLETED' : 'PENDING',
          collection_ids: ids,
          source_type: n === 0 ? 'bucket' : 'collection',
          outcomes: {},
          total_jobs: jobs,
          ...(n === 0 ? { source_documents_fetched: ids.length * b.object_ids.length, documents_after_source_filter: jobs } : {}),
          ...(jobs === 0 ? { started_at: now, completed_at: now, enqueued_at: now } : {}),
        };
      });
      b.status = tiers.length ? 'PENDING' : 'COMPLETED';
      return refreshBatch(b);
    });
    await this.kvPut(`task.${batch.task_id}`, batch.batch_id);
    if (!tiers.length) return batch;
    if (!batch.tier_tasks[0]!.enqueued_at) await this.enqueueTier(batch, 0);
    return this.advanceFrom(await this.getBatch(batchId), 0);
  }

  /**
   * Object ids per collection that has source filters (reference §1.5 `source_filters`, evaluated when the batch
   * is submitted). A filter field is looked up like any source field: at the object's top level, then in its metadata.
   */
  private async selectObjects(objectIds: string[], plans: CollectionPlan[]): Promise<Record<string, string[]>> {
    const filtered = plans.filter((p) => p.source.type === 'bucket' && p.sourceFilters);
    if (!filtered.length) return {};
    const compiled = filtered.map((p) => ({ name: p.name, expr: sourceFilter(p)! }));
    const out: Record<string, string[]> = Object.fromEntries(filtered.map((p) => [p.name, []]));
    for (const id of objectIds) {
      const o = await this.getObject(id);
      const payload: Record<string, unknown> = { ...o.metadata, ...o };
      for (const c of compiled) if (matchesFilter(c.expr, payload)) out[c.name]!.push(id);
    }
    return out;
  }

  async batchForTask(taskId: string): Promise<Batch | undefined> {
    const batchId = await this.kvGet<string>(`task.${taskId}`);
    return batchId ? this.getBatch(batchId) : undefined;
  }

  /**
   * Processes the objects of a collection's source buckets through that collection (and what it feeds): one batch
   * per bucket that has objects (a batch reads one bucket). `includeBuckets` narrows the buckets; `filters` (the filter language,
   * over object fields then metadata) narrows the objects, on top of the collection's own source filters.
   */
  async triggerCollection(name: string, opts: { includeBuckets?: string[]; filters?: FilterNode } = {}): Promise<{ collection: CollectionPlan; buckets: string[]; batches: Batch[]; objectCount: number }> {
    const collection = (await this.ns.collections()).find((c) => c.name === name);
    if (!collection) throw notFound('collection', name);
    if (collection.source.type !== 'bucket') throw new QuarryError('BadRequestError', `collection ${name} reads other collections; trigger its upstream bucket collection instead`);
    const sources = collection.source.buckets;
    for (const [i, b] of (opts.includeBuckets ?? []).entries()) {
      if (!sources.includes(b)) {
        throw new QuarryError('ValidationError', `include_buckets[${i}]: '${b}' is not a source bucket of collection ${name} (its sources: ${sources.join(', ')})`, { field: `include_buckets[${i}]` });
      }
    }
    const buckets = opts.includeBuckets?.length ? sources.filter((b) => opts.includeBuckets!.includes(b)) : sources;
    let expr: FilterExpr | undefined;
    try {
      expr = opts.filters ? compileFilter(opts.filters) : undefined;
    } catch (err) {
      throw new QuarryError('ValidationError', `source_filters: ${(err as Error).message}`, { field: 'source_filters' });
    }
    const all = (await this.listObjects()).filter((o) => !expr || matchesFilter(expr, { ...o.metadata, ...o }));
    const batches: Batch[] = [];
    let objectCount = 0;
    for (const bucket of buckets) {
      const objects = all.filter((o) => o.bucket === bucket).map((o) => o.object_id);
      if (!objects.length) continue; // nothing to process: no empty batch is left behind
      objectCount += objects.length;
      const batch = await this.createBatch(bucket, objects, { restrict_collections: [name], trigger: 'collection' });
      batches.push(await this.submit(batch.batch_id));
    }
    return { collection, buckets, batches, objectCount };
  }

  /**
   * Re-enqueues the failed jobs of a batch (reference §1.4 retry): `mode` transient_only (the default) only jobs
   * that failed on the infrastructure (TRANSIENT_REASONS), all every failed job; `tierNums` only those tiers;
   * a job already retried `maxRetryCount` times (default 3) is left failed.
   */
  async retryFailed(batchId: string, opts: { mode?: 'transient_only' | 'all'; tierNums?: number[]; maxRetryCount?: number } = {}): Promise<Batch> {
    const mode = opts.mode ?? 'transient_only';
    const maxRetries = opts.maxRetryCount ?? 3;
    const failed: { tier: number; collection: string; object_id: string; range?: MediaRange }[] = [];
    const batch = await this.mutateBatch(batchId, (b) => {
      failed.length = 0;
      if (b.status === 'DRAFT' || b.status === 'CANCELED') throw new QuarryError('BadRequestError', `batch ${batchId} is ${b.status}; only submitted batches can be retried`);
      for (const t of b.tier_tasks) {
        if (opts.tierNums && !opts.tierNums.includes(t.tier_num)) continue;
        for (const [key, o] of Object.entries(t.outcomes)) {
          if (o.ok) continue;
          if (mode === 'transient_only' && !TRANSIENT_REASONS.has(o.reason ?? '')) continue;
          const retries = b.retry_counts?.[`${t.tier_num}/${key}`] ?? 0;
          if (retries >= maxRetries) continue;
          (b.retry_counts ??= {})[`${t.tier_num}/${key}`] = retries + 1;
          const { collection, objectId, range } = parseJobKey(key);
          const ranges = range === undefined ? undefined : t.media_ranges?.[jobKey(collection, objectId)];
          failed.push({ tier: t.tier_num, collection, object_id: objectId, ...(ranges?.[range!] ? { range: ranges[range!] } : {}) });
          delete t.outcomes[key];
          t.status = 'IN_PROGRESS';
          delete t.completed_at;
        }
      }
      if (failed.length) b.status = 'IN_PROGRESS';
      b.metadata.retries = Number(b.metadata.retries ?? 0) + 1;
      return refreshBatch(b);
    });
    for (const f of failed) {
      const plan = batch.plans?.[f.collection];
      const data: ExtractionJob = { batch_id: batchId, ...f, ...(plan ? { plan } : {}), ...(batch.storage ? { storage: batch.storage } : {}), ...(batch.storage_prefix ? { storage_prefix: batch.storage_prefix } : {}), ns: this.ns.key };
      const part = f.range ? `.part${f.range.index}` : '';
      await this.ports.queue.publish(this.queueName, { id: `${batchId}.${f.tier}.${f.collection}.${f.object_id}${part}.r${String(batch.metadata.retries)}`, data });
    }
    return batch;
  }

  /** Publishes every job of a tier (idempotent: job ids dedupe, and a redelivered finished job is skipped), then marks it enqueued. */
  private async enqueueTier(batch: Batch, tier: number): Promise<void> {
    const storage = batch.storage ?? (await this.ns.storageBucket(batch.bucket_id));
    for (const collection of batch.dag_tiers[tier] ?? []) {
      const plan = batch.plans?.[collection];
      for (const objectId of batch.object_filter?.[collection] ?? batch.object_ids) {
        const data: ExtractionJob = { batch_id: batch.batch_id, tier, collection, object_id: objectId, ...(plan ? { plan } : {}), storage, ...(batch.storage_prefix ? { storage_prefix: batch.storage_prefix } : {}), ns: this.ns.key };
        await this.ports.queue.publish(this.queueName, { id: `${batch.batch_id}.${tier}.${collection}.${objectId}`, data });
      }
    }
    await this.mutateBatch(batch.batch_id, (b) => {
      const t = b.tier_tasks[tier];
      if (t) t.enqueued_at ??= new Date().toISOString();
      return b;
    });
  }

  async cancel(batchId: string): Promise<Batch> {
    return this.mutateBatch(batchId, (b) => {
      if (!TERMINAL.has(b.status)) b.status = 'CANCELED';
      b.updated_at = new Date().toISOString();
      return b;
    });
  }

  /** Compacts the namespace's vector collection in the background, within its time share (see compaction.ts). */
  compact(): Promise<void> {
    return compactAfterBatch(this.ports.vectors, this.vectorCollection);
  }

  /** Resolves when no compaction of this namespace's vectors is running or owed (tests, benches, shutdown). */
  idle(): Promise<void> {
    return settleCompaction(this.ports.vectors, this.vectorCollection);
  }

  // ---- worker --------------------------------------------------------------------------------------------

  async startWorker(concurrency = 2): Promise<Subscription> {
    await this.init();
    return this.ports.queue.consume<ExtractionJob>(this.queueName, { consumer: 'extraction-workers', concurrency }, (job, ctx) => this.process(job.data, ctx));
  }

  /** Handles one job; resolves only after its documents are written (then the queue acks it). */
  async process(job: ExtractionJob, ctx: JobContext): Promise<void> {
    const batch = await this.getBatch(job.batch_id);
    if (batch.status === 'CANCELED') return;
    const key = jobKey(job.collection, job.object_id, job.range?.index);
    if (batch.tier_tasks[job.tier]?.outcomes[key]?.ok) {
      // Already done (a redelivery): finish what its first delivery may not have, enqueueing the next tier.
      await this.advanceFrom(batch, job.tier);
      return;
    }
    const collection = job.plan ?? (await this.ns.collections()).find((c) => c.name === job.collection);
    let outcome;
    try {
      if (!collection) throw new ExtractionError('collection_missing', `collection '${job.collection}' no longer exists`);
      const written = await this.extractAndWrite(job, collection, ctx);
      outcome = { ok: true, documents: written };
    } catch (err) {
      // Bad input and client errors (a model that is not installed, a disabled feature) fail the object at once;
      // anything else (a store or network hiccup) is retried by the queue, and recorded on the last delivery.
      const failure = err instanceof ExtractionError
        ? err
        : err instanceof QuarryError && err.status < 500
          ? new ExtractionError(err.type, err.message)
          : ctx.attempt >= MAX_DELIVER
            ? new ExtractionError('retries_exhausted', `gave up after ${ctx.attempt} attempts: ${(err as Error).message}`)
            : undefined;
      if (!failure) throw err;
      log.warn({ job: { ...job, plan: undefined }, reason: failure.reason, err: failure.message }, 'object failed extraction');
      await this.markObjectFailed(job.object_id, job.collection, failure);
      outcome = { ok: false, documents: 0, reason: failure.reason, error: failure.message };
    }
    let finished = false;
    const updated = await this.mutateBatch(job.batch_id, (b) => {
      const was = TERMINAL.has(b.status);
      const next = recordOutcome(b, job.tier, key, outcome);
      finished = !was && TERMINAL.has(next.status);
      return next;
    });
    await this.advanceFrom(updated, job.tier);
    // The worker whose outcome completed the batch compacts the namespace's vectors, off the job's path.
    if (finished) void this.compact();
  }

  /**
   * Enqueues the tier after `tier` once `tier` is terminal, and so on through tiers that have nothing to do.
   * Every finisher that sees a terminal tier whose successor is not marked enqueued publishes it: a process that
   * dies (or loses the queue) between the last outcome and the publish leaves its job unacked, and the
   * redelivery comes back here. Duplicate publishes are harmless (job-id dedupe, idempotent jobs).
   */
  private async advanceFrom(batch: Batch, tier: number): Promise<Batch> {
    let b = batch;
    for (let n = tier; n + 1 < b.tier_tasks.length; n++) {
      const t = b.tier_tasks[n]!;
      const next = b.tier_tasks[n + 1]!;
      if (b.status === 'CANCELED' || !TERMINAL.has(t.status)) break;
      if (!next.enqueued_at) {
        await this.enqueueTier(b, n + 1);
        b = await this.getBatch(b.batch_id);
      }
    }
    return b;
  }

  /**
   * Hands a long media object on in ranges: records them in the tier (more jobs to wait for), then publishes one job
   * per range. A redelivery that splits again records nothing new and publishes the same job ids.
   */
  private async splitJob(job: ExtractionJob, ranges: MediaRange[]): Promise<void> {
    await this.mutateBatch(job.batch_id, (b) => recordRanges(b, job.tier, jobKey(job.collection, job.object_id), ranges));
    for (const range of ranges) {
      await this.ports.queue.publish(this.queueName, { id: `${job.batch_id}.${job.tier}.${job.collection}.${job.object_id}.part${range.index}`, data: { ...job, range } });
    }
    log.info({ batch: job.batch_id, object: job.object_id, collection: job.collection, ranges: ranges.length }, 'long media split into range jobs');
  }

  private async markObjectFailed(objectId: string, collection: string, err: ExtractionError) {
    try {
      await (await this.kv()).mutate<ObjectRecord>(`object.${objectId}`, (o) => {
        if (!o) throw notFound('object', objectId);
        return { ...o, status: 'FAILED', error: { collection, reason: err.reason, message: err.message }, updated_at: new Date().toISOString() };
      });
    } catch (e) {
      log.warn({ objectId, err: (e as Error).message }, 'could not record the object error');
    }
  }

  private async sourceInputs(job: ExtractionJob, collection: CollectionPlan): Promise<StoredObject[]> {
    const object = await this.getObject(job.object_id);
    if (collection.source.type === 'bucket') return [object];
    // Collection sources: every upstream document of this root object that passes the source filters becomes one input.
    const filter = sourceFilter(collection);
    const inputs: StoredObject[] = [];
    for (const upstream of collection.source.collections) {
      let cursor: string | undefined;
      do {
        const page = await this.ports.vectors.scroll(this.vectorCollection, {
          filter: { AND: [{ field: 'collection_id', value: upstream }, { field: 'root_object_id', value: job.object_id }] },
          limit: 256,
          withPayload: true,
          ...(cursor ? { cursor } : {}),
        });
        for (const p of page.points) {
          const payload = p.payload ?? {};
          if (filter && !matchesFilter(filter, payload)) continue;
          inputs.push({ ...payload, object_id: String(payload.document_id ?? p.id), bucket: object.bucket, blobs: object.blobs, metadata: payload });
        }
        cursor = page.nextCursor;
      } while (cursor);
    }
    return inputs;
  }

  private async extractAndWrite(job: ExtractionJob, collection: CollectionPlan, ctx: JobContext): Promise<number> {
    const root = await this.getObject(job.object_id);
    const storage = job.storage ?? (await this.ns.storageBucket(root.bucket));
    // A job that names its storage carries its prefix too (absent: the bucket root).
    const prefix = job.storage ? (job.storage_prefix ?? '') : ((await this.ns.storagePrefix?.(root.bucket)) ?? '');
    const inputs = await this.sourceInputs(job, collection);
    const points: Point[] = [];
    // Loaded on first use: the extractors bring sharp, pdf.js and the media decoders (~150 MB resident), which the
    // operator (it only creates and submits batches through this class) never needs.
    const { runExtractor } = await import('./extractors.ts');
    for (const input of inputs) {
      await ctx.heartbeat();
      const docs = await runExtractor(
        collection.extractor.id,
        { object: input, params: collection.extractor.params, ...(collection.extractor.inputMappings ? { inputMappings: collection.extractor.inputMappings } : {}), ...(job.range ? { range: job.range } : {}) },
        {
          models: this.ports.models,
          readBlob: async (blob) => {
            const { body } = await this.ports.objects.get(storage, blob.key);
            const chunks: Buffer[] = [];
            for await (const c of body) chunks.push(c as Buffer);
            return Buffer.concat(chunks);
          },
          saveBlob: async (blob, file) => {
            const { body } = await this.ports.objects.get(storage, blob.key);
            let size = 0;
            body.on('data', (c: Buffer) => void (size += c.length));
            await streamPipeline(body, createWriteStream(file));
            return size;
          },
          blobUrl: (blob) => `s3://${storage}/${blob.key}`,
          heartbeat: () => ctx.heartbeat(),
          // Only a whole object of a bucket source may be handed on in ranges (a range job never splits again).
          ...(!job.range && collection.source.type === 'bucket' ? { split: (ranges: MediaRange[]) => this.splitJob(job, ranges) } : {}),
          writeArtifact: async (name, bytes, contentType) => {
            const key = `${prefix}_artifacts/${collection.name}/${name}`;
            await this.ports.objects.put(storage, key, bytes, { contentType, contentLength: bytes.length });
            return `s3://${storage}/${key}`;
          },
        },
      );
      const passthrough = passthroughFields(input, collection.extractor.fieldPassthrough, collection.extractor.includeAllSourceFields);
      for (const d of docs) {
        const id = documentId(collection.name, input.object_id, collection.extractor.id, d.position);
        points.push({
          id,
          vectors: d.vectors,
          payload: {
            ...passthrough,
            ...d.fields,
            document_id: id,
            collection_id: collection.name,
            root_object_id: job.object_id,
            root_bucket_id: root.bucket,
            source_object_id: input.object_id,
            _internal: {
              feature_extractor_id: collection.extractor.id,
              position: d.position,
              source_type: collection.source.type,
              created_at: new Date().toISOString(),
            },
          },
          ...(d.text ? { text: d.text } : {}),
        });
      }
    }
    // Grouped with concurrent jobs' writes (one commit for many jobs); resolves once these points are stored.
    await groupUpsert(this.ports.vectors, this.vectorCollection, points);
    return points.length;
  }
}
