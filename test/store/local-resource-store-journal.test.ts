/**
 * Issue 14 item 11, at the store: the local store's writes are incremental (an append-only journal folded into the
 * snapshot when it outgrows it), so thousands of writes cost about the size of what changed, not thousands of
 * rewrites of the whole file; the state survives a reopen (snapshot + journal), and a journal line cut short by a
 * crash is dropped without losing the rest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';

const N = 3000;
const bucket = (i: number) => ({
  apiVersion: 'quarry.dev/v1alpha1',
  kind: 'Bucket',
  metadata: { name: `b-${i}`, namespace: 'local' },
  spec: { namespaceRef: 'ns', description: `bucket ${i} `.padEnd(1000, 'x'), schema: { properties: { body: { type: 'text' } } } },
});

test(`${N} applies, status writes and deletes on a file-backed store take seconds, and a reopen sees exactly the result`, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-journal-'));
  try {
    const file = path.join(dir, 'resources.json');
    const store = new LocalResourceStore({ file });
    const t0 = Date.now();
    for (let i = 0; i < N; i++) await store.apply(bucket(i));
    for (let i = 0; i < N; i += 2) await store.applyStatus('Bucket', { namespace: 'local', name: `b-${i}` }, { observedGeneration: 1 });
    for (let i = 0; i < N; i += 3) await store.delete('Bucket', { namespace: 'local', name: `b-${i}` });
    const ms = Date.now() - t0;
    // Rewriting the whole state per write (the old behaviour) wrote ~10 GB here and took minutes.
    assert.ok(ms < 30_000, `${N * 1.83} writes took ${ms} ms`);
    const disk = store.state.diskUsage();
    assert.ok(disk.journal <= Math.max(1024 * 1024, disk.snapshot) + 4096, `the journal is compacted: ${JSON.stringify(disk)}`);

    const live = await store.list('Bucket', { namespace: 'local' });
    assert.equal(live.length, N - Math.ceil(N / 3));
    const reopened = new LocalResourceStore({ file });
    assert.deepEqual(await reopened.list('Bucket', { namespace: 'local' }), live, 'snapshot + journal give back the same state');
    const rv = Number((await reopened.apply({ ...bucket(1), spec: { ...bucket(1).spec, description: 'changed' } })).metadata.resourceVersion);
    assert.ok(rv > Math.max(...live.map((o) => Number(o.metadata.resourceVersion))), 'resourceVersions keep growing after a reopen');

    // A crash mid-append leaves a partial last line: it is dropped, everything before it stays.
    appendFileSync(`${file}.journal`, '{"key":"Bucket|local|b-1","rv":99999,"entry":{"obj');
    const afterCrash = new LocalResourceStore({ file });
    assert.equal((await afterCrash.get('Bucket', { namespace: 'local', name: 'b-1' }))?.spec?.description, 'changed');
    assert.equal((await afterCrash.list('Bucket', { namespace: 'local' })).length, live.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
