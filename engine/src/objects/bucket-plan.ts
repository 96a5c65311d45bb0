/**
 * Bucket → where its blobs live (pure, no I/O): by default objectBucketName(k8s namespace, name), which Quarry
 * owns; spec.storage.bucketName, which Quarry owns only if it created it (BUCKET_CREATED_ANNOTATION); or one the
 * user manages (spec.storage.existingBucketName), with the key prefix from spec.storage.prefix.
 */
import type { LookupFunction } from 'node:net';
import { objectBucketName } from '#core/naming.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import type { BucketSpec as GeneratedBucketSpec } from '#core/resources/generated/types.ts';

/** The generated spec type as a type alias, so it fits Resource's Record<string, unknown> spec. */
export type BucketSpec = { [K in keyof GeneratedBucketSpec]: GeneratedBucketSpec[K] };
export type Bucket = Resource<BucketSpec> & { spec: BucketSpec };

/**
 * Set on a Bucket (metadata only, by the operator) before Quarry creates its spec.storage.bucketName in S3: the
 * record that Quarry made that bucket and so may delete it. Value: the bucket's name. Crossplane's
 * external-create-pending pattern: written before the create, so a crash between the two still converges (marker +
 * bucket exists = ours), and a bucket found already existing without it is never adopted for deletion.
 */
export const BUCKET_CREATED_ANNOTATION = 'quarry.dev/bucket-created';

export interface BucketLocation {
  bucket: string;
  prefix: string;
  /**
   * Quarry created the bucket and may delete it: the default per-Bucket bucket (its name is derived from the
   * Bucket's own namespace and name), or a spec.storage.bucketName this Bucket recorded creating
   * (BUCKET_CREATED_ANNOTATION). False for existingBucketName and for a bucketName that already existed.
   */
  owned: boolean;
  /** Where the name comes from: the default, spec.storage.bucketName, or spec.storage.existingBucketName. */
  source: 'default' | 'bucketName' | 'existingBucketName';
}

export function bucketLocation(obj: Bucket): BucketLocation {
  const st = obj.spec?.storage ?? {};
  const prefix = st.prefix ?? '';
  if (st.existingBucketName) return { bucket: st.existingBucketName, prefix, owned: false, source: 'existingBucketName' };
  if (st.bucketName) return { bucket: st.bucketName, prefix, owned: createdByQuarry(obj, st.bucketName), source: 'bucketName' };
  return { bucket: objectBucketName(obj.metadata.namespace ?? '', obj.metadata.name), prefix, owned: true, source: 'default' };
}

/** This Bucket recorded creating S3 bucket `bucket` (BUCKET_CREATED_ANNOTATION). */
export function createdByQuarry(obj: Bucket, bucket: string): boolean {
  return obj.metadata.annotations?.[BUCKET_CREATED_ANNOTATION] === bucket;
}

/** Identifies the S3 bucket a Bucket stores in across Buckets: endpoint (own storage) and bucket name. */
export function storageIdentity(obj: Bucket): string {
  return `${obj.spec?.storage?.endpoint ?? ''}|${bucketLocation(obj).bucket}`;
}

/** Where a Bucket with its own S3 settings lives (spec.storage.endpoint/region/forcePathStyle + credentials). */
export interface S3Target {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Name resolution through the SSRF guard (endpoints off the operator's allow-list). */
  lookup?: LookupFunction;
}

/** True when the Bucket needs its own S3 client instead of the operator's default object store. */
export function ownStorage(obj: Bucket): boolean {
  const st = obj.spec?.storage ?? {};
  return !!(st.endpoint || st.region || st.credentialsSecretRef);
}
