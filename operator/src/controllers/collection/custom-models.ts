/**
 * A Collection whose extractor names a tenant's Model resource (image_extractor `model`, text_extractor
 * `embedding_model`: engine/src/extractors/model-choice.ts): the Model must exist in the Collection's Kubernetes
 * namespace, be of the extractor's type, declare the output size the Collection's vectors were created with, and be
 * enabled for its QuarryNamespace. Pure; the reconciler turns a problem into Ready=False and re-checks when the
 * Model changes.
 */
import { getExtractor } from '#engine/extractors/registry.ts';
import { isCustomModelName } from '#engine/extractors/model-choice.ts';
import type { Model } from '#core/resources/generated/types.ts';
import type { Collection } from './plan.ts';

/** The custom models (Model resource names) a Collection's extractor runs, with the dimensions it declares. */
export function customModelsOf(c: Collection): { name: string; dimensions: number; type: 'text-embedding' | 'image-text' }[] {
  const fe = c.spec?.featureExtractor;
  const def = fe && getExtractor(fe.name, fe.version ?? 'v1');
  if (!def) return [];
  return def
    .vectors(fe.params ?? {})
    .filter((v) => isCustomModelName(v.model))
    .map((v) => ({ name: v.model, dimensions: v.dimensions, type: v.purpose === 'text' ? 'text-embedding' : 'image-text' }));
}

export function customModelProblem(c: Collection, getModel: (name: string) => Model | undefined): { reason: string; message: string } | undefined {
  const param = c.spec.featureExtractor.name === 'text_extractor' ? 'embedding_model' : 'model';
  for (const want of customModelsOf(c)) {
    const m = getModel(want.name);
    const at = `spec.featureExtractor.params.${param}`;
    if (!m || m.metadata.deletionTimestamp) {
      return { reason: 'ModelNotFound', message: `${at} names Model ${want.name}, which does not exist in Kubernetes namespace ${c.metadata.namespace ?? ''}: create it (kind: Model, type ${want.type}) or name a built-in model` };
    }
    if (m.spec.type !== want.type) {
      return { reason: 'ModelTypeMismatch', message: `${at}: Model ${want.name} is of type ${m.spec.type}, but ${c.spec.featureExtractor.name} needs type ${want.type}` };
    }
    const dims = m.spec.runtime?.dimensions;
    if (dims !== undefined && dims !== want.dimensions) {
      return { reason: 'ModelDimensionsMismatch', message: `spec.featureExtractor.params.dimensions is ${want.dimensions}, but Model ${want.name} outputs ${dims} (spec.runtime.dimensions): make them equal (a new model or size is a new QuarryNamespace extractor entry and Collection)` };
    }
    const refs = m.spec.namespaceRefs;
    if (refs && !refs.includes(c.spec.namespaceRef)) {
      return { reason: 'ModelNotEnabled', message: `Model ${want.name} is not enabled for QuarryNamespace ${c.spec.namespaceRef} (its spec.namespaceRefs: ${refs.join(', ')}): add it there` };
    }
  }
  return undefined;
}

/**
 * Ready=False for a tenant's Model no extraction worker serves yet (it exists and fits: customModelProblem passed):
 * the fix is in the Model's own status, not in the models directory. Built-in models keep modelNotServed's advice.
 */
export function customNotServed(c: Collection, missing: string[]): { status: 'False'; reason: string; message: string } | undefined {
  const custom = new Set(customModelsOf(c).map((m) => m.name));
  const names = missing.filter((n) => custom.has(n));
  if (names.length === 0) return undefined;
  return {
    status: 'False',
    reason: 'ModelNotServed',
    message:
      `collection ${c.metadata.name} needs Model ${names.join(', ')}, which no running extraction worker serves yet: ` +
      `kubectl get model ${names.join(' ')} shows why (still delivering, or Ready=False naming the file at fault); in cluster mode the ` +
      `extraction runs where Models are delivered (the engine with QUARRY_ENGINE_WORKERS > 0); this turns Ready by itself once one serves it`,
  };
}
