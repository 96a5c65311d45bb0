/**
 * Shared types of the retriever engine: documents flowing between stages, the stage module contract, the
 * definitions the executor runs, and the small interfaces the engine wiring supplies (FeatureResolver,
 * RetrieverSource).
 */
import type { FilterNode } from '../ports/filter.ts';
import type { Completion, CompletionRequest, LLM } from '../ports/llm.ts';
import type { SqlConnector } from '../ports/sql.ts';
import type { Models } from '../ports/models.ts';
import type { VectorStore } from '../ports/vector-store.ts';
import type { WebSearch } from '../ports/web-search.ts';
import type { StageCategory } from '../resources/stage-ids.ts';

export type JsonSchema = Record<string, unknown>;

/** A document in the working set: `document_id`, `score`, `collection_id` and the stored payload fields at the root. */
import type { Presigner } from './presigned-urls.ts';

export type Doc = Record<string, unknown> & { document_id?: string; score?: number };

/** Where a feature URI lives and which model embeds queries for it. */
export interface ResolvedFeature {
  /** VectorStore collection holding the points. */
  store: string;
  /** Named vector (dense) or lexical field (when `lexical`). */
  using: string;
  lexical?: boolean;
  /** Model that embeds text (or images) for this feature; absent for lexical fields. */
  model?: string;
  /** Restricts the store collection to the requested Quarry collections (documents carry collection_id). */
  filter?: FilterNode;
}

/** Supplied by the engine wiring: resolves feature URIs of a namespace's collections. */
export interface FeatureResolver {
  /** Throws a 4xx QuarryError naming the URI when the collections do not expose the feature. */
  resolve(featureUri: string, collections: string[], namespace?: string): Promise<ResolvedFeature>;
  /** Store collection and filter selecting every document of the given collections (attribute-only pipelines, joins). */
  collectionScope(collections: string[], namespace?: string): Promise<{ store: string; filter?: FilterNode }>;
  /**
   * Changes whenever the collections' content changes (new ingestion): part of every query-cache key. When absent
   * the query cache is off.
   */
  indexSignature?(collections: string[], namespace?: string): Promise<string>;
}

export interface InputField {
  type: string;
  description?: string;
  required?: boolean;
  default?: unknown;
  enum?: unknown[];
  items?: unknown;
  properties?: unknown;
}

/** A stage instance after normalisation (every documented envelope form becomes this). */
export interface StageInstance {
  stage_name: string;
  stage_id: string;
  stage_type?: string;
  parameters: Record<string, unknown>;
  pre_filters?: FilterNode;
  post_filters?: FilterNode;
}

export interface RetrieverDefinition {
  retriever_id?: string;
  retriever_name?: string;
  description?: string;
  collection_identifiers: string[];
  input_schema: Record<string, InputField>;
  stages: StageInstance[];
  cache_config?: { enabled?: boolean; ttl_seconds?: number; cache_stage_names?: string[]; exclude_fields?: string[] };
  budget_limits?: { max_credits?: number; max_time_ms?: number };
  namespace?: string;
}

/** Named retrievers (from Retriever resources). */
export interface RetrieverSource {
  /** The retriever by id or name, or undefined. */
  get(idOrName: string, namespace?: string): Promise<RetrieverDefinition | Record<string, unknown> | undefined>;
}

/** Fetch used by api_call; injectable so tests can point it at local servers with a fake resolver. */
export type LookupFn = (hostname: string) => Promise<{ address: string; family: number }[]>;

export interface EngineDeps {
  store: VectorStore;
  models?: Models;
  /**
   * The Kubernetes namespace (tenant) of a request's namespace, for custom models (Model resources, named
   * `<k8s-namespace>/<name>` in the port): a stage sees the built-in models and its own tenant's only.
   */
  modelTenant?: (namespace: string | undefined) => string | undefined;
  /** Whether the request's namespace may use a custom model (its Model's spec.namespaceRefs); absent: every one may. */
  modelAllowed?: (namespace: string | undefined, model: string) => boolean;
  /** The LLM the LLM stages call (local GGUF model or an OpenAI-compatible provider); absent = those stages answer 403. */
  llm?: LLM;
  /**
   * The LLM of a request's namespace (its QuarryNamespace's spec.llm, engine/src/llm/namespace-llm.ts); absent: `llm`
   * for every namespace. Resolved when a stage runs; an error (provider none, a missing Secret) fails only the stages
   * that call the LLM.
   */
  llmFor?: (namespace: string | undefined) => Promise<LLM | undefined>;
  features: FeatureResolver;
  retrievers?: RetrieverSource;
  /**
   * A secret of a request's namespace by name ({{SECRET.name}} in egress parameters, api_call auth.secret_ref;
   * secrets.ts namespaceSecrets); undefined when it holds none. Absent = no secrets configured.
   */
  secrets?: (name: string, namespace?: string) => Promise<string | undefined>;
  /** Sessions on the namespaces' declared databases for sql_lookup (engine/src/sql/connector.ts); absent: the stage answers 403. */
  sql?: SqlConnector;
  /**
   * The web search engine of a request's namespace for external_web_search (engine/src/websearch/namespace-web-search.ts);
   * absent: the engine's own from QUARRY_WEB_SEARCH_* with ssrfAllowCidrs.
   */
  webSearch?: (namespace: string | undefined) => Promise<WebSearch | undefined>;
  /** DNS lookup used by api_call's SSRF guard (default: node:dns lookup with all addresses). */
  lookup?: LookupFn;
  /**
   * CIDRs outbound fetches (api_call, feature_search content URLs) may reach although they are private (a
   * deliberately exposed internal service, local mode). Default: from QUARRY_FETCH_ALLOW_PRIVATE /
   * QUARRY_FETCH_ALLOW_CIDRS (see ssrf.ts), else none.
   */
  ssrfAllowCidrs?: string[];
  /** Limits for feature_search content URLs: response size cap (default 20 MiB) and timeout (default 10 s). */
  contentFetch?: { maxBytes?: number; timeoutMs?: number };
  /** Taxonomy definitions for taxonomy_enrich; absent = stage reports the taxonomy as unknown. */
  taxonomies?: (id: string, namespace?: string) => Promise<TaxonomyDefinition | undefined>;
  /** The interaction records of the namespace an X-Namespace value names (fusion: learned reads them). */
  interactions?: (namespace: string) => Promise<Record<string, unknown>[]>;
  /** Bound on stored query-cache entries. */
  cacheEntries?: number;
  /**
   * The identity of the namespace an X-Namespace value (id, name, `<k8s-namespace>/<name>`) names, undefined when it
   * names none: the execution history is kept and read per identity (absent: the value as given).
   */
  namespaceKey?: (namespace: string) => string | undefined;
  /** Presigns stored `s3://` URLs for `return_presigned_urls` (absent: URLs are returned as stored). */
  presign?: Presigner;
}

export interface TaxonomyDefinition {
  taxonomy_id: string;
  /** Collection holding the reference nodes (documents with a label field and a vector). */
  reference_collection: string;
  feature_uri: string;
  label_field: string;
  /** Field on the enriched document whose vector is compared (defaults to the same feature). */
  source_feature_uri?: string;
  parent_field?: string;
}

export interface StageStatistics {
  input_count: number;
  output_count: number;
  duration_ms: number;
  efficiency: number;
  cache_hit: boolean;
  error?: string;
  /** LLM stages: model calls made (inference-cache hits not counted) and the tokens they used. */
  llm_calls?: number;
  tokens_used?: number;
  metadata?: Record<string, unknown>;
}

/** What a stage sees while it runs. */
export interface StageContext {
  stageName: string;
  stageId: string;
  /** Parameters after alias mapping, defaults and template rendering (DOC templates are left for `renderForDoc`). */
  params: Record<string, unknown>;
  inputs: Record<string, unknown>;
  definition: RetrieverDefinition;
  deps: EngineDeps;
  namespace?: string;
  /** Request filters merged with the stage's pre_filters (rendered). */
  filters?: FilterNode;
  /** Renders a (possibly per-document) template value for one document. */
  renderForDoc(value: unknown, doc: Doc, parameter: string, extra?: Record<string, unknown>): unknown;
  /** Statistics metadata the stage may fill. */
  metadata: Record<string, unknown>;
  /** Facets computed by the stage (feature_search), returned at the response root. */
  setFacets(facets: Record<string, { value: unknown; count: number }[]>): void;
  /** Outputs of earlier stages by stage name (for STAGE.* templates and stages that need them). */
  stageOutputs: Record<string, StageSummary>;
  /** Whether later stages need document vectors (mmr, cluster, return_vectors). */
  wantVectors: boolean;
  /** De-duplicated, cached text embedding through the Models port. */
  embedText(model: string, text: string): Promise<Float32Array>;
  /** One LLM call through the engine's LLM: cached by its inputs and counted in the stage's statistics and the budget. */
  complete(req: CompletionRequest): Promise<Completion>;
  /** The configured LLM's model name (undefined when none is configured). */
  llmModel?: string;
  /** The configured LLM's context window in tokens, when known. */
  llmContextTokens?: number;
  /** Runs a nested retriever (document_enrich retriever joins). */
  runRetriever(def: RetrieverDefinition | Record<string, unknown>, inputs: Record<string, unknown>): Promise<Doc[]>;
  /** The caller's cancellation (a streaming client that went away); absent when nobody can cancel the run. */
  signal?: AbortSignal;
}

export interface StageSummary {
  count: number;
  top_score: number | null;
  duration_ms: number;
  document_ids: string[];
}

export interface StageModule {
  id: string;
  category: StageCategory;
  description: string;
  icon: string;
  parameterSchema: JsonSchema;
  /** False for stages listed in the registry but not implemented yet (LLM / web services). */
  available?: boolean;
  /** Why an unavailable stage is not available (in the error that refuses a pipeline naming it). */
  unavailableReason?: string;
  /** Parameters holding per-document templates: rendered by the stage for each doc, not once per stage. */
  perDocParameters?: string[];
  /** Maps documented parameter aliases onto the canonical names before validation. */
  normalize?(params: Record<string, unknown>): Record<string, unknown>;
  execute(docs: Doc[], ctx: StageContext): Promise<Doc[]>;
}
