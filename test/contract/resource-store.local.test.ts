/** The ResourceStore contract on local mode's LocalResourceStore (persisted under a temp data directory). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { resourceStoreContract } from './resource-store.contract.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'quarry-rs-local-'));
const file = path.join(dir, 'resources.json');

resourceStoreContract('LocalResourceStore', async () => {
  const base = new LocalResourceStore({ file });
  return { store: (m) => base.as(m), namespace: 'contract', cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

test('LocalResourceStore: state survives a reopen (objects, status, finalizers, versions) and resourceVersions keep growing', async () => {
  const d = mkdtempSync(path.join(tmpdir(), 'quarry-rs-reopen-'));
  try {
    const f = path.join(d, 'resources.json');
    const a = new LocalResourceStore({ file: f });
    const key = { namespace: 'n', name: 'b' };
    await a.apply({ apiVersion: 'quarry.dev/v1alpha1', kind: 'Bucket', metadata: { name: 'b', namespace: 'n' }, spec: { namespaceRef: 'x', schema: { properties: { t: { type: 'string' } } } } });
    await a.addFinalizer('Bucket', key, 'quarry.dev/finalizer');
    const last = await a.applyStatus('Bucket', key, { observedGeneration: 1 });
    const b = new LocalResourceStore({ file: f });
    const again = await b.get('Bucket', key);
    assert.deepEqual(again, last);
    const next = await b.applyStatus('Bucket', key, { observedGeneration: 2 });
    assert.ok(Number(next.metadata.resourceVersion) > Number(last.metadata.resourceVersion));
    // The field manager's ownership survived too: leaving the spec out releases it (and validation says so).
    await assert.rejects(
      b.apply({ apiVersion: 'quarry.dev/v1alpha1', kind: 'Bucket', metadata: { name: 'b', namespace: 'n' } }),
      (err: Error) => err.message.includes('spec'),
    );
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
