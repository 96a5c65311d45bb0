/**
 * The Models port as one tenant's extraction sees it: extractor parameters name a model by its plain name (a
 * built-in such as all_minilm_l6_v2, or a Model resource of the tenant's Kubernetes namespace, which the runtimes
 * serve as `<k8s-namespace>/<name>`: delivery.ts). A built-in is used as is; a tenant's model is used under its
 * qualified name, never another tenant's. A custom model this runtime does not serve (yet) is refused with a
 * retryable 503 naming the model and why (still delivering, or the delivery's failure): the job queue redelivers
 * the job, to this runtime once delivery is done or to another that serves the model.
 */
import { QuarryError } from '../../lib/errors.ts';
import type { ModelInfo, Models, OcrLine } from '../../ports/models.ts';
import { runtimeModelName } from './delivery.ts';
import type { FailedModel } from './custom-models.ts';

export interface TenantModelsOptions {
  /** Why this runtime does not serve a model (its delivery failure), by qualified name; undefined: not known to fail. */
  failure?: (qualified: string) => string | undefined;
}

export class TenantModels implements Models {
  private readonly inner: Models;
  private readonly tenant: string;
  private readonly o: TenantModelsOptions;

  constructor(inner: Models, k8sNamespace: string, opts: TenantModelsOptions = {}) {
    this.inner = inner;
    this.tenant = k8sNamespace;
    this.o = opts;
  }

  /** The name the inner port knows `model` by, or a retryable error when it is this tenant's and not served here. */
  resolve(model: string): string {
    const names = new Set(this.innerList().map((m) => m.name));
    // Built-in names carry '_', which Kubernetes names never do: an uninstalled built-in fails as the port says.
    if (!model.includes('/') && (names.has(model) || model.includes('_'))) return model;
    const qualified = model.includes('/') ? model : runtimeModelName(this.tenant, model);
    if (!qualified.startsWith(`${this.tenant}/`)) throw new QuarryError('NotFoundError', `model '${model}' is not a model of this namespace`, { model });
    if (names.has(qualified)) return qualified;
    const why = this.o.failure?.(qualified);
    throw new QuarryError(
      'ServiceUnavailableError',
      `model '${model}' is not served by this runtime${why ? `: ${why}` : ' yet (no Model resource of that name is delivered here; it may still be downloading)'}; the job is retried, and runs once a runtime serves the model (kubectl get models ${model.slice(model.lastIndexOf('/') + 1)} shows why not)`,
      { model, retryable: true, retry_after_seconds: 5 },
    );
  }

  list(): ModelInfo[] {
    return this.innerList().filter((m) => !m.name.includes('/') || m.name.startsWith(`${this.tenant}/`));
  }

  info(model: string): ModelInfo {
    return this.inner.info(this.resolve(model));
  }

  embedText(model: string, texts: string[]): Promise<Float32Array[]> {
    return this.call(model, (m) => this.inner.embedText(m, texts));
  }

  truncated(model: string, texts: string[]): Promise<boolean[]> {
    const inner = this.inner;
    return this.call(model, async (m) => (inner.truncated ? inner.truncated(m, texts) : texts.map(() => false)));
  }

  embedImage(model: string, images: Buffer[]): Promise<Float32Array[]> {
    return this.call(model, (m) => this.inner.embedImage(m, images));
  }

  rerank(model: string, query: string, passages: string[]): Promise<number[]> {
    return this.call(model, (m) => this.inner.rerank(m, query, passages));
  }

  ocr(model: string, image: Buffer): Promise<OcrLine[]> {
    return this.call(model, (m) => this.inner.ocr(m, image));
  }

  /** The inner port is shared by every tenant: closing one view closes nothing. */
  async close(): Promise<void> {}

  /** An unavailable port (no models directory) answers list() with a rejected promise: nothing is served. */
  private innerList(): ModelInfo[] {
    const list = this.inner.list() as unknown;
    if (Array.isArray(list)) return list as ModelInfo[];
    if (list instanceof Promise) list.catch(() => undefined);
    return [];
  }

  private async call<T>(model: string, fn: (m: string) => Promise<T>): Promise<T> {
    return fn(this.resolve(model));
  }
}

/** One tenant's view of a runtime's models whose refusals say why `custom` could not deliver a model. */
export function tenantModels(models: Models, k8sNamespace: string, custom: { failed(): FailedModel[] } | undefined): TenantModels {
  return new TenantModels(models, k8sNamespace, {
    failure: (name) => {
      const f = custom?.failed().find((x) => x.name === name);
      return f && `its delivery failed (${f.reason}: ${f.message})`;
    },
  });
}
