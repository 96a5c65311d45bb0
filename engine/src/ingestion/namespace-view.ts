/**
 * A QuarryNamespace as ingestion sees it (NamespaceView), read from watch caches on every call: its collections
 * as currently declared and where each of its Buckets keeps blobs. The engine (objects, uploads, batches) and the
 * operator (batches of unprocessed objects) build it the same way, so both store blobs and artifacts alike.
 */
import { QuarryError, notFound } from '../lib/errors.ts';
import type { NamespaceKey } from '../naming.ts';
import type { Resource } from '../ports/resource-store.ts';
import { displayName, findByIdentifier, idOf } from '../management/identifiers.ts';
import type { CollectionPlan } from './collections.ts';
import { collectionPlan } from './from-resource.ts';
import type { NamespaceView } from './pipeline.ts';
import type { Collection as GeneratedCollection } from '../resources/generated/types.ts';
import type { SharedWatches } from '#core/shared-watches.ts';
import { bucketLocation, ownStorage, type Bucket } from '../objects/bucket-plan.ts';
import { storageRefused } from '../objects/storage-claims.ts';

/** The namespace's resources of one kind in the watch cache; `withDeleting` keeps those being deleted. */
export function resourcesOf<T extends Resource>(cache: SharedWatches, key: NamespaceKey, kind: 'Bucket' | 'Collection', withDeleting = false): T[] {
  return cache
    .list<T>(kind, key.k8sNamespace)
    .filter((r) => (r.spec as { namespaceRef?: string } | undefined)?.namespaceRef === key.name && (withDeleting || !r.metadata.deletionTimestamp));
}

/** The namespace's collections as currently declared (not being deleted), by name. */
export function collectionPlans(cache: SharedWatches, key: NamespaceKey): CollectionPlan[] {
  return resourcesOf(cache, key, 'Collection')
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((c) => collectionPlan(c as unknown as GeneratedCollection));
}

const refOf = (r: Resource | undefined) => (r ? { id: idOf(r), name: displayName(r) } : undefined);

export function namespaceView(cache: SharedWatches, key: NamespaceKey): NamespaceView {
  /** The namespace's live Bucket an identifier names: id, display name or object name (identifiers.ts). */
  const liveBucket = (bucket: string): Bucket => {
    const b = findByIdentifier(resourcesOf<Bucket>(cache, key, 'Bucket'), bucket);
    if (!b) throw notFound('bucket', bucket);
    return b;
  };
  /**
   * A Bucket on its own S3 endpoint or credentials (spec.storage.endpoint/region/credentialsSecretRef) is refused:
   * the engine and its workers hold one object store, and writing such a Bucket's blobs there would put them
   * somewhere the user did not ask for.
   */
  const storedIn = (bucket: string): Bucket => {
    const b = liveBucket(bucket);
    if (ownStorage(b)) {
      throw new QuarryError(
        'BadRequestError',
        `bucket '${bucket}' keeps its blobs on its own S3 storage (spec.storage.endpoint, region or credentialsSecretRef), which the engine does not write to; ` +
          `store objects in a Bucket on the engine's object store (no spec.storage.endpoint/region/credentialsSecretRef; existingBucketName may name a bucket there)`,
        { field: 'bucket', bucket },
      );
    }
    if (storageRefused(b)) {
      throw new QuarryError('ForbiddenError', `bucket '${bucket}' names storage it does not own (see its status): objects cannot be stored in it until spec.storage is fixed`, { field: 'bucket', bucket });
    }
    return b;
  };
  return {
    key,
    collections: async () => collectionPlans(cache, key),
    storageBucket: async (bucket) => bucketLocation(storedIn(bucket)).bucket,
    storagePrefix: async (bucket) => bucketLocation(storedIn(bucket)).prefix,
    bucketSchema: async (bucket) => liveBucket(bucket).spec?.schema,
    uniqueKey: async (bucket) => liveBucket(bucket).spec?.uniqueKey,
    bucketRef: async (bucket) => refOf(resourcesOf(cache, key, 'Bucket', true).find((b) => b.metadata.name === bucket)),
    collectionRef: async (collection) => refOf(resourcesOf(cache, key, 'Collection', true).find((c) => c.metadata.name === collection)),
  };
}
