/** Manifests of the custom image-model tests: two Models (a CLIP and a cross-encoder), a namespace, a bucket of mixed objects and two Collections. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export type ModelSource = { volume: string } | { upload: string };

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** spec.files of the fixture models, by model. */
export function modelFiles(fixtures: string): { clip: string; reranker: string } {
  const list = (dir: string, files: [string, string][]) => files.map(([f, role]) => `    - {path: ${f}, role: ${role}, sha256: "${sha(path.join(fixtures, dir, f))}"}`).join('\n');
  return {
    clip: list('tiny_clip', [['vision_model.onnx', 'vision_model'], ['text_model.onnx', 'text_model'], ['tokenizer.json', 'tokenizer'], ['tokenizer_config.json', 'tokenizer_config'], ['preprocessor_config.json', 'preprocessor_config']]),
    reranker: list('tiny_reranker', [['model.onnx', 'model'], ['tokenizer.json', 'tokenizer'], ['tokenizer_config.json', 'tokenizer_config']]),
  };
}

const source = (s: ModelSource) => ('volume' in s ? `volume: {path: ${s.volume}}` : `upload: {prefix: ${s.upload}}`);

/** The manifests; without `sources.clip` the team-clip Model is left out (the test uploads it through the API). */
export function galleryManifests(sources: { clip?: ModelSource; reranker: ModelSource }, files: { clip: string; reranker: string }): string {
  const clip = sources.clip
    ? `apiVersion: quarry.dev/v1alpha1
kind: Model
metadata: {name: team-clip}
spec:
  type: image-text
  source: {${source(sources.clip)}}
  files:
${files.clip}
  runtime: {dimensions: 3, maxTokens: 77}
---
`
    : '';
  return `${clip}apiVersion: quarry.dev/v1alpha1
kind: Model
metadata: {name: team-reranker}
spec:
  type: reranker
  source: {${source(sources.reranker)}}
  files:
${files.reranker}
  runtime: {maxTokens: 24}
---
apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata: {name: gallery}
spec:
  featureExtractors:
    - {name: image_extractor, version: v1, params: {model: team-clip, dimensions: 3}}
    - {name: text_extractor, version: v1}
---
apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata: {name: gallery-items}
spec:
  namespaceRef: gallery
  schema:
    properties:
      photo: {type: image}
      body: {type: text}
      manual: {type: pdf}
---
apiVersion: quarry.dev/v1alpha1
kind: Collection
metadata: {name: gallery-images}
spec:
  namespaceRef: gallery
  source: {bucketRefs: [gallery-items]}
  featureExtractor:
    name: image_extractor
    version: v1
    params: {model: team-clip, dimensions: 3}
    parameters: {enable_thumbnails: false}
    fieldPassthrough:
      - {sourcePath: metadata.kind}
      - {sourcePath: metadata.index}
---
apiVersion: quarry.dev/v1alpha1
kind: Collection
metadata: {name: gallery-notes}
spec:
  namespaceRef: gallery
  source: {bucketRefs: [gallery-items]}
  featureExtractor:
    name: text_extractor
    version: v1
    fieldPassthrough:
      - {sourcePath: metadata.kind}
`;
}
