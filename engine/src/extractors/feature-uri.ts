/**
 * Feature URIs: `quarry://{extractor}@{version}/{output}` (the `mixpeek://` scheme is accepted for compatibility).
 * The output segment is the model name, so two URIs with the same output are embedding-compatible.
 * The storage (vector) name is `{extractor}_{version}_{suffix}` as documented.
 */
export interface FeatureAddress {
  scheme: string;
  extractor: string;
  version: string;
  output?: string;
}

export const FEATURE_URI_SCHEMES = ['quarry', 'mixpeek'] as const;
const URI = /^([a-z]+):\/\/([a-z0-9_]+)@(v[0-9]+)(?:\/([A-Za-z0-9_.-]+))?$/;

export function parseFeatureUri(uri: string): FeatureAddress {
  const m = URI.exec(uri);
  if (!m || !(FEATURE_URI_SCHEMES as readonly string[]).includes(m[1]!)) {
    throw new Error(`'${uri}' is not a feature URI: expected quarry://<extractor>@<version>/<output>, e.g. quarry://text_extractor@v1/all_minilm_l6_v2`);
  }
  return { scheme: m[1]!, extractor: m[2]!, version: m[3]!, ...(m[4] ? { output: m[4] } : {}) };
}

export function featureUri(extractor: string, version: string, output: string): string {
  return `quarry://${extractor}@${version}/${output}`;
}

/** True when two URIs name the same feature, whatever their scheme. */
export function sameFeature(a: string, b: string): boolean {
  const x = parseFeatureUri(a);
  const y = parseFeatureUri(b);
  return x.extractor === y.extractor && x.version === y.version && (x.output ?? '') === (y.output ?? '');
}
