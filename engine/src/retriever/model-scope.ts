/**
 * Which models a retriever stage may use: the built-in ones (models/manifest.json; names without '/') and the custom
 * models of its own tenant (Model resources of the request's Kubernetes namespace, named `<k8s-namespace>/<name>`
 * in the Models port) that its QuarryNamespace may use (spec.namespaceRefs). Another tenant's model, or one not enabled
 * for the namespace, is neither listed, nor substituted, nor addressable by its full name.
 */
import type { ModelInfo } from '../ports/models.ts';
import type { StageContext } from './types.ts';

export function tenantOf(ctx: Pick<StageContext, 'deps' | 'namespace'>): string | undefined {
  try {
    return ctx.deps.modelTenant?.(ctx.namespace);
  } catch {
    return undefined;
  }
}

/** The models visible to the stage; a custom model is listed under its plain name (`shortName`). */
export function visibleModels(ctx: Pick<StageContext, 'deps' | 'namespace'>): (ModelInfo & { shortName: string })[] {
  const tenant = tenantOf(ctx);
  const all = ctx.deps.models?.list() ?? [];
  return all.flatMap((m) => {
    const slash = m.name.indexOf('/');
    if (slash < 0) return [{ ...m, shortName: m.name }];
    if (tenant === undefined || m.name.slice(0, slash) !== tenant) return [];
    let allowed = true;
    try {
      allowed = ctx.deps.modelAllowed?.(ctx.namespace, m.name) ?? true;
    } catch {
      allowed = false;
    }
    return allowed ? [{ ...m, shortName: m.name.slice(slash + 1) }] : [];
  });
}

/**
 * The name the Models port knows a feature's model by: a built-in as is, a custom model of the request's tenant (a
 * Collection's extractor names it by its plain name) under its qualified name when the namespace may use it.
 */
export function runtimeModelOf(ctx: Pick<StageContext, 'deps' | 'namespace'>, model: string | undefined): string | undefined {
  if (!model || model.includes('_') || model.includes('/')) return model;
  return visibleModels(ctx).find((m) => m.shortName === model && m.name.includes('/'))?.name ?? model;
}
