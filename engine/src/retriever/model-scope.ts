/**
 * Which models a retriever stage may use: the built-in ones (models/manifest.json; names without '/') and the custom
 * models of its own tenant (Model resources of the request's Kubernetes namespace, named `<k8s-namespace>/<name>`
 * in the Models port). Another tenant's model is neither listed, nor substituted, nor addressable by its full name.
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
    return tenant !== undefined && m.name.slice(0, slash) === tenant ? [{ ...m, shortName: m.name.slice(slash + 1) }] : [];
  });
}
