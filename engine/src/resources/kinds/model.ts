/**
 * Model: a user's own model (CLIP/SigLIP image-text, cross-encoder reranker, text embedder, OCR), declared like every
 * other Quarry resource so it lives in Git beside the Collections that use it. The runtimes fetch its files from the
 * source, verify each sha256, cache them and load them through the Models port; the operator turns it Ready when a
 * runtime reports serving it (engine/src/models/custom/).
 */
import { description, refList, standardColumns, status, type KindDefinition } from '../common.ts';
import { arr, bool, enumOf, int, int64, named, num, obj, rule, str } from '../schema-builder.ts';

export const MODEL_TYPES = ['text-embedding', 'image-text', 'reranker', 'ocr'] as const;
export const MODEL_FILE_ROLES = ['model', 'vision_model', 'text_model', 'tokenizer', 'tokenizer_config', 'preprocessor_config', 'detection', 'recognition', 'dictionary', 'other'] as const;

/** A relative file path inside the model's source: segments that do not start with '.' (so no '..'), no leading '/'. RE2-safe (no lookahead). */
export const MODEL_FILE_PATH = '^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$';

const secretRef = named('ModelCredentialsSecretRef', obj(
  'Secret of the same Kubernetes namespace holding the S3 credentials: one labelled quarry.dev/namespace=<one of namespaceRefs> (or that namespace\'s quarry-secrets-*), or, without namespaceRefs, one neither labelled quarry.dev/namespace nor a quarry-secrets-*.',
  {
    name: str('Secret name.', { maxLength: 253, minLength: 1, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }),
    accessKeyIdKey: str('Key of the access key id in the Secret.', { maxLength: 253, default: 'accessKeyId' }),
    secretAccessKeyKey: str('Key of the secret access key in the Secret.', { maxLength: 253, default: 'secretAccessKey' }),
  },
  { required: ['name'] },
));

const source = named('ModelSource', obj(
  'Where the files are fetched from: exactly one of upload, s3, https or volume. Each file is read at <location>/<files[].path>.',
  {
    upload: obj(
      'Files uploaded through the API (POST /v1/models/uploads, then confirm): they live in the engine\'s object store under this key prefix.',
      { prefix: str('Object-store key prefix written by the upload API, e.g. models/my-clip/1/.', { maxLength: 512, minLength: 1, pattern: '^([A-Za-z0-9!_.*\'()-]+/)+$' }) },
      { required: ['prefix'] },
    ),
    s3: obj(
      'An S3 (or S3-compatible) location you manage.',
      {
        url: str('s3://bucket/prefix/ of the files.', { maxLength: 1024, pattern: '^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\\s]*)?$' }),
        endpoint: str('S3 endpoint URL when not AWS, e.g. https://minio.storage:9000.', { maxLength: 512, pattern: '^https?://[^\\s]+$' }),
        region: str('S3 region.', { maxLength: 63, pattern: '^[a-z0-9-]+$', default: 'us-east-1' }),
        forcePathStyle: bool('Address the bucket path-style (MinIO and most S3-compatible stores).', { default: false }),
        credentialsSecretRef: secretRef,
      },
      { required: ['url'] },
    ),
    https: obj(
      'An HTTP(S) server: each file is fetched from <url>/<path> through the engine\'s SSRF guard (private addresses only with QUARRY_FETCH_ALLOW_PRIVATE or QUARRY_FETCH_ALLOW_CIDRS).',
      { url: str('Base URL of the files, e.g. https://models.internal/clip/v2/.', { maxLength: 1024, pattern: '^https?://[^\\s]+$' }) },
      { required: ['url'] },
    ),
    volume: obj(
      'A directory on a volume mounted into the engine and workers; it must lie under one of the roots the runtimes allow (QUARRY_MODEL_VOLUME_ROOTS).',
      { path: str('Absolute path of the directory, e.g. /models/my-clip.', { maxLength: 1024, pattern: '^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+/?$' }) },
      { required: ['path'] },
    ),
  },
  {
    rules: [
      rule("(has(self.upload) ? 1 : 0) + (has(self.s3) ? 1 : 0) + (has(self.https) ? 1 : 0) + (has(self.volume) ? 1 : 0) == 1", 'spec.source: set exactly one of upload, s3, https or volume'),
    ],
  },
));

const file = named('ModelFile', obj(
  'One file of the model, verified by its sha256 before it is used.',
  {
    path: str('Path relative to the source location, e.g. onnx/vision_model.onnx.', { maxLength: 512, minLength: 1, pattern: MODEL_FILE_PATH }),
    sha256: str('Lower-case hex SHA-256 of the file; a file with another hash is refused.', { maxLength: 64, minLength: 64, pattern: '^[0-9a-f]{64}$' }),
    role: enumOf('What the file is to the runtime: model (the ONNX graph of a text-embedding or reranker model), vision_model and text_model (the two towers of an image-text model), tokenizer (tokenizer.json), tokenizer_config, preprocessor_config (CLIPImageProcessor JSON), detection, recognition and dictionary (OCR), other.', MODEL_FILE_ROLES, { default: 'other' }),
    size: int64('Size in bytes, when known (a larger download is cut off).', { minimum: 0 }),
  },
  { required: ['path', 'sha256'] },
));

const has = (role: string) => `self.files.exists(f, f.role == '${role}')`;
const needs = (type: string, roles: string[]) =>
  rule(`self.type != '${type}' || (${roles.map(has).join(' && ')})`, `spec.files of a ${type} model must include files with role ${roles.join(', ')}: set files[].role`, { fieldPath: '.files' });

const image = named('ModelImagePreprocessing', obj(
  'Image preprocessing of an image-text model (CLIPImageProcessor semantics: resize the shortest edge, centre-crop, rescale, normalise). Ignored when a preprocessor_config file is given.',
  {
    size: int('Shortest edge after resizing, in pixels.', { minimum: 8, maximum: 4096, default: 224 }),
    cropSize: int('Side of the centre crop, in pixels.', { minimum: 8, maximum: 4096, default: 224 }),
    mean: arr('Per-channel (RGB) mean subtracted after rescaling to [0, 1].', num('Channel mean.', { minimum: -10, maximum: 10 }), { maxItems: 3, minItems: 3 }),
    std: arr('Per-channel (RGB) standard deviation divided by after the mean.', num('Channel std.', { minimum: 0.000001, maximum: 100 }), { maxItems: 3, minItems: 3 }),
    resample: enumOf('Resize kernel.', ['nearest', 'bilinear', 'bicubic'], { default: 'bicubic' }),
  },
  { rules: [rule('!has(self.cropSize) || !has(self.size) || self.cropSize <= self.size', 'spec.runtime.image.cropSize must not exceed size: the crop is taken from the resized image', { fieldPath: '.cropSize' })] },
));

const runtime = named('ModelRuntime', obj(
  'What the runtime needs to run the model.',
  {
    dimensions: int('Output vector size (embedding models); the runtime refuses a model whose output differs.', { minimum: 1, maximum: 16384 }),
    distance: enumOf('Distance its vectors are compared with.', ['cosine', 'dot', 'euclid'], { default: 'cosine' }),
    maxTokens: int('Longest token sequence; longer inputs are truncated.', { minimum: 2, maximum: 32768, default: 512 }),
    pooling: enumOf('How a text-embedding model turns token states into one vector.', ['mean', 'cls'], { default: 'mean' }),
    normalize: bool('L2-normalise output vectors.', { default: true }),
    imageOutput: str('Output name of the vision tower.', { maxLength: 128, default: 'image_embeds' }),
    textOutput: str('Output name of the text tower.', { maxLength: 128, default: 'text_embeds' }),
    image,
  },
  { default: {} },
));

export const model: KindDefinition = {
  kind: 'Model',
  plural: 'models',
  singular: 'model',
  shortNames: ['qmodel'],
  description: 'Model is a user-provided model (image-text, text-embedding, reranker or OCR) whose files the runtimes fetch, verify by sha256, cache and serve; Collections and Retrievers in the same Kubernetes namespace use it by name.',
  spec: obj(
    'Desired state of the Model.',
    {
      description: description('model'),
      namespaceRefs: refList('QuarryNamespace', 'whose retrievers and collections may use this model (enabling it for them; the reference\'s namespace enable/disable). Omit to let every QuarryNamespace of this Kubernetes namespace use it', 256),
      type: enumOf('What the model does: text-embedding (text → vector), image-text (CLIP/SigLIP: images and text → one vector space), reranker (cross-encoder: query + passage → score), ocr.', MODEL_TYPES),
      format: enumOf('Weights format. Quarry runs ONNX; export safetensors/pytorch/huggingface checkpoints to ONNX first (hack/models/export_bert.py for BERT-style models).', ['onnx'], { default: 'onnx' }),
      source,
      files: arr('The files of the model (listed with their sha256).', file, { maxItems: 32, minItems: 1, listType: 'map', mapKeys: ['path'] }),
      runtime,
    },
    {
      required: ['type', 'source', 'files'],
      rules: [
        needs('text-embedding', ['model', 'tokenizer']),
        needs('reranker', ['model', 'tokenizer']),
        needs('image-text', ['vision_model', 'text_model', 'tokenizer']),
        needs('ocr', ['detection', 'recognition', 'dictionary']),
        rule("!(self.type in ['text-embedding', 'image-text']) || (has(self.runtime) && has(self.runtime.dimensions))", 'spec.runtime.dimensions is required for an embedding model: set the size of its output vectors', { fieldPath: '.runtime.dimensions', reason: 'FieldValueRequired' }),
        rule("self.type != 'image-text' || " + has('preprocessor_config') + " || (has(self.runtime) && has(self.runtime.image) && has(self.runtime.image.mean) && has(self.runtime.image.std))", 'an image-text model needs its image preprocessing: add a file with role preprocessor_config or set spec.runtime.image.mean and std', { fieldPath: '.runtime.image' }),
        rule("self.files.all(f, self.files.exists_one(g, g.role == f.role) || f.role == 'other')", 'spec.files: each role except other may be given to one file only', { fieldPath: '.files' }),
      ],
    },
  ),
  status: status('Model', {
    servedBy: int('Live runtimes (engine and workers) serving the model.', { minimum: 0 }),
    runtimeName: str('Name of the model in the runtimes (<kubernetes-namespace>/<name>), as extractors and stages of this namespace see it by its plain name.', { maxLength: 320 }),
    dimensions: int('Output vector size as served.', { minimum: 0 }),
  }),
  printerColumns: standardColumns([
    { name: 'Type', type: 'string', jsonPath: '.spec.type', description: 'What the model does.' },
    { name: 'Served', type: 'integer', jsonPath: '.status.servedBy', description: 'Live runtimes serving it.' },
  ]),
};
