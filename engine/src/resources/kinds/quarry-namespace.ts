/** QuarryNamespace: the tenant boundary; one vector collection holding every Collection's documents. */
import { IDENT, FIELD_PATH, deletionPolicy, description, standardColumns, status, type KindDefinition } from '../common.ts';
import { arr, bool, enumOf, freeObject, int, int64, named, obj, rule, str } from '../schema-builder.ts';

/** A reference's description: which Secrets it may name (engine/src/lib/secret-refs.ts). */
const ownedSecret = (what: string) =>
  `Secret of the same Kubernetes namespace holding ${what}, owned by this namespace: quarry-secrets-<namespace name>, or one labelled quarry.dev/namespace=<namespace name> (never another namespace's quarry-secrets-*; local mode: <data dir>/secrets/<name>/<key>, labels in <name>/.labels).`;

export const PAYLOAD_INDEX_TYPES = ['keyword', 'integer', 'float', 'bool', 'geo', 'datetime', 'text', 'uuid'] as const;

const featureExtractor = named('NamespaceFeatureExtractor', obj(
  'A feature extractor enabled in this namespace. Its params fix the vector dimensions of the namespace collection.',
  {
    name: str('Extractor name, e.g. text_extractor, image_extractor, document_extractor, passthrough_extractor.', { maxLength: 63, minLength: 1, pattern: IDENT }),
    version: str('Extractor version, e.g. v1.', { maxLength: 16, pattern: '^v[0-9]+$', default: 'v1' }),
    params: freeObject('Index-affecting parameters (e.g. {"embedding_model": "all_minilm_l6_v2"}). Locked once created: they fix the vector dimensions.'),
  },
  { required: ['name'] },
));

const payloadIndex = named('PayloadIndex', obj(
  'A payload index on a document field; filters, facets and group-by on that field need one.',
  {
    field: str('Dot path of the indexed field, e.g. metadata.category.', { maxLength: 255, minLength: 1, pattern: FIELD_PATH }),
    type: enumOf('Index type.', PAYLOAD_INDEX_TYPES),
    isProtected: bool('Protected indexes are never removed by automatic index management.', { default: false }),
  },
  { required: ['field', 'type'] },
));

const vectorStore = named('VectorStoreConfig', obj(
  'Settings of the vector collection backing this namespace.',
  {
    shards: int('Number of shards of the vector collection. Fixed at creation.', {
      minimum: 1,
      maximum: 64,
      default: 1,
      rules: [rule('self == oldSelf', 'spec.vectorStore.shards is immutable: the shard count is fixed when the vector collection is created; create a new QuarryNamespace to change it')],
    }),
    replicationFactor: int('Copies of each shard.', { minimum: 1, maximum: 10, default: 1 }),
    writeConsistencyFactor: int('Replicas that must acknowledge a write; at most replicationFactor.', { minimum: 1, maximum: 10, default: 1 }),
    onDisk: bool('Keep vectors on disk (memory-mapped) instead of in RAM.', { default: false }),
  },
  {
    default: {},
    rules: [
      rule('!has(self.writeConsistencyFactor) || self.writeConsistencyFactor <= (has(self.replicationFactor) ? self.replicationFactor : 1)', 'spec.vectorStore.writeConsistencyFactor must not exceed spec.vectorStore.replicationFactor: lower it or add replicas', {
        fieldPath: '.writeConsistencyFactor',
      }),
    ],
  },
));

export const LLM_PROVIDERS = ['local', 'openai', 'none'] as const;

const llm = named('NamespaceLlm', obj(
  "The LLM this namespace's LLM stages (llm_filter, llm_enrich, summarize, query_expand, agent_search, agentic_enrich) call. Absent: the engine's own (its local model, or QUARRY_LLM_BASE_URL).",
  {
    provider: enumOf("local: the engine's local GGUF model (no network); openai: an OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server) at baseUrl; none: the LLM stages are refused in this namespace.", LLM_PROVIDERS),
    baseUrl: str('Base URL of the OpenAI-compatible API, e.g. https://api.openai.com/v1 (provider openai). Only this host is reached, through the SSRF guard: a private address needs the engine\'s QUARRY_LLM_ALLOW_CIDRS.', { maxLength: 1024, pattern: '^https?://[^\\s/@]+(/[^\\s]*)?$' }),
    model: str('Model name the provider serves, e.g. gpt-4o-mini (provider openai).', { maxLength: 256, minLength: 1 }),
    apiKeySecretRef: obj(
      `${ownedSecret('the API key')} Sent only to baseUrl.`,
      {
        name: str('Secret name.', { maxLength: 253, minLength: 1, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }),
        key: str('Key of the API key in the Secret.', { maxLength: 253, minLength: 1, pattern: '^[-._a-zA-Z0-9]+$', default: 'apiKey' }),
      },
      { required: ['name'] },
    ),
    contextTokens: int("The model's context window in tokens (document text is cut to fit it).", { minimum: 512, maximum: 10000000 }),
  },
  {
    required: ['provider'],
    rules: [
      rule("self.provider != 'openai' || (has(self.baseUrl) && has(self.model))", 'spec.llm: provider openai needs baseUrl and model (e.g. https://api.openai.com/v1 and gpt-4o-mini)'),
      rule("self.provider == 'openai' || (!has(self.baseUrl) && !has(self.apiKeySecretRef) && !has(self.contextTokens))", 'spec.llm: baseUrl, apiKeySecretRef and contextTokens apply only to provider openai: remove them or set provider: openai'),
    ],
  },
));

const sqlConnection = named('NamespaceSqlConnection', obj(
  'A database the sql_lookup stage may query (its connection_id is this name). Queries run read-only, one parameterised statement each, with a time limit.',
  {
    name: str('Connection name, used as sql_lookup connection_id.', { maxLength: 63, minLength: 1, pattern: '^[a-z0-9]([-_a-z0-9]*[a-z0-9])?$' }),
    type: enumOf('Database type.', ['postgresql']),
    urlSecretRef: obj(
      `${ownedSecret('the connection URL, postgresql://user:password@host:5432/db')} Use a read-only role. The host must be public, or within the engine's QUARRY_FETCH_ALLOW_CIDRS.`,
      {
        name: str('Secret name.', { maxLength: 253, minLength: 1, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }),
        key: str('Key of the URL in the Secret.', { maxLength: 253, minLength: 1, pattern: '^[-._a-zA-Z0-9]+$', default: 'url' }),
      },
      { required: ['name'] },
    ),
  },
  { required: ['name', 'type', 'urlSecretRef'] },
));

export const WEB_SEARCH_ENGINES = ['exa', 'searxng', 'brave', 'json'] as const;

const secretKeyRef = (what: string, key: string) =>
  obj(
    ownedSecret(what),
    {
      name: str('Secret name.', { maxLength: 253, minLength: 1, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }),
      key: str(`Key of ${what} in the Secret.`, { maxLength: 253, minLength: 1, pattern: '^[-._a-zA-Z0-9]+$', default: key }),
    },
    { required: ['name'] },
  );

const fieldPath = (what: string, dflt: string) => str(`Dot path of ${what} in a result.`, { maxLength: 255, minLength: 1, default: dflt });

const webSearch = named('NamespaceWebSearch', obj(
  "The web search engine this namespace's external_web_search stage calls. Absent: the engine's own (QUARRY_WEB_SEARCH_ENGINE, QUARRY_WEB_SEARCH_URL).",
  {
    engine: enumOf("exa: Exa's search API (POST, key in x-api-key); searxng: a SearXNG instance's JSON API (json format enabled); brave: the Brave Search API (key in X-Subscription-Token); json: any JSON endpoint described in json.", WEB_SEARCH_ENGINES),
    url: str("The engine's endpoint: defaults to https://api.exa.ai/search (exa) and https://api.search.brave.com/res/v1/web/search (brave); required for searxng (the instance's /search URL) and json. Only this host is reached, through the SSRF guard: a private address needs the engine's QUARRY_FETCH_ALLOW_CIDRS.", { maxLength: 1024, pattern: '^https?://[^\\s/@]+(/[^\\s]*)?$' }),
    apiKeySecretRef: secretKeyRef("the engine's API key (sent only to url)", 'apiKey'),
    json: obj(
      'How to call a json engine and read its results.',
      {
        method: enumOf('GET sends the query as URL parameters, POST as a JSON body.', ['GET', 'POST'], { default: 'GET' }),
        queryParam: str('Name of the query parameter.', { maxLength: 64, minLength: 1, default: 'q' }),
        countParam: str('Name of the result-count parameter (absent: not sent).', { maxLength: 64, minLength: 1 }),
        resultsPath: str('Dot path of the result list in the answer (absent: the answer is the list).', { maxLength: 255, minLength: 1 }),
        apiKeyHeader: str('Header the API key goes in: Authorization (as Bearer <key>, the default) or any other (the key as is).', { maxLength: 64, minLength: 1, pattern: '^[A-Za-z0-9-]+$' }),
        fields: obj('Where each result keeps its fields.', {
          url: fieldPath('the URL', 'url'),
          title: fieldPath('the title', 'title'),
          text: fieldPath('the snippet', 'text'),
          publishedDate: fieldPath('the publication date', 'publishedDate'),
          author: fieldPath('the author', 'author'),
          score: fieldPath('the relevance score', 'score'),
        }),
      },
    ),
  },
  {
    required: ['engine'],
    rules: [
      rule("self.engine == 'exa' || self.engine == 'brave' || has(self.url)", 'spec.webSearch: engines searxng and json need url (the endpoint to call)'),
      rule("self.engine == 'json' || !has(self.json)", 'spec.webSearch.json applies only to engine json: remove it or set engine: json'),
    ],
  },
));

export const quarryNamespace: KindDefinition = {
  kind: 'QuarryNamespace',
  plural: 'quarrynamespaces',
  singular: 'quarrynamespace',
  shortNames: ['qns'],
  description: 'QuarryNamespace is a tenant boundary: the feature extractors it enables fix the vectors of its one vector collection, shared by its Buckets, Collections, Retrievers and Taxonomies.',
  spec: obj(
    'Desired state of the QuarryNamespace.',
    {
      description: description('namespace'),
      featureExtractors: arr('Feature extractors enabled in this namespace (at least one). Existing entries are immutable; new ones may be added.', featureExtractor, {
        minItems: 1,
        maxItems: 16,
        listType: 'map',
        mapKeys: ['name'],
        rules: [
          rule(
            'oldSelf.all(o, self.exists(n, n.name == o.name && n == o))',
            'spec.featureExtractors: an enabled extractor cannot be changed or removed because its params fix the stored vector dimensions; add a new extractor entry or create a new QuarryNamespace',
          ),
        ],
      }),
      payloadIndexes: arr('Payload indexes to create (indexes required by the enabled extractors are added automatically).', payloadIndex, {
        maxItems: 64,
        listType: 'map',
        mapKeys: ['field'],
      }),
      autoCreateIndexes: bool('Create payload indexes automatically for frequently filtered fields.', { default: false }),
      vectorStore,
      llm,
      webSearch,
      sqlConnections: arr('Databases the sql_lookup stage may query in this namespace.', sqlConnection, { maxItems: 16, listType: 'map', mapKeys: ['name'] }),
      deletionPolicy: deletionPolicy('the vector collection and its documents'),
    },
    { required: ['featureExtractors'] },
  ),
  status: status('QuarryNamespace', {
    vectorCollection: str('Name of the vector collection backing this namespace.', { maxLength: 255 }),
    documentCount: int64('Documents stored in the namespace.', { minimum: 0 }),
    bucketCount: int('Buckets in the namespace.', { minimum: 0 }),
    collectionCount: int('Collections in the namespace.', { minimum: 0 }),
    vectorIndexes: arr(
      'Named vectors of the vector collection.',
      obj('A named vector.', {
        name: str('Storage name, e.g. text_extractor_v1_embedding.', { maxLength: 255 }),
        featureUri: str('Feature URI, e.g. quarry://text_extractor@v1/all_minilm_l6_v2.', { maxLength: 512 }),
        dimensions: int('Vector dimensions.', { minimum: 1 }),
        distance: str('Distance function, e.g. cosine.', { maxLength: 32 }),
      }),
      { maxItems: 64 },
    ),
  }),
  printerColumns: standardColumns([
    { name: 'Documents', type: 'integer', jsonPath: '.status.documentCount', description: 'Documents stored in the namespace.' },
  ]),
};
