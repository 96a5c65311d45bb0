/** Retriever: a multi-stage search pipeline over collections. Editable: each spec change is a new revision. */
import { FIELD_PATH, IDENT, KEY_NAME, description, identifierKeys, filter, namespaceRef, refList, standardColumns, status, type KindDefinition } from '../common.ts';
import { anyValue, arr, bool, enumOf, freeObject, int, int64, mapOf, named, num, obj, rule, str } from '../schema-builder.ts';
import { ACCEPTED_STAGE_IDS, STAGES, STAGE_ALIASES, STAGE_CATEGORIES } from '../stage-ids.ts';

export const INPUT_TYPES = [
  'string', 'number', 'integer', 'float', 'boolean', 'object', 'array', 'date', 'datetime',
  'text', 'image', 'audio', 'video', 'pdf', 'excel', 'document_reference',
] as const;

const inputField = named('RetrieverInputField', obj(
  'One input of the retriever, validated before execution and addressed in templates as {{INPUT.<name>}}.',
  {
    type: enumOf('Input type (text for embeddable text, string for plain values).', INPUT_TYPES),
    description: str('What the input means.', { maxLength: 1024 }),
    required: bool('Execution fails without this input.', { default: false }),
    default: anyValue('Value used when the request omits the input.'),
    enum: arr('Allowed values.', anyValue('An allowed value.'), { maxItems: 64 }),
    examples: arr('Example values, shown in UIs.', anyValue('An example value.'), { maxItems: 8 }),
    items: freeObject('For type array: the JSON schema of the elements.'),
    properties: freeObject('For type object: the JSON schema of the nested properties.'),
  },
  { required: ['type'] },
));

/** CEL map literal of stage id → allowed categories, generated from stage-ids.ts. */
function stageCategoryMap(): string {
  const entries = Object.entries(STAGES).map(([id, cats]) => [id, cats] as const);
  for (const [alias, target] of Object.entries(STAGE_ALIASES).sort()) entries.push([alias, STAGES[target]!]);
  return `{${entries.map(([id, cats]) => `'${id}': [${cats.map((c) => `'${c}'`).join(', ')}]`).join(', ')}}`;
}

const stage = named('RetrieverStage', obj(
  'One stage of the pipeline: a registered stage id with its parameters and optional pre/post filters.',
  {
    stageName: str('Unique name of this stage instance, e.g. search or rerank; addressable in templates as {{STAGE.<name>}}.', { maxLength: 63, minLength: 1, pattern: IDENT }),
    stageType: enumOf('Category of the stage; inferred from config.stageId when omitted.', STAGE_CATEGORIES),
    description: str('What this stage does in the pipeline.', { maxLength: 1024 }),
    batchSize: str('Templated batch size expression, e.g. "{{20 * INPUT.page_size}}".', { maxLength: 256 }),
    config: obj(
      'The stage configuration.',
      {
        stageId: enumOf('Registered stage id, e.g. feature_search, attribute_filter, rerank, limit.', ACCEPTED_STAGE_IDS),
        parameters: freeObject("Stage parameters, checked against the stage's parameter schema (reference §4)."),
        preFilters: filter('applied before the stage runs (merged with request filters; needs payload indexes)'),
        postFilters: filter("applied to the stage's output"),
      },
      { required: ['stageId'] },
    ),
  },
  {
    required: ['stageName', 'config'],
    rules: [
      rule(`!has(self.stageType) || self.stageType in ${stageCategoryMap()}[self.config.stageId]`, 'stageType does not match the category of config.stageId (e.g. feature_search is a filter stage, rerank a sort stage): fix stageType or omit it', {
        fieldPath: '.stageType',
      }),
    ],
  },
));

const fieldConfig = named('RetrieverFieldConfig', obj(
  'How one result field renders on the public page.',
  {
    format: enumOf('Display format.', ['text', 'image', 'date', 'number', 'url', 'boolean', 'array', 'object']),
    formatOptions: obj('Format-specific options.', {
      label: str('Label shown beside the value.', { maxLength: 200 }),
      showEmpty: bool('Show the field when empty.', { default: true }),
      truncateChars: int('Characters before text is cut.', { minimum: 1, maximum: 100000 }),
      width: int('Image width in pixels.', { minimum: 1, maximum: 4096 }),
      height: int('Image height in pixels.', { minimum: 1, maximum: 4096 }),
      lazyLoad: bool('Lazy-load images.', { default: true }),
      aspectRatio: str('Aspect ratio of the image box, e.g. 16/9.', { maxLength: 16, pattern: '^[0-9]{1,4}(\\.[0-9]+)? ?/ ?[0-9]{1,4}(\\.[0-9]+)?$' }),
      objectFit: enumOf('CSS object-fit of images.', ['cover', 'contain', 'fill', 'none', 'scale-down'], { default: 'cover' }),
      dateFormat: str("Date format: 'iso', 'relative' or 'locale'.", { maxLength: 64 }),
      decimals: int('Decimal places of numbers.', { minimum: 0, maximum: 20 }),
      prefix: str('Text before numbers.', { maxLength: 32 }),
      suffix: str('Text after numbers.', { maxLength: 32 }),
      openInNewTab: bool('Open links in a new tab.', { default: true }),
      showDomain: bool('Show the domain instead of the full URL.', { default: false }),
      trueLabel: str('Label of true.', { maxLength: 64 }),
      falseLabel: str('Label of false.', { maxLength: 64 }),
      separator: str('Separator of array items.', { maxLength: 16 }),
      maxItems: int('Most array items shown.', { minimum: 1, maximum: 1000 }),
    }),
  },
  { required: ['format'] },
));

export const retriever: KindDefinition = {
  kind: 'Retriever',
  plural: 'retrievers',
  singular: 'retriever',
  shortNames: ['qret'],
  description: 'Retriever is a multi-stage search pipeline (filter, sort, reduce, group, apply, enrich stages) over Collections. It stays editable: every spec change becomes a new status.revision and invalidates its caches.',
  spec: obj(
    'Desired state of the Retriever.',
    {
      namespaceRef: namespaceRef('Retriever'),
      description: description('retriever'),
      collectionRefs: refList('Collection', 'searched by default (may be empty for pipelines without search)', 16),
      inputSchema: mapOf('Inputs by name (identifiers).', inputField, { maxProperties: 32, rules: [identifierKeys('spec.inputSchema', 'query')] }),
      stages: arr('The pipeline, run in order (at least one stage, names unique).', stage, { minItems: 1, maxItems: 24, listType: 'map', mapKeys: ['stageName'] }),
      cacheConfig: obj(
        'Result caching. Cache keys include the inputs and the collections\' index signature, so ingestion invalidates them.',
        {
          enabled: bool('Cache results.', { default: true }),
          ttlSeconds: int('Time to live of cached results.', { minimum: 0, maximum: 604800, default: 3600 }),
          cacheStageNames: arr('Stages whose output is cached (default: the final result).', str('A stage name from spec.stages.', { maxLength: 63 }), { maxItems: 24, listType: 'set' }),
          excludeFields: arr('Fields never stored in the cache (PII).', str('A field path.', { maxLength: 255, pattern: FIELD_PATH }), { maxItems: 32, listType: 'set' }),
        },
        { default: {} },
      ),
      budgetLimits: obj('Limits that halt an execution when exceeded.', {
        maxCredits: num('Maximum credits per execution.', { minimum: 0 }),
        maxTimeMs: int('Maximum wall time per execution in milliseconds.', { minimum: 1, maximum: 600000 }),
      }),
      tags: arr('Free-form tags.', str('A tag.', { maxLength: 63 }), { maxItems: 32, listType: 'set' }),
      displayConfig: obj(
        'How a public search page presents this retriever.',
        {
          title: str('Page title.', { maxLength: 200, minLength: 1 }),
          description: str('Page description.', { maxLength: 2048 }),
          logoUrl: str('Logo URL.', { maxLength: 2048, pattern: '^https?://' }),
          templateType: enumOf('Page template.', ['portrait-gallery', 'media-search', 'document-search']),
          inputs: arr(
            'Form inputs of the page.',
            obj(
              'A form input bound to a retriever input.',
              {
                fieldName: str('Name of the spec.inputSchema input it fills.', { maxLength: 63, pattern: KEY_NAME }),
                label: str('Label shown to users.', { maxLength: 200, minLength: 1 }),
                inputType: enumOf('Widget.', ['text', 'select', 'file', 'number', 'checkbox']),
                placeholder: str('Placeholder text.', { maxLength: 200 }),
                helperText: str('Help text under the input.', { maxLength: 500 }),
                required: bool('The form cannot be sent without it.', { default: true }),
                order: int('Position in the form.', { minimum: 0, maximum: 100, default: 0 }),
                suggestions: arr('Suggestion chips that fill the input when clicked.', str('A suggestion.', { maxLength: 200 }), { maxItems: 12 }),
              },
              { required: ['fieldName', 'label'] },
            ),
            { maxItems: 16, listType: 'map', mapKeys: ['fieldName'] },
          ),
          exposedFields: arr('Document fields returned publicly (at least one).', str('A field path.', { maxLength: 255, pattern: FIELD_PATH }), { minItems: 1, maxItems: 64, listType: 'set' }),
          layout: obj('Result layout.', {
            mode: enumOf('Layout mode.', ['grid', 'list', 'table'], { default: 'grid' }),
            resultsLayout: enumOf('Layout mode (the documented spelling; wins over mode).', ['grid', 'list', 'table']),
            columns: int('Grid columns.', { minimum: 1, maximum: 6, default: 3 }),
            gap: str('Gap between results (CSS length).', { maxLength: 16, pattern: '^[0-9]{1,3}(\\.[0-9]+)?(px|rem|em)$' }),
            fullWidth: bool('Use the full viewport width.', { default: false }),
            pageSize: int('Results per page of the public page (a Quarry addition).', { minimum: 1, maximum: 50, default: 10 }),
          }),
          fieldConfig: mapOf('How each exposed field renders, by field path (keys must be in exposedFields).', fieldConfig, {
            maxProperties: 64,
            rules: [rule("self.all(k, k.matches('^[A-Za-z_][A-Za-z0-9_-]*([.][A-Za-z0-9_-]+)*$'))", 'spec.displayConfig.fieldConfig: keys must be field paths such as metadata.title')],
          }),
          fieldMappings: mapOf('Template slot (title, thumbnail, ...) → field path.', str('A field path.', { maxLength: 255, pattern: FIELD_PATH }), { maxProperties: 16 }),
          theme: freeObject('Theme overrides (colors, fonts, card style).'),
        },
        { required: ['title', 'exposedFields'] },
      ),
      // Publication lives in the spec (declarative, GitOps-able: a manifest can publish its retriever). The password
      // is kept only as a salted scrypt hash: the engine has no Secret write path, and a hash is safe to read.
      publish: obj('Publishes the retriever as a public search page at /p/<slug> (built from displayConfig), without an API key.', {
        slug: str('Public name: lowercase letters, digits and hyphens, starting and ending with a letter or digit; unique among published retrievers.', { minLength: 3, maxLength: 50, pattern: '^[a-z0-9][a-z0-9-]*[a-z0-9]$' }),
        passwordHash: str('scrypt$<salt hex>$<hash hex> of the page password (set through the publish API); visitors send the password in X-Retriever-Password.', { maxLength: 300, pattern: '^scrypt\\$[0-9a-f]{32}\\$[0-9a-f]{64}$' }),
        rateLimitPerMinute: int('Searches per minute per client IP on the public page.', { minimum: 1, maximum: 100000, default: 60 }),
        maxResultsPerQuery: int('Most results one public search returns.', { minimum: 1, maximum: 1000, default: 100 }),
      }, { required: ['slug'] }),
    },
    {
      required: ['namespaceRef', 'stages'],
      rules: [
        rule('!has(self.cacheConfig) || !has(self.cacheConfig.cacheStageNames) || self.cacheConfig.cacheStageNames.all(n, self.stages.exists(s, s.stageName == n))', 'spec.cacheConfig.cacheStageNames must name stages of spec.stages: fix the name or remove it', {
          fieldPath: '.cacheConfig.cacheStageNames',
        }),
        rule('!has(self.displayConfig) || !has(self.displayConfig.fieldConfig) || self.displayConfig.fieldConfig.all(k, k in self.displayConfig.exposedFields)', 'spec.displayConfig.fieldConfig keys must be listed in spec.displayConfig.exposedFields: expose the field or remove its config', {
          fieldPath: '.displayConfig.fieldConfig',
        }),
        rule('!has(self.publish) || has(self.displayConfig)', 'spec.publish needs spec.displayConfig (title, inputs, exposedFields): a published page is built from it', { fieldPath: '.publish' }),
        rule('!has(self.displayConfig) || !has(self.displayConfig.inputs) || self.displayConfig.inputs.all(i, has(self.inputSchema) && i.fieldName in self.inputSchema)', 'spec.displayConfig.inputs[].fieldName must name an input declared in spec.inputSchema: declare the input or fix the name', {
          fieldPath: '.displayConfig.inputs',
        }),
      ],
    },
  ),
  status: status('Retriever', {
    revision: int64('Incremented by the operator on every spec change; caches of older revisions are invalid.', { minimum: 0 }),
    collections: arr('Resolved collections searched by the pipeline.', str('Collection name.', { maxLength: 63 }), { maxItems: 16 }),
    featureDependencies: arr('Feature URIs the stages use.', str('A feature URI.', { maxLength: 512 }), { maxItems: 64 }),
    lastExecutedAt: { description: 'Time of the last execution.', type: 'string', format: 'date-time' },
  }),
  printerColumns: standardColumns([
    { name: 'Revision', type: 'integer', jsonPath: '.status.revision', description: 'Spec revision served.' },
  ]),
};
