/** Shapes shared by the ingestion path: stored objects and blobs, extraction inputs and extracted documents. */
import type { MediaRange } from '../media/plan.ts';
import type { MediaDecoder } from '../ports/media.ts';
import type { Models } from '../ports/models.ts';
import type { SpeechToText } from '../ports/speech.ts';

export type BlobType = 'text' | 'image' | 'video' | 'audio' | 'pdf' | 'excel' | 'auto' | 'string';

export interface StoredBlob {
  blob_id: string;
  property: string;
  type: BlobType;
  /** Key of the blob's bytes in the bucket's object store. */
  key: string;
  content_type: string;
  size_bytes: number;
  /** 'sha256:<hex>' of the bytes. */
  checksum: string;
  filename?: string;
  /** The URL the bytes were fetched from, for blobs given by URL. */
  source_url?: string;
}

export interface StoredObject {
  object_id: string;
  bucket: string;
  key_prefix?: string;
  blobs: StoredBlob[];
  metadata: Record<string, unknown>;
  [extra: string]: unknown;
}

export interface ExtractionContext {
  models: Models;
  readBlob(blob: StoredBlob): Promise<Buffer>;
  /** Streams a blob into a local file and answers its size (media extractors; absent: readBlob and a write). */
  saveBlob?(blob: StoredBlob, file: string): Promise<number>;
  /** Stores a derived artifact (e.g. a thumbnail) and returns its object-store URL. */
  writeArtifact(name: string, bytes: Buffer, contentType: string): Promise<string>;
  /** The object-store URL (`s3://bucket/key`) of a blob, for links back to the source. */
  blobUrl?(blob: StoredBlob): string;
  /** Keeps a long extraction's job alive in the queue (called between segments). */
  heartbeat?(): Promise<void>;
  /** Media decoding and speech-to-text (absent: the ffmpeg and Whisper adapters, engine/src/media/default-ports.ts). */
  media?: MediaDecoder;
  speech?: SpeechToText;
  /**
   * Present for a whole object a job may hand on in parts: an extractor of long media calls it with the ranges
   * of the file (two or more), each then extracted by its own job, and returns no documents itself.
   */
  split?(ranges: MediaRange[]): Promise<void>;
}

/** One extraction of one input: the object, the extractor's parameters, its input mappings, and the part of a long media file it covers. */
export interface ExtractorRun {
  object: StoredObject;
  params: Record<string, unknown>;
  /** Extractor input name → source path (a blob property, or a dot path into the object such as metadata.body). */
  inputMappings?: Record<string, string>;
  /** The range of a long media file this job extracts (absent: the whole object). */
  range?: MediaRange;
}

export interface ExtractedDocument {
  /** Position within the object (chunk, page, segment): part of the deterministic document id. */
  position: string;
  fields: Record<string, unknown>;
  vectors: Record<string, Float32Array>;
  /** Text for lexical (BM25) fields. */
  text?: Record<string, string>;
}

/** A per-object extraction failure: recorded on the object, never failing the rest of the batch. */
export class ExtractionError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'ExtractionError';
    this.reason = reason;
  }
}
