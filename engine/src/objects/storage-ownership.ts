/**
 * Who owns which storage (S3 bucket + key prefix): the record that lets a Bucket touch only what it owns.
 *
 * Ownership is recorded IN the storage, so it holds across Kubernetes namespaces, operators and restarts: a claim
 * is a small JSON object `.quarry-owners/<Bucket uid>.json` at the root of the S3 bucket, carrying the owning
 * Bucket's uid, Kubernetes namespace, name and key prefix. It is written before the Bucket counts, lists or
 * deletes anything there. Two claims conflict when their prefixes overlap as strings (one is a prefix of the
 * other; the empty prefix is the whole bucket), so nested prefixes are overlaps too. When two Buckets claim at
 * the same moment, the earlier claim (claimedAt, then uid) stands and the other withdraws.
 *
 * The claim objects are not data: status counts skip them, and a prefix reaching into `.quarry-owners/` is refused.
 */
import type { ObjectStore } from '../ports/object-store.ts';

/** Where claims live in every S3 bucket Quarry uses. */
export const OWNERS_DIR = '.quarry-owners/';

/** The Bucket resource a claim belongs to. */
export interface StorageOwner {
  uid: string;
  /** Kubernetes namespace of the Bucket (local mode: the local pseudo namespace). */
  namespace: string;
  name: string;
}

export interface StorageClaim extends StorageOwner {
  bucket: string;
  prefix: string;
  claimedAt: string;
  /**
   * The S3 bucket's name is derived from this Bucket's own namespace and name (Quarry's default bucket): such a
   * claim comes before any other, so nobody can squat a default bucket before its Bucket exists.
   */
  natural?: boolean;
  /** Quarry created the S3 bucket for this Bucket (it may delete the bucket, not only its prefix). */
  created?: boolean;
}

/** One is a (string) prefix of the other: they share keys. '' is the whole bucket and overlaps everything. */
export const prefixesOverlap = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);

/** A claim object, not data: skipped when counting and never handed out as an object. */
export const isClaimKey = (key: string): boolean => key.startsWith(OWNERS_DIR);

/** A non-empty prefix that reaches into the claims folder (or contains it) would let a Bucket count or empty claims. */
export const reachesClaims = (prefix: string): boolean => prefix !== '' && prefixesOverlap(prefix, OWNERS_DIR);

const claimKey = (uid: string) => `${OWNERS_DIR}${encodeURIComponent(uid)}.json`;

const MAX_CLAIM_BYTES = 4096;

async function readClaim(os: ObjectStore, bucket: string, key: string): Promise<StorageClaim | undefined> {
  try {
    const { body } = await os.get(bucket, key);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of body) {
      size += (c as Buffer).length;
      if (size > MAX_CLAIM_BYTES) {
        body.destroy();
        return undefined;
      }
      chunks.push(c as Buffer);
    }
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<StorageClaim>;
    if (typeof v.uid !== 'string' || typeof v.prefix !== 'string') return undefined;
    return {
      uid: v.uid,
      namespace: String(v.namespace ?? ''),
      name: String(v.name ?? ''),
      bucket,
      prefix: v.prefix,
      claimedAt: String(v.claimedAt ?? ''),
      ...(v.natural ? { natural: true } : {}),
      ...(v.created ? { created: true } : {}),
    };
  } catch (err) {
    // Gone between the listing and the read (withdrawn or released): no claim.
    if ((err as { type?: string }).type === 'NotFoundError' || (err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/** Every claim recorded in an S3 bucket (a few objects: one per Bucket storing there). */
export async function readClaims(os: ObjectStore, bucket: string): Promise<StorageClaim[]> {
  const out: StorageClaim[] = [];
  let token: string | undefined;
  do {
    const page = await os.list(bucket, { prefix: OWNERS_DIR, maxKeys: 1000, ...(token ? { token } : {}) });
    for (const o of page.objects) {
      const c = await readClaim(os, bucket, o.key);
      if (c) out.push(c);
    }
    token = page.nextToken;
  } while (token);
  return out;
}

/** The order in which overlapping claims stand: natural first, then the earlier claimedAt, then uid. */
const before = (a: StorageClaim, b: StorageClaim) =>
  !!a.natural !== !!b.natural ? !!a.natural : a.claimedAt === b.claimedAt ? a.uid < b.uid : a.claimedAt < b.claimedAt;

export type ClaimOutcome =
  /** `owner` holds the claim; `adopted` when it took over one left by an earlier Bucket of the same namespace/name. */
  | { owned: true; claim: StorageClaim; adopted: boolean }
  /** Another Bucket owns an overlapping part. Its identity is deliberately not returned: callers must not show it. */
  | { owned: false };

export interface ClaimOptions {
  /** The S3 bucket's name is derived from the owner's namespace and name (see StorageClaim.natural). */
  natural?: boolean;
  /** Quarry created the S3 bucket for the owner (recorded in the claim; kept once recorded). */
  created?: boolean;
  /**
   * Claims to disregard: ones whose Bucket is known to be alive and now stores elsewhere (it moved, leaving its old
   * claim behind). Claims of Buckets the caller cannot see always count.
   */
  stale?: (c: StorageClaim) => boolean;
  /** False: make no first claim (an older Bucket without a claim yet uses the same storage). Default true. */
  mayClaimFirst?: boolean;
  now?: () => Date;
}

/**
 * Claims (bucket, prefix) for `owner`, or reports that another Bucket owns an overlapping part. Idempotent: an
 * existing claim of `owner` is kept (its claimedAt with it) or moved to a new prefix. A claim left by a deleted
 * Bucket with the same Kubernetes namespace and name (deletionPolicy Retain, then re-created) is adopted.
 */
export function claimStorage(os: ObjectStore, bucket: string, prefix: string, owner: StorageOwner, opts: ClaimOptions = {}): Promise<ClaimOutcome> {
  return serialized(os, bucket, () => claimOnce(os, bucket, prefix, owner, opts));
}

/**
 * Claims on one S3 bucket are made one at a time in this process (the operator, leader-elected, is the only one
 * making them): S3 has no compare-and-set across keys, so two concurrent write-then-read rounds can each miss the
 * other's write in flight. The re-read after writing still settles races with another process.
 */
const queues = new WeakMap<ObjectStore, Map<string, Promise<unknown>>>();
function serialized<T>(os: ObjectStore, bucket: string, fn: () => Promise<T>): Promise<T> {
  let perStore = queues.get(os);
  if (!perStore) queues.set(os, (perStore = new Map()));
  const prev = perStore.get(bucket) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  perStore.set(bucket, tail);
  void tail.then(() => {
    if (perStore.get(bucket) === tail) perStore.delete(bucket);
  });
  return run;
}

async function claimOnce(os: ObjectStore, bucket: string, prefix: string, owner: StorageOwner, opts: ClaimOptions): Promise<ClaimOutcome> {
  const relevant = (c: StorageClaim) => c.uid !== owner.uid && prefixesOverlap(c.prefix, prefix) && !opts.stale?.(c);
  const claims = await readClaims(os, bucket);
  const mine = claims.find((c) => c.uid === owner.uid);
  const kept = mine && mine.prefix === prefix ? mine : undefined;
  // A claim by the same namespace/name is an earlier incarnation of this Bucket (names are unique while it lives).
  const predecessors = claims.filter((c) => relevant(c) && c.namespace === owner.namespace && c.name === owner.name);
  const others = claims.filter((c) => relevant(c) && !predecessors.includes(c));
  const claim: StorageClaim = {
    ...owner,
    bucket,
    prefix,
    claimedAt: kept?.claimedAt ?? predecessors.map((p) => p.claimedAt).sort()[0] ?? (opts.now?.() ?? new Date()).toISOString(),
    ...(opts.natural ? { natural: true } : {}),
    ...(opts.created || kept?.created || predecessors.some((p) => p.created) ? { created: true } : {}),
  };
  if (others.some((o) => before(o, claim))) {
    // The earliest claim on overlapping storage stands; a later one of ours (a lost race) is withdrawn.
    if (kept) await os.delete(bucket, claimKey(owner.uid));
    return { owned: false };
  }
  if (!kept && !predecessors.length && opts.mayClaimFirst === false && !opts.natural) return { owned: false };
  const same = kept && !predecessors.length && !!kept.natural === !!claim.natural && !!kept.created === !!claim.created;
  if (same) return { owned: true, claim: kept, adopted: false };
  await os.put(bucket, claimKey(owner.uid), Buffer.from(JSON.stringify(claim)), { contentType: 'application/json' });
  for (const p of predecessors) await os.delete(bucket, claimKey(p.uid));
  // Two first claims at the same moment: both are written; the earlier one stands, the other withdraws.
  const rivals = (await readClaims(os, bucket)).filter(relevant);
  if (rivals.some((r) => before(r, claim))) {
    await os.delete(bucket, claimKey(owner.uid));
    return { owned: false };
  }
  return { owned: true, claim, adopted: predecessors.length > 0 };
}

/** `uid`'s claim in `bucket`, if it is recorded there for `prefix`. */
export async function heldClaim(os: ObjectStore, bucket: string, prefix: string, uid: string): Promise<StorageClaim | undefined> {
  const c = await readClaim(os, bucket, claimKey(uid));
  return c && c.prefix === prefix ? c : undefined;
}

/**
 * The Bucket that made Quarry create this S3 bucket is leaving while other Buckets still store under their own
 * prefixes: each of them is recorded as "created" too, so the last one out deletes the bucket (when nothing else is
 * in it) instead of leaving an empty bucket nobody will ever delete. Claims are written only by the operator, so
 * this is not something a tenant can forge. Done before `fromUid` releases its claim: a crash in between leaves the
 * flag on the others and the creator's claim, never on nobody.
 */
export function handOverCreation(os: ObjectStore, bucket: string, fromUid: string): Promise<void> {
  return serialized(os, bucket, async () => {
    for (const c of await readClaims(os, bucket)) {
      if (c.uid === fromUid || c.created) continue;
      await os.put(bucket, claimKey(c.uid), Buffer.from(JSON.stringify({ ...c, created: true })), { contentType: 'application/json' });
    }
  });
}

/** Removes `uid`'s claim (after its data is gone, or when it lets the storage go). */
export async function releaseClaim(os: ObjectStore, bucket: string, uid: string): Promise<void> {
  await os.delete(bucket, claimKey(uid));
}
