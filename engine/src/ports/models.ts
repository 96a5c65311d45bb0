/**
 * Models port: real pretrained ONNX models run by onnxruntime-node, loaded by name from models/manifest.json.
 */
export type ModelKind = 'text-embedding' | 'image-text-embedding' | 'reranker' | 'ocr' | 'speech-to-text';

export interface ModelInfo {
  name: string;
  kind: ModelKind;
  /** Output vector size for embedding models. */
  dimensions?: number;
  maxTokens?: number;
  distance?: 'cosine' | 'dot' | 'euclid';
}

export interface OcrLine {
  text: string;
  score: number;
  /** Four corner points [x, y] in pixel coordinates. */
  box: [number, number][];
}

export interface Models {
  list(): ModelInfo[];
  info(model: string): ModelInfo;
  embedText(model: string, texts: string[]): Promise<Float32Array[]>;
  /**
   * For each text, whether embedText reads only a prefix of it (the model's token window, ModelInfo.maxTokens).
   * Optional: a port that cannot tell leaves it out, and nothing is claimed either way.
   */
  truncated?(model: string, texts: string[]): Promise<boolean[]>;
  embedImage(model: string, images: Buffer[]): Promise<Float32Array[]>;
  rerank(model: string, query: string, passages: string[]): Promise<number[]>;
  ocr(model: string, image: Buffer): Promise<OcrLine[]>;
  close(): Promise<void>;
}
