/** Reads a Secret's data (base64-decoded) through a ResourceStore, for s3 model sources' credentialsSecretRef. */
import type { Resource, ResourceStore } from '../../ports/resource-store.ts';

export function secretReader(store: Pick<ResourceStore, 'get'>): (namespace: string, name: string) => Promise<Record<string, string> | undefined> {
  return async (namespace, name) => {
    const s = await store.get<Resource & { data?: Record<string, string>; stringData?: Record<string, string> }>('Secret', { namespace, name });
    if (!s) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
    return { ...out, ...(s.stringData ?? {}) };
  };
}
