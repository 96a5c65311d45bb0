/**
 * Manifest parsing and conversion, offline: the reference §6.1 example and a fuller Mixpeek manifest become
 * Quarry resources that pass validate.ts; export back to the Mixpeek format round-trips; Quarry CR YAML (the
 * examples) is read as-is; problems are located by manifest path or resource field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { QuarryError } from '#core/lib/errors.ts';
import {
  MANIFEST_LABEL,
  SOURCE_NAME_ANNOTATION,
  convertMixpeekManifest,
  parseDocuments,
  parseManifest,
  planManifest,
  planProblems,
  toMixpeekManifest,
} from '#engine/manifest/index.ts';
import { validateResource } from '#core/resources/validate.ts';
import { applyPlan, listLive } from '#engine/manifest/index.ts';
import { ResourceStoreError, type ApplyIntent, type ApplyOptions, type ResourceStore } from '#core/ports/resource-store.ts';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { DOCS_SEARCH, REFERENCE_EXAMPLE } from './fixtures.ts';
import { objectNameFor } from '#engine/management/identifiers.ts';
import type { QuarryKind } from '#core/resources/generated/types.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

// Object names as the management API derives them (identifiers.ts objectNameFor): a name that is not a DNS label
// becomes its DNS-label form plus a hash of namespace/kind/name; DNS labels stay as they are.
const VS = objectNameFor('', 'QuarryNamespace', 'video_search');
const DNS_NS = objectNameFor('', 'QuarryNamespace', 'docs_ns');
const on = (kind: QuarryKind, name: string) => objectNameFor(DNS_NS, kind, name);

test('the reference §6.1 example converts to a QuarryNamespace, Bucket and Collection that pass validate.ts', () => {
  const parsed = parseManifest(REFERENCE_EXAMPLE);
  assert.equal(parsed.format, 'mixpeek');
  assert.equal(parsed.name, 'video-search-env');
  assert.deepEqual(parsed.errors, []);
  assert.deepEqual(
    parsed.resources.map((r) => [r.kind, r.metadata.name, r.metadata.annotations?.[SOURCE_NAME_ANNOTATION]]),
    [
      ['QuarryNamespace', VS, 'video_search'],
      ['Bucket', objectNameFor(VS, 'Bucket', 'raw_videos'), 'raw_videos'],
      ['Collection', objectNameFor(VS, 'Collection', 'video_index'), 'video_index'],
    ],
  );
  assert.match(VS, /^video-search-[0-9a-f]{8}$/, 'names that are not DNS labels get a derived object name');
  assert.notEqual(objectNameFor(VS, 'Bucket', 'raw_videos'), objectNameFor('other', 'Bucket', 'raw_videos'), 'per Quarry namespace');
  const [ns, bucket, col] = parsed.resources;
  assert.deepEqual(bucket!.spec, { namespaceRef: VS, schema: { properties: { video: { type: 'video' } } } });
  assert.deepEqual(col!.spec.source, { bucketRefs: [objectNameFor(VS, 'Bucket', 'raw_videos')] });
  assert.equal((col!.spec.featureExtractor as { name: string }).name, (ns!.spec.featureExtractors as { name: string }[])[0]!.name);
  for (const r of parsed.resources) {
    const v = validateResource(r);
    assert.ok(v.valid, `${r.kind} ${r.metadata.name}: ${JSON.stringify(v.errors)}`);
  }
  // What Quarry cannot honour is said, not dropped silently.
  const where = parsed.warnings.map((w) => w.location);
  assert.ok(where.includes('buckets[0].sync'), JSON.stringify(where));
  assert.ok(where.includes('namespaces[0].feature_extractors[0].name'), 'the extractor substitution is reported');
  assert.deepEqual(parsed.secrets, ['S3_CONNECTION_ID']);

  const plan = planManifest(parsed, { k8sNamespace: 'team-a', offline: true });
  assert.ok(plan.valid, JSON.stringify(planProblems(plan)));
  for (const r of plan.resources) {
    assert.equal(r.intent.metadata.namespace, 'team-a');
    assert.equal(r.intent.metadata.labels?.[MANIFEST_LABEL], 'video-search-env');
    assert.equal(r.action, 'create');
  }
});

test('a fuller manifest in the SDK shapes (and the variants §11 lists) converts and validates', () => {
  const parsed = parseManifest(DOCS_SEARCH);
  assert.deepEqual(parsed.errors, []);
  const plan = planManifest(parsed, { k8sNamespace: 'team-a' });
  assert.ok(plan.valid, JSON.stringify(planProblems(plan)));
  assert.deepEqual(
    plan.resources.map((r) => `${r.kind}/${r.name}`),
    [`QuarryNamespace/${DNS_NS}`, 'Bucket/docs', 'Bucket/labels', `Collection/${on('Collection', 'docs_text')}`, `Collection/${on('Collection', 'label_text')}`, `Retriever/${on('Retriever', 'docs_search')}`, `Retriever/${on('Retriever', 'label_match')}`, `Taxonomy/${on('Taxonomy', 'doc_labels')}`],
    'dependency order: namespaces, buckets, collections, retrievers, taxonomies',
  );
  const spec = (kind: string, name: string) => plan.resources.find((r) => r.kind === kind && r.name === name)!.intent.spec as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(spec('QuarryNamespace', DNS_NS).payloadIndexes, [{ field: 'category', type: 'keyword' }]);
  assert.deepEqual(spec('Bucket', 'docs').uniqueKey, { fields: ['body'], defaultPolicy: 'upsert' });
  assert.deepEqual(spec('Collection', on('Collection', 'docs_text')).featureExtractor.fieldPassthrough, [{ sourcePath: 'category' }]);
  assert.deepEqual(spec('Collection', on('Collection', 'label_text')).featureExtractor.inputMappings, { text: 'label' }, 'feature_extractors[0] is read');
  const ret = spec('Retriever', on('Retriever', 'docs_search'));
  assert.deepEqual(ret.collectionRefs, [on('Collection', 'docs_text')]);
  assert.equal(ret.stages[0].config.parameters.searches[0].feature_uri, 'quarry://text_extractor@v1/all_minilm_l6_v2', 'model name mapped to the Quarry extractor vector');
  assert.deepEqual(ret.stages[1], { stageName: 'top', stageType: 'reduce', config: { stageId: 'limit', parameters: { limit: 5 } } }, 'flat stage form');
  assert.deepEqual(ret.cacheConfig, { enabled: true, ttlSeconds: 600 });
  assert.deepEqual(spec('Retriever', on('Retriever', 'label_match')).inputSchema, { text: { type: 'text', required: true } }, '{properties} input schema flattened');
  assert.deepEqual(spec('Taxonomy', on('Taxonomy', 'doc_labels')), {
    namespaceRef: DNS_NS,
    description: 'Label docs by their nearest label',
    type: 'flat',
    retrieverRef: on('Retriever', 'label_match'),
    inputMappings: [{ inputKey: 'text', sourceType: 'payload', path: 'text' }],
    sourceCollection: { collectionRef: on('Collection', 'label_text'), enrichmentFields: [{ fieldPath: 'label', targetField: 'doc_label' }] },
  });
});

test('export to the Mixpeek format round-trips: converting it again gives the same resources', () => {
  for (const text of [REFERENCE_EXAMPLE, DOCS_SEARCH]) {
    const first = parseManifest(text);
    const exported = toMixpeekManifest(first.resources, { name: first.name! });
    const again = parseManifest(stringify(exported));
    assert.equal(again.format, 'mixpeek');
    assert.equal(again.name, first.name);
    assert.deepEqual(again.resources, first.resources);
    // Names come back as they were written.
    assert.ok(stringify(exported).includes('name: video_search') || stringify(exported).includes('name: docs_ns'));
  }
});

test('Quarry CR YAML (every example) is read as-is, validates, and survives a Mixpeek round trip', () => {
  const examples = path.join(ROOT, 'examples');
  for (const dir of readdirSync(examples).filter((d) => d !== 'gitops' && !d.includes('.'))) {
    const files = readdirSync(path.join(examples, dir)).filter((f) => f.endsWith('.yaml')).sort();
    const text = files.map((f) => readFileSync(path.join(examples, dir, f), 'utf8')).join('\n---\n');
    const parsed = parseManifest(text);
    assert.equal(parsed.format, 'quarry', dir);
    assert.ok(parsed.resources.length >= 4, dir);
    const plan = planManifest(parsed, { k8sNamespace: 'default', manifestName: dir });
    assert.ok(plan.valid, `${dir}: ${JSON.stringify(planProblems(plan))}`);
    const back = convertMixpeekManifest(toMixpeekManifest(parsed.resources, { name: dir }));
    assert.deepEqual(back.errors, [], dir);
    assert.deepEqual(
      back.resources.map((r) => [r.kind, r.metadata.name, r.spec]),
      parsed.resources.map((r) => [r.kind, r.metadata.name, r.spec]),
      dir,
    );
  }
});

test('problems are located: manifest paths for conversion, resource fields for validation, all of them', () => {
  const parsed = parseManifest(`
version: "1.0"
metadata: { name: broken }
namespaces:
  - name: shop
    feature_extractors: [{ name: text_extractor, version: v1 }]
buckets:
  - name: products
    namespace: shop
  - name: images
    namespace: shop
    schema: { properties: { img: { type: picture } } }
collections:
  - name: product_text
    namespace: shop
    source: { type: bucket, bucket_ids: [missing_bucket] }
    feature_extractor: { feature_extractor_name: no_such_extractor, version: v1 }
`);
  assert.deepEqual(parsed.errors.map((e) => e.location), ['buckets[0].schema']);
  const plan = planManifest(parsed, { k8sNamespace: 'default' });
  assert.equal(plan.valid, false);
  const problems = planProblems(plan);
  const find = (name: string | undefined, field: string) => problems.find((p) => p.name === name && p.field === field);
  assert.ok(find(undefined, 'buckets[0].schema'), JSON.stringify(problems));
  assert.ok(find('images', 'spec.schema.properties.img.type'), JSON.stringify(problems));
  const productText = objectNameFor('shop', 'Collection', 'product_text');
  assert.ok(find('product_text', 'spec.featureExtractor.name'), JSON.stringify(problems));
  assert.ok(problems.some((p) => p.name === 'product_text' && p.object_name === productText), 'named as in the manifest, with the object name');
  const ref = find('product_text', 'spec.source.bucketRefs[0]');
  assert.ok(ref && ref.message.includes(objectNameFor('shop', 'Bucket', 'missing_bucket')), JSON.stringify(problems));
});

test('syntax errors and non-manifests are 400s naming the line or what was expected', () => {
  assert.throws(() => parseManifest('version: "1.0"\nnamespaces:\n  - name: [unclosed\n'), (e: unknown) => e instanceof QuarryError && e.status === 400 && /line/.test(e.message));
  assert.throws(() => parseManifest('just: a mapping\n'), (e: unknown) => e instanceof QuarryError && e.status === 400 && /not a manifest/.test(e.message));
  assert.throws(() => parseManifest(''), (e: unknown) => e instanceof QuarryError && e.status === 400);
  assert.deepEqual(parseDocuments('a: 1\n---\nb: 2\n'), [{ a: 1 }, { b: 2 }]);
});

test('CR YAML with a foreign apiVersion or unknown kind is reported per document', () => {
  const parsed = parseManifest(`apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata: { name: b }
spec: { namespaceRef: n, schema: { properties: { x: { type: text } } } }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: c }
---
apiVersion: quarry.dev/v1alpha1
kind: Widget
metadata: { name: w }
`);
  assert.equal(parsed.resources.length, 1);
  assert.deepEqual(parsed.errors.map((e) => e.location), ['document 2.apiVersion', 'document 3.kind']);
});

test('a write the store rejects stops the run and deletes what this run created (rollback); nothing after it is written', async () => {
  const store = new LocalResourceStore({ fieldManager: 'quarry-engine' });
  const failing: ResourceStore = Object.assign(Object.create(store) as ResourceStore, {
    apply: async (intent: ApplyIntent, o?: ApplyOptions) => {
      if (intent.kind === 'Collection') throw new ResourceStoreError('Invalid', 422, 'admission webhook said no');
      return store.apply(intent, o);
    },
  });
  const plan = planManifest(parseManifest(DOCS_SEARCH), { k8sNamespace: 'local', live: await listLive(store, 'local') });
  assert.ok(plan.valid, JSON.stringify(planProblems(plan)));
  const result = await applyPlan(failing, plan);
  assert.equal(result.success, false);
  assert.equal(result.rollback_performed, true);
  assert.deepEqual(result.rolled_back, [{ kind: 'Bucket', name: 'labels' }, { kind: 'Bucket', name: 'docs' }, { kind: 'QuarryNamespace', name: DNS_NS }]);
  assert.equal(result.resources.find((r) => r.object_name === on('Collection', 'docs_text'))?.status, 'failed');
  assert.equal(result.resources.find((r) => r.name === 'docs_text')?.status, 'failed');
  assert.match(result.errors[0]!, /admission webhook said no/);
  assert.deepEqual([...new Set(result.resources.filter((r) => r.kind === 'Retriever' || r.kind === 'Taxonomy').map((r) => r.status))], ['skipped']);
  assert.deepEqual(await listLive(store, 'local'), [], 'nothing is left behind');
});

test('a JSON manifest object (not text) is read like its YAML', () => {
  const fromYaml = parseManifest(REFERENCE_EXAMPLE);
  const fromJson = parseManifest(parseDocuments(REFERENCE_EXAMPLE)[0]);
  assert.deepEqual(fromJson.resources, fromYaml.resources);
});

test('items without a namespace take the default namespace (X-Namespace) when the manifest declares none', () => {
  const text = `version: "1.0"
metadata: { name: into-existing }
buckets:
  - name: extra_files
    schema: { properties: { f: { type: pdf } } }
`;
  const without = parseManifest(text);
  assert.deepEqual(without.errors.map((e) => e.location), ['buckets[0].namespace']);
  const withNs = parseManifest(text, { defaultNamespace: 'docs_ns' });
  assert.deepEqual(withNs.errors, []);
  assert.equal(withNs.resources[0]!.spec.namespaceRef, DNS_NS);
});

test('a stream of several Mixpeek manifests and Quarry resources (a folder) is read as one manifest; duplicates are errors', () => {
  const cr = (kind: string, name: string, spec: Record<string, unknown>) => stringify({ apiVersion: 'quarry.dev/v1alpha1', kind, metadata: { name }, spec });
  const bucket = cr('Bucket', 'extra', { namespaceRef: VS, schema: { properties: { body: { type: 'text' } } } });
  const stream = [REFERENCE_EXAMPLE, DOCS_SEARCH, bucket].join('\n---\n');
  const parsed = parseManifest(stream);
  assert.deepEqual(parsed.errors, []);
  const names = parsed.resources.map((r) => `${r.kind}/${r.metadata.annotations?.[SOURCE_NAME_ANNOTATION] ?? r.metadata.name}`);
  for (const n of ['QuarryNamespace/video_search', 'Collection/video_index', 'QuarryNamespace/docs_ns', 'Retriever/docs_search', 'Bucket/extra']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
  assert.equal(parsed.sources.length, parsed.resources.length);
  assert.ok(parsed.sources.some((s) => s.startsWith('document 2: ')), 'sources say which document');
  assert.ok(parsed.sources.includes('document 3'), 'the resource keeps its place in the stream');
  assert.ok(parsed.missingSecrets.length === 0 && parsed.secrets.includes('S3_CONNECTION_ID'), 'secrets of every manifest are collected');

  // The same manifest twice (two files declaring one namespace) would overwrite itself: each duplicate is named.
  const twice = parseManifest([REFERENCE_EXAMPLE, REFERENCE_EXAMPLE, bucket, bucket].join('\n---\n'));
  const dup = twice.errors.map((e) => `${e.location}: ${e.message}`);
  assert.ok(dup.some((m) => /^document 2: .*QuarryNamespace '[^']+' is declared twice \(also at document 1: /.test(m)), dup.join('\n'));
  assert.ok(dup.some((m) => /^document 4: Bucket 'extra' is declared twice \(also at document 3\)/.test(m)), dup.join('\n'));
  assert.equal(planManifest(twice, { k8sNamespace: 'default', live: [] }).valid, false, 'nothing applies');
});
