/**
 * Delivery of one Model resource: every file fetched from its source into the cache (verified by sha256 there),
 * a directory laid out under the names the onnxruntime adapter reads, and the manifest entry that points at it.
 * The caller registers the entry with the Models port and probes it (custom-models.ts).
 */
import { createHash } from 'node:crypto';
import type { ModelEntry } from '../manifest.ts';
import type { Model, ModelSpec } from '../../resources/generated/types.ts';
import type { ModelKind } from '../../ports/models.ts';
import type { ModelCache } from './cache.ts';
import { ModelFileError } from './errors.ts';
import { maxFileBytesFromEnv, openSource, type SourceDeps } from './sources.ts';

/** The name a custom model has in the runtimes: tenant-qualified, so two Kubernetes namespaces never share one. */
export function runtimeModelName(k8sNamespace: string, name: string): string {
  return `${k8sNamespace}/${name}`;
}

export const PORT_KIND: Readonly<Record<ModelSpec['type'], ModelKind>> = {
  'text-embedding': 'text-embedding',
  'image-text': 'image-text-embedding',
  reranker: 'reranker',
  ocr: 'ocr',
};

/** Role → the file name the onnxruntime adapter opens (onnx-models.ts). */
const LAYOUT_NAME: Readonly<Record<string, string>> = {
  model: 'model.onnx',
  vision_model: 'vision_model.onnx',
  text_model: 'text_model.onnx',
  tokenizer: 'tokenizer.json',
  tokenizer_config: 'tokenizer_config.json',
  preprocessor_config: 'preprocessor_config.json',
  detection: 'ch_PP-OCRv4_det_infer.onnx',
  recognition: 'ch_PP-OCRv4_rec_infer.onnx',
  dictionary: 'ppocr_keys_v1.txt',
};

const RESAMPLE = { nearest: 0, bilinear: 2, bicubic: 3 } as const;

/** The content key of a delivery: what was declared (a changed hash or parameter is a new delivery). */
export function deliveryKey(k8sNamespace: string, m: Model): string {
  const { type, files, runtime, source } = m.spec;
  return createHash('sha256').update(JSON.stringify([k8sNamespace, m.metadata.name, type, files, runtime ?? {}, source])).digest('hex').slice(0, 32);
}

export interface Delivered {
  entry: ModelEntry;
  /** Layout file name → the spec.files path it came from (to name the file when loading fails). */
  specPathOf: Record<string, string>;
}

export async function deliverModel(m: Model, cache: ModelCache, deps: Omit<SourceDeps, 'stagingDir'>): Promise<Delivered> {
  const ns = m.metadata.namespace ?? '';
  const spec = m.spec;
  const source = await openSource(ns, spec, { ...deps, stagingDir: cache.stagingDir() });
  const links: Record<string, string> = {};
  const specPathOf: Record<string, string> = {};
  const maxBytes = deps.maxFileBytes ?? maxFileBytesFromEnv();
  try {
    // One at a time: model files are large, and a wrong first file stops the delivery early.
    for (const f of spec.files) {
      const blob = await cache.fetch({ path: f.path, sha256: f.sha256, ...(f.size !== undefined ? { size: f.size } : {}) }, source, maxBytes);
      const name = LAYOUT_NAME[f.role ?? 'other'];
      if (name) {
        links[name] = blob;
        specPathOf[name] = f.path;
      }
    }
  } finally {
    await source.close().catch(() => {});
  }
  const rt = spec.runtime ?? {};
  const generated: Record<string, string> = {};
  if (!links['tokenizer_config.json'] && links['tokenizer.json']) generated['tokenizer_config.json'] = `${JSON.stringify({ model_max_length: rt.maxTokens ?? 512 })}\n`;
  if (spec.type === 'image-text' && !links['preprocessor_config.json']) {
    const img = rt.image;
    if (!img?.mean || !img.std) throw new ModelFileError(undefined, 'LoadFailed', 'spec.runtime.image.mean and std are required without a preprocessor_config file');
    generated['preprocessor_config.json'] = `${JSON.stringify({
      size: { shortest_edge: img.size ?? 224 },
      crop_size: { height: img.cropSize ?? 224, width: img.cropSize ?? 224 },
      do_center_crop: true,
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
      image_mean: img.mean,
      image_std: img.std,
      resample: RESAMPLE[img.resample ?? 'bicubic'],
    })}\n`;
  }
  const dir = await cache.layout(deliveryKey(ns, m), links, generated);
  const entry: ModelEntry = {
    name: runtimeModelName(ns, m.metadata.name),
    kind: PORT_KIND[spec.type],
    dir,
    source: { registry: 'model-resource', package: `${ns}/${m.metadata.name}`, version: String(m.metadata.generation ?? 1) },
    files: Object.fromEntries(spec.files.map((f) => [f.path, f.sha256])),
    licence: 'user-provided',
    ...(rt.dimensions !== undefined ? { dimensions: rt.dimensions } : {}),
    ...(spec.type !== 'ocr' ? { max_tokens: rt.maxTokens ?? 512 } : {}),
    ...(spec.type === 'text-embedding' ? { pooling: rt.pooling ?? 'mean' } : {}),
    normalize: rt.normalize ?? true,
    distance: rt.distance ?? 'cosine',
    ...(rt.imageOutput ? { image_output: rt.imageOutput } : {}),
    ...(rt.textOutput ? { text_output: rt.textOutput } : {}),
  };
  return { entry, specPathOf };
}
