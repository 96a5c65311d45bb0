/**
 * Start-up reconciliation after a crash (kill -9 mid-ingestion, issue 14 item 17). Creating an object stores its
 * blobs first and records the object after; uploads store bytes under `_uploads/<upload id>/` after recording the
 * upload. A crash in between leaves blobs no record points at: they are never listed, never extracted, never
 * deleted with an object, and the operator counts them in the Bucket's object_count. On start, before the
 * operator counts anything, every Bucket's storage is swept: keys `<prefix><object id>/…` without an `object.<id>`
 * record and `<prefix>_uploads/<upload id>/…` without an `upload.<id>` record, written before `olderThan`, are
 * deleted. Storage the Bucket does not own (refused by the operator, shared by the admin, on its own endpoint) and
 * namespaces whose state is empty (nothing to compare with) are left alone.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { logger } from '../lib/log.ts';
import { stateBucketName } from '../naming.ts';
import type { JobQueue } from '../ports/job-queue.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import type { ResourceStore } from '../ports/resource-store.ts';
import { bucketLocation, ownStorage, type Bucket } from './bucket-plan.ts';
import { storageRefused } from './storage-claims.ts';
import { touchesSharedStorage, storagePolicyFromEnv } from './storage-policy.ts';
import { isClaimKey } from './storage-ownership.ts';

const log = logger('crash-recovery');

const OBJECT_KEY = /^(obj_[0-9a-f]+)\//;
const UPLOAD_KEY = /^_uploads\/(upl_[0-9a-f]+)\//;

export interface SweepOptions {
  store: ResourceStore;
  k8sNamespace: string;
  objects: ObjectStore;
  queue: JobQueue;
  /** Only keys written before this are considered (a live create's blobs precede its record by moments). */
  olderThan: Date;
  env?: NodeJS.ProcessEnv;
}

/** Deletes the blobs no object or upload record points at; returns how many. */
export async function sweepOrphanBlobs(o: SweepOptions): Promise<number> {
  const policy = storagePolicyFromEnv(o.env);
  let removed = 0;
  for (const b of await o.store.list<Bucket>('Bucket', { namespace: o.k8sNamespace })) {
    if (b.metadata.deletionTimestamp || ownStorage(b) || storageRefused(b) || !b.spec?.namespaceRef) continue;
    const loc = bucketLocation(b);
    if (touchesSharedStorage(policy, loc.bucket, loc.prefix) || !(await o.objects.bucketExists(loc.bucket))) continue;
    const kv = await o.queue.kv(stateBucketName({ k8sNamespace: o.k8sNamespace, name: b.spec.namespaceRef }));
    if ((await kv.keys()).length === 0) continue; // no state to compare with: never guess
    const known = new Map<string, boolean>();
    const has = async (key: string) => {
      if (!known.has(key)) known.set(key, (await kv.get(key)) !== undefined);
      return known.get(key)!;
    };
    let token: string | undefined;
    do {
      const page = await o.objects.list(loc.bucket, { ...(loc.prefix ? { prefix: loc.prefix } : {}), maxKeys: 1000, ...(token ? { token } : {}) });
      for (const obj of page.objects) {
        if (isClaimKey(obj.key) || (obj.lastModified && obj.lastModified >= o.olderThan)) continue;
        const rel = obj.key.slice(loc.prefix.length);
        const objectId = OBJECT_KEY.exec(rel)?.[1];
        const uploadId = UPLOAD_KEY.exec(rel)?.[1];
        const orphan = objectId ? !(await has(`object.${objectId}`)) : uploadId ? !(await has(`upload.${uploadId}`)) : false;
        if (!orphan) continue;
        await o.objects.delete(loc.bucket, obj.key);
        removed++;
      }
      token = page.nextToken;
    } while (token);
  }
  if (removed) log.warn({ removed }, 'deleted blobs left by an interrupted object create or upload');
  return removed;
}

/** Snapshot temp files (`<file>.<pid>.tmp`) a killed process left in a directory (the local job queue's, the resource store's). */
export async function removeStaleSnapshots(dir: string): Promise<number> {
  const files = await readdir(dir).catch(() => [] as string[]);
  let removed = 0;
  for (const f of files) {
    const pid = /\.(\d+)\.tmp$/.exec(f)?.[1];
    if (!pid || Number(pid) === process.pid) continue;
    await rm(path.join(dir, f), { force: true });
    removed++;
  }
  return removed;
}
