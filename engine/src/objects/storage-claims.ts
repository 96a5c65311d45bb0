/**
 * The Bucket controller's side of storage ownership (engine/src/objects/storage-ownership.ts): which claim a
 * Bucket makes for its location, what it may regard as stale, and what it may delete. Refusals never name the
 * owner: the other Bucket may be in a Kubernetes namespace the user cannot see.
 */
import type { ObjectStore } from '#core/ports/object-store.ts';
import { claimStorage, heldClaim, isClaimKey, OWNERS_DIR, prefixesOverlap, reachesClaims, readClaims, type StorageClaim } from './storage-ownership.ts';
import type { SharedWatches } from '#core/shared-watches.ts';
import { bucketLocation, createdByQuarry, type Bucket, type BucketLocation } from './bucket-plan.ts';
import { isSharedStorage, type StoragePolicy } from './storage-policy.ts';

export interface Refusal {
  status: 'False';
  reason: string;
  message: string;
}

/** Ready=False reasons meaning the Bucket's storage is not its own: the engine must not write there either. */
export const NOT_OWNED_REASONS: ReadonlySet<string> = new Set(['StorageNotOwned', 'InvalidPrefix', 'EndpointNotAllowed']);

/** The operator refused this Bucket's storage (see NOT_OWNED_REASONS). */
export function storageRefused(b: Bucket): boolean {
  const conds = (b.status as { conditions?: { type: string; status: string; reason?: string }[] } | undefined)?.conditions ?? [];
  return conds.some((c) => c.type === 'Ready' && c.status === 'False' && NOT_OWNED_REASONS.has(c.reason ?? ''));
}

export type Ownership = { shared: true } | { claim: StorageClaim } | { refused: Refusal };

const where = (loc: BucketLocation) => `S3 bucket ${loc.bucket}${loc.prefix ? ` prefix ${loc.prefix}` : ''}`;

/** Older first: creationTimestamp, then uid (the order Buckets without claims yet are served in). */
function older(a: Bucket, b: Bucket): boolean {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return ta === tb ? (a.metadata.uid ?? '') < (b.metadata.uid ?? '') : ta < tb;
}

/** Same S3 endpoint and bucket, overlapping prefixes. */
function overlaps(a: Bucket, b: Bucket): boolean {
  const la = bucketLocation(a);
  const lb = bucketLocation(b);
  return (a.spec?.storage?.endpoint ?? '') === (b.spec?.storage?.endpoint ?? '') && la.bucket === lb.bucket && prefixesOverlap(la.prefix, lb.prefix);
}

/** True when the bucket holds no data yet (claims aside). */
async function holdsNoData(os: ObjectStore, bucket: string): Promise<boolean> {
  const page = await os.list(bucket, { maxKeys: 5 });
  return page.objects.every((o) => isClaimKey(o.key));
}

/**
 * Claims `obj`'s storage (or finds it shared by the admin, or refused). `createdNow`: this reconcile just created
 * the S3 bucket for it.
 */
export async function claimFor(obj: Bucket, os: ObjectStore, cache: SharedWatches, policy: StoragePolicy, createdNow: boolean): Promise<Ownership> {
  const loc = bucketLocation(obj);
  if (reachesClaims(loc.prefix)) {
    return {
      refused: {
        status: 'False',
        reason: 'InvalidPrefix',
        message: `spec.storage.prefix '${loc.prefix}' reaches into ${OWNERS_DIR}, where Quarry records which Bucket owns which storage: choose another prefix`,
      },
    };
  }
  if (isSharedStorage(policy, loc.bucket, loc.prefix)) return { shared: true };
  const all = cache.list<Bucket>('Bucket');
  const byUid = new Map(all.map((b) => [b.metadata.uid ?? '', b]));
  const natural = loc.source === 'default';
  // The annotation alone can be set by anyone who can edit the Bucket: it counts only for a bucket without data
  // (the crash window between the annotation and the claim); the claim then records it for good.
  const created = natural || createdNow || (loc.source === 'bucketName' && createdByQuarry(obj, loc.bucket) && (await holdsNoData(os, loc.bucket)));
  const olderRival = all.some((b) => b.metadata.uid !== obj.metadata.uid && !b.metadata.deletionTimestamp && overlaps(b, obj) && older(b, obj));
  const out = await claimStorage(
    os,
    loc.bucket,
    loc.prefix,
    { uid: obj.metadata.uid ?? '', namespace: obj.metadata.namespace ?? '', name: obj.metadata.name },
    {
      natural,
      created,
      mayClaimFirst: !olderRival,
      // A live Bucket that now stores elsewhere left this claim behind when it moved.
      stale: (c) => {
        const b = byUid.get(c.uid);
        if (!b) return false;
        const l = bucketLocation(b);
        return l.bucket !== c.bucket || l.prefix !== c.prefix;
      },
    },
  );
  if (out.owned) return { claim: out.claim };
  return {
    refused: {
      status: 'False',
      reason: 'StorageNotOwned',
      message:
        `${where(loc)} is owned by another Bucket (its prefix overlaps this one's): a Bucket only uses storage it owns. ` +
        `Choose another spec.storage.existingBucketName/bucketName or a prefix that does not overlap, or ask the cluster admin to share it (QUARRY_SHARED_STORAGE)`,
    },
  };
}

/**
 * The claim that lets `obj` delete anything at its location, or undefined (then nothing may be deleted). A default
 * per-Bucket bucket without any claim yet (made before claims existed) is Quarry's by its name.
 */
export async function ownedClaim(obj: Bucket, os: ObjectStore): Promise<StorageClaim | undefined> {
  const loc = bucketLocation(obj);
  const uid = obj.metadata.uid ?? '';
  const held = await heldClaim(os, loc.bucket, loc.prefix, uid);
  if (held) return held;
  if (loc.source !== 'default') return undefined;
  const others = (await readClaims(os, loc.bucket)).filter((c) => c.uid !== uid);
  if (others.length) return undefined;
  return { uid, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name, bucket: loc.bucket, prefix: loc.prefix, claimedAt: '', natural: true, created: true };
}
