/**
 * Issue 14 items 11 and 16 over HTTP on local mode (startLocal):
 *  11: manifest requests are bounded (QUARRY_MANIFEST_MAX_BYTES, QUARRY_MANIFEST_MAX_RESOURCES): beyond either, a
 *      422 naming the limit, on raw, JSON-wrapped and multipart bodies, before anything is planned or written.
 *  16: nothing is silently accepted: `status:` and unknown top-level fields, an unresolved `${{ secrets.X }}` in a
 *      Quarry-format manifest, non-string or malformed labels, a display name the API refuses; validate's `valid`
 *      is exactly what apply accepts (one verdict); a top-level skip_duplicates on objects/batch applies to every
 *      object that sets none.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, namespacesYaml, startLocalEngine, type LocalEngine } from '../manifest/local-engine.ts';

let e: LocalEngine;
const MAX_BYTES = 200_000;
const MAX_RESOURCES = 40;

const bucket = (name: string, extra = '', specExtra = '') => `apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata:
  name: ${name}
${extra}spec:
  namespaceRef: alpha
  schema:
    properties:
      body: { type: text }
${specExtra}`;

before(async () => {
  process.env.QUARRY_MANIFEST_MAX_BYTES = String(MAX_BYTES);
  process.env.QUARRY_MANIFEST_MAX_RESOURCES = String(MAX_RESOURCES);
  e = await startLocalEngine();
  const r = await e.call('POST', '/v1/manifest/apply', { body: namespacesYaml('alpha') });
  assert.equal(r.status, 200, r.text);
});

after(async () => {
  delete process.env.QUARRY_MANIFEST_MAX_BYTES;
  delete process.env.QUARRY_MANIFEST_MAX_RESOURCES;
  await e?.stop();
});

function multipart(text: string): { body: Buffer; contentType: string } {
  const b = 'strict-boundary';
  return {
    body: Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="manifest_file"; filename="m.yaml"\r\nContent-Type: application/yaml\r\n\r\n${text}\r\n--${b}--\r\n`),
    contentType: `multipart/form-data; boundary=${b}`,
  };
}

test('item 11: more resources than QUARRY_MANIFEST_MAX_RESOURCES is a 422 naming the limit; nothing is written', async () => {
  const many = Array.from({ length: MAX_RESOURCES + 1 }, (_, i) => bucket(`many-${i}`)).join('---\n');
  for (const route of ['/v1/manifest/apply', '/v1/manifest/validate']) {
    const r = await e.call('POST', route, { body: many });
    assert.equal(r.status, 422, r.text.slice(0, 300));
    assert.equal(r.body.error.details.limit_name, 'QUARRY_MANIFEST_MAX_RESOURCES');
    assert.equal(r.body.error.details.limit, MAX_RESOURCES);
  }
  assert.equal(await e.rt.store.get('Bucket', { namespace: 'local', name: 'many-0' }), undefined);
  const atLimit = Array.from({ length: MAX_RESOURCES }, (_, i) => bucket(`many-${i}`)).join('---\n');
  const ok = await e.call('POST', '/v1/manifest/validate', { body: atLimit });
  assert.equal(ok.status, 200, ok.text.slice(0, 300));
});

test('item 11: a manifest over QUARRY_MANIFEST_MAX_BYTES is a 422 naming the limit (raw, JSON-wrapped, multipart)', async () => {
  const big = `${bucket('big')}# ${'x'.repeat(MAX_BYTES)}\n`;
  const mp = multipart(big);
  for (const [what, opts] of [
    ['raw', { body: big }],
    ['json', { body: { manifest: big } }],
    ['multipart', { body: mp.body, contentType: mp.contentType }],
  ] as const) {
    const r = await e.call('POST', '/v1/manifest/apply', opts);
    assert.equal(r.status, 422, `${what}: ${r.text.slice(0, 300)}`);
    assert.equal(r.body.error.details.limit_name, 'QUARRY_MANIFEST_MAX_BYTES', what);
    assert.match(r.body.error.message, new RegExp(String(MAX_BYTES)));
  }
  assert.equal(await e.rt.store.get('Bucket', { namespace: 'local', name: 'big' }), undefined);
});

/** validate says invalid, naming `field`; apply refuses with a 4xx; nothing is written. */
async function rejectedEverywhere(what: string, yaml: string, field: RegExp, query = ''): Promise<void> {
  const v = await e.call('POST', `/v1/manifest/validate${query}`, { body: yaml });
  assert.equal(v.status, 200, `${what}: ${v.text}`);
  assert.equal(v.body.valid, false, `${what}: validate said valid: ${v.text}`);
  assert.ok(v.body.errors.some((x: { field: string }) => field.test(x.field)), `${what}: no error names ${field}: ${JSON.stringify(v.body.errors)}`);
  const a = await e.call('POST', `/v1/manifest/apply${query}`, { body: yaml });
  assert.ok(a.status >= 400 && a.status < 500, `${what}: apply answered ${a.status} ${a.text}`);
}

test('item 16: status and unknown top-level fields, unresolved secrets, bad labels and names are refused by validate and apply alike', async () => {
  await rejectedEverywhere('status', `${bucket('st')}status:\n  conditions: []\n`, /document\.status$/);
  await rejectedEverywhere('unknown field', `${bucket('uk')}replicas: 3\n`, /document\.replicas$/);
  await rejectedEverywhere('secret', bucket('sec', '', '  description: "key ${{ secrets.API_KEY }}"\n'), /spec/);
  const sv = await e.call('POST', '/v1/manifest/validate', { body: bucket('sec', '', '  description: "key ${{ secrets.API_KEY }}"\n') });
  assert.deepEqual(sv.body.missing_secrets, ['API_KEY']);
  await rejectedEverywhere('numeric label', bucket('nl', '  labels: { tier: 1 }\n'), /metadata\.labels/);
  await rejectedEverywhere('label key', bucket('lk', '  labels: { "bad key!": x }\n'), /metadata\.labels/);
  await rejectedEverywhere('labels list', bucket('ll', '  labels: [a]\n'), /metadata\.labels/);
  await rejectedEverywhere('display name', bucket('dn', '  annotations: { quarry.dev/source-name: "a/b" }\n'), /source-name/);
  await rejectedEverywhere('prune without a name', bucket('pn'), /manifest_name/, '?prune=true');
  for (const n of ['st', 'uk', 'sec', 'nl', 'lk', 'll', 'dn', 'pn']) assert.equal(await e.rt.store.get('Bucket', { namespace: 'local', name: n }), undefined, n);

  // Given its value, the placeholder is substituted, in the Quarry format as in the Mixpeek one.
  const withSecret = await e.call('POST', '/v1/manifest/apply', { body: { manifest: bucket('sec', '', '  description: "key ${{ secrets.API_KEY }}"\n'), secrets: { API_KEY: 'k-123' } } });
  assert.equal(withSecret.status, 200, withSecret.text);
  assert.equal((await e.rt.store.get('Bucket', { namespace: 'local', name: 'sec' }))?.spec?.description, 'key k-123');
});

test('item 16: a top-level skip_duplicates on objects/batch is the default of every object; a non-boolean is a 422', async () => {
  const ns = { 'x-namespace': 'alpha' };
  const made = await e.call('POST', '/v1/manifest/apply', { body: bucket('dups') });
  assert.equal(made.status, 200, made.text);
  const objects = [{ blobs: [{ property: 'body', type: 'text', data: 'same content' }] }];
  // The Bucket is usable once the runtime has seen it.
  const first = await eventually('bucket dups usable', async () => {
    const r = await e.call('POST', '/v1/buckets/dups/objects/batch', { body: { objects }, headers: ns });
    return r.status === 200 && r.body.results?.[0]?.success && r;
  });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.body.results[0].success, true, first.text);
  const second = await e.call('POST', '/v1/buckets/dups/objects/batch', { body: { objects, skip_duplicates: true }, headers: ns });
  assert.equal(second.status, 200, second.text);
  assert.equal(second.body.results[0].object.is_duplicate, true, second.text);
  assert.equal(second.body.results[0].object.object_id, first.body.results[0].object.object_id);
  // An object's own setting wins over the default.
  const own = await e.call('POST', '/v1/buckets/dups/objects/batch', { body: { objects: [{ ...objects[0], skip_duplicates: false }], skip_duplicates: true }, headers: ns });
  assert.notEqual(own.body.results[0].object.is_duplicate, true, own.text);
  const bad = await e.call('POST', '/v1/buckets/dups/objects/batch', { body: { objects, skip_duplicates: 'yes' }, headers: ns });
  assert.equal(bad.status, 422, bad.text);
  assert.equal(bad.body.error.details.field, 'body.skip_duplicates');
});
