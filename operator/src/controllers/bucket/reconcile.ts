/**
 * Bucket controller: observe the S3 bucket (and prefix) through the ObjectStore port → create it when Quarry owns
 * it → report where the blobs are, with object count and bytes (when the listing is cheap). Ready only when the
 * bucket exists and answers a listing, and the Bucket's QuarryNamespace is Ready.
 * Finalizer: with `deletionPolicy: Delete` (the default) an owned bucket is deleted with its objects; in a bucket
 * the user manages (existingBucketName) only the prefix is emptied. `Retain` keeps everything.
 */
import type { ObjectStore } from '../../../../engine/src/ports/object-store.ts';
import type { Reconciler } from '../../runtime/controller.ts';
import { dependencyStatus, referencedBy } from '../../runtime/dependencies.ts';
import { QUARRY_KINDS } from '../../runtime/kinds.ts';
import { assertValid, refsTo } from '../shared.ts';
import { bucketLocation, unsupportedStorage, type Bucket } from './plan.ts';

export interface BucketDeps {
  /** Undefined when no object store is configured: Buckets say so instead of pretending. */
  objectStore: ObjectStore | undefined;
  concurrency?: number;
  resyncMs?: number;
  /** Listing pages (1000 keys each) counted for status; beyond that the counts are left out. */
  maxCountPages?: number;
}

export function bucketReconciler(deps: BucketDeps): Reconciler<Bucket> {
  const os = deps.objectStore;
  const maxPages = deps.maxCountPages ?? 10;
  return {
    kind: QUARRY_KINDS.find((k) => k.kind === 'Bucket')!,
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.resyncMs ? { resyncMs: deps.resyncMs } : {}),
    watches: [referencedBy('QuarryNamespace', 'Bucket', (b) => [(b.spec as Bucket['spec'])?.namespaceRef ?? ''])],

    async reconcile(obj, ctx) {
      assertValid(obj);
      const loc = bucketLocation(obj);
      const status = { storage: { bucket: loc.bucket, prefix: loc.prefix } };
      const unsupported = unsupportedStorage(obj);
      if (unsupported.length > 0) {
        return {
          ready: { status: 'False', reason: 'UnsupportedStorage', message: `${unsupported.join(', ')} not supported yet: the operator uses its configured object store; remove them` },
          status,
        };
      }
      const dep = dependencyStatus(ctx.cache, refsTo(obj, 'QuarryNamespace', [obj.spec.namespaceRef]));
      if (!dep.ready) return { ready: dep.result, status };
      if (!os) {
        return {
          ready: { status: 'False', reason: 'ObjectStoreNotConfigured', message: `no object store is configured for the operator (S3_ENDPOINT / QUARRY_OBJECT_STORE); cannot provision ${loc.bucket}` },
          status,
        };
      }
      const ext = <T>(op: string, fn: () => Promise<T>) => ctx.metrics.external('object-store', op, fn);
      let exists = await ext('exists', () => os.bucketExists(loc.bucket));
      if (!exists && loc.owned) {
        await ext('ensure', () => os.ensureBucket(loc.bucket));
        ctx.event('Normal', 'CreatedExternalResource', `S3 bucket ${loc.bucket}`);
        exists = await ext('exists', () => os.bucketExists(loc.bucket));
      }
      if (!exists) {
        return {
          ready: {
            status: 'False',
            reason: loc.owned ? 'BucketMissing' : 'ExistingBucketNotFound',
            message: loc.owned
              ? `S3 bucket ${loc.bucket} does not exist after creating it`
              : `S3 bucket ${loc.bucket} (spec.storage.existingBucketName) does not exist or is not visible with the operator's credentials`,
          },
          status,
          requeueAfter: 30_000,
        };
      }
      // Reachability and size in one: list the prefix (a bounded number of pages).
      let objectCount = 0;
      let totalSizeBytes = 0;
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await ext('list', () => os.list(loc.bucket, { ...(loc.prefix ? { prefix: loc.prefix } : {}), maxKeys: 1000, ...(token ? { token } : {}) }));
        for (const o of page.objects) {
          objectCount++;
          totalSizeBytes += o.size;
        }
        token = page.nextToken;
        pages++;
      } while (token && pages < maxPages);
      const counted = token === undefined ? { objectCount, totalSizeBytes } : {};
      return {
        ready: { status: 'True', reason: 'BucketReady', message: `S3 bucket ${loc.bucket}${loc.prefix ? ` prefix ${loc.prefix}` : ''} is reachable` },
        status: { ...status, ...counted },
      };
    },

    async finalize(obj, ctx) {
      if (obj.spec?.deletionPolicy === 'Retain') return { done: true };
      const loc = bucketLocation(obj);
      if (unsupportedStorage(obj).length > 0) return { done: true }; // never provisioned by us
      if (!os) throw new Error(`no object store is configured: cannot delete S3 bucket ${loc.bucket} (set deletionPolicy: Retain to keep it)`);
      const ext = <T>(op: string, fn: () => Promise<T>) => ctx.metrics.external('object-store', op, fn);
      if (!(await ext('exists', () => os.bucketExists(loc.bucket)))) return { done: true };
      if (loc.owned) {
        await ext('delete', () => os.deleteBucket(loc.bucket, { force: true }));
        ctx.event('Normal', 'DeletedExternalResource', `S3 bucket ${loc.bucket}`);
      } else if (loc.prefix) {
        const n = await ext('delete-prefix', () => os.deletePrefix(loc.bucket, loc.prefix));
        ctx.event('Normal', 'DeletedExternalResource', `${n} objects under ${loc.bucket}/${loc.prefix}`);
      } else {
        ctx.event('Warning', 'DeletionBlocked', `S3 bucket ${loc.bucket} is managed by you and has no prefix: nothing deleted`);
      }
      return { done: true };
    },
  };
}
