/**
 * The management API's check on a Bucket's `storage` (POST/PUT/PATCH /v1/buckets): storage another tenant's
 * Bucket uses — the same S3 bucket on the same endpoint with an overlapping (or nested) prefix, including the
 * bucket Quarry created by default for another namespace's Bucket — is refused with a 403 naming the field, never
 * the owner. A tenant is a Kubernetes namespace plus QuarryNamespace; other Buckets of the same tenant are left to
 * the operator, whose claims in the storage itself (storage-ownership.ts) are the authority in every case. Storage
 * the admin shares (QUARRY_SHARED_STORAGE) is allowed.
 */
import { QuarryError } from '../lib/errors.ts';
import { ResourceStoreError, type ResourceStore } from '../ports/resource-store.ts';
import { bucketLocation, type Bucket } from './bucket-plan.ts';
import { isSharedStorage, storagePolicyFromEnv } from './storage-policy.ts';
import { prefixesOverlap, reachesClaims } from './storage-ownership.ts';

export interface StorageScope {
  store: ResourceStore;
  k8sNamespace: string;
  /** The QuarryNamespace of the request. */
  ns: { metadata: { name: string } } | undefined;
  /** The Kubernetes namespaces the engine serves (undefined: all). */
  served?: readonly string[] | undefined;
}

/**
 * Every Bucket the engine may read: all namespaces when its credentials allow, else (namespace-scoped RBAC, the
 * chart's rbac.scope=namespaces) those of every Kubernetes namespace it serves, its own among them.
 */
async function allBuckets(scope: StorageScope): Promise<Bucket[]> {
  try {
    return await scope.store.list<Bucket>('Bucket');
  } catch (err) {
    if (!(err instanceof ResourceStoreError) || err.reason !== 'Forbidden') throw err;
    const where = [...new Set([scope.k8sNamespace, ...(scope.served ?? [])])];
    return (await Promise.all(where.map((namespace) => scope.store.list<Bucket>('Bucket', { namespace })))).flat();
  }
}

/**
 * Throws a 403 when `storage` (the spec's camelCase storage, or undefined) names storage another tenant's Bucket
 * uses. `env` only for tests.
 */
export async function refuseForeignStorage(storage: Record<string, unknown> | undefined, scope: StorageScope, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!storage) return;
  const prefix = typeof storage.prefix === 'string' ? storage.prefix : '';
  if (reachesClaims(prefix)) {
    throw new QuarryError('BadRequestError', `storage.prefix '${prefix}' reaches into .quarry-owners/, where Quarry records which bucket owns which storage: choose another prefix`, { field: 'storage.prefix' });
  }
  const named = storage.existingBucketName ?? storage.bucketName;
  if (typeof named !== 'string' || !named) return; // the default bucket is derived from this Bucket's own name
  if (isSharedStorage(storagePolicyFromEnv(env), named, prefix)) return;
  const endpoint = typeof storage.endpoint === 'string' ? storage.endpoint : '';
  const tenant = (b: Bucket) => `${b.metadata.namespace ?? ''}/${b.spec?.namespaceRef ?? ''}`;
  const mine = `${scope.k8sNamespace}/${scope.ns?.metadata.name ?? ''}`;
  const taken = (await allBuckets(scope)).some((b) => {
    if (tenant(b) === mine) return false;
    const loc = bucketLocation(b);
    return (b.spec?.storage?.endpoint ?? '') === endpoint && loc.bucket === named && prefixesOverlap(loc.prefix, prefix);
  });
  if (taken) {
    const field = storage.existingBucketName ? 'storage.existing_bucket_name' : 'storage.bucket_name';
    throw new QuarryError(
      'ForbiddenError',
      `${field}: S3 bucket '${named}'${prefix ? ` prefix '${prefix}'` : ''} is storage of a bucket in another namespace; a bucket only uses storage it owns. ` +
        `Choose another S3 bucket or a prefix that does not overlap, or ask the cluster admin to share it (QUARRY_SHARED_STORAGE)`,
      { field },
    );
  }
}
