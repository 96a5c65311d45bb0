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
import { registerRetrieverRoutes } from '../http/retriever-routes.ts';
import { namespaceHeader } from '../http/request-params.ts';
import type { RetrieverEngine } from '../retriever/executor.ts';
import type { ResourceStore } from '../ports/resource-store.ts';
import { installAuth } from '../auth/http.ts';
import type { ApiKeyStore } from '../auth/keys.ts';
import { registerManifestRoutes } from '../manifest/http.ts';
import { registerManagementRoutes } from '../management/routes.ts';
import { findByIdentifier } from '../management/identifiers.ts';

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
}

/** X-Namespace id → name for the auth hook, through the same resolver the routes use (identifiers.ts). */
function namespaceIdResolver(deps: EngineAppDeps): (id: string) => Promise<string | undefined> {
  if (deps.namespaceName) return async (id) => deps.namespaceName!(id);
  const store = deps.resources;
  if (!store) return async () => undefined;
  return async (id) => findByIdentifier(await store.list('QuarryNamespace', { namespace: deps.k8sNamespace ?? 'default' }), id)?.metadata.name;
}

export async function buildEngineApp(deps: EngineAppDeps): Promise<FastifyInstance> {
  const maxUploadBytes = deps.maxUploadBytes ?? 512 * 1024 * 1024;
  const app = Fastify({ loggerInstance: logger('http') as FastifyBaseLogger, bodyLimit: 32 * 1024 * 1024, logController: requestLogController() });
  installErrorHandling(app);
  await app.register(multipart, { limits: { fileSize: maxUploadBytes, files: 1000 } });
  if (deps.auth) {
    installAuth(app, {
      keys: deps.auth.keys,
      publicPrefixes: deps.localPresignPrefix ? [deps.localPresignPrefix] : [],
      resolveNamespaceId: namespaceIdResolver(deps),
    });
  }

  registerHealth(app, deps.version ? { version: deps.version } : {});

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
