/**
 * Bucket → where its blobs live (pure, no I/O): a bucket Quarry owns (spec.storage.bucketName, or by default
 * objectBucketName(k8s namespace, name)) or one the user manages (spec.storage.existingBucketName), with the key
 * prefix from spec.storage.prefix.
 */
import { objectBucketName } from '../../../../engine/src/naming.ts';
import type { Resource } from '../../../../engine/src/ports/resource-store.ts';
import type { BucketSpec as GeneratedBucketSpec } from '../../../../engine/src/resources/generated/types.ts';

/** The generated spec type as a type alias, so it fits Resource's Record<string, unknown> spec. */
export type BucketSpec = { [K in keyof GeneratedBucketSpec]: GeneratedBucketSpec[K] };
export type Bucket = Resource<BucketSpec> & { spec: BucketSpec };

export interface BucketLocation {
  bucket: string;
  prefix: string;
  /** Quarry created the bucket and may delete it; false for existingBucketName (only the prefix is ours). */
  owned: boolean;
}

export function bucketLocation(obj: Bucket): BucketLocation {
  const st = obj.spec?.storage ?? {};
  const prefix = st.prefix ?? '';
  if (st.existingBucketName) return { bucket: st.existingBucketName, prefix, owned: false };
  return { bucket: st.bucketName ?? objectBucketName(obj.metadata.namespace ?? '', obj.metadata.name), prefix, owned: true };
}

/** Storage settings this operator cannot honour yet (a per-Bucket endpoint or credentials); empty when none. */
export function unsupportedStorage(obj: Bucket): string[] {
  const st = obj.spec?.storage ?? {};
  const out: string[] = [];
  if (st.endpoint) out.push('spec.storage.endpoint');
  if (st.region) out.push('spec.storage.region');
  if (st.credentialsSecretRef) out.push('spec.storage.credentialsSecretRef');
  return out;
}
