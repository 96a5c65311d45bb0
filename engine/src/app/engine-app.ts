/**
 * The engine's HTTP application: documented error shape, multipart uploads, the ingestion API, the local store's
 * presigned URL endpoint (local mode) and health. Route groups from other modules register onto it.
 */
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { QuarryError } from '../lib/errors.ts';
import { logger } from '../lib/log.ts';
import { requestLogController } from '../lib/http-logging.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import { LocalObjectStore } from '../objects/local.ts';
import { handlePresignedRequest } from '../objects/local-http.ts';
import { registerIngestionRoutes } from '../ingestion/http-routes.ts';
import { registerDocumentRoutes } from '../ingestion/document-routes.ts';
import type { NamespaceIngestion } from '../ingestion/pipeline.ts';
import { installErrorHandling } from './http-errors.ts';
import { registerHealth, type HealthDeps } from './health.ts';
import type { Registry } from 'prom-client';
import { installHttpMetrics } from '../http/metrics.ts';
import { registerRetrieverRoutes } from '../http/retriever-routes.ts';
import { namespaceHeader } from '../http/request-params.ts';
import type { RetrieverEngine } from '../retriever/executor.ts';
import type { ResourceStore } from '../ports/resource-store.ts';
import { installAuth } from '../auth/http.ts';
import type { ApiKeyStore } from '../auth/keys.ts';
import { registerManifestRoutes } from '../manifest/http.ts';
import { registerManagementRoutes } from '../management/routes.ts';
import { displayName, findByIdentifier } from '../management/identifiers.ts';

export interface EngineAppDeps {
  objects: ObjectStore;
  /** Resolves the request's namespace (X-Namespace) to its ingestion pipeline; throws NotFound when unknown. */
  namespace(name: string): Promise<NamespaceIngestion>;
  maxUploadBytes?: number;
  /** Path prefix under which the local object store's presigned URLs are served. */
  localPresignPrefix?: string;
  version?: string;
  /** Serves the retriever API (execute, batch, explain, stages) when given. */
  retrievers?: RetrieverEngine;
  /** Where Quarry resources live; serves /v1/manifest/* when given. */
  resources?: ResourceStore;
  /** Kubernetes namespace (or local pseudo namespace) of the resources. Defaults to 'default'. */
  k8sNamespace?: string;
  /** API-key authentication; without it every request is allowed. */
  auth?: { keys: ApiKeyStore };
  /**
   * The name of the QuarryNamespace an X-Namespace id (`ns_…`) names, for the auth hook's scope check: the engine
   * runtime's resolver, which every route resolves X-Namespace with. Without it, ids are resolved among the
   * QuarryNamespaces of `k8sNamespace` in `resources`.
   */
  namespaceName?(ident: string): string | undefined;
  /**
   * The object name of the Bucket or Collection an identifier (id, display name or object name) names in the
   * X-Namespace's namespace (the engine runtime's resolver). Given, the ingestion, documents and trigger routes and
   * anonymous retriever execution take ids and display names; the handlers see object names.
   */
  objectName?(nsIdent: string, kind: 'Bucket' | 'Collection', ident: string): string | undefined;
  /** The dependencies GET /v1/health checks (503 naming the one that is down). */
  health?: HealthDeps;
  /** Records HTTP, retriever and ingestion metrics into this registry (served on the metrics port). */
  metrics?: Registry;
}

/**
 * Rewrites the Bucket/Collection identifiers of the engine's data routes (`/v1/buckets/{bucket}/…`,
 * `/v1/collections/{collection}/…`, `collection_identifiers` of an anonymous execute) to object names before the
 * handlers run. The management routes (`/v1/buckets/{bucket}` itself) resolve on their own.
 */
function canonicalIdentifiers(app: FastifyInstance, objectName: NonNullable<EngineAppDeps['objectName']>): void {
  app.addHook('preHandler', async (req) => {
    const ns = namespaceHeader(req);
    if (!ns) return;
    const url = req.routeOptions.url ?? '';
    const params = req.params as Record<string, string> | undefined;
    if (params?.bucket && url.startsWith('/v1/buckets/:bucket/')) params.bucket = objectName(ns, 'Bucket', params.bucket) ?? params.bucket;
    if (params?.collection && url.startsWith('/v1/collections/:collection/')) params.collection = objectName(ns, 'Collection', params.collection) ?? params.collection;
    if (url === '/v1/retrievers/execute' && req.body && typeof req.body === 'object' && !Array.isArray(req.body)) {
      const body = req.body as Record<string, unknown>;
      for (const k of ['collection_identifiers', 'collection_ids']) {
        const list = body[k];
        if (Array.isArray(list)) body[k] = list.map((c) => (typeof c === 'string' ? (objectName(ns, 'Collection', c) ?? c) : c));
      }
    }
  });
}

/** X-Namespace value (id, display name, object name) → display name for the auth hook, through the routes' resolver (identifiers.ts). */
function namespaceIdResolver(deps: EngineAppDeps): (id: string) => Promise<string | undefined> {
  if (deps.namespaceName) return async (id) => deps.namespaceName!(id);
  const store = deps.resources;
  if (!store) return async () => undefined;
  return async (id) => {
    const ns = findByIdentifier(await store.list('QuarryNamespace', { namespace: deps.k8sNamespace ?? 'default' }), id);
    return ns && displayName(ns);
  };
}

export async function buildEngineApp(deps: EngineAppDeps): Promise<FastifyInstance> {
  const maxUploadBytes = deps.maxUploadBytes ?? 512 * 1024 * 1024;
  const app = Fastify({ loggerInstance: logger('http') as FastifyBaseLogger, bodyLimit: 32 * 1024 * 1024, logController: requestLogController() });
  installErrorHandling(app);
  if (deps.metrics) installHttpMetrics(app, deps.metrics);
  await app.register(multipart, { limits: { fileSize: maxUploadBytes, files: 1000 } });
  if (deps.auth) {
    installAuth(app, {
      keys: deps.auth.keys,
      publicPrefixes: deps.localPresignPrefix ? [deps.localPresignPrefix] : [],
      resolveNamespaceId: namespaceIdResolver(deps),
    });
  }

  registerHealth(app, { ...(deps.version ? { version: deps.version } : {}), ...(deps.health ? { deps: deps.health } : {}) });
  if (deps.objectName) canonicalIdentifiers(app, deps.objectName);

  const namespace = async (req: FastifyRequest) => {
    const name = namespaceHeader(req);
    if (!name) throw new QuarryError('BadRequestError', 'missing X-Namespace header: name the namespace (QuarryNamespace) to act on');
    return deps.namespace(name);
  };
  registerIngestionRoutes(app, { namespace, objects: deps.objects, maxUploadBytes });
  const presign = deps.retrievers?.deps.presign;
  registerDocumentRoutes(app, { namespace, ...(presign ? { presign } : {}) });
  if (deps.retrievers) registerRetrieverRoutes(app, { engine: deps.retrievers });
  if (deps.resources) registerManifestRoutes(app, { resources: deps.resources, k8sNamespace: deps.k8sNamespace ?? 'default' });
  if (deps.resources) registerManagementRoutes(app, { resources: deps.resources, k8sNamespace: deps.k8sNamespace ?? 'default' });

  if (deps.objects instanceof LocalObjectStore && deps.localPresignPrefix) {
    const store = deps.objects;
    const handler = async (req: FastifyRequest, reply: { hijack(): void; raw: ServerResponse }) => {
      reply.hijack();
      await handlePresignedRequest(store, req.raw, reply.raw);
    };
    // Raw bodies: the presigned PUT streams straight to disk, so no content-type parser may consume it.
    app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
      scope.get(`${deps.localPresignPrefix}/*`, handler);
      scope.put(`${deps.localPresignPrefix}/*`, handler);
    });
  }
  return app;
}
