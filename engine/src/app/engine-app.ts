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
import { registerHealth } from './health.ts';
import { publicStageList, registerRetrieverRoutes } from '../http/retriever-routes.ts';
import { namespaceHeader } from '../http/request-params.ts';
import type { RetrieverEngine } from '../retriever/executor.ts';
import type { ResourceStore } from '../ports/resource-store.ts';
import { installAuth, mayAccessNamespace } from '../auth/http.ts';
import type { ApiKeyStore } from '../auth/keys.ts';
import { registerInteractionRoutes } from '../http/interaction-routes.ts';
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

/**
 * An empty body sent as `Content-Type: application/json` reads as `{}`: the official SDK sends that header with no
 * body on list, trigger and delete calls. Anything else goes through Fastify's own JSON parser (prototype poisoning
 * refused as before).
 */
function acceptEmptyJson(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, {});
    return parse(req, body as string, done);
  });
}

/**
 * `GET /v1/retrievers/stages` (exactly this path) answers before the auth hook: the SDK's RetrieverStagesApi sends
 * no key, and the stage registry is static product information, the same for every tenant. Only this exact path is
 * public (a prefix would open `/v1/retrievers/stages/execute`, i.e. a retriever named `stages`); with a key the
 * request takes the ordinary route.
 */
function servePublicStageList(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'GET' || req.headers.authorization) return;
    if (req.url.split('?')[0] !== '/v1/retrievers/stages') return;
    return reply.send(publicStageList(req.query as Record<string, unknown>));
  });
}

/**
 * The namespace of a task request sent without X-Namespace (the SDK's TasksApi sends none): the one namespace the key
 * may access, or, for one task, the one accessible namespace that has it. Ambiguity leaves it undefined (400 asking
 * for the header); nothing outside the key's scope is ever looked at.
 */
async function taskNamespace(deps: EngineAppDeps, req: FastifyRequest): Promise<string | undefined> {
  const url = req.routeOptions.url ?? '';
  if (!url.startsWith('/v1/tasks') || !deps.resources) return undefined;
  const all = await deps.resources.list('QuarryNamespace', { namespace: deps.k8sNamespace ?? 'default' });
  const names = all.map((ns) => displayName(ns)).filter((n) => !deps.auth || mayAccessNamespace(req, n));
  if (names.length === 1) return names[0];
  const taskId = (req.params as { taskId?: string }).taskId;
  if (!taskId) return undefined;
  const holders: string[] = [];
  for (const n of names) {
    const ns = await deps.namespace(n).catch(() => undefined);
    if (ns && (await ns.batchForTask(taskId).catch(() => undefined))) holders.push(n);
  }
  return holders.length === 1 ? holders[0] : undefined;
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
  acceptEmptyJson(app);
  await app.register(multipart, { limits: { fileSize: maxUploadBytes, files: 1000 } });
  // Before the auth hook: the stage registry is public discovery (no tenant data), asked for without a key by the SDK.
  if (deps.retrievers) servePublicStageList(app);
  if (deps.auth) {
    installAuth(app, {
      keys: deps.auth.keys,
      publicPrefixes: deps.localPresignPrefix ? [deps.localPresignPrefix] : [],
      resolveNamespaceId: namespaceIdResolver(deps),
    });
  }

  registerHealth(app, deps.version ? { version: deps.version } : {});
  if (deps.objectName) canonicalIdentifiers(app, deps.objectName);

  const namespace = async (req: FastifyRequest) => {
    const name = namespaceHeader(req) ?? (await taskNamespace(deps, req));
    if (!name) throw new QuarryError('BadRequestError', 'missing X-Namespace header: name the namespace (QuarryNamespace) to act on');
    return deps.namespace(name);
  };
  registerIngestionRoutes(app, { namespace, objects: deps.objects, maxUploadBytes });
  const presign = deps.retrievers?.deps.presign;
  registerDocumentRoutes(app, { namespace, ...(presign ? { presign } : {}) });
  if (deps.retrievers) registerRetrieverRoutes(app, { engine: deps.retrievers });
  registerInteractionRoutes(app, { namespace });
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
