/** Collection: one feature extractor applied to the objects of buckets (tier 1) or documents of collections (tier N). */
import { FIELD_PATH, IDENT, deletionPolicy, identifierKeys, description, filter, namespaceRef, ref, refList, standardColumns, status, type KindDefinition } from '../common.ts';
import { anyValue, arr, bool, enumOf, freeObject, int, int64, mapOf, named, obj, rule, str } from '../schema-builder.ts';

const source = named('CollectionSource', obj(
  'Where the documents come from: exactly one of bucketRefs (objects) or collectionRefs (documents of upstream collections). Immutable.',
  {
    bucketRefs: refList('Bucket', 'whose objects this collection processes', 16, 1),
    collectionRefs: refList('Collection', 'whose documents this collection processes (a tier-N collection)', 16, 1),
    filters: filter('applied to source objects or documents when a batch is created (only matching items are processed)'),
  },
  {
    rules: [
      rule('has(self.bucketRefs) != has(self.collectionRefs)', 'spec.source: set exactly one of bucketRefs (objects from buckets) or collectionRefs (documents of upstream collections)'),
      rule('self == oldSelf', 'spec.source is immutable: existing documents were extracted from this source; create a new Collection to read from another source'),
    ],
  },
));

const fieldPassthrough = named('FieldPassthrough', obj(
  'Copies a source field into every output document.',
  {
    sourcePath: str('Dot path in the source object or document, e.g. metadata.author.', { maxLength: 255, minLength: 1, pattern: FIELD_PATH }),
    targetPath: str('Dot path in the output document (default: the last segment of sourcePath).', { maxLength: 255, pattern: FIELD_PATH }),
    default: anyValue('Value used when the source field is missing.'),
    required: bool('Skip source items that lack the field (and report them) instead of using default.', { default: false }),
  },
  { required: ['sourcePath'] },
));

const featureExtractor = named('CollectionFeatureExtractor', obj(
  'The one feature extractor this collection runs, with its parameters. Immutable: stored vectors were produced with it.',
  {
    name: str('Extractor name; must be enabled in the QuarryNamespace, e.g. text_extractor.', { maxLength: 63, minLength: 1, pattern: IDENT }),
    version: str('Extractor version, e.g. v1.', { maxLength: 16, pattern: '^v[0-9]+$', default: 'v1' }),
    params: freeObject('Index-affecting parameters; must match the QuarryNamespace entry of this extractor.'),
    parameters: freeObject("Extractor parameters (e.g. {split_by: sentences, chunk_size: 3}), checked against the extractor's parameter schema."),
    inputMappings: mapOf(
      'Extractor input → source field path, e.g. {text: description} or {image: product_image}.',
      str('Dot path of the source field feeding this input.', { maxLength: 255, minLength: 1, pattern: FIELD_PATH }),
      { maxProperties: 16, rules: [identifierKeys('spec.featureExtractor.inputMappings', 'text')] },
    ),
    fieldPassthrough: arr('Source fields copied into the output documents.', fieldPassthrough, { maxItems: 64 }),
    includeAllSourceFields: bool('Copy every source field into the output documents.', { default: false }),
  },
  {
    required: ['name'],
    rules: [
      rule('self == oldSelf', 'spec.featureExtractor is immutable: stored vectors and documents were produced by this extractor and its parameters; create a new Collection and re-process to change it'),
    ],
  },
));

const schedule = named('CollectionSchedule', obj(
  'Re-processes the source on a schedule: exactly one of cron or intervalSeconds.',
  {
    cron: str('Five-field cron expression, e.g. "0 3 * * *".', { maxLength: 128, pattern: '^(\\S+\\s+){4}\\S+$' }),
    timeZone: str('IANA time zone of cron, e.g. Europe/Paris (default UTC).', { maxLength: 64, pattern: '^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$' }),
    intervalSeconds: int('Seconds between runs.', { minimum: 60, maximum: 31536000 }),
    startImmediately: bool('Run once as soon as the schedule is created (interval schedules).', { default: false }),
  },
  {
    rules: [
      rule('has(self.cron) != has(self.intervalSeconds)', 'spec.schedule: set exactly one of cron or intervalSeconds'),
      rule('!has(self.timeZone) || has(self.cron)', 'spec.schedule.timeZone only applies to cron schedules: remove it or use cron', { fieldPath: '.timeZone' }),
    ],
  },
));

const taxonomyApplication = named('TaxonomyApplication', obj(
  'A taxonomy applied to every new document of this collection (materialized enrichment).',
  {
    taxonomyRef: ref('Taxonomy', 'to apply'),
    executionMode: enumOf('How the taxonomy runs: materialize writes the enrichment into the documents.', ['materialize'], { default: 'materialize' }),
    targetCollectionRef: ref('Collection', 'receiving the enriched documents (default: this collection)'),
    scrollFilters: filter('selecting which documents are enriched'),
    priority: int('Higher runs first among taxonomies.', { minimum: -1000, maximum: 1000, default: 0 }),
    hierarchicalEnrichmentStyle: enumOf('Output style for hierarchical taxonomies.', ['full_chain', 'best_match', 'combined'], { default: 'combined' }),
  },
  { required: ['taxonomyRef'] },
));

export const collection: KindDefinition = {
  kind: 'Collection',
  plural: 'collections',
  singular: 'collection',
  shortNames: ['qcol'],
  description: 'Collection applies exactly one feature extractor to the objects of Buckets or the documents of upstream Collections, producing searchable documents.',
  spec: obj(
    'Desired state of the Collection.',
    {
      namespaceRef: namespaceRef('Collection'),
      description: description('collection'),
      source,
      featureExtractor,
      enabled: bool('When false the collection exists but processes nothing new.', { default: true }),
      schedule,
      taxonomyApplications: arr('Taxonomies applied to new documents, in priority order.', taxonomyApplication, { maxItems: 16, listType: 'map', mapKeys: ['taxonomyRef'] }),
      metadata: freeObject('Free-form metadata kept with the collection.'),
      deletionPolicy: deletionPolicy("the collection's documents"),
    },
    { required: ['namespaceRef', 'source', 'featureExtractor'] },
  ),
  status: status('Collection', {
    documentCount: int64('Documents in the collection.', { minimum: 0 }),
    outputSchema: mapOf(
      'Fields of the output documents (passthrough fields + extractor outputs), known before any document exists.',
      obj('An output field.', {
        type: str('Field type.', { maxLength: 32 }),
        description: str('What the field holds.', { maxLength: 1024 }),
      }),
      { maxProperties: 256 },
    ),
    vectorIndexes: arr(
      'Vector indexes the collection writes.',
      obj('A vector index.', {
        name: str('Storage name, e.g. text_extractor_v1_embedding.', { maxLength: 255 }),
        featureUri: str('Feature URI used by retriever stages, e.g. quarry://text_extractor@v1/all_minilm_l6_v2.', { maxLength: 512 }),
        dimensions: int('Vector dimensions.', { minimum: 1 }),
        distance: str('Distance function.', { maxLength: 32 }),
        type: str('dense, sparse or multi_dense.', { maxLength: 32 }),
        purpose: str('text, image, multimodal, ...', { maxLength: 32 }),
      }),
      { maxItems: 32 },
    ),
    lastBatch: obj('Progress of the most recent processing batch.', {
      batchId: str('Batch id.', { maxLength: 128 }),
      status: str('Batch status (PENDING, IN_PROGRESS, COMPLETED, COMPLETED_WITH_ERRORS, FAILED, CANCELED).', { maxLength: 32 }),
      total: int64('Items in the batch.', { minimum: 0 }),
      processed: int64('Items processed so far.', { minimum: 0 }),
      failed: int64('Items that failed.', { minimum: 0 }),
      startedAt: { description: 'When the batch started.', type: 'string', format: 'date-time' },
      completedAt: { description: 'When the batch finished.', type: 'string', format: 'date-time' },
    }),
  }),
  printerColumns: standardColumns([
    { name: 'Extractor', type: 'string', jsonPath: '.spec.featureExtractor.name', description: 'Feature extractor.' },
    { name: 'Documents', type: 'integer', jsonPath: '.status.documentCount', description: 'Documents in the collection.' },
  ]),
};
