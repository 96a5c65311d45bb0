/**
 * Which model an embedding extractor runs: a built-in one (models/manifest.json, names with '_') or a tenant's own
 * Model resource (a Kubernetes name, '-' and '.' but never '_'), named by an extractor parameter. The model is part
 * of the feature: its name is the feature URI's output segment and, for any model but the extractor's default, a
 * suffix of the stored vector's name, so changing a Collection's model makes a new feature (and a new vector) rather
 * than re-embedding under the old URI. A custom model's output size is declared with the `dimensions` parameter
 * (the vector index is created before any model runs); the runtimes check it against the Model's
 * spec.runtime.dimensions.
 */
import type { JsonSchema } from './registry.ts';

export interface ModelChoice {
  name: string;
  dimensions: number;
  /** True for the extractor's default model (the vector keeps its historical name). */
  isDefault: boolean;
  /** True for a Model resource of the tenant (not a built-in). */
  custom: boolean;
}

/** Built-in embedding models by kind, with their output sizes (what `make models` installs or may install). */
export const BUILTIN_EMBEDDERS: Readonly<Record<string, { kind: 'text' | 'image-text'; dimensions: number }>> = {
  all_minilm_l6_v2: { kind: 'text', dimensions: 384 },
  all_minilm_l6_v2_int8: { kind: 'text', dimensions: 384 },
  clip_vit_b32: { kind: 'image-text', dimensions: 512 },
};

/** A built-in name ('_', lower case) or a Model resource name (DNS-1123 subdomain). */
const MODEL_NAME = '^[a-z0-9]([a-z0-9_.-]{0,251}[a-z0-9])?$';

/** Parameter schema pieces for an extractor whose model is chosen by `param`. */
export function modelParams(param: string, kind: 'text' | 'image-text', dflt: string): { properties: Record<string, JsonSchema>; allOf: JsonSchema[] } {
  const builtins = Object.entries(BUILTIN_EMBEDDERS).filter(([, m]) => m.kind === kind).map(([n]) => n);
  return {
    properties: {
      [param]: {
        type: 'string',
        pattern: MODEL_NAME,
        default: dflt,
        description:
          `A built-in ${kind} model (${builtins.join(', ')}) or the name of a Model resource (type ${kind === 'text' ? 'text-embedding' : 'image-text'}) ` +
          `of the same Kubernetes namespace. Part of the feature URI (quarry://<extractor>@v1/<model>): another model is another feature, never a re-embedding.`,
      },
      dimensions: {
        type: 'integer',
        minimum: 1,
        maximum: 65536,
        description: `Output size of a Model resource named by ${param} (its spec.runtime.dimensions); required for one, ignored for built-in models.`,
      },
    },
    // A model that is not built-in needs its output size: the vector index exists before the model runs.
    allOf: [{ if: { required: [param], properties: { [param]: { not: { enum: builtins } } } }, then: { required: ['dimensions'] } }],
  };
}

export function modelChoice(params: Record<string, unknown>, param: string, dflt: { name: string; dimensions: number }): ModelChoice {
  const requested = params[param];
  const name = typeof requested === 'string' && requested ? requested : dflt.name;
  if (name === dflt.name) return { name, dimensions: dflt.dimensions, isDefault: true, custom: false };
  const builtin = BUILTIN_EMBEDDERS[name];
  if (builtin) return { name, dimensions: builtin.dimensions, isDefault: false, custom: false };
  const dims = params.dimensions;
  // Validation requires `dimensions` for a custom model; 0 only reaches code that validated nothing.
  return { name, dimensions: typeof dims === 'number' && Number.isInteger(dims) && dims > 0 ? dims : 0, isDefault: false, custom: true };
}

/** The stored vector's suffix: the extractor's own for its default model, with the model's name for any other. */
export function vectorSuffix(suffix: string, choice: ModelChoice): string {
  return choice.isDefault ? suffix : `${suffix}_${choice.name.replace(/[^a-z0-9_]/g, '_')}`;
}

/** The parameter that chooses an extractor's model, if it has one. */
export function modelParamOf(parameterSchema: JsonSchema): string | undefined {
  const props = (parameterSchema as { properties?: Record<string, unknown> }).properties ?? {};
  return ['model', 'embedding_model'].find((p) => p in props);
}

/** True for a name a Model resource can have (a DNS-1123 subdomain: no '_', which built-in names carry). */
export function isCustomModelName(s: string): boolean {
  return /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(s);
}
