/**
 * POST /v1/manifest/apply when the store rejects a write that passed validation (an admission webhook, a
 * conflict): the documented error shape, the store's reason mapped to the status, and the ApplyResult (what was
 * rolled back) in details; the store is left as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { notFound } from '#core/lib/errors.ts';
import { listLive } from '#engine/manifest/index.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import { ResourceStoreError, type ApplyIntent, type ApplyOptions, type ResourceStore } from '#core/ports/resource-store.ts';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { DOCS_SEARCH } from './fixtures.ts';

for (const [reason, status, type] of [
  ['Invalid', 422, 'ValidationError'],
  ['Conflict', 409, 'AlreadyExistsError'],
  ['Unavailable', 500, 'InternalServerError'],
] as const) {
  test(`a ${reason} write is a ${status} ${type} with the rollback reported`, async () => {
    const store = new LocalResourceStore({ fieldManager: 'quarry-engine' });
    const failing: ResourceStore = Object.assign(Object.create(store) as ResourceStore, {
      apply: async (intent: ApplyIntent, o?: ApplyOptions) => {
        if (intent.kind === 'Retriever') throw new ResourceStoreError(reason, status, 'rejected by the test');
        return store.apply(intent, o);
      },
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'quarry-apply-fail-'));
    const app = await buildEngineApp({ objects: new LocalObjectStore({ root: dir }), namespace: async (n) => Promise.reject(notFound('namespace', n)), resources: failing, k8sNamespace: 'local' });
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/manifest/apply', payload: DOCS_SEARCH, headers: { 'content-type': 'application/yaml' } });
      assert.equal(res.statusCode, status, res.body);
      const body = res.json();
      assert.equal(body.success, false);
      assert.equal(body.error.type, type);
      assert.match(body.error.message, /Retriever docs-search/);
      assert.equal(body.error.details.rollback_performed, true);
      assert.equal(body.error.details.rolled_back.length, 5, JSON.stringify(body.error.details.rolled_back));
      assert.equal(body.error.details.failure.reason, reason);
      assert.deepEqual(await listLive(store, 'local'), []);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
