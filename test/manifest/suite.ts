/**
 * The manifest endpoints against one ResourceStore adapter (cluster: KubeResourceStore on the test apiserver
 * with the CRDs; local: LocalResourceStore), through the real engine app with API-key auth on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildEngineApp } from '#engine/app/engine-app.ts';
import { FileApiKeyStore, createApiKey } from '#engine/auth/index.ts';
import { notFound } from '#core/lib/errors.ts';
import { MANIFEST_LABEL, convertMixpeekManifest, parseDocuments, parseManifest } from '#engine/manifest/index.ts';
import { LocalObjectStore } from '#engine/objects/local.ts';
import type { Resource, ResourceStore } from '#core/ports/resource-store.ts';
import { DOCS_SEARCH, REFERENCE_EXAMPLE } from './fixtures.ts';
import { objectNameFor } from '#engine/management/identifiers.ts';

// Object names as the management API derives them from the manifests' names (identifiers.ts).
const VS = objectNameFor('', 'QuarryNamespace', 'video_search');
const RV = objectNameFor(VS, 'Bucket', 'raw_videos');
const VI = objectNameFor(VS, 'Collection', 'video_index');
const DNS_NS = objectNameFor('', 'QuarryNamespace', 'docs_ns');
const DSEARCH = objectNameFor(DNS_NS, 'Retriever', 'docs_search');
const DLABELS = objectNameFor(DNS_NS, 'Taxonomy', 'doc_labels');

export interface StoreSetup {
  store: ResourceStore;
  k8sNamespace: string;
  cleanup(): Promise<void>;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const KINDS = ['QuarryNamespace', 'Bucket', 'Collection', 'Retriever', 'Taxonomy'];

/** multipart/form-data with the one file field `manifest_file` (reference §6.2). */
function multipart(text: string, field = 'manifest_file'): { payload: Buffer; headers: Record<string, string> } {
  const boundary = '----quarry-test-boundary';
  const payload = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="manifest.yaml"\r\nContent-Type: application/yaml\r\n\r\n${text}\r\n--${boundary}--\r\n`,
  );
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

export function manifestSuite(mode: string, setup: () => Promise<StoreSetup>): void {
  describe(`manifest endpoints (${mode})`, () => {
    let env: StoreSetup;
    let app: FastifyInstance;
    let dir: string;
    let admin: string;
    let docsOnly: string;
    let otherOnly: string;

    before(async () => {
      env = await setup();
      dir = mkdtempSync(path.join(tmpdir(), 'quarry-manifest-'));
      const keys = new FileApiKeyStore(dir);
      admin = (await createApiKey(keys, { name: 'admin', namespaces: '*' })).key;
      docsOnly = (await createApiKey(keys, { name: 'docs', namespaces: ['docs_ns'] })).key;
      otherOnly = (await createApiKey(keys, { name: 'other', namespaces: ['other'] })).key;
      app = await buildEngineApp({
        objects: new LocalObjectStore({ root: path.join(dir, 'objects') }),
        namespace: async (n) => {
          throw notFound('namespace', n);
        },
        resources: env.store,
        k8sNamespace: env.k8sNamespace,
        auth: { keys },
      });
      await app.ready();
    });

    after(async () => {
      await app?.close();
      await env?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const send = async (url: string, text: string, opts: { key?: string | null; as?: 'multipart' | 'yaml' | 'json' } = {}) => {
      const key = opts.key === undefined ? admin : opts.key;
      const auth: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
      const as = opts.as ?? 'multipart';
      const req =
        as === 'multipart'
          ? multipart(text)
          : as === 'yaml'
            ? { payload: text, headers: { 'content-type': 'application/yaml' } }
            : { payload: JSON.stringify({ manifest: text }), headers: { 'content-type': 'application/json' } };
      const res = await app.inject({ method: 'POST', url, payload: req.payload, headers: { ...req.headers, ...auth } });
      return { status: res.statusCode, body: res.json() as Json };
    };
    const get = (kind: string, name: string) => env.store.get<Resource>(kind, { namespace: env.k8sNamespace, name });
    const all = async () => (await Promise.all(KINDS.map((k) => env.store.list<Resource>(k, { namespace: env.k8sNamespace })))).flat();

    test('the reference §6.1 manifest applies (multipart manifest_file): created, labelled, then idempotent', async () => {
      const first = await send('/v1/manifest/apply', REFERENCE_EXAMPLE);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.success, true);
      assert.equal(first.body.created_count, 3);
      assert.deepEqual(
        first.body.resources.map((r: Json) => [r.resource_type, r.name, r.object_name, r.status]),
        [
          ['namespace', 'video_search', VS, 'created'],
          ['bucket', 'raw_videos', RV, 'created'],
          ['collection', 'video_index', VI, 'created'],
        ],
        'results name resources as the manifest does, with the object name beside',
      );
      assert.ok(first.body.warnings.some((w: Json) => w.location === 'buckets[0].sync'));
      const col = await get('Collection', VI);
      assert.ok(col, 'the Collection exists in the store');
      assert.equal(col.metadata.labels?.[MANIFEST_LABEL], 'video-search-env');
      assert.deepEqual((col.spec as Json).source, { bucketRefs: [RV] });
      assert.equal(col.metadata.annotations?.['quarry.dev/source-name'], 'video_index', 'the display name the management API shows');
      const rvBefore = (await all()).map((r) => `${r.kind}/${r.metadata.name}@${r.metadata.resourceVersion}`).sort();

      const again = await send('/v1/manifest/apply', REFERENCE_EXAMPLE);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.deepEqual([again.body.created_count, again.body.updated_count, again.body.unchanged_count], [0, 0, 3], JSON.stringify(again.body.resources));
      const rvAfter = (await all()).map((r) => `${r.kind}/${r.metadata.name}@${r.metadata.resourceVersion}`).sort();
      assert.deepEqual(rvAfter, rvBefore, 'a second apply writes nothing');

      const diff = await send('/v1/manifest/diff', REFERENCE_EXAMPLE);
      assert.equal(diff.status, 200);
      assert.deepEqual([diff.body.to_create.length, diff.body.differences.length, diff.body.unchanged.length], [0, 0, 3]);
    });

    test('an invalid manifest is a 422 listing every problem by resource and field; nothing is applied', async () => {
      const bad = `version: "1.0"
metadata: { name: half-broken }
namespaces:
  - name: good_ns
    feature_extractors: [{ name: text_extractor, version: v1 }]
buckets:
  - name: good_bucket
    namespace: good_ns
    schema: { properties: { body: { type: text } } }
  - name: bad_bucket
    namespace: good_ns
    schema: { properties: { body: { type: novel } } }
collections:
  - name: bad_collection
    namespace: good_ns
    source: { type: bucket, bucket_ids: [good_bucket] }
    feature_extractor: { feature_extractor_name: text_extractor, version: v1, parameters: { chunk_size: -1 } }
`;
      const res = await send('/v1/manifest/apply', bad);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.success, false);
      assert.equal(res.body.error.type, 'ValidationError');
      const byName = new Map((res.body.error.details.resources as Json[]).map((r) => [r.name, r.errors.map((e: Json) => e.field)]));
      const goodNs = objectNameFor('', 'QuarryNamespace', 'good_ns');
      const [badBucket, badCollection] = [objectNameFor(goodNs, 'Bucket', 'bad_bucket'), objectNameFor(goodNs, 'Collection', 'bad_collection')];
      assert.deepEqual([...byName.keys()].sort(), [badBucket, badCollection]);
      assert.ok(byName.get(badBucket).includes('spec.schema.properties.body.type'), JSON.stringify(res.body.error.details));
      assert.ok(byName.get(badCollection).includes('spec.featureExtractor.parameters.chunk_size'), JSON.stringify(res.body.error.details));
      assert.ok(Array.isArray(res.body.detail), 'FastAPI-style detail for client compatibility');
      for (const [kind, name] of [['QuarryNamespace', goodNs], ['Bucket', objectNameFor(goodNs, 'Bucket', 'good_bucket')], ['Bucket', badBucket]]) {
        assert.equal(await get(kind!, name!), undefined, `${kind} ${name} must not be applied`);
      }
      const v = await send('/v1/manifest/validate', bad);
      assert.equal(v.status, 200);
      assert.equal(v.body.valid, false);
      assert.ok(v.body.errors.length >= 2);
    });

    test('update, diff with field-level changes, prune opt-in, export round trip (raw YAML and JSON bodies)', async () => {
      const created = await send('/v1/manifest/apply', DOCS_SEARCH, { as: 'yaml' });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      assert.equal(created.body.created_count, 8, JSON.stringify(created.body.resources));

      // Change a description, drop the taxonomy.
      const changed = DOCS_SEARCH.replace('description: Search the docs', 'description: Search the documentation').replace(/\ntaxonomies:[\s\S]*$/, '\n');
      const diff = await send('/v1/manifest/diff', changed);
      assert.equal(diff.status, 200, JSON.stringify(diff.body));
      assert.deepEqual(diff.body.differences.map((d: Json) => [d.name, d.object_name]), [['docs_search', DSEARCH]], 'the manifest name, and the object name beside it');
      assert.deepEqual(diff.body.differences[0].details.changes, [{ field: 'spec.description', change: 'changed', from: 'Search the docs', to: 'Search the documentation' }]);
      assert.deepEqual(diff.body.in_system_only.map((d: Json) => [d.kind, d.name, d.object_name, d.action]), [['Taxonomy', 'doc_labels', DLABELS, 'delete']]);

      const noPrune = await send('/v1/manifest/apply', changed);
      assert.equal(noPrune.body.updated_count, 1);
      assert.equal(noPrune.body.deleted_count, 0);
      assert.ok(await get('Taxonomy', DLABELS), 'without prune nothing is deleted');
      assert.equal(((await get('Retriever', DSEARCH))!.spec as Json).description, 'Search the documentation');

      const pruned = await send('/v1/manifest/apply?prune=true', changed);
      assert.equal(pruned.status, 200, JSON.stringify(pruned.body));
      assert.deepEqual(pruned.body.resources.filter((r: Json) => r.status === 'deleted').map((r: Json) => [r.name, r.object_name]), [['doc_labels', DLABELS]]);
      assert.equal(await get('Taxonomy', DLABELS), undefined);
      assert.ok(await get('Collection', VI), 'prune only touches resources of this manifest');

      // Export (Quarry YAML) and apply it back: nothing changes.
      const exp = await app.inject({ method: 'GET', url: `/v1/manifest/export?namespace=${DNS_NS}`, headers: { authorization: `Bearer ${admin}` } });
      assert.equal(exp.statusCode, 200);
      assert.match(String(exp.headers['content-type']), /yaml/);
      const docs = parseDocuments(exp.body) as Json[];
      assert.deepEqual(docs.map((d) => d.kind).sort(), ['Bucket', 'Bucket', 'Collection', 'Collection', 'QuarryNamespace', 'Retriever', 'Retriever']);
      assert.ok(docs.every((d) => d.status === undefined && d.metadata.uid === undefined && d.metadata.namespace === undefined));
      const reapply = await send('/v1/manifest/apply', exp.body, { as: 'json' });
      assert.equal(reapply.status, 200, JSON.stringify(reapply.body));
      assert.equal(reapply.body.unchanged_count, 7, JSON.stringify(reapply.body.resources));

      // Export in the Mixpeek format: converting it back gives the live specs.
      const mx = await app.inject({ method: 'GET', url: '/v1/manifest/export?format=mixpeek&manifest=docs-search&manifest_name=docs-search', headers: { authorization: `Bearer ${admin}` } });
      assert.equal(mx.statusCode, 200);
      const parsed = parseManifest(mx.body);
      assert.equal(parsed.format, 'mixpeek');
      assert.equal(parsed.name, 'docs-search');
      assert.ok(mx.body.includes('name: docs_ns'), 'names come back as written in the manifest');
      const back = convertMixpeekManifest(parseDocuments(mx.body)[0]);
      assert.equal(back.resources.length, 7);
      for (const r of back.resources) assert.ok(await get(r.kind, r.metadata.name), `${r.kind} ${r.metadata.name}`);
      const diffAgain = await send('/v1/manifest/diff', mx.body);
      assert.equal(diffAgain.status, 200);
      assert.equal(diffAgain.body.unchanged.length, 7, JSON.stringify(diffAgain.body));
    });

    test('401 without a key; 403 for a key scoped elsewhere (nothing applied); scoped export', async () => {
      const none = await send('/v1/manifest/apply', REFERENCE_EXAMPLE, { key: null });
      assert.equal(none.status, 401);
      assert.equal(none.body.error.type, 'UnauthorizedError');
      const other = await send('/v1/manifest/apply', DOCS_SEARCH.replaceAll('docs_ns', 'docs_ns2'), { key: docsOnly });
      assert.equal(other.status, 403, JSON.stringify(other.body));
      assert.equal(other.body.error.type, 'ForbiddenError');
      assert.equal(await get('QuarryNamespace', objectNameFor('', 'QuarryNamespace', 'docs_ns2')), undefined);
      const ok = await send('/v1/manifest/diff', DOCS_SEARCH, { key: docsOnly });
      assert.equal(ok.status, 200);
      const exp = await app.inject({ method: 'GET', url: '/v1/manifest/export', headers: { authorization: `Bearer ${otherOnly}` } });
      assert.equal(exp.statusCode, 200);
      assert.equal(parseDocuments(exp.body).length, 0, 'a key scoped to another namespace exports nothing of these');
      const denied = await app.inject({ method: 'GET', url: `/v1/manifest/export?namespace=${DNS_NS}`, headers: { authorization: `Bearer ${otherOnly}` } });
      assert.equal(denied.statusCode, 403);
    });

    test('dry_run reports what apply would do and writes nothing; prune by manifest_name works for Quarry CR YAML', async () => {
      const cr = (name: string) => `apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata: { name: ${name} }
spec: { featureExtractors: [{ name: text_extractor }] }
`;
      const dry = await send('/v1/manifest/apply?dry_run=true&manifest_name=crs', `${cr('dry-a')}---\n${cr('dry-b')}`);
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      assert.equal(dry.body.dry_run, true);
      assert.equal(dry.body.created_count, 2);
      assert.equal(await get('QuarryNamespace', 'dry-a'), undefined, 'a dry run writes nothing');
      const real = await send('/v1/manifest/apply?manifest_name=crs', `${cr('dry-a')}---\n${cr('dry-b')}`);
      assert.equal(real.body.created_count, 2);
      assert.equal((await get('QuarryNamespace', 'dry-b'))?.metadata.labels?.[MANIFEST_LABEL], 'crs');
      const pruned = await send('/v1/manifest/apply?manifest_name=crs&prune=true', cr('dry-a'));
      assert.deepEqual(pruned.body.resources.map((r: Json) => [r.name, r.status]), [['dry-a', 'unchanged'], ['dry-b', 'deleted']]);
      assert.equal(await get('QuarryNamespace', 'dry-b'), undefined);
    });

    test('bad requests: wrong multipart field, YAML syntax error, prune without a manifest name', async () => {
      const auth = { authorization: `Bearer ${admin}` };
      const wrong = multipart(REFERENCE_EXAMPLE, 'file');
      const res = await app.inject({ method: 'POST', url: '/v1/manifest/apply', payload: wrong.payload, headers: { ...wrong.headers, ...auth } });
      assert.equal(res.statusCode, 400);
      assert.match(res.json().error.message, /manifest_file/);
      const syntax = await send('/v1/manifest/validate', 'version: "1.0"\nnamespaces: [unclosed\n');
      assert.equal(syntax.status, 400);
      assert.match(syntax.body.error.message, /YAML/);
      const cr = `apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata: { name: loose }
spec: { featureExtractors: [{ name: text_extractor }] }
`;
      const prune = await send('/v1/manifest/apply?prune=true', cr);
      assert.equal(prune.status, 400);
      assert.equal(prune.body.error.details.field, 'manifest_name');
      assert.equal(await get('QuarryNamespace', 'loose'), undefined);
    });

    test('export by namespace id or name (404 for unknown ones); apply reports API ids; secrets a resource would store must have values', async () => {
      const applied = await send('/v1/manifest/apply', DOCS_SEARCH);
      assert.equal(applied.status, 200, JSON.stringify(applied.body));
      const nsApi = await app.inject({ method: 'GET', url: '/v1/namespaces/docs_ns', headers: { authorization: `Bearer ${admin}` } });
      assert.equal(nsApi.statusCode, 200, nsApi.body);
      const nsId = nsApi.json().namespace_id as string;
      // resource_id of a written resource is the management API's id (ret_…), not the Kubernetes uid.
      const written = await send('/v1/manifest/apply', DOCS_SEARCH.replace('description: Search the docs', 'description: Search the docs again'));
      const retResult = (written.body.resources as Json[]).find((r) => r.status === 'updated')!;
      const retApi = await app.inject({ method: 'GET', url: '/v1/retrievers/docs_search', headers: { authorization: `Bearer ${admin}`, 'x-namespace': nsId } });
      assert.equal(retApi.statusCode, 200, retApi.body);
      assert.equal(retResult.resource_id, retApi.json().retriever_id, JSON.stringify(written.body.resources));

      const kinds = (body: string) => (parseDocuments(body) as Json[]).map((d) => d.kind).sort();
      const expected = ['Bucket', 'Bucket', 'Collection', 'Collection', 'QuarryNamespace', 'Retriever', 'Retriever', 'Taxonomy'];
      for (const url of [`/v1/manifest/export?namespace_id=${nsId}`, '/v1/manifest/export?namespace=docs_ns', `/v1/manifest/export?namespace=${DNS_NS}`]) {
        const exp = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${admin}` } });
        assert.equal(exp.statusCode, 200, exp.body);
        assert.deepEqual(kinds(exp.body), expected, url);
      }
      const posted = await app.inject({ method: 'POST', url: '/v1/manifest/export', payload: { namespace_ids: [nsId], manifest_name: 'x' }, headers: { authorization: `Bearer ${admin}` } });
      assert.equal(posted.statusCode, 200, posted.body);
      assert.deepEqual(kinds(posted.body), expected);
      const unknown = await app.inject({ method: 'POST', url: '/v1/manifest/export', payload: { namespace_ids: ['ns_00000000000000000000000000000000'] }, headers: { authorization: `Bearer ${admin}` } });
      assert.equal(unknown.statusCode, 404, unknown.body);
      assert.match(unknown.json().error.message, /ns_00000000000000000000000000000000/);

      // A placeholder in a stored field: invalid (validate and apply name it) until its value is sent.
      const withSecret = `version: "1.0"
metadata: { name: secret-demo }
namespaces:
  - name: secret_ns
    feature_extractors: [{ feature_extractor_name: text_extractor, version: v1 }]
buckets:
  - name: tokens
    namespace: secret_ns
    schema: { properties: { body: { type: text } } }
    metadata:
      api_token: \${{ secrets.API_TOKEN }}
    sync:
      connection_id: \${{ secrets.S3_CONNECTION_ID }}
`;
      const v = await send('/v1/manifest/validate', withSecret);
      assert.equal(v.status, 200, JSON.stringify(v.body));
      assert.equal(v.body.valid, false);
      assert.deepEqual(v.body.missing_secrets, ['API_TOKEN'], 'a placeholder only in an ignored field (sync) is not missing');
      assert.ok(v.body.errors.some((e: Json) => /secrets\.API_TOKEN/.test(e.message)), JSON.stringify(v.body.errors));
      const refused = await send('/v1/manifest/apply', withSecret);
      assert.equal(refused.status, 422, JSON.stringify(refused.body));
      assert.match(refused.body.error.message, /API_TOKEN/);
      const secretNs = objectNameFor('', 'QuarryNamespace', 'secret_ns');
      assert.equal(await get('QuarryNamespace', secretNs), undefined, 'nothing applied');
      const given = await app.inject({
        method: 'POST',
        url: '/v1/manifest/apply',
        payload: { manifest: withSecret, secrets: { API_TOKEN: 't0k3n' } },
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      });
      assert.equal(given.statusCode, 200, given.body);
      const created = (given.json().resources as Json[]).find((r) => r.kind === 'QuarryNamespace')!;
      const secretNsApi = await app.inject({ method: 'GET', url: '/v1/namespaces/secret_ns', headers: { authorization: `Bearer ${admin}` } });
      assert.equal(created.resource_id, secretNsApi.json().namespace_id);
      assert.match(created.resource_id, /^ns_[0-9a-f]{32}$/);
      const bucket = await get('Bucket', 'tokens');
      assert.deepEqual((bucket!.spec as Json).metadata, { api_token: 't0k3n' }, 'the value is stored, not the placeholder');
      const ref = await send('/v1/manifest/validate', REFERENCE_EXAMPLE);
      assert.equal(ref.body.valid, true, JSON.stringify(ref.body));
      assert.deepEqual(ref.body.missing_secrets, []);
    });

    test('names resolve against the live resources: existing ones keep their object names, a name another namespace has gets its own', async () => {
      // Applied before names were derived with a hash (or by kubectl): object legacy-ns, display name legacy_ns.
      const fx = [{ name: 'text_extractor', version: 'v1' }];
      await env.store.apply({ apiVersion: 'quarry.dev/v1alpha1', kind: 'QuarryNamespace', metadata: { name: 'legacy-ns', namespace: env.k8sNamespace, annotations: { 'quarry.dev/source-name': 'legacy_ns' } }, spec: { featureExtractors: fx } });
      await env.store.apply({ apiVersion: 'quarry.dev/v1alpha1', kind: 'Bucket', metadata: { name: 'legacy-files', namespace: env.k8sNamespace, annotations: { 'quarry.dev/source-name': 'legacy_files' } }, spec: { namespaceRef: 'legacy-ns', schema: { properties: { f: { type: 'text' } } } } });
      const manifest = `version: "1.0"
metadata: { name: live-names }
namespaces:
  - name: legacy_ns
    feature_extractors: [{ feature_extractor_name: text_extractor, version: v1 }]
  - name: shop_two
    feature_extractors: [{ feature_extractor_name: text_extractor, version: v1 }]
buckets:
  - name: legacy_files
    namespace: legacy_ns
    schema: { properties: { f: { type: text } } }
  - name: docs
    namespace: legacy_ns
    schema: { properties: { f: { type: text } } }
  - name: docs
    namespace: shop_two
    schema: { properties: { f: { type: text } } }
collections:
  - name: docs_text
    namespace: shop_two
    source: { type: bucket, bucket_ids: [docs] }
    feature_extractor: { feature_extractor_name: text_extractor, version: v1, input_mappings: { text: f } }
`;
      const res = await send('/v1/manifest/apply', manifest);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const by = (kind: string) => (res.body.resources as Json[]).filter((r) => r.kind === kind);
      // The same objects (labelled by this manifest now), not second ones under hashed names.
      assert.notEqual(by('QuarryNamespace').find((r) => (r.object_name ?? r.name) === 'legacy-ns')?.status ?? 'created', 'created', JSON.stringify(res.body.resources));
      assert.notEqual(by('Bucket').find((r) => (r.object_name ?? r.name) === 'legacy-files')?.status ?? 'created', 'created', JSON.stringify(res.body.resources));
      assert.equal(await get('QuarryNamespace', objectNameFor('', 'QuarryNamespace', 'legacy_ns')), undefined);
      assert.equal(await get('Bucket', objectNameFor('legacy-ns', 'Bucket', 'legacy_files')), undefined);
      // docs exists in docs_ns (an earlier test) and is declared in two namespaces here: three buckets apart.
      const docsBuckets = (await env.store.list('Bucket', { namespace: env.k8sNamespace })).filter((b) => (b.metadata.annotations?.['quarry.dev/source-name'] ?? b.metadata.name) === 'docs');
      assert.equal(new Set(docsBuckets.map((b) => b.metadata.name)).size, 3, JSON.stringify(docsBuckets.map((b) => [b.metadata.name, b.spec])));
      assert.equal(new Set(docsBuckets.map((b) => (b.spec as Json).namespaceRef)).size, 3);
      const shopTwo = objectNameFor('', 'QuarryNamespace', 'shop_two');
      const col = await get('Collection', objectNameFor(shopTwo, 'Collection', 'docs_text'));
      const shopDocs = docsBuckets.find((b) => (b.spec as Json).namespaceRef === shopTwo)!;
      assert.deepEqual((col!.spec as Json).source.bucketRefs, [shopDocs.metadata.name], 'the reference follows the declaration');
      const again = await send('/v1/manifest/apply', manifest);
      assert.equal(again.body.unchanged_count, 6, JSON.stringify(again.body.resources));
    });
  });
}
