/**
 * One media extractor through the ingestion pipeline on the local adapters with the real models and ffmpeg: a
 * namespace with one collection over one bucket, a worker, and `run` to take objects through a batch to its end.
 * Registers the suite's before/after hooks.
 */
import path from 'node:path';
import { rmSync } from 'node:fs';
import { after, before } from 'node:test';
import { getExtractor } from '#engine/extractors/registry.ts';
import type { Batch } from '#engine/ingestion/batch-model.ts';
import type { CollectionPlan } from '#engine/ingestion/collections.ts';
import { NamespaceIngestion, type NamespaceView } from '#engine/ingestion/pipeline.ts';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { MemoryJobQueue } from '#engine/queue/memory.ts';
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { tempDir } from './speech.ts';

export interface MediaPipelineOptions {
  extractor: 'audio_extractor@v1' | 'video_extractor@v1';
  collection: string;
  /** The Quarry bucket the objects go in; its storage bucket is `<bucket>-storage`. */
  bucket: string;
  params: Record<string, unknown>;
  inputMappings: Record<string, string>;
}

export function mediaPipeline(o: MediaPipelineOptions) {
  const dir = tempDir();
  const models = new OnnxModels({ threads: 1 });
  const queue = new MemoryJobQueue();
  const objects = new LocalObjectStore({ root: path.join(dir, 'objects') });
  const vectors = new ExactVectorStore();
  const storage = `${o.bucket}-storage`;
  const collections: CollectionPlan[] = [
    { name: o.collection, enabled: true, source: { type: 'bucket', buckets: [o.bucket] }, extractor: { id: o.extractor, params: o.params, inputMappings: o.inputMappings } },
  ];
  const view: NamespaceView = { key: { k8sNamespace: 'test', name: o.bucket }, collections: async () => collections, storageBucket: async () => storage };
  const ingestion = new NamespaceIngestion({ queue, objects, vectors, models }, view);
  const vecs = getExtractor(o.extractor)!.vectors(o.params);
  const vec = vecs[0]!;
  let worker: { stop(): Promise<void> } | undefined;

  before(async () => {
    await objects.ensureBucket(storage);
    await vectors.ensureCollection({ name: ingestion.vectorCollection, vectors: vecs.map((v) => ({ name: v.name, size: v.dimensions, distance: 'cosine' as const })), lexicalFields: ['text'] });
    await ingestion.init();
    worker = await ingestion.startWorker(1);
  });
  after(async () => {
    await worker?.stop();
    await queue.close();
    await models.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Submits one batch of `objectIds` and waits (up to 2 minutes) for it to end. */
  async function run(objectIds: string[]): Promise<Batch> {
    const batch = await ingestion.createBatch(o.bucket, objectIds);
    await ingestion.submit(batch.batch_id);
    for (let i = 0; i < 2400; i++) {
      const b = await ingestion.getBatch(batch.batch_id);
      if (['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELED'].includes(b.status)) return b;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('batch did not finish');
  }

  return { dir, models, objects, vectors, ingestion, collections, vec, vecs, run };
}
