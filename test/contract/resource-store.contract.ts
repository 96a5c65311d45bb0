/**
 * The ResourceStore contract (engine/src/ports/resource-store.ts): the write semantics every adapter keeps, run
 * against local mode's LocalResourceStore and the KubeResourceStore on the real kube-apiserver, so the reconcilers
 * see the same behaviour in both. Uses the Bucket kind (quarry.dev CRD, status subresource, schema defaults).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceStoreError, type Resource, type ResourceStore, type WatchEvent } from '#core/ports/resource-store.ts';

export interface ContractEnv {
  /** The store writing as `fieldManager` (all views share the same objects). */
  store(fieldManager: string): ResourceStore;
  namespace: string;
  cleanup(): Promise<void>;
}

type Bucket = Resource<{ namespaceRef: string; description?: string; deletionPolicy?: string; schema: unknown }>;

const API = 'quarry.dev/v1alpha1';
const schema = { properties: { title: { type: 'string' } } };

async function rejects(p: Promise<unknown>, reason: ResourceStoreError['reason'], fragment?: string): Promise<ResourceStoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ResourceStoreError, `expected a ResourceStoreError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    if (fragment) assert.ok(err.message.includes(fragment), `'${err.message}' should mention ${fragment}`);
    return err;
  }
  assert.fail(`expected ${reason}`);
}

async function until(what: string, fn: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function resourceStoreContract(name: string, setup: () => Promise<ContractEnv>): void {
  let env: ContractEnv | undefined;
  const get = async () => (env ??= await setup());
  const bucket = (ns: string, n: string, spec: Record<string, unknown> = {}, labels?: Record<string, string>) => ({
    apiVersion: API,
    kind: 'Bucket',
    metadata: { name: n, namespace: ns, ...(labels ? { labels } : {}) },
    spec: { namespaceRef: 'contract', schema, ...spec },
  });

  test(`${name}: apply creates with uid, resourceVersion, generation 1, creationTimestamp and schema defaults; get/list read it`, async () => {
    const e = await get();
    const s = e.store('contract-a');
    assert.equal(await s.get('Bucket', { namespace: e.namespace, name: 'c-create' }), undefined);
    const created = await s.apply<Bucket>(bucket(e.namespace, 'c-create', { description: 'one' }));
    assert.ok(created.metadata.uid);
    assert.ok(created.metadata.resourceVersion);
    assert.ok(created.metadata.creationTimestamp);
    assert.equal(created.metadata.generation, 1);
    assert.equal(created.spec?.deletionPolicy, 'Delete', 'schema default applied');
    const read = await s.get<Bucket>('Bucket', { namespace: e.namespace, name: 'c-create' });
    assert.equal(read?.metadata.uid, created.metadata.uid);
    assert.equal(read?.spec?.description, 'one');
    const listed = await s.list<Bucket>('Bucket', { namespace: e.namespace });
    assert.ok(listed.some((b) => b.metadata.name === 'c-create' && b.kind === 'Bucket'));
    // Applying the same intent again is a no-op: nothing moves.
    const again = await s.apply<Bucket>(bucket(e.namespace, 'c-create', { description: 'one' }));
    assert.equal(again.metadata.resourceVersion, created.metadata.resourceVersion);
  });

  test(`${name}: apply is one manager's full intent — left-out fields are released, other managers' fields untouched; generation follows the spec only`, async () => {
    const e = await get();
    const a = e.store('contract-a');
    const b = e.store('contract-b');
    const ns = e.namespace;
    const v1 = await a.apply<Bucket>(bucket(ns, 'c-ssa', { description: 'from a' }, { owner: 'a' }));
    const v2 = await b.apply<Bucket>({ apiVersion: API, kind: 'Bucket', metadata: { name: 'c-ssa', namespace: ns, labels: { team: 'b' } } });
    assert.deepEqual(v2.metadata.labels, { owner: 'a', team: 'b' });
    assert.equal(v2.metadata.generation, v1.metadata.generation, 'a label change does not move the generation');
    assert.notEqual(v2.metadata.resourceVersion, v1.metadata.resourceVersion);
    // a leaves out its label and the description: both released and removed; b's label stays.
    const v3 = await a.apply<Bucket>({ apiVersion: API, kind: 'Bucket', metadata: { name: 'c-ssa', namespace: ns }, spec: { namespaceRef: 'contract', schema } });
    assert.deepEqual(v3.metadata.labels, { team: 'b' });
    assert.equal(v3.spec?.description, undefined);
    assert.equal(v3.metadata.generation, (v1.metadata.generation ?? 0) + 1, 'a spec change moves the generation');
  });

  test(`${name}: setting another manager's field to a different value conflicts unless forced`, async () => {
    const e = await get();
    const ns = e.namespace;
    await e.store('contract-a').apply(bucket(ns, 'c-conflict', { description: 'mine' }));
    await rejects(e.store('contract-b').apply(bucket(ns, 'c-conflict', { description: 'theirs' })), 'Conflict', 'description');
    const forced = await e.store('contract-b').apply<Bucket>(bucket(ns, 'c-conflict', { description: 'theirs' }), { force: true });
    assert.equal(forced.spec?.description, 'theirs');
  });

  test(`${name}: applyStatus writes only status (never spec or generation) and never creates; status in an apply is ignored`, async () => {
    const e = await get();
    const s = e.store('contract-a');
    const ns = e.namespace;
    const created = await s.apply<Bucket>({ ...bucket(ns, 'c-status'), status: { observedGeneration: 42 } });
    assert.equal((created.status as Record<string, unknown> | undefined)?.observedGeneration, undefined);
    const st = await s.applyStatus<Bucket>('Bucket', { namespace: ns, name: 'c-status' }, { observedGeneration: 1, conditions: [] , storage: { bucket: 'x', prefix: '' } });
    assert.deepEqual((st.status as { storage?: unknown }).storage, { bucket: 'x', prefix: '' });
    assert.equal(st.metadata.generation, created.metadata.generation);
    assert.deepEqual(st.spec, created.spec);
    assert.notEqual(st.metadata.resourceVersion, created.metadata.resourceVersion);
    await rejects(s.applyStatus('Bucket', { namespace: ns, name: 'c-status-missing' }, { observedGeneration: 1 }), 'NotFound');
    assert.equal(await s.get('Bucket', { namespace: ns, name: 'c-status-missing' }), undefined);
  });

  test(`${name}: finalizers hold a deleted object (deletionTimestamp) until the last is removed; none added while deleting; uid preconditions`, async () => {
    const e = await get();
    const s = e.store('contract-a');
    const ns = e.namespace;
    const key = { namespace: ns, name: 'c-final' };
    const created = await s.apply<Bucket>(bucket(ns, 'c-final'));
    await s.addFinalizer('Bucket', key, 'quarry.dev/one');
    const two = await s.addFinalizer<Bucket>('Bucket', { ...key, uid: created.metadata.uid! }, 'quarry.dev/two');
    assert.deepEqual(two.metadata.finalizers, ['quarry.dev/one', 'quarry.dev/two']);
    await rejects(s.addFinalizer('Bucket', { ...key, uid: '00000000-0000-0000-0000-000000000000' }, 'quarry.dev/three'), 'Conflict');
    await rejects(s.addFinalizer('Bucket', { namespace: ns, name: 'c-final-missing' }, 'quarry.dev/one'), 'NotFound');
    assert.equal(await s.removeFinalizer('Bucket', { ...key, uid: '00000000-0000-0000-0000-000000000000' }, 'quarry.dev/one'), undefined);
    assert.deepEqual((await s.get('Bucket', key))?.metadata.finalizers, ['quarry.dev/one', 'quarry.dev/two'], 'a wrong uid touches nothing');

    await s.delete('Bucket', key);
    const deleting = await s.get('Bucket', key);
    assert.ok(deleting?.metadata.deletionTimestamp, 'held by its finalizers');
    assert.equal(deleting.metadata.generation, (created.metadata.generation ?? 0) + 1, 'marking for deletion moves the generation');
    await rejects(s.addFinalizer('Bucket', key, 'quarry.dev/three'), 'Conflict');
    const one = await s.removeFinalizer('Bucket', key, 'quarry.dev/one');
    assert.deepEqual(one?.metadata.finalizers, ['quarry.dev/two']);
    assert.equal(await s.removeFinalizer('Bucket', key, 'quarry.dev/two'), undefined, 'the last finalizer let it go');
    assert.equal(await s.get('Bucket', key), undefined);
    await s.delete('Bucket', key); // deleting what is gone is fine
  });

  test(`${name}: delete without finalizers removes at once; a uid precondition protects a recreated object`, async () => {
    const e = await get();
    const s = e.store('contract-a');
    const ns = e.namespace;
    const key = { namespace: ns, name: 'c-delete' };
    const first = await s.apply<Bucket>(bucket(ns, 'c-delete'));
    await s.delete('Bucket', { ...key, uid: first.metadata.uid! });
    assert.equal(await s.get('Bucket', key), undefined);
    const second = await s.apply<Bucket>(bucket(ns, 'c-delete'));
    assert.notEqual(second.metadata.uid, first.metadata.uid);
    await rejects(s.delete('Bucket', { ...key, uid: first.metadata.uid! }), 'Conflict');
    assert.ok(await s.get('Bucket', key), 'the new object survived a delete aimed at the old one');
    // An apply naming the old uid must not touch the new object (uid is immutable).
    const b = bucket(ns, 'c-delete', { description: 'for the old one' });
    await rejects(s.apply({ ...b, metadata: { ...b.metadata, uid: first.metadata.uid! } }), 'Invalid', 'metadata.uid');
    assert.equal(((await s.get<Bucket>('Bucket', key))?.spec as { description?: string }).description, undefined);
  });

  test(`${name}: an invalid object is rejected as Invalid, naming the field`, async () => {
    const e = await get();
    const s = e.store('contract-a');
    await rejects(
      s.apply({ apiVersion: API, kind: 'Bucket', metadata: { name: 'c-invalid', namespace: e.namespace }, spec: { schema } }),
      'Invalid',
      'namespaceRef',
    );
    assert.equal(await s.get('Bucket', { namespace: e.namespace, name: 'c-invalid' }), undefined);
  });

  test(`${name}: watch lists what exists, then streams added/modified/deleted into its cache`, async () => {
    const e = await get();
    const s = e.store('contract-a');
    const ns = e.namespace;
    await s.apply(bucket(ns, 'c-watch-1'));
    const events: WatchEvent<Bucket>[] = [];
    const h = s.watch<Bucket>('Bucket', { namespace: ns }, (ev) => events.push(ev));
    try {
      await h.synced;
      assert.ok(h.isSynced());
      assert.ok(h.get({ namespace: ns, name: 'c-watch-1' }), 'the initial list is in the cache');
      assert.ok(events.some((ev) => ev.type === 'added' && ev.object.metadata.name === 'c-watch-1'));
      await s.apply(bucket(ns, 'c-watch-2'));
      await until('added c-watch-2', () => events.some((ev) => ev.type === 'added' && ev.object.metadata.name === 'c-watch-2'));
      await s.apply(bucket(ns, 'c-watch-2', { description: 'changed' }));
      await until('modified c-watch-2', () => h.get({ namespace: ns, name: 'c-watch-2' })?.spec?.description === 'changed');
      assert.ok(events.some((ev) => ev.type === 'modified' && ev.object.metadata.name === 'c-watch-2'));
      await s.delete('Bucket', { namespace: ns, name: 'c-watch-2' });
      await until('deleted c-watch-2', () => events.some((ev) => ev.type === 'deleted' && ev.object.metadata.name === 'c-watch-2'));
      assert.equal(h.get({ namespace: ns, name: 'c-watch-2' }), undefined);
      assert.ok(h.list(ns).some((o) => o.metadata.name === 'c-watch-1'));
    } finally {
      await h.stop();
    }
  });

  test(`${name}: cleanup`, async () => {
    await env?.cleanup();
    assert.ok(true);
  });
}
