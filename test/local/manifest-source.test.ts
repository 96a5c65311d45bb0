/**
 * The manifests folder as local mode's source of truth: applied as field manager quarry-manifests, an invalid
 * resource is reported while the rest applies, an unparsable file holds back deletions (its resources are unknown,
 * not gone), a removed resource is deleted through its finalizers, and a field removed from a file is removed from
 * the object (apply is the folder's full intent).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { ManifestSource } from '#engine/store/manifest-source.ts';

const bucket = (name: string, extra = '') => `apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata:
  name: ${name}
spec:
  namespaceRef: demo
${extra}  schema:
    properties:
      title: {type: string}
`;

test('manifest source: apply, invalid and unparsable files, field removal, deletion through finalizers', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-manifests-'));
  try {
    const store = new LocalResourceStore();
    const src = new ManifestSource({ dir, store, namespace: 'local' });
    writeFileSync(path.join(dir, 'a.yaml'), bucket('one', '  description: first\n'));
    writeFileSync(path.join(dir, 'b.yaml'), `${bucket('two')}---\napiVersion: quarry.dev/v1alpha1\nkind: Bucket\nmetadata:\n  name: broken\nspec:\n  schema: {properties: {t: {type: string}}}\n`);
    writeFileSync(path.join(dir, 'notes.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored}\n');
    const r1 = await src.sync();
    assert.deepEqual(r1.applied.sort(), ['Bucket/local/one', 'Bucket/local/two']);
    assert.equal(r1.errors.length, 1);
    assert.ok(r1.errors[0]!.message.includes('namespaceRef'), r1.errors[0]!.message);
    assert.equal(r1.errors[0]!.resource, 'Bucket/local/broken');
    const one = await store.get('Bucket', { namespace: 'local', name: 'one' });
    assert.equal((one?.spec as { description?: string }).description, 'first');
    assert.deepEqual(store.as('quarry-manifests').owned('Bucket').map((o) => o.name).sort(), ['one', 'two']);

    // The description leaves the file: it leaves the object, and the generation moves.
    writeFileSync(path.join(dir, 'a.yaml'), bucket('one'));
    await src.sync();
    const one2 = await store.get('Bucket', { namespace: 'local', name: 'one' });
    assert.equal((one2?.spec as { description?: string }).description, undefined);
    assert.equal(one2?.metadata.generation, 2);

    // An unparsable file: nothing is deleted this round, even though 'two' is not readable any more.
    await store.addFinalizer('Bucket', { namespace: 'local', name: 'two' }, 'quarry.dev/finalizer');
    writeFileSync(path.join(dir, 'b.yaml'), 'apiVersion: quarry.dev/v1alpha1\nkind: [unclosed\n');
    const r2 = await src.sync();
    assert.equal(r2.deleted.length, 0);
    assert.ok(r2.errors.some((e) => e.file?.endsWith('b.yaml')));
    assert.ok(await store.get('Bucket', { namespace: 'local', name: 'two' }));

    // Removed for real: deleted through its finalizer (held with a deletionTimestamp until the finalizer goes).
    rmSync(path.join(dir, 'b.yaml'));
    const r3 = await src.sync();
    assert.deepEqual(r3.deleted, ['Bucket/local/two']);
    const two = await store.get('Bucket', { namespace: 'local', name: 'two' });
    assert.ok(two?.metadata.deletionTimestamp);
    assert.deepEqual((await src.sync()).deleted, [], 'a deletion in progress is not repeated');
    await store.removeFinalizer('Bucket', { namespace: 'local', name: 'two' }, 'quarry.dev/finalizer');
    assert.equal(await store.get('Bucket', { namespace: 'local', name: 'two' }), undefined);
    await src.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
