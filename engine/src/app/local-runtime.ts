/**
 * Local mode: everything in one process on the embedded adapters (LanceDB vectors, local-disk objects, in-process
 * queue) with resources from a folder of manifests. State lives under one data directory and survives restarts.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { logger } from '../lib/log.ts';
import { notFound } from '../lib/errors.ts';
import { objectBucketName, vectorCollectionName, type NamespaceKey } from '../naming.ts';
import type { JobQueue, Subscription } from '../ports/job-queue.ts';
import type { Models } from '../ports/models.ts';
import type { VectorStore } from '../ports/vector-store.ts';
import { LocalObjectStore } from '../objects/local.ts';
import { MemoryJobQueue } from '../queue/memory.ts';
import { createVectorStore } from '../vector/create.ts';
import { OnnxModels } from '../models/onnx-models.ts';
import { NamespaceIngestion } from '../ingestion/pipeline.ts';
import { collectionPlan } from '../ingestion/from-resource.ts';
import type { Collection } from '../resources/generated/types.ts';
import { planNamespace, type QuarryNamespace } from '../../../operator/src/controllers/quarry-namespace/plan.ts';
import { RetrieverEngine } from '../retriever/executor.ts';
import { namespaceFeatureResolver } from '../retriever/namespace-features.ts';
import type { CollectionPlan } from '../ingestion/collections.ts';
import { buildEngineApp } from './engine-app.ts';
import { loadManifests, type QuarryResource } from './manifests.ts';

const log = logger('local');
export const LOCAL_K8S_NAMESPACE = 'local';
const PRESIGN_PREFIX = '/v1/_objects';

export interface LocalOptions {
  dataDir: string;
  manifestsDir: string;
  host: string;
  port: number;
  workerConcurrency?: number;
  models?: Models;
}

export interface LocalRuntime {
  app: FastifyInstance;
  url: string;
  namespaces: Map<string, NamespaceIngestion>;
  vectors: VectorStore;
  queue: JobQueue;
  stop(): Promise<void>;
}

function persistentSecret(dataDir: string): string {
  const file = path.join(dataDir, 'presign.secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

export async function startLocal(opts: LocalOptions): Promise<LocalRuntime> {
  mkdirSync(opts.dataDir, { recursive: true });
  const resources = loadManifests(opts.manifestsDir);
  const byKind = (kind: QuarryResource['kind']) => resources.filter((r) => r.kind === kind);
  const models = opts.models ?? new OnnxModels();
  const vectors = createVectorStore({ kind: 'embedded', dataDir: path.join(opts.dataDir, 'vectors') });
  const baseUrl = `http://${opts.host}:${opts.port}${PRESIGN_PREFIX}`;
  const objects = new LocalObjectStore({ root: path.join(opts.dataDir, 'objects'), baseUrl, presignSecret: persistentSecret(opts.dataDir) });
  const queue = new MemoryJobQueue({ dataDir: path.join(opts.dataDir, 'queue') });

  const namespaces = new Map<string, NamespaceIngestion>();
  const plans = new Map<string, CollectionPlan[]>();
  const workers: Subscription[] = [];
  for (const qns of byKind('QuarryNamespace')) {
    const key: NamespaceKey = { k8sNamespace: LOCAL_K8S_NAMESPACE, name: qns.metadata.name };
    const plan = planNamespace({ ...qns, metadata: { ...qns.metadata, namespace: LOCAL_K8S_NAMESPACE } } as unknown as QuarryNamespace);
    await vectors.ensureCollection(plan.collection);
    const buckets = byKind('Bucket').filter((b) => b.spec.namespaceRef === qns.metadata.name).map((b) => b.metadata.name);
    for (const b of buckets) await objects.ensureBucket(objectBucketName(LOCAL_K8S_NAMESPACE, b));
    const collections = byKind('Collection')
      .filter((c) => c.spec.namespaceRef === qns.metadata.name)
      .map((c) => collectionPlan(c as unknown as Collection));
    const ingestion = new NamespaceIngestion(
      { queue, objects, vectors, models },
      {
        key,
        collections: async () => collections,
        storageBucket: async (bucket) => {
          if (!buckets.includes(bucket)) throw notFound('bucket', bucket);
          return objectBucketName(LOCAL_K8S_NAMESPACE, bucket);
        },
      },
    );
    await ingestion.init();
    workers.push(await ingestion.startWorker(opts.workerConcurrency ?? 2));
    namespaces.set(qns.metadata.name, ingestion);
    plans.set(qns.metadata.name, collections);
    log.info({ namespace: qns.metadata.name, buckets, collections: collections.map((c) => c.name) }, 'namespace ready');
  }

  const knownNamespace = (ns?: string): string => {
    if (!ns || !plans.has(ns)) throw notFound('namespace', ns ?? '(none: send X-Namespace)');
    return ns;
  };
  const retrievers = new RetrieverEngine({
    store: vectors,
    models,
    features: namespaceFeatureResolver(vectors, {
      storeCollection: async (ns) => vectorCollectionName({ k8sNamespace: LOCAL_K8S_NAMESPACE, name: knownNamespace(ns) }),
      collections: async (ns) => plans.get(knownNamespace(ns)) ?? [],
    }),
    // Named retrievers are the Retriever manifests of the request's namespace.
    retrievers: {
      async get(name, ns) {
        const r = byKind('Retriever').find((x) => x.metadata.name === name && (!ns || x.spec.namespaceRef === ns));
        return r ? { ...r.spec, retriever_name: r.metadata.name, retriever_id: r.metadata.name } : undefined;
      },
    },
  });
  const app = await buildEngineApp({
    retrievers,
    objects,
    namespace: async (name) => {
      const ns = namespaces.get(name);
      if (!ns) throw notFound('namespace', name);
      return ns;
    },
    localPresignPrefix: PRESIGN_PREFIX,
  });
  await app.listen({ host: opts.host, port: opts.port });
  const url = `http://${opts.host}:${opts.port}`;
  return {
    app,
    url,
    namespaces,
    vectors,
    queue,
    async stop() {
      await app.close();
      for (const w of workers) await w.stop();
      await queue.close();
      await vectors.close();
      await models.close();
    },
  };
}
