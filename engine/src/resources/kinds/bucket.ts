/** Bucket: raw objects (blobs + metadata) validated against a typed object schema, stored in S3. */
import { deletionPolicy, description, identifierKeys, namespaceRef, standardColumns, status, type KindDefinition } from '../common.ts';
import { anyValue, arr, bool, enumOf, freeObject, immutable, int64, mapOf, named, obj, rule, str } from '../schema-builder.ts';

export const BUCKET_FIELD_TYPES = [
  'string', 'number', 'integer', 'float', 'boolean', 'object', 'array', 'date', 'datetime',
  'text', 'image', 'audio', 'video', 'pdf', 'excel',
] as const;

export const schemaField = named('BucketSchemaField', obj(
  'One typed property of an object. Blob types (text, image, audio, video, pdf, excel) hold content; the others hold metadata.',
  {
    type: enumOf('Property type.', BUCKET_FIELD_TYPES),
    description: str('What the property holds.', { maxLength: 1024 }),
    required: bool('Objects must carry this property.', { default: false }),
    enum: arr('Allowed values (scalar types only).', str('An allowed value.', { maxLength: 256 }), { maxItems: 64 }),
    default: anyValue('Value used when an object omits the property.'),
    examples: arr('Example values, shown in UIs.', anyValue('An example value.'), { maxItems: 8 }),
    items: freeObject('For type array: the JSON schema of the elements.'),
    properties: freeObject('For type object: the JSON schema of the nested properties.'),
  },
  {
    required: ['type'],
    rules: [
      rule("!has(self.enum) || self.type in ['string', 'text', 'integer', 'number', 'float']", 'enum is only allowed on string, text, integer, number and float properties: remove enum or change type'),
      rule("!has(self.items) || self.type == 'array'", 'items is only allowed on array properties: set type: array or remove items'),
      rule("!has(self.properties) || self.type == 'object'", 'properties is only allowed on object properties: set type: object or remove properties'),
    ],
  },
));

const credentialsSecretRef = named('CredentialsSecretRef', obj(
  "Secret of the same Kubernetes namespace holding the S3 credentials, owned by the Bucket's QuarryNamespace: quarry-secrets-<namespaceRef>, or one labelled quarry.dev/namespace=<namespaceRef>; another is never used (Stalled, CredentialsSecretNotFound).",
  {
    name: str('Secret name.', { maxLength: 253, minLength: 1, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }),
    accessKeyIdKey: str('Key of the access key id in the Secret.', { maxLength: 253, default: 'accessKeyId' }),
    secretAccessKeyKey: str('Key of the secret access key in the Secret.', { maxLength: 253, default: 'secretAccessKey' }),
  },
  { required: ['name'] },
));

const STORAGE_IMMUTABLE = (field: string) =>
  immutable(`spec.storage.${field}`, 'stored blobs are not moved; create a new Bucket to store elsewhere');

const S3_BUCKET = '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$';

const storage = named('BucketStorage', obj(
  "Where the bucket's blobs are stored. Without bucketName or existingBucketName, Quarry uses its own S3 bucket under a per-Bucket prefix.",
  {
    bucketName: str('S3 bucket Quarry creates for this Bucket when it does not exist yet; only a bucket Quarry created (annotation quarry.dev/bucket-created) is deleted with it when deletionPolicy is Delete, an existing one keeps everything outside this Bucket\'s prefix. Immutable.', { maxLength: 63, minLength: 3, pattern: S3_BUCKET, rules: [STORAGE_IMMUTABLE('bucketName')] }),
    existingBucketName: str('An S3 bucket you manage; Quarry writes under prefix and never creates or deletes the bucket. Immutable.', { maxLength: 63, minLength: 3, pattern: S3_BUCKET, rules: [STORAGE_IMMUTABLE('existingBucketName')] }),
    prefix: str('Key prefix for every blob of this Bucket, e.g. catalog/products/. Immutable.', { maxLength: 512, pattern: '^([A-Za-z0-9!_.*\'()-]+/)*$', rules: [STORAGE_IMMUTABLE('prefix')] }),
    endpoint: str('S3 endpoint URL when not the operator default, e.g. https://minio.storage:9000.', { maxLength: 512, pattern: '^https?://[^\\s]+$' }),
    region: str('S3 region.', { maxLength: 63, pattern: '^[a-z0-9-]+$' }),
    forcePathStyle: bool('Address the bucket path-style (MinIO and most S3-compatible stores).', { default: false }),
    credentialsSecretRef,
  },
  {
    rules: [
      rule('!(has(self.bucketName) && has(self.existingBucketName))', 'spec.storage: set either bucketName (Quarry creates the S3 bucket) or existingBucketName (an S3 bucket you manage), not both'),
      rule(
        'has(self.bucketName) == has(oldSelf.bucketName) && has(self.existingBucketName) == has(oldSelf.existingBucketName) && has(self.prefix) == has(oldSelf.prefix)',
        'spec.storage bucketName, existingBucketName and prefix cannot be added or removed after creation: stored blobs are not moved; create a new Bucket to store elsewhere',
      ),
    ],
  },
));

export const bucket: KindDefinition = {
  kind: 'Bucket',
  plural: 'buckets',
  singular: 'bucket',
  shortNames: ['qbucket'],
  description: 'Bucket holds raw objects (blobs and metadata) validated against a typed object schema; Collections process them into documents.',
  spec: obj(
    'Desired state of the Bucket.',
    {
      namespaceRef: namespaceRef('Bucket'),
      description: description('bucket'),
      schema: obj(
        'Object schema: the typed properties every object of this bucket may carry.',
        {
          properties: mapOf('Properties by name (letters, digits and underscores; not starting with a digit).', schemaField, { maxProperties: 64, rules: [identifierKeys('spec.schema.properties', 'product_image')] }),
        },
        { required: ['properties'], rules: [rule('size(self.properties) > 0', 'spec.schema.properties must declare at least one property, e.g. {image: {type: image}}')] },
      ),
      uniqueKey: obj(
        'Makes object writes idempotent by key: objects with the same values in these properties are the same object.',
        {
          fields: arr('Properties forming the key.', str('A property name from spec.schema.properties.', { maxLength: 128 }), { minItems: 1, maxItems: 8, listType: 'set' }),
          defaultPolicy: enumOf('What a write with an existing key does by default.', ['insert', 'update', 'upsert'], { default: 'insert' }),
        },
        { required: ['fields'] },
      ),
      storage,
      metadata: freeObject('Free-form metadata kept with the bucket.'),
      deletionPolicy: deletionPolicy("the bucket's objects and blobs"),
    },
    {
      required: ['namespaceRef', 'schema'],
      rules: [
        rule('!has(self.uniqueKey) || self.uniqueKey.fields.all(f, f in self.schema.properties)', 'spec.uniqueKey.fields must name properties declared in spec.schema.properties: declare the property or fix the name', {
          fieldPath: '.uniqueKey.fields',
        }),
      ],
    },
  ),
  status: status('Bucket', {
    objectCount: int64('Objects stored in the bucket.', { minimum: 0 }),
    totalSizeBytes: int64('Total size of the stored blobs.', { minimum: 0 }),
    storage: obj('Where the blobs actually are.', {
      bucket: str('S3 bucket.', { maxLength: 63 }),
      prefix: str('Key prefix.', { maxLength: 1024 }),
    }),
    lastUploadAt: { description: 'Time of the last object write.', type: 'string', format: 'date-time' },
  }),
  printerColumns: standardColumns([
    { name: 'Objects', type: 'integer', jsonPath: '.status.objectCount', description: 'Objects stored in the bucket.' },
  ]),
};
