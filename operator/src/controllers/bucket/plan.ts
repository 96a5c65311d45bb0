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

/** Where a Bucket with its own S3 settings lives (spec.storage.endpoint/region/forcePathStyle + credentials). */
export interface S3Target {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** True when the Bucket needs its own S3 client instead of the operator's default object store. */
export function ownStorage(obj: Bucket): boolean {
  const st = obj.spec?.storage ?? {};
  return !!(st.endpoint || st.region || st.credentialsSecretRef);
}
