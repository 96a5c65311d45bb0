/**
 * Reads a Secret (data base64-decoded, and its labels) through a ResourceStore: the cluster engine's SecretReader for
 * the Secret references of QuarryNamespaces and Models (lib/secret-refs.ts judges which it may use).
 */
import type { SecretReader } from '../../lib/secret-refs.ts';
import type { Resource, ResourceStore } from '../../ports/resource-store.ts';

export function secretReader(store: Pick<ResourceStore, 'get'>): SecretReader {
  return async (namespace, name) => {
    const s = await store.get<Resource & { data?: Record<string, string>; stringData?: Record<string, string> }>('Secret', { namespace, name });
    if (!s) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
    return { data: { ...out, ...(s.stringData ?? {}) }, labels: { ...(s.metadata.labels ?? {}) } };
  };
}
