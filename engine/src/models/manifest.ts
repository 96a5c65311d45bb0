/** models/manifest.json (written by `make models`): what is installed, where, and how to run it. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelKind } from '../ports/models.ts';

export interface ModelEntry {
  name: string;
  kind: ModelKind;
  dir: string;
  source: { registry: string; package: string; version: string };
  files: Record<string, string>;
  dimensions?: number;
  max_tokens?: number;
  pooling?: 'mean' | 'cls';
  normalize?: boolean;
  distance?: 'cosine' | 'dot' | 'euclid';
  licence: string;
  description?: string;
  reference?: string;
  /** image-text-embedding: the two towers' files and output names (defaults: vision_model.onnx → image_embeds, text_model.onnx → text_embeds); preprocessing comes from preprocessor_config.json. */
  vision_model?: string;
  text_model?: string;
  image_output?: string;
  text_output?: string;
}

/** A GGUF language model for engine/src/llm/local-llama.ts (the manifest's `llms` key; not listed by the Models port). */
export interface LlmEntry {
  name: string;
  kind: 'llm';
  /** The GGUF file, relative to the models directory. */
  path: string;
  sha256: string;
  context_size?: number;
  licence: string;
  description?: string;
}

export interface Manifest {
  version: number;
  models: Record<string, ModelEntry>;
  llms?: Record<string, LlmEntry>;
}

export const DEFAULT_MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'models');

export function modelsDir(): string {
  return process.env.QUARRY_MODELS_DIR ?? DEFAULT_MODELS_DIR;
}

export function loadManifest(dir = modelsDir()): Manifest {
  const file = path.join(dir, 'manifest.json');
  if (!existsSync(file)) throw new Error(`no model manifest at ${file}: run 'make models' (or set QUARRY_MODELS_DIR)`);
  return JSON.parse(readFileSync(file, 'utf8')) as Manifest;
}
