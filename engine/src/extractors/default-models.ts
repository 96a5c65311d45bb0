/**
 * The models each built-in extractor uses by default, by their name in models/manifest.json (installed by
 * `make models`). The URI output segment of a feature is the model's name, so it is stable across extractors.
 */
export const DEFAULT_MODELS = {
  text: { name: 'all_minilm_l6_v2', dimensions: 384 },
  imageText: { name: 'clip_vit_b32', dimensions: 512 },
  reranker: { name: 'ms_marco_minilm_l6_v2' },
  ocr: { name: 'ppocr_v4' },
} as const;
