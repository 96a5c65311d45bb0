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
import { publicStageList, registerRetrieverRoutes } from '../http/retriever-routes.ts';
import { namespaceHeader } from '../http/request-params.ts';
import { BODY_PARSER_OPTIONS, installBodyGuard } from '../http/body-guard.ts';
import type { RetrieverEngine } from '../retriever/executor.ts';
import type { ResourceStore } from '../ports/resource-store.ts';
import { installAuth } from '../auth/http.ts';
import { accessiblePipelines, implicitNamespace, takesImplicitNamespace } from './implicit-namespace.ts';
import type { ApiKeyStore } from '../auth/keys.ts';
import { registerInteractionRoutes } from '../http/interaction-routes.ts';
import { registerManifestRoutes } from '../manifest/http.ts';
import { registerManagementRoutes } from '../management/routes.ts';
import { registerModelRoutes } from '../http/model-routes.ts';
import { displayName, matchAll } from '../management/identifiers.ts';
import type { FindNamespaces } from '../auth/tenancy.ts';
import { executeTaxonomy, type TaxonomyToExecute } from '../retriever/taxonomy-execute.ts';
import { registerMcpRoutes } from '../mcp/http.ts';
import { registerPublicRoutes } from '../publish/public-routes.ts';

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
  /**
   * The default Kubernetes namespace (local mode: the local pseudo namespace): where the API creates for requests
   * not confined to one (tenancy.ts) and the binding of keys stored without one. Defaults to 'default'.
   */
  k8sNamespace?: string;
  /** The Kubernetes namespaces the engine serves ('all': every one); default: only k8sNamespace. */
  k8sNamespaces?: readonly string[] | 'all';
  /** API-key authentication; without it every request is allowed. */
  auth?: { keys: ApiKeyStore };
  /**
   * The QuarryNamespaces an X-Namespace identifier names inside a Kubernetes namespace (undefined: every one served),
   * for the auth hook (tenancy.ts): the engine runtime's resolver, which every route resolves X-Namespace with.
   * Without it, they are looked up in `resources`.
   */
  findNamespaces?: FindNamespaces;
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
 * A namespace created through the API a moment ago is not served until its reconciler is done (the runtime answers
 * 503 until then): the request waits for it briefly, then the 503 with Retry-After goes out. The next request after
 * a create works, as the SDK's generated client (which retries nothing) needs.
 */
async function whenNamespaceServed<T>(fn: () => Promise<T>, waitMs = 8000): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      const notYet = e instanceof QuarryError && e.status === 503 && e.details?.resource === 'namespace';
      if (!notYet || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The Kubernetes namespaces served; undefined: all. */
function servedOf(deps: EngineAppDeps): readonly string[] | undefined {
  if (deps.k8sNamespaces === 'all') return undefined;
  return deps.k8sNamespaces ?? [deps.k8sNamespace ?? 'default'];
}

/** X-Namespace identifier → the QuarryNamespaces it names, for the auth hook: the runtime's resolver, else the store. */
function namespaceFinder(deps: EngineAppDeps): FindNamespaces | undefined {
  if (deps.findNamespaces) return deps.findNamespaces;
  const store = deps.resources;
  if (!store) return undefined;
  const served = servedOf(deps);
  return async (ident, k8s) => {
    const where = k8s !== undefined ? [k8s] : (served ?? [undefined]);
    const lists = await Promise.all(where.map((ns) => store.list('QuarryNamespace', ns === undefined ? {} : { namespace: ns })));
    return matchAll(lists.flat().filter((q) => !q.metadata.deletionTimestamp), ident).map((q) => ({ k8sNamespace: q.metadata.namespace ?? '', name: q.metadata.name, displayName: displayName(q) }));
  };
}

export async function buildEngineApp(deps: EngineAppDeps): Promise<FastifyInstance> {
  const maxUploadBytes = deps.maxUploadBytes ?? 512 * 1024 * 1024;
  const app = Fastify({ loggerInstance: logger('http') as FastifyBaseLogger, bodyLimit: 32 * 1024 * 1024, logController: requestLogController(), ...BODY_PARSER_OPTIONS });
  installErrorHandling(app);
  installBodyGuard(app);
  if (deps.metrics) installHttpMetrics(app, deps.metrics);
  acceptEmptyJson(app);
  await app.register(multipart, { limits: { fileSize: maxUploadBytes, files: 1000 } });
  // Before the auth hook: the stage registry is public discovery (no tenant data), asked for without a key by the SDK.
  if (deps.retrievers) servePublicStageList(app);
  if (deps.auth) {
    installAuth(app, {
      keys: deps.auth.keys,
      // /p: published retrievers' public pages (publish/public-routes.ts), which never take a namespace from the caller.
      publicPrefixes: [...(deps.localPresignPrefix ? [deps.localPresignPrefix] : []), '/p'],
      defaultK8sNamespace: deps.k8sNamespace ?? 'default',
      ...(servedOf(deps) ? { servedK8sNamespaces: servedOf(deps)! } : {}),
      ...(namespaceFinder(deps) ? { findNamespaces: namespaceFinder(deps)! } : {}),
    });
  }

  registerHealth(app, { ...(deps.version ? { version: deps.version } : {}), ...(deps.health ? { deps: deps.health } : {}) });
  if (deps.objectName) canonicalIdentifiers(app, deps.objectName);

  const implicit = deps.resources ? { resources: deps.resources, namespace: deps.namespace, served: servedOf(deps) } : undefined;
  // Resolved once per request: the routes and the response rewrite (http-routes.ts) both ask.
  const resolved = new WeakMap<FastifyRequest, Promise<string | undefined>>();
  const namespace = async (req: FastifyRequest) => {
    let name = namespaceHeader(req);
    if (!name && implicit) {
      if (!resolved.has(req)) resolved.set(req, implicitNamespace(req, implicit));
      name = await resolved.get(req)!;
    }
    if (!name) throw new QuarryError('BadRequestError', 'missing X-Namespace header: name the namespace (QuarryNamespace) to act on');
    return whenNamespaceServed(() => deps.namespace(name));
  };
  // Lists of tasks and batches without X-Namespace (the SDK's TasksApi, BatchesApi): every namespace the key may see.
  const namespaces = async (req: FastifyRequest, ident?: string): Promise<NamespaceIngestion[] | undefined> => {
    if (namespaceHeader(req) || !implicit || !takesImplicitNamespace(req)) return undefined;
    return accessiblePipelines(req, implicit, ident);
  };
  registerIngestionRoutes(app, { namespace, namespaces, objects: deps.objects, maxUploadBytes });
  const presign = deps.retrievers?.deps.presign;
  registerDocumentRoutes(app, { namespace, ...(presign ? { presign } : {}) });
  if (deps.retrievers) registerRetrieverRoutes(app, { engine: deps.retrievers });
  registerInteractionRoutes(app, { namespace });
  if (deps.resources) registerManifestRoutes(app, { resources: deps.resources, k8sNamespace: deps.k8sNamespace ?? 'default' });
  if (deps.resources) {
    const engine = deps.retrievers;
    registerManagementRoutes(app, {
      resources: deps.resources,
      k8sNamespace: deps.k8sNamespace ?? 'default',
      k8sNamespaces: servedOf(deps),
      ...(engine ? { executeTaxonomy: (t: TaxonomyToExecute, body: unknown) => executeTaxonomy(engine, t, body) } : {}),
    });
  }

  if (deps.resources) registerMcpRoutes(app);
  if (deps.resources && deps.retrievers) registerPublicRoutes(app, { resources: deps.resources, engine: deps.retrievers, served: servedOf(deps) });
  if (deps.resources) registerModelRoutes(app, { resources: deps.resources, objects: deps.objects, k8sNamespace: deps.k8sNamespace ?? 'default' });

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
