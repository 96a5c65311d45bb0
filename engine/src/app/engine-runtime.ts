/**
 * The engine's view of the declared resources, for local and cluster mode alike: it watches QuarryNamespaces,
 * Buckets, Collections and Retrievers in a ResourceStore (the Kubernetes API, or local mode's store) and keeps
 * - one NamespaceIngestion per Ready QuarryNamespace (created when it turns Ready, its workers stopped when it is
 *   deleted), whose collections and storage buckets are read from the watch caches on every call, so a new or
 *   edited Collection or Bucket takes effect without a restart;
 * - the RetrieverEngine, resolving feature URIs against the namespace's current collections and named retrievers
 *   against the Retriever resources of the request's namespace.
 * The operator's reconcilers provision what these use (vector collection, buckets, queues) and write status; the
 * engine only reads the resources. `X-Namespace` names a QuarryNamespace (`<k8s-namespace>/<name>` disambiguates
 * when the runtime watches several Kubernetes namespaces).
 */
import { listInteractions } from '../http/interaction-routes.ts';
import { QuarryError, notFound } from '../lib/errors.ts';
import { logger } from '../lib/log.ts';
import { vectorCollectionName, type NamespaceKey } from '../naming.ts';
import type { JobQueue, Subscription } from '../ports/job-queue.ts';
import type { LLM } from '../ports/llm.ts';
import type { Models } from '../ports/models.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import type { Resource, ResourceStore } from '../ports/resource-store.ts';
import type { VectorStore } from '../ports/vector-store.ts';
import { NamespaceIngestion } from '../ingestion/pipeline.ts';
import type { CollectionPlan } from '../ingestion/collections.ts';
import { RetrieverEngine } from '../retriever/executor.ts';
import { namespaceFeatureResolver } from '../retriever/namespace-features.ts';
import { resourceRetrieverSource } from '../retriever/resource-source.ts';
import { namespaceSecrets } from '../retriever/secrets.ts';
import { SharedWatches } from '#core/shared-watches.ts';
import { isReady } from '#core/dependencies.ts';
import { bucketLocation, ownStorage, type Bucket } from '../objects/bucket-plan.ts';
import { parseS3Url } from '../retriever/presigned-urls.ts';
import { collectionPlans, namespaceView, resourcesOf } from '../ingestion/namespace-view.ts';
import { displayName, findByIdentifier, idOf, matchAll } from '../management/identifiers.ts';
import type { NamespaceMatch } from '../auth/tenancy.ts';
import type { RuntimeRole } from '#operator/controllers/collection/served-models.ts';
import { ModelSync } from '../models/custom/model-sync.ts';
import { reportRuntimeModels } from './served-models-report.ts';
import { ModelCache } from '../models/custom/cache.ts';
import { CustomModels, isModelHost } from '../models/custom/custom-models.ts';
import type { SourceDeps } from '../models/custom/sources.ts';
import { tenantModels } from '../models/custom/tenant-models.ts';
import { NamespaceLlms, type LlmNamespace, type NamespaceLlmOptions } from '../llm/namespace-llm.ts';
import { namespaceSqlConnector, type SqlNamespace } from '../sql/connector.ts';
import { namespaceWebSearch, webSearchFromEnv, type WebSearchNamespace } from '../websearch/namespace-web-search.ts';
import { ssrfAllowCidrsFromEnv } from '../retriever/ssrf.ts';

const log = logger('engine-runtime');

export interface EnginePorts {
  objects: ObjectStore;
  vectors: VectorStore;
  queue: JobQueue;
  models: Models;
  /** The LLM the LLM retriever stages call (engine/src/llm/from-env.ts); absent: those stages answer 403. */
  llm?: LLM;
}

export interface EngineRuntimeOptions {
  resources: ResourceStore;
  ports: EnginePorts;
  /** Kubernetes namespaces to serve; empty or undefined: all. */
  namespaces?: readonly string[];
  /** Extraction workers per QuarryNamespace in this process (0: none; cluster mode has a worker Deployment). */
  workerConcurrency?: number;
  /**
   * This runtime's id in the served-models reports the operator's readiness reads (role engine, and worker when it
   * runs workers); undefined: no report.
   */
  servedModelsId?: string;
  /**
   * Serve the Model resources this runtime sees (models/custom/): files cached under `cacheDir`; `sources` for the
   * sources' settings (volume roots, SSRF allow-list, Secrets, uploads). Undefined: Model resources are ignored.
   */
  customModels?: { cacheDir: string; sources?: Omit<SourceDeps, 'stagingDir'>; resyncMs?: number; retryMs?: number };
  /**
   * Settings of the namespaces' own LLMs (QuarryNamespace spec.llm): the Secret reader (also used for sql_lookup's
   * spec.sqlConnections), the engine's SSRF allow-list, limits.
   */
  namespaceLlms?: Omit<NamespaceLlmOptions, 'engine'>;
}

interface Served {
  uid: string | undefined;
  ingestion: Promise<NamespaceIngestion>;
  worker?: Promise<Subscription | undefined>;
}

const QNS = 'QuarryNamespace';
/** Lifetime of presigned URLs in retriever results (the uploads API's default expiration). */
const PRESIGNED_URL_SECONDS = 3600;

export class EngineRuntime {
  readonly resources: ResourceStore;
  readonly ports: EnginePorts;
  readonly retrievers: RetrieverEngine;
  readonly cache: SharedWatches;
  private readonly o: EngineRuntimeOptions;
  private readonly served = new Map<string, Served>();
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private report: { stop(): Promise<void>; beat(): Promise<void> } | undefined;
  /** The Model resources this runtime serves (undefined without options.customModels or a models port that can add models). */
  readonly customModels: CustomModels | undefined;
  /** The LLMs of the namespaces that declare spec.llm (the others use ports.llm). */
  readonly llms: NamespaceLlms;
  private modelSync: ModelSync | undefined;

  constructor(opts: EngineRuntimeOptions) {
    this.o = opts;
    this.resources = opts.resources;
    this.ports = opts.ports;
    this.cache = new SharedWatches(opts.resources, opts.namespaces);
    const host = opts.ports.models;
    this.customModels = opts.customModels && isModelHost(host)
      ? new CustomModels({ host, cache: new ModelCache(opts.customModels.cacheDir), sources: opts.customModels.sources ?? {}, ...(opts.customModels.retryMs !== undefined ? { retryMs: opts.customModels.retryMs } : {}) })
      : undefined;
    this.llms = new NamespaceLlms({ ...opts.namespaceLlms, ...(opts.ports.llm ? { engine: opts.ports.llm } : {}) });
    this.retrievers = new RetrieverEngine({
      store: opts.ports.vectors,
      models: opts.ports.models,
      // Custom models are per tenant: a request's namespace → its Kubernetes namespace (retriever/model-scope.ts).
      modelTenant: (ns) => (ns ? this.resolve(ns).metadata.namespace : undefined),
      modelAllowed: (ns, model) => {
        if (!ns) return false;
        const qn = this.resolve(ns);
        const slash = model.indexOf('/');
        const m = this.cache.get('Model', { namespace: model.slice(0, slash), name: model.slice(slash + 1) });
        const refs = (m?.spec as { namespaceRefs?: string[] } | undefined)?.namespaceRefs;
        return !!m && (!refs || refs.includes(qn.metadata.name));
      },
      ...(opts.ports.llm ? { llm: opts.ports.llm } : {}),
      // The request's namespace's own LLM (spec.llm), in its tenant: its Secret, its adapter, never another's.
      llmFor: async (ns) => this.llms.for(ns ? (this.resolve(ns) as LlmNamespace) : undefined),
      // {{SECRET.name}} and api_call auth.secret_ref: the keys of the request's namespace's own Secret, in its tenant.
      secrets: namespaceSecrets((ns) => this.resolve(ns), opts.namespaceLlms?.readSecret),
      // external_web_search: the request's namespace's engine (spec.webSearch, key from its own Secret), else the engine's.
      webSearch: namespaceWebSearch({
        resolve: (ns) => this.resolve(ns) as WebSearchNamespace,
        ...(opts.namespaceLlms?.readSecret ? { readSecret: opts.namespaceLlms.readSecret } : {}),
        engine: () => webSearchFromEnv(process.env, ssrfAllowCidrsFromEnv()),
        allowCidrs: ssrfAllowCidrsFromEnv(),
      }),
      // sql_lookup: the databases the request's namespace declares (spec.sqlConnections), URLs from its own Secrets.
      sql: namespaceSqlConnector({
        resolve: (ns) => this.resolve(ns) as SqlNamespace,
        ...(opts.namespaceLlms?.readSecret ? { readSecret: opts.namespaceLlms.readSecret } : {}),
        allowCidrs: ssrfAllowCidrsFromEnv(),
      }),
      features: namespaceFeatureResolver(opts.ports.vectors, {
        storeCollection: async (ns) => vectorCollectionName(this.keyOf(this.resolve(ns))),
        collections: async (ns) => this.plans(this.resolve(ns)),
      }),
      presign: (url, ns) => this.presign(url, ns),
      interactions: async (ns) => listInteractions(await this.namespace(ns)),
      // The execution history's key: the QuarryNamespace object and its uid (a recreated namespace starts empty).
      namespaceKey: (ns) => {
        try {
          const qn = this.resolve(ns);
          return `${this.idOf(qn)}#${qn.metadata.uid ?? ''}`;
        } catch {
          return undefined;
        }
      },
      retrievers: {
        // The definition carries `namespace` (`<k8s-namespace>/<QuarryNamespace>`): where it was found, for the
        // routes' API-key scope check (retriever-routes.ts) and to execute it there.
        get: async (name, ns) => {
          // `<k8s-namespace>/` (no QuarryNamespace): a request confined to that Kubernetes namespace, without X-Namespace.
          const within = ns?.endsWith('/') ? ns.slice(0, -1) : undefined;
          if (ns && within === undefined) {
            const qn = this.resolve(ns);
            const def = await resourceRetrieverSource(this.cacheReader(), qn.metadata.namespace ?? '').get(name, qn.metadata.name);
            return def && { ...def, namespace: `${qn.metadata.namespace ?? ''}/${displayName(qn)}` };
          }
          // No X-Namespace: the id, or the name alone when it is unique (in the request's Kubernetes namespace).
          const found = matchAll(this.cache.list('Retriever', within).filter((r) => !r.metadata.deletionTimestamp), name);
          if (found.length > 1) throw new QuarryError('BadRequestError', `retriever '${name}' exists in several namespaces: send X-Namespace or use the retriever id`);
          if (!found[0]) return undefined;
          const k8s = found[0].metadata.namespace ?? '';
          const def = await resourceRetrieverSource(this.cacheReader(), k8s).get(idOf(found[0]));
          const home = (found[0].spec as { namespaceRef?: unknown } | undefined)?.namespaceRef;
          const homeNs = typeof home === 'string' ? this.cache.get(QNS, { namespace: k8s, name: home }) : undefined;
          return def && (typeof home === 'string' ? { ...def, namespace: `${k8s}/${homeNs ? displayName(homeNs) : home}` } : def);
        },
      },
    });
  }

  /** Starts the watches; resolves once every cache has listed. */
  async start(): Promise<void> {
    this.cache.subscribe(QNS, () => this.refresh());
    for (const kind of ['Bucket', 'Collection', 'Retriever']) this.cache.subscribe(kind, () => {});
    if (this.customModels) {
      this.modelSync = new ModelSync({ watch: this.cache, custom: this.customModels, resyncMs: this.o.customModels?.resyncMs ?? 30_000, onSynced: () => this.report?.beat() });
    }
    await this.cache.synced();
    this.refresh();
    await this.chain;
    this.modelSync?.start();
    if (this.o.servedModelsId) {
      const roles: RuntimeRole[] = (this.o.workerConcurrency ?? 0) > 0 ? ['engine', 'worker'] : ['engine'];
      this.report = reportRuntimeModels(this.ports.queue, { id: this.o.servedModelsId, roles, models: this.ports.models, custom: this.customModels });
    }
  }

  /** The ingestion pipeline of a QuarryNamespace (`name` or `<k8s-namespace>/<name>`), once it is Ready. */
  async namespace(name: string): Promise<NamespaceIngestion> {
    const qn = this.resolve(name);
    const s = this.served.get(this.idOf(qn));
    if (!s) {
      if (isReady(qn)) this.refresh(); // e.g. an init that failed while the queue service was down
      const ready = (qn.status as { conditions?: { type: string; reason?: string; message?: string }[] } | undefined)?.conditions?.find((c) => c.type === 'Ready');
      // 503 with Retry-After, not 404: the namespace exists (created a moment ago through the API, say) and will be
      // served once its reconciler is done; clients (the SDK's high-level client among them) retry a 503.
      throw new QuarryError('ServiceUnavailableError', `namespace '${name}' is not ready yet${ready?.message ? `: ${ready.message}` : ''}; retry shortly, or check its status (kubectl get quarrynamespace ${qn.metadata.name} or the log)`, {
        resource: 'namespace',
        id: name,
        retry_after_seconds: 2,
        retryable: true,
      });
    }
    return s.ingestion;
  }

  /** QuarryNamespaces currently served (Ready), as `name` → Kubernetes namespace. */
  servedNamespaces(): string[] {
    return [...this.served.keys()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.modelSync?.stop();
    await this.report?.stop();
    await this.chain;
    for (const id of [...this.served.keys()]) await this.drop(id);
    await this.llms.close();
    await this.cache.stop();
  }

  /**
   * The QuarryNamespace an X-Namespace value names: its id (`ns_…`) or its name, optionally as
   * `<k8s-namespace>/<id or name>` (the shared resolver of the management API, identifiers.ts).
   */
  resolve(ident: string | undefined): Resource {
    // `<k8s-namespace>/` alone: a request confined to a Kubernetes namespace that named no QuarryNamespace.
    if (!ident || ident.endsWith('/')) throw notFound('namespace', '(none: send X-Namespace)');
    const slash = ident.indexOf('/');
    const live = (slash > 0 ? this.cache.list(QNS, ident.slice(0, slash)) : this.cache.list(QNS)).filter((q) => !q.metadata.deletionTimestamp);
    const candidates = matchAll(live, slash > 0 ? ident.slice(slash + 1) : ident);
    if (candidates.length === 0) throw notFound('namespace', ident);
    if (candidates.length > 1) {
      throw new QuarryError('BadRequestError', `namespace '${ident}' exists in Kubernetes namespaces ${candidates.map((q) => q.metadata.namespace).join(', ')}: send X-Namespace: <k8s-namespace>/${ident} or the namespace id`);
    }
    return candidates[0]!;
  }

  /**
   * The live QuarryNamespaces an identifier (id, display name or object name, no `<k8s>/` prefix) names in Kubernetes
   * namespace `k8sNamespace` (undefined: every one served), for the auth hook's tenancy check (auth/tenancy.ts).
   */
  async findNamespaces(ident: string, k8sNamespace: string | undefined): Promise<NamespaceMatch[]> {
    const live = this.cache.list(QNS, k8sNamespace).filter((q) => !q.metadata.deletionTimestamp);
    return matchAll(live, ident).map((q) => ({ k8sNamespace: q.metadata.namespace ?? '', name: q.metadata.name, displayName: displayName(q) }));
  }

  /**
   * The object name of the live Bucket or Collection an identifier (id, display name or object name) names in the
   * namespace an X-Namespace value names; undefined when there is none (the route then answers 404 as before).
   * Ingestion keys objects, batches and documents by object names, which the operator's controllers use too.
   */
  objectName(nsIdent: string, kind: 'Bucket' | 'Collection', ident: string): string | undefined {
    let qn: Resource;
    try {
      qn = this.resolve(nsIdent);
    } catch {
      return undefined;
    }
    return findByIdentifier(resourcesOf(this.cache, this.keyOf(qn), kind), ident)?.metadata.name;
  }

  /** The namespace's collections as currently declared (not being deleted). */
  plans(qn: Resource): CollectionPlan[] {
    return collectionPlans(this.cache, this.keyOf(qn));
  }

  /**
   * A presigned GET for a stored `s3://` URL, only when it lies in storage of one of the namespace's Buckets (a
   * document field naming another tenant's storage stays as stored); Buckets on their own S3 endpoint are left alone.
   */
  private async presign(url: string, ns: string | undefined): Promise<string | undefined> {
    const ref = parseS3Url(url);
    if (!ns || !ref) return undefined;
    const qn = this.resolve(ns);
    const owns = resourcesOf<Bucket>(this.cache, this.keyOf(qn), 'Bucket')
      .filter((b) => !ownStorage(b))
      .map(bucketLocation)
      .some((l) => l.bucket === ref.bucket && ref.key.startsWith(l.prefix));
    return owns ? this.ports.objects.presignGet(ref.bucket, ref.key, PRESIGNED_URL_SECONDS) : undefined;
  }

  private keyOf(qn: Resource): NamespaceKey {
    return { k8sNamespace: qn.metadata.namespace ?? '', name: qn.metadata.name };
  }

  private idOf(qn: Resource): string {
    return `${qn.metadata.namespace ?? ''}/${qn.metadata.name}`;
  }

  private cacheReader(): Pick<ResourceStore, 'list'> {
    return { list: async <T extends Resource>(kind: string, opts?: { namespace?: string }) => this.cache.list<T>(kind, opts?.namespace) };
  }

  /** Serves every Ready QuarryNamespace and drops the ones deleted (or recreated under another uid). */
  private refresh(): void {
    this.chain = this.chain
      .then(async () => {
        if (this.stopped) return;
        const want = new Map<string, Resource>();
        for (const qn of this.cache.list(QNS)) if (!qn.metadata.deletionTimestamp) want.set(this.idOf(qn), qn);
        for (const [id, s] of [...this.served]) {
          const qn = want.get(id);
          if (!qn || qn.metadata.uid !== s.uid) await this.drop(id);
        }
        for (const [id, qn] of want) {
          if (this.served.has(id) || !isReady(qn)) continue;
          this.serve(id, qn);
        }
      })
      .catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'refreshing namespaces failed'));
  }

  private serve(id: string, qn: Resource): void {
    const key = this.keyOf(qn);
    const ingestion = new NamespaceIngestion({ ...this.ports, models: this.tenantModels(key.k8sNamespace) }, namespaceView(this.cache, key));
    const s: Served = { uid: qn.metadata.uid, ingestion: ingestion.init().then(() => ingestion) };
    const n = this.o.workerConcurrency ?? 0;
    if (n > 0) s.worker = s.ingestion.then((i) => i.startWorker(n)).catch(() => undefined);
    // A failed init (queue service down) is retried on the next event or request.
    s.ingestion.catch((err: unknown) => {
      log.warn({ namespace: id, err: err instanceof Error ? err.message : String(err) }, 'namespace init failed; retrying on the next change');
      if (this.served.get(id) === s) this.served.delete(id);
    });
    this.served.set(id, s);
    log.info({ namespace: id, workers: n }, 'serving namespace');
  }

  /** The Models port as the extraction of one tenant sees it (its own Model resources by their plain names). */
  private tenantModels(k8sNamespace: string): Models {
    return tenantModels(this.ports.models, k8sNamespace, this.customModels);
  }

  private async drop(id: string): Promise<void> {
    const s = this.served.get(id);
    if (!s) return;
    this.served.delete(id);
    const w = await s.worker;
    await w?.stop();
    log.info({ namespace: id }, 'namespace no longer served');
  }
}
