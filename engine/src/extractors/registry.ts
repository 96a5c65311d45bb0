/**
 * The feature-extractor registry: every built-in extractor's parameter schema, output schema and vector outputs,
 * known before any document exists (so the operator can publish a Collection's output schema and vector indexes,
 * and validation can check feature URIs). The extraction code itself lives beside it, keyed by the same id.
 */
import { DEFAULT_MODELS } from './default-models.ts';
import { featureUri } from './feature-uri.ts';
import { modelChoice, modelParams, vectorSuffix } from './model-choice.ts';

export type JsonSchema = Record<string, unknown>;
export type FieldType = 'string' | 'text' | 'integer' | 'number' | 'boolean' | 'object' | 'array' | 'date' | 'url';

export interface VectorOutput {
  /** Storage name of the named vector, e.g. text_extractor_v1_embedding. */
  name: string;
  /** URI output segment (the model name). */
  output: string;
  featureUri: string;
  model: string;
  dimensions: number;
  distance: 'cosine';
  purpose: 'text' | 'image' | 'multimodal';
  /** Query input types the feature can embed at search time. */
  supportedInputs: ('text' | 'image')[];
}

export interface ExtractorDefinition {
  name: string;
  version: string;
  id: string;
  description: string;
  supportedInputTypes: string[];
  parameterSchema: JsonSchema;
  outputFields(params: Record<string, unknown>): Record<string, { type: FieldType; description: string }>;
  vectors(params: Record<string, unknown>): VectorOutput[];
  /** Payload fields indexed for BM25 (lexical) search. */
  lexicalFields: string[];
}

function vector(extractor: string, version: string, suffix: string, model: { name: string; dimensions: number; isDefault?: boolean; custom?: boolean }, purpose: VectorOutput['purpose'], supportedInputs: VectorOutput['supportedInputs']): VectorOutput {
  return {
    name: `${extractor}_${version}_${vectorSuffix(suffix, { isDefault: true, custom: false, ...model })}`,
    output: model.name,
    featureUri: featureUri(extractor, version, model.name),
    model: model.name,
    dimensions: model.dimensions,
    distance: 'cosine',
    purpose,
    supportedInputs,
  };
}

const textModel = modelParams('embedding_model', 'text', DEFAULT_MODELS.text.name);
const imageModel = modelParams('model', 'image-text', DEFAULT_MODELS.imageText.name);
/** The video extractor's keyframe model: no default (without one, keyframes are not embedded). */
const keyframeModel = (() => {
  const m = modelParams('model', 'image-text', DEFAULT_MODELS.imageText.name);
  const { default: _none, description, ...model } = m.properties.model as JsonSchema & { description: string };
  return { properties: { ...m.properties, model: { ...model, description: `Embed each segment's keyframe with this image–text model (absent: keyframes are not embedded). ${description}` } }, allOf: m.allOf };
})();
const jobLength: JsonSchema = {
  type: 'number',
  minimum: 0,
  maximum: 86400,
  default: 300,
  description: 'Media longer than this is split into jobs of about this many seconds each (whole segments), so a worker lost mid-file costs one range; 0 never splits.',
};

const textExtractor: ExtractorDefinition = {
  name: 'text_extractor',
  version: 'v1',
  id: 'text_extractor@v1',
  description: 'Splits text into chunks, embeds each chunk with a sentence-embedding model and indexes it for BM25.',
  supportedInputTypes: ['text', 'string'],
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      extractor_type: { const: 'text_extractor' },
      split_by: { enum: ['characters', 'words', 'sentences', 'paragraphs', 'pages', 'none'], default: 'none', description: 'Unit to split the text into before chunking.' },
      chunk_size: { type: 'integer', minimum: 1, maximum: 100000, default: 1000, description: 'Units per chunk.' },
      chunk_overlap: { type: 'integer', minimum: 0, maximum: 99999, default: 0, description: 'Units shared by consecutive chunks; must be below chunk_size.' },
      ...textModel.properties,
    },
    allOf: textModel.allOf,
  },
  outputFields: () => ({
    text: { type: 'text', description: 'The chunk text.' },
    chunk_index: { type: 'integer', description: 'Position of the chunk in its source text.' },
    total_chunks: { type: 'integer', description: 'Number of chunks made from the source text.' },
  }),
  vectors: (params) => [vector('text_extractor', 'v1', 'embedding', modelChoice(params, 'embedding_model', DEFAULT_MODELS.text), 'text', ['text'])],
  lexicalFields: ['text'],
};

const imageExtractor: ExtractorDefinition = {
  name: 'image_extractor',
  version: 'v1',
  id: 'image_extractor@v1',
  description: 'Embeds images (and PDF pages rendered as images) with an image-text model; text queries share the space.',
  supportedInputTypes: ['image', 'pdf'],
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      extractor_type: { const: 'image_extractor' },
      enable_thumbnails: { type: 'boolean', default: true, description: 'Write a thumbnail to the object store.' },
      use_cdn: { type: 'boolean', default: false, description: 'Accepted for compatibility; ignored.' },
      ...imageModel.properties,
    },
    allOf: imageModel.allOf,
  },
  outputFields: () => ({
    thumbnail_url: { type: 'url', description: 'Thumbnail of the image or page.' },
    page_number: { type: 'integer', description: 'Page number for PDF inputs.' },
    total_pages: { type: 'integer', description: 'Page count for PDF inputs.' },
    processing_time_ms: { type: 'number', description: 'Extraction time.' },
  }),
  vectors: (params) => [vector('image_extractor', 'v1', 'embedding', modelChoice(params, 'model', DEFAULT_MODELS.imageText), 'image', ['text', 'image'])],
  lexicalFields: [],
};

const documentExtractor: ExtractorDefinition = {
  name: 'document_extractor',
  version: 'v1',
  id: 'document_extractor@v1',
  description: 'One document per PDF page: the text layer, or OCR where a page has none, embedded for search.',
  supportedInputTypes: ['pdf'],
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      extractor_type: { const: 'document_extractor' },
      ocr: { enum: ['auto', 'always', 'never'], default: 'auto', description: 'auto: OCR pages without a text layer.' },
      min_text_length: { type: 'integer', minimum: 0, default: 20, description: 'Below this many characters a page counts as having no text layer.' },
      render_dpi: { type: 'integer', minimum: 36, maximum: 600, default: 150, description: 'Resolution for OCR rendering.' },
    },
  },
  outputFields: () => ({
    text: { type: 'text', description: 'Page text (text layer or OCR).' },
    page_number: { type: 'integer', description: '1-based page number.' },
    total_pages: { type: 'integer', description: 'Page count of the PDF.' },
    text_source: { type: 'string', description: "'text_layer' or 'ocr'." },
  }),
  vectors: () => [vector('document_extractor', 'v1', 'text_embedding', DEFAULT_MODELS.text, 'text', ['text'])],
  lexicalFields: ['text'],
};

const audioExtractor: ExtractorDefinition = {
  name: 'audio_extractor',
  version: 'v1',
  id: 'audio_extractor@v1',
  description: 'Transcribes audio (or the audio track of a video) in fixed time segments with Whisper; one document per segment with speech, its transcript embedded and indexed for BM25.',
  supportedInputTypes: ['audio', 'video'],
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      extractor_type: { const: 'audio_extractor' },
      segment_length_seconds: { type: 'number', minimum: 2, maximum: 30, default: 15, description: 'Length of a segment (Whisper reads at most 30 s at once).' },
      segment_overlap_seconds: { type: 'number', minimum: 0, maximum: 10, default: 1, description: 'Seconds shared by consecutive segments; must be below segment_length_seconds.' },
      job_length_seconds: jobLength,
    },
  },
  outputFields: () => ({
    start_time: { type: 'number', description: 'Segment start, seconds from the beginning of the media.' },
    end_time: { type: 'number', description: 'Segment end, seconds.' },
    transcript: { type: 'text', description: 'What is said in the segment.' },
    text: { type: 'text', description: 'The transcript (the embedded and BM25-indexed text).' },
    segment_index: { type: 'integer', description: '0-based position of the segment.' },
    total_segments: { type: 'integer', description: 'Segments in the media (silent ones make no document).' },
    no_speech_prob: { type: 'number', description: "Whisper's probability that the segment holds no speech." },
    media_url: { type: 'url', description: 'The source media with a #t=start,end fragment (presigned on request).' },
  }),
  vectors: () => [vector('audio_extractor', 'v1', 'transcript_embedding', DEFAULT_MODELS.text, 'text', ['text'])],
  lexicalFields: ['text'],
};

const videoExtractor: ExtractorDefinition = {
  name: 'video_extractor',
  version: 'v1',
  id: 'video_extractor@v1',
  description: 'Cuts video into time or scene segments; per segment a keyframe thumbnail, OCR of on-screen text and the Whisper transcript of its audio, embedded together and indexed for BM25, and with an image–text model the keyframe embedded.',
  supportedInputTypes: ['video'],
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      extractor_type: { const: 'video_extractor' },
      split_method: { enum: ['time', 'scene'], default: 'time', description: 'time: segments of segment_length_seconds; scene: a segment per scene (a new one where the picture changes).' },
      segment_length_seconds: { type: 'number', minimum: 2, maximum: 30, default: 10, description: 'Length of a segment with split_method time (Whisper reads at most 30 s at once).' },
      scene_detection_threshold: { type: 'number', minimum: 0, maximum: 1, default: 0.3, description: "split_method scene: a frame whose scene-change score (ffmpeg's, 0–1) exceeds this starts a new scene." },
      max_segment_duration: { type: 'number', minimum: 2, maximum: 30, default: 30, description: 'split_method scene: longer scenes are cut into equal parts no longer than this.' },
      job_length_seconds: jobLength,
      enable_thumbnails: { type: 'boolean', default: true, description: 'Write a thumbnail of each segment keyframe to the object store.' },
      ocr: { type: 'boolean', default: true, description: 'Read on-screen text from each segment keyframe.' },
      ...keyframeModel.properties,
    },
    allOf: keyframeModel.allOf,
  },
  outputFields: () => ({
    start_time: { type: 'number', description: 'Segment start, seconds.' },
    end_time: { type: 'number', description: 'Segment end, seconds.' },
    keyframe_time: { type: 'number', description: 'Time of the keyframe (the middle of the segment), seconds; embedded with `model` when one is set.' },
    transcript: { type: 'text', description: 'What is said in the segment.' },
    ocr_text: { type: 'text', description: 'Text read on screen in the keyframe.' },
    text: { type: 'text', description: 'Transcript and on-screen text (embedded and BM25-indexed).' },
    segment_index: { type: 'integer', description: '0-based position of the segment.' },
    total_segments: { type: 'integer', description: 'Segments in the video (those without text make no document).' },
    thumbnail_url: { type: 'url', description: 'JPEG of the keyframe (presigned on request).' },
    media_url: { type: 'url', description: 'The source video with a #t=start,end fragment (presigned on request).' },
  }),
  vectors: (params) => [
    vector('video_extractor', 'v1', 'text_embedding', DEFAULT_MODELS.text, 'text', ['text']),
    ...(typeof params.model === 'string' && params.model ? [vector('video_extractor', 'v1', 'keyframe_embedding', modelChoice(params, 'model', DEFAULT_MODELS.imageText), 'image', ['text', 'image'])] : []),
  ],
  lexicalFields: ['text'],
};

const passthroughExtractor: ExtractorDefinition = {
  name: 'passthrough_extractor',
  version: 'v1',
  id: 'passthrough_extractor@v1',
  description: 'Copies metadata (and passthrough fields) into documents without running a model.',
  supportedInputTypes: ['text', 'image', 'video', 'audio', 'pdf', 'object'],
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      extractor_type: { const: 'passthrough_extractor' },
      preserve_metadata: { type: 'boolean', default: true, description: 'Copy the source object metadata.' },
    },
  },
  outputFields: () => ({
    content_url: { type: 'url', description: 'URL of the source blob.' },
    content_type: { type: 'string', description: 'MIME type of the source blob.' },
    size_bytes: { type: 'integer', description: 'Size of the source blob.' },
    metadata: { type: 'object', description: 'Source object metadata.' },
  }),
  vectors: () => [],
  lexicalFields: [],
};

const EXTRACTORS = new Map<string, ExtractorDefinition>(
  [textExtractor, imageExtractor, documentExtractor, audioExtractor, videoExtractor, passthroughExtractor].map((e) => [e.id, e]),
);

export function listExtractors(): ExtractorDefinition[] {
  return [...EXTRACTORS.values()];
}

/** Looks an extractor up by `name@version` or by name and version. */
export function getExtractor(name: string, version?: string): ExtractorDefinition | undefined {
  const id = version ? `${name}@${version}` : name.includes('@') ? name : `${name}@v1`;
  return EXTRACTORS.get(id);
}

export function extractorIds(): string[] {
  return [...EXTRACTORS.keys()];
}
