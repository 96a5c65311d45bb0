/**
 * Bucket controller: observe the S3 bucket (and prefix) through the ObjectStore port → create it when Quarry owns
 * it → report where the blobs are, with object count and bytes (when the listing is cheap). Ready only when the
 * bucket exists and answers a listing, and the Bucket's QuarryNamespace is Ready.
 * A Bucket with its own spec.storage endpoint/region/credentialsSecretRef gets its own S3 client, with the keys read
 * from the referenced Secret (get only; re-read on every re-observation, so a rotated key is picked up) — only a
 * Secret the Bucket's QuarryNamespace owns (its quarry-secrets-<name>, or one labelled quarry.dev/namespace=<name>:
 * lib/secret-refs.ts); any other is never used, and Stalled like a missing one (CredentialsSecretNotFound). Such a
 * Bucket is Ready when reachable, but its Ready message says the engine cannot add objects to it (the engine writes
 * only to its own configured object store).
 * Ownership (engine/src/objects/storage-ownership.ts): before it counts, lists or deletes anything, a Bucket claims
 * its (S3 bucket, prefix) with a claim object in that S3 bucket carrying its uid and namespace. Storage another
 * Bucket claimed (any namespace; overlapping or nested prefixes included) is refused: Ready=False, reason
 * StorageNotOwned, the owner never named, nothing counted. A default per-Bucket bucket belongs first to the Bucket
 * its name derives from. Storage the admin shares (QUARRY_SHARED_STORAGE) is used without a claim and never
 * emptied. Endpoints are checked first (storage-policy.ts: allow-list, else the SSRF guard; Stalled with reason
 * EndpointNotAllowed when refused).
 * Quarry deletes only buckets it created: the default per-Bucket bucket, or a spec.storage.bucketName this Bucket
 * recorded creating (BUCKET_CREATED_ANNOTATION, written before the create, and then in its claim, which tenants
 * cannot forge). A bucketName that already existed is used but never deleted, and the Ready message says so.
 * Finalizer: only a Bucket holding its claim deletes anything. With `deletionPolicy: Delete` (the default) a
 * bucket it created is deleted with its objects (with a prefix: the prefix is emptied and the bucket deleted when
 * nothing else is left in it; while other Buckets still store there, they inherit "created", so the last one out
 * deletes it); in a bucket Quarry did not create only the prefix is emptied (without a prefix,
 * nothing is deleted); then the claim is released. `Retain` keeps everything, the claim included (a Bucket
 * re-created with the same namespace and name adopts it).
 */
import type { ObjectStore } from '#core/ports/object-store.ts';
import { keyOf, type Resource } from '#core/ports/resource-store.ts';
import type { ReconcileContext, Reconciler, ReconcileResult } from '../../runtime/controller.ts';
import { dependencyStatus, referencedBy } from '../../runtime/dependencies.ts';
import { QUARRY_KINDS } from '../../runtime/kinds.ts';
import { assertValid, refsTo } from '../shared.ts';
import { BUCKET_CREATED_ANNOTATION, bucketLocation, ownStorage, type Bucket, type S3Target } from '#engine/objects/bucket-plan.ts';
import { claimFor, ownedClaim } from '#engine/objects/storage-claims.ts';
import { checkEndpoint, endpointTrusted, guardedLookup, storagePolicyFromEnv, touchesSharedStorage, type StoragePolicy } from '#engine/objects/storage-policy.ts';
import { handOverCreation, isClaimKey, releaseClaim } from '#engine/objects/storage-ownership.ts';
import { secretRefAllowed, secretRefFix } from '#core/lib/secret-refs.ts';

export interface BucketDeps {
  /** Undefined when no object store is configured: Buckets say so instead of pretending. */
  objectStore: ObjectStore | undefined;
  /** S3 clients for Buckets with their own endpoint/credentials; without it such Buckets are not Ready (and say so). */
  objectStoreFor?: (target: S3Target) => ObjectStore;
  concurrency?: number;
  resyncMs?: number;
  /** Listing pages (1000 keys each) counted for status; beyond that the counts are left out. */
  maxCountPages?: number;
  /** What the admin allows (endpoints, shared storage); default: from the environment (storage-policy.ts). */
  storagePolicy?: StoragePolicy;
}

type Secret = Resource & { data?: Record<string, string> };

export function bucketReconciler(deps: BucketDeps): Reconciler<Bucket> {
  const maxPages = deps.maxCountPages ?? 10;
  const policy = deps.storagePolicy ?? storagePolicyFromEnv();
  const clients = new Map<string, ObjectStore>();
  /** Per Bucket uid: the own-storage client with the credentials last read from its Secret, to finish a deletion if the Secret goes first. */
  const lastGood = new Map<string, ObjectStore>();

  /** The object store holding this Bucket, or why there is none. */
  async function storeFor(obj: Bucket, ctx: ReconcileContext): Promise<{ os: ObjectStore } | { blocked: ReconcileResult['ready'] }> {
    if (!ownStorage(obj)) {
      return deps.objectStore
        ? { os: deps.objectStore }
        : { blocked: { status: 'False', reason: 'ObjectStoreNotConfigured', message: 'no object store is configured for the operator (S3_ENDPOINT / QUARRY_OBJECT_STORE)' } };
    }
    if (!deps.objectStoreFor) {
      return { blocked: { status: 'False', reason: 'UnsupportedStorage', message: 'this operator cannot open S3 clients per Bucket: remove spec.storage.endpoint/region/credentialsSecretRef' } };
    }
    const st = obj.spec.storage ?? {};
    const ref = st.credentialsSecretRef;
    let untrusted = false;
    if (st.endpoint) {
      const refusal = await checkEndpoint(st.endpoint, !!ref, policy);
      if (refusal) return { blocked: { status: 'False', ...refusal } };
      untrusted = !endpointTrusted(st.endpoint, policy);
    }
    const target: S3Target = {
      ...(st.endpoint ? { endpoint: st.endpoint } : {}),
      ...(st.region ? { region: st.region } : {}),
      ...(st.forcePathStyle !== undefined ? { forcePathStyle: st.forcePathStyle } : {}),
    };
    if (ref) {
      const ns = obj.metadata.namespace ?? '';
      // A Secret the Bucket may not use is reported like a missing one: the status tells a tenant nothing about
      // which Secrets exist (and a deletion falls back to the credentials last seen working, as for a deleted one).
      const owners = [obj.spec.namespaceRef];
      const secret = await ctx.store.get<Secret>('Secret', { namespace: ns, name: ref.name });
      if (!secret || !secretRefAllowed(owners, ref.name, secret.metadata.labels)) {
        const message = `Secret ${ns}/${ref.name} (spec.storage.credentialsSecretRef) does not exist, or is not one QuarryNamespace '${obj.spec.namespaceRef}' may use: ${secretRefFix(owners, ref.name, ns)}`;
        return { blocked: { status: 'False', reason: 'CredentialsSecretNotFound', message } };
      }
      const idKey = ref.accessKeyIdKey ?? 'accessKeyId';
      const secretKey = ref.secretAccessKeyKey ?? 'secretAccessKey';
      const value = (k: string) => (secret.data?.[k] ? Buffer.from(secret.data[k], 'base64').toString() : undefined);
      const accessKeyId = value(idKey);
      const secretAccessKey = value(secretKey);
      if (!accessKeyId || !secretAccessKey) {
        return { blocked: { status: 'False', reason: 'CredentialsSecretInvalid', message: `Secret ${ns}/${ref.name} lacks key ${!accessKeyId ? idKey : secretKey} (spec.storage.credentialsSecretRef)` } };
      }
      Object.assign(target, { accessKeyId, secretAccessKey });
    }
    const key = JSON.stringify({ ...target, untrusted });
    if (untrusted) target.lookup = guardedLookup(policy);
    let os = clients.get(key);
    if (!os) {
      os = deps.objectStoreFor(target);
      clients.set(key, os);
    }
    if (ref) lastGood.set(obj.metadata.uid ?? keyOf(obj), os);
    return { os };
  }
  return {
    kind: QUARRY_KINDS.find((k) => k.kind === 'Bucket')!,
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.resyncMs ? { resyncMs: deps.resyncMs } : {}),
    watches: [referencedBy('QuarryNamespace', 'Bucket', (b) => [(b.spec as Bucket['spec'])?.namespaceRef ?? ''])],

    async reconcile(obj, ctx) {
      assertValid(obj);
      const loc = bucketLocation(obj);
      const status = { storage: { bucket: loc.bucket, prefix: loc.prefix } };
      const dep = dependencyStatus(ctx.cache, refsTo(obj, 'QuarryNamespace', [obj.spec.namespaceRef]));
      if (!dep.ready) return { ready: dep.result, status };
      const resolved = await storeFor(obj, ctx);
      if ('blocked' in resolved) {
        // Operator configuration or a Secret to fix, not a spec change: Stalled (kstatus Failed), re-checked every 30 s.
        return { ready: { ...resolved.blocked, message: `${resolved.blocked.message}; cannot provision ${loc.bucket}` }, status, requeueAfter: 30_000, stalled: true };
      }
      const os = resolved.os;
      const ext = <T>(op: string, fn: () => Promise<T>) => ctx.metrics.external('object-store', op, fn);
      let exists = await ext('exists', () => os.bucketExists(loc.bucket));
      let createdNow = false;
      if (!exists && loc.source !== 'existingBucketName') {
        // The marker goes first: a crash after it but before the create finds marker + bucket = ours on restart.
        if (!loc.owned) await ctx.annotate({ [BUCKET_CREATED_ANNOTATION]: loc.bucket });
        await ext('ensure', () => os.ensureBucket(loc.bucket));
        ctx.event('Normal', 'CreatedExternalResource', `S3 bucket ${loc.bucket}`);
        createdNow = true;
        exists = await ext('exists', () => os.bucketExists(loc.bucket));
      }
      if (!exists) {
        return {
          ready: {
            status: 'False',
            reason: loc.source === 'existingBucketName' ? 'ExistingBucketNotFound' : 'BucketMissing',
            message:
              loc.source === 'existingBucketName'
                ? `S3 bucket ${loc.bucket} (spec.storage.existingBucketName) does not exist or is not visible with the operator's credentials`
                : `S3 bucket ${loc.bucket} does not exist after creating it`,
          },
          status,
          requeueAfter: 30_000,
        };
      }
      // Claim it before counting anything there: another Bucket's storage is refused, never counted.
      const own = await ext('claim', () => claimFor(obj, os, ctx.cache, policy, createdNow));
      if ('refused' in own) return { ready: own.refused, status, requeueAfter: 30_000, stalled: true };
      // Reachability and size in one: list the prefix (a bounded number of pages), claims aside.
      let objectCount = 0;
      let totalSizeBytes = 0;
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await ext('list', () => os.list(loc.bucket, { ...(loc.prefix ? { prefix: loc.prefix } : {}), maxKeys: 1000, ...(token ? { token } : {}) }));
        for (const o of page.objects) {
          if (isClaimKey(o.key)) continue;
          objectCount++;
          totalSizeBytes += o.size;
        }
        token = page.nextToken;
        pages++;
      } while (token && pages < maxPages);
      const counted = token === undefined ? { objectCount, totalSizeBytes } : {};
      const deletes = 'shared' in own ? 'nothing in it is' : loc.prefix ? `only the objects under ${loc.prefix} are` : 'nothing in it is';
      const notOurs =
        'shared' in own
          ? `; it is shared by the cluster admin (QUARRY_SHARED_STORAGE), so nothing in it is deleted with this Bucket`
          : loc.source === 'bucketName' && !own.claim.created
            ? `; it existed before and Quarry did not create it, so it is not deleted with this Bucket (${deletes})`
            : '';
      // The operator's part works, but the engine writes blobs only to its own configured object store
      // (engine/src/ingestion/namespace-view.ts refuses objects for such a Bucket): Ready, and honest about it.
      const engineRefuses = ownStorage(obj)
        ? '; the engine stores objects only on its configured object store, so objects cannot be added to this Bucket (spec.storage.endpoint/region/credentialsSecretRef)'
        : '';
      return {
        ready: { status: 'True', reason: 'BucketReady', message: `S3 bucket ${loc.bucket}${loc.prefix ? ` prefix ${loc.prefix}` : ''} is reachable${notOurs}${engineRefuses}` },
        status: { ...status, ...counted },
      };
    },

    async finalize(obj, ctx) {
      const uid = obj.metadata.uid ?? keyOf(obj);
      if (obj.spec?.deletionPolicy === 'Retain') {
        lastGood.delete(uid);
        return { done: true };
      }
      const loc = bucketLocation(obj);
      const resolved = await storeFor(obj, ctx);
      if ('blocked' in resolved) {
        if (resolved.blocked.reason === 'EndpointNotAllowed') {
          // The operator never connected there, so this Bucket owns nothing there.
          ctx.event('Normal', 'ExternalResourceKept', `nothing deleted: ${resolved.blocked.message}`);
          lastGood.delete(uid);
          return { done: true };
        }
        if (resolved.blocked.reason !== 'CredentialsSecretNotFound') {
          throw new Error(`${resolved.blocked.message}: cannot delete S3 bucket ${loc.bucket} (set deletionPolicy: Retain to keep it)`);
        }
        // The Secret went first (e.g. `kubectl delete namespace`): waiting for it would hold the finalizer forever.
        // Clean up with the credentials last seen working for this Bucket, if this process has them; otherwise (or
        // if they fail) say exactly what is left in S3 and let the Bucket go.
        let failure = '';
        const cached = lastGood.get(uid);
        if (cached) {
          try {
            await cleanup(obj, cached, ctx);
            lastGood.delete(uid);
            return { done: true };
          } catch (err) {
            failure = ` (the credentials last read from it failed: ${err instanceof Error ? err.message : String(err)})`;
          }
        }
        lastGood.delete(uid);
        const ref = obj.spec.storage?.credentialsSecretRef?.name ?? '';
        ctx.event(
          'Warning',
          'ExternalResourceKept',
          `S3 bucket ${loc.bucket}${loc.prefix ? ` (objects under ${loc.prefix})` : ''} at ${obj.spec.storage?.endpoint ?? 'the default S3 endpoint'} is left in place: ` +
            `the credentials Secret ${obj.metadata.namespace ?? ''}/${ref} (spec.storage.credentialsSecretRef) is gone, so Quarry cannot delete it${failure}; delete it yourself if unwanted`,
        );
        return { done: true };
      }
      await cleanup(obj, resolved.os, ctx);
      lastGood.delete(uid);
      return { done: true };
    },
  };

  /** Deletes what deletionPolicy Delete removes for this Bucket (see the file comment): only what it owns. */
  async function cleanup(obj: Bucket, os: ObjectStore, ctx: ReconcileContext): Promise<void> {
    const loc = bucketLocation(obj);
    const ext = <T>(op: string, fn: () => Promise<T>) => ctx.metrics.external('object-store', op, fn);
    if (!(await ext('exists', () => os.bucketExists(loc.bucket)))) return;
    const at = `${loc.bucket}${loc.prefix ? `/${loc.prefix}` : ''}`;
    if (touchesSharedStorage(policy, loc.bucket, loc.prefix)) {
      ctx.event('Normal', 'ExternalResourceKept', `S3 bucket ${at} is shared by the cluster admin (QUARRY_SHARED_STORAGE): nothing deleted`);
      return;
    }
    const claim = await ext('claim', () => ownedClaim(obj, os));
    if (!claim) {
      // Nothing under its prefix (claims aside): a run killed after emptying it and releasing the claim, or a Bucket
      // that never stored anything. Either way nothing of the user's is kept, and "not owned" would mislead.
      const left = loc.prefix ? (await ext('list', () => os.list(loc.bucket, { prefix: loc.prefix, maxKeys: 5 }))).objects.filter((o) => !isClaimKey(o.key)) : undefined;
      if (wasServed(obj) || (left && left.length === 0)) {
        // It was Ready, so it held the claim: a run killed between releasing it and dropping the finalizer already
        // deleted what this Bucket owned. Saying "not owned" here would tell the user their data was kept.
        ctx.event('Normal', 'DeletedExternalResource', `S3 bucket ${at}: nothing left to delete (already cleaned up and released by an earlier run, or never written)`);
        return;
      }
      ctx.event('Normal', 'ExternalResourceKept', `S3 bucket ${at} is not owned by this Bucket: nothing deleted`);
      return;
    }
    const uid = obj.metadata.uid ?? '';
    // A bucket named as existingBucketName is the user's to keep, whoever created it.
    const created = claim.created === true && loc.source !== 'existingBucketName';
    if (created && !loc.prefix) {
      // The whole bucket was this Bucket's (no other Bucket can claim inside it).
      await ext('delete', () => os.deleteBucket(loc.bucket, { force: true }));
      ctx.event('Normal', 'DeletedExternalResource', `S3 bucket ${loc.bucket}`);
    } else if (created) {
      // Our blobs are under the prefix; the bucket goes too unless something else (another Bucket's prefix, or
      // its claim) is left in it.
      const n = await ext('delete-prefix', () => os.deletePrefix(loc.bucket, loc.prefix));
      await ext('hand-over', () => handOverCreation(os, loc.bucket, uid));
      await ext('release', () => releaseClaim(os, loc.bucket, uid));
      try {
        await ext('delete', () => os.deleteBucket(loc.bucket));
        ctx.event('Normal', 'DeletedExternalResource', `S3 bucket ${loc.bucket} (${n} objects under ${loc.prefix})`);
      } catch (err) {
        if ((err as { type?: string }).type !== 'AlreadyExistsError') throw err;
        ctx.event('Normal', 'DeletedExternalResource', `${n} objects under ${loc.bucket}/${loc.prefix}; the bucket holds other data and is kept`);
      }
    } else if (loc.prefix) {
      // A bucket Quarry did not create (existingBucketName, or a bucketName that already existed): only our prefix.
      const n = await ext('delete-prefix', () => os.deletePrefix(loc.bucket, loc.prefix));
      await ext('release', () => releaseClaim(os, loc.bucket, uid));
      ctx.event('Normal', 'DeletedExternalResource', `${n} objects under ${loc.bucket}/${loc.prefix}; S3 bucket ${loc.bucket} is kept (Quarry did not create it)`);
    } else {
      await ext('release', () => releaseClaim(os, loc.bucket, uid));
      ctx.event('Normal', 'ExternalResourceKept', `S3 bucket ${loc.bucket} was not created by Quarry and this Bucket has no prefix: nothing deleted`);
    }
  }
}

/** The Bucket reached Ready on its own storage, which takes holding its claim (claimFor) or admin-shared storage. */
function wasServed(obj: Bucket): boolean {
  const conds = (obj.status as { conditions?: { type: string; status: string; reason?: string }[] } | undefined)?.conditions ?? [];
  return conds.some((c) => c.type === 'Ready' && c.status === 'True' && c.reason === 'BucketReady');
}
