/**
 * Issue 14 item 4, at the store: an apply whose body carries an own `__proto__` / `constructor` / `prototype` key
 * (as JSON.parse and YAML produce them) is refused as Invalid, and Object.prototype stays untouched, whichever
 * route the intent came from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { ResourceStoreError, type ApplyIntent } from '#core/ports/resource-store.ts';

test('LocalResourceStore.apply refuses prototype keys at any depth and never writes through to Object.prototype', async () => {
  const store = new LocalResourceStore({ fieldManager: 'test' });
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    const intent = JSON.parse(
      `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","namespace":"local","labels":{"${key}":"x"}},"data":{"a":{"${key}":{"polluted":"yes"}}}}`,
    ) as ApplyIntent;
    await assert.rejects(store.apply(intent), (err: unknown) => err instanceof ResourceStoreError && err.reason === 'Invalid' && err.message.includes(key));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(await store.get('ConfigMap', { namespace: 'local', name: 'cm' }), undefined);
  }
});
