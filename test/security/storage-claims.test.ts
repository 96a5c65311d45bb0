/**
 * The claim records of storage ownership (engine/src/objects/storage-ownership.ts) on a real (local-disk) object
 * store: of two Buckets claiming overlapping storage at the same moment exactly one owns it; nested prefixes
 * conflict and disjoint ones do not; the Bucket a default bucket's name derives from beats an earlier squatter; a
 * re-created Bucket (same namespace and name) adopts its predecessor's claim; a claim left by a live Bucket that moved
 * is disregarded when the caller says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { claimStorage, readClaims } from '#engine/objects/storage-ownership.ts';

async function withStore(fn: (os: LocalObjectStore) => Promise<void>) {
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-claims-'));
  const os = new LocalObjectStore({ root: dir });
  await os.ensureBucket('bkt-one');
  try {
    await fn(os);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const who = (uid: string, namespace = 'ns', name = uid) => ({ uid, namespace, name });

test('concurrent claims on the same storage: exactly one owns it, and only its claim is left', () =>
  withStore(async (os) => {
    for (let round = 0; round < 10; round++) {
      const b = `bkt-race-${round}`;
      await os.ensureBucket(b);
      const outs = await Promise.all(['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((u) => claimStorage(os, b, 'data/', who(u))));
      assert.equal(outs.filter((o) => o.owned).length, 1, `round ${round}: ${JSON.stringify(outs)}`);
      assert.equal((await readClaims(os, b)).length, 1);
    }
  }));

test('nested prefixes conflict, disjoint ones do not; re-claiming is idempotent', () =>
  withStore(async (os) => {
    assert.equal((await claimStorage(os, 'bkt-one', 'a/', who('u1'))).owned, true);
    assert.equal((await claimStorage(os, 'bkt-one', 'a/inner/', who('u2'))).owned, false);
    assert.equal((await claimStorage(os, 'bkt-one', '', who('u3'))).owned, false, 'the whole bucket overlaps a/');
    assert.equal((await claimStorage(os, 'bkt-one', 'b/', who('u4'))).owned, true);
    assert.equal((await claimStorage(os, 'bkt-one', 'a/', who('u1'))).owned, true);
    assert.deepEqual((await readClaims(os, 'bkt-one')).map((c) => c.uid).sort(), ['u1', 'u4']);
  }));

test('the natural owner beats an earlier squatter; the same namespace/name adopts a predecessor; stale claims can be disregarded', () =>
  withStore(async (os) => {
    assert.equal((await claimStorage(os, 'bkt-one', '', who('squatter', 'team-b'))).owned, true);
    assert.equal((await claimStorage(os, 'bkt-one', '', who('owner', 'team-a'), { natural: true })).owned, true);
    assert.equal((await claimStorage(os, 'bkt-one', '', who('squatter', 'team-b'))).owned, false, 'the squatter withdraws');

    await os.ensureBucket('bkt-two');
    assert.equal((await claimStorage(os, 'bkt-two', 'p/', who('old-uid', 'team-a', 'keep'), { created: true })).owned, true);
    const back = await claimStorage(os, 'bkt-two', 'p/', who('new-uid', 'team-a', 'keep'));
    assert.ok(back.owned && back.adopted && back.claim.created, JSON.stringify(back));
    assert.deepEqual((await readClaims(os, 'bkt-two')).map((c) => c.uid), ['new-uid']);
    assert.equal((await claimStorage(os, 'bkt-two', 'p/', who('other', 'team-b'))).owned, false);
    assert.equal((await claimStorage(os, 'bkt-two', 'p/', who('other', 'team-b'), { stale: (c) => c.uid === 'new-uid' })).owned, true);
  }));
