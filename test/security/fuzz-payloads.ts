/**
 * Request generators for the fuzz suite: for any route the engine registers, a request built from a seeded PRNG
 * (mulberry32, the engine's own: fast-check was not added, see fuzz.test.ts) with the mutations of issue 14: wrong
 * types, huge and deeply nested bodies, prototype keys, template and regex payloads, malformed ids, multipart and
 * YAML edge cases, broken data URLs. `targeted()` lists each hostile payload once, so every class is sent whatever
 * the seed.
 */
import type { Json, World } from './world.ts';

export interface FuzzRequest {
  what: string;
  method: string;
  url: string;
  key: string | undefined;
  ns?: string;
  body?: unknown;
  raw?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export type Rnd = () => number;
const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

/** Catastrophic-backtracking input for `^(a+)+$`: n a's and a character that makes the match fail. */
export const evilInput = (n: number) => `${'a'.repeat(n)}!`;

export const MALFORMED_IDS = [
  'a b', 'a%20b', '%', '%E0%A4%A', '..', '../..', '.', 'x'.repeat(5000), 'ü🦀中文', '\u0000', '%00', 'null', 'undefined', '__proto__',
  'constructor', 'prototype', 'ns_', 'bkt_zz', 'obj_', 'task_' + 'f'.repeat(300), 'exec_', '-', '*', '{{ INPUT.x }}', "'; DROP TABLE x; --", 'a/b', 'a\\b',
];

/** A JSON text nested `depth` levels deep (objects), built as text: JSON.stringify of such a value would recurse. */
export function deepJson(depth: number, leaf = '1'): string {
  return `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
}
export const deepArray = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

/**
 * Lengths calibrated on the unfixed engine (2-core machine) so that each backtracking payload costs it a few
 * seconds alone, well over the 2 s limit, without stalling the run for minutes: `^(a+)+$` doubles per character
 * (26 characters: 0.46 s in a filter), wildcard search grows ×5.5 per `*` (7: 0.34 s).
 */
export const EVIL_TITLE = 29;
export const EVIL_TEMPLATE = 27;

/** Regex filters on `field` (A holds a document whose title is evilInput(EVIL_TITLE)). */
export const REGEX_FILTERS = (field: string): Json[] => [
  { field, operator: 'regex', value: '^(a+)+$' },
  { field: `metadata.${field}`, operator: 'regex', value: '^(a+)+$' },
  { field, operator: 'regex', value: '(a|aa)+$' },
  { field, operator: 'regex', value: '(' },
  { field, operator: 'regex', value: 'x'.repeat(100_000) },
  { AND: [{ field, operator: 'regex', value: '^(a+)+$' }] },
];

export const TEMPLATES = (n: number, pad = 20_000_000): { template: string; q: string }[] => [
  { template: '{{ INPUT.q.replace(r/^(a+)+$/, "z") }}', q: evilInput(n) },
  { template: 'x {{ INPUT.q.replace(r/^(a+)+$/, "z") }}', q: evilInput(n) },
  { template: '{{ INPUT.q.replace(r/(a|aa)+$/, "z") }}', q: evilInput(Math.min(n, 20)) },
  { template: `{{ INPUT.q.padStart(${pad}, "x") }}`, q: 'a' },
  { template: `x {{ INPUT.q.padEnd(${pad}, "x") }}`, q: 'a' },
  { template: `{{ INPUT.q.padStart(${pad}, "x").padStart(${2 * pad}, "y") }}`, q: 'a' },
  { template: '{% for i in range(100000000) %}x{% endfor %}', q: 'a' },
  { template: '{{ "".constructor.constructor("return process")() }}', q: 'a' },
  { template: '{{ [""]|sum("constructor") }}', q: 'a' },
  { template: '{{ INPUT.q.replace("a", INPUT.q.replace) }}', q: 'a' },
  { template: '{{ INPUT.__proto__ }}', q: 'a' },
  { template: '{{', q: 'a' },
  { template: '{% raw %}', q: 'a' },
];

export const DATA_URLS = ['data:,%E0%A4%A', 'data:text/plain;base64,@@@', 'data:', 'data:;base64,', `data:text/plain,${'%'.repeat(1000)}`, 'data:image/png;base64,' + 'A'.repeat(100_000), 'javascript:alert(1)', 'file:///etc/passwd', 'http://169.254.169.254/latest/meta-data/', 'http://[::ffff:127.0.0.1]/', 'http://[::7f00:1]/'];

const PROTO_JSON = [
  '{"__proto__":{"polluted":true},"metadata":{"title":"x"}}',
  '{"metadata":{"__proto__":{"polluted":true},"title":"x"}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"filters":{"__proto__":{"field":"x"}},"search":"x"}',
  '{"stages":[{"stage_id":"limit","parameters":{"__proto__":{"limit":1}}}],"collection_identifiers":["a-docs"]}',
  '{"prototype":{"x":1},"name":"x","namespaces":["alpha"]}',
];

/** YAML manifests that must be refused with a 4xx: prototype keys, alias bombs, huge documents, junk. */
export function yamlManifests(): { what: string; text: string }[] {
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 12; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  const ns = (extra: string) => `apiVersion: quarry.dev/v1alpha1\nkind: QuarryNamespace\nmetadata:\n  name: alpha\n${extra}spec:\n  featureExtractors:\n    - name: passthrough_extractor\n      version: v1\n`;
  const bucket = (meta: string) =>
    `apiVersion: quarry.dev/v1alpha1\nkind: Bucket\nmetadata:\n  name: fuzzed\nspec:\n  namespaceRef: alpha\n  metadata:\n${meta}  schema:\n    properties:\n      title:\n        type: string\n`;
  return [
    { what: '__proto__ under spec.metadata (issue 14 #4)', text: bucket('    __proto__:\n      polluted: true\n') },
    { what: 'constructor.prototype under spec.metadata', text: bucket('    constructor:\n      prototype:\n        polluted: true\n') },
    { what: '__proto__ at the top', text: `__proto__:\n  polluted: true\n${ns('')}` },
    { what: '__proto__ in metadata.annotations', text: ns('  annotations:\n    __proto__: x\n') },
    { what: 'YAML alias bomb', text: bomb.join('\n') },
    { what: 'a 3 MB YAML document', text: bucket(`    big: "${'x'.repeat(3_000_000)}"\n`) },
    { what: '5,000 documents', text: Array.from({ length: 5000 }, (_, i) => `apiVersion: quarry.dev/v1alpha1\nkind: Bucket\nmetadata:\n  name: b${i}\nspec:\n  namespaceRef: alpha\n`).join('---\n') },
    { what: 'deep YAML nesting', text: `a: ${'['.repeat(5000)}${']'.repeat(5000)}` },
    { what: 'tabs and junk', text: '\t\t: : :\n- - -\n{{{' },
    { what: 'a custom tag', text: 'a: !!js/function "function(){ return process }"' },
    { what: 'merge key loop', text: 'a: &a\n  <<: *a\n' },
    { what: 'an unknown kind', text: 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata:\n  a: b\n' },
  ];
}

/**
 * The manifests sent to a manifest route. Apply does not get the 5,000-resource one: applying it takes minutes
 * (issue 14 #11, whose limit and test belong to the manifest work), which would stall every later request.
 */
export const manifestsFor = (op: string) => yamlManifests().filter((m) => op !== 'apply' || !m.what.startsWith('5,000'));

/** Multipart bodies that must be refused with a 4xx. */
export function multipartBodies(): { what: string; contentType: string; raw: string }[] {
  const part = '--b\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n';
  return [
    { what: 'no boundary', contentType: 'multipart/form-data', raw: part + '--b--\r\n' },
    { what: 'truncated body', contentType: 'multipart/form-data; boundary=b', raw: part.slice(0, 60) },
    { what: 'no closing boundary', contentType: 'multipart/form-data; boundary=b', raw: part },
    { what: 'wrong boundary', contentType: 'multipart/form-data; boundary=zzz', raw: part + '--b--\r\n' },
    { what: 'empty', contentType: 'multipart/form-data; boundary=b', raw: '' },
    { what: 'header without end', contentType: 'multipart/form-data; boundary=b', raw: '--b\r\nContent-Disposition: form-data; name="file"; filename="' + 'x'.repeat(20000) },
    { what: 'a huge boundary', contentType: `multipart/form-data; boundary=${'b'.repeat(5000)}`, raw: part },
  ];
}

/** Junk of every JSON type, including huge and deep values. */
export function junk(rnd: Rnd): unknown {
  return pick<() => unknown>(rnd, [
    () => null, () => 0, () => -1, () => 1e308, () => -0, () => 2 ** 53 + 1, () => '', () => 'x', () => true, () => [], () => {}, () => ({}),
    () => [1, 'a', null], () => 'ü🦀\u0000', () => 'x'.repeat(Math.floor(rnd() * 200_000)), () => Array(5000).fill(1),
    () => ({ field: 'title', operator: 'regex', value: '^(a+)+$' }), () => pick(rnd, MALFORMED_IDS), () => pick(rnd, DATA_URLS),
    () => ({ a: { b: { c: { d: [{}] } } } }), () => '{{ INPUT.q }}', () => '${{ secrets.X }}',
  ])();
}

/** A plausible body for a route (so mutations reach past the first type check). */
export function baseBody(rnd: Rnd, route: string, w: World): unknown {
  // Random bursts run concurrently: cheap sizes here (the targeted burst sends the expensive ones alone).
  const t = pick(rnd, TEMPLATES(Math.floor(14 + rnd() * 6), 1_000_000));
  if (/\/objects$/.test(route)) return { metadata: { title: pick(rnd, ['x', evilInput(20)]) }, blobs: [{ property: 'body', type: 'text', data: pick(rnd, ['hello', ...DATA_URLS]) }] };
  if (/\/objects\/batch$/.test(route)) return { objects: [{ metadata: { title: 'x' }, blobs: [{ property: 'body', type: pick(rnd, ['text', 'image', 'pdf', 'zz']), data: pick(rnd, DATA_URLS) }] }], skip_duplicates: junk(rnd) };
  if (/\/uploads(\/batch)?$/.test(route)) return { filename: pick(rnd, ['x.txt', ...MALFORMED_IDS]), content_type: pick(rnd, ['text/plain', 'x', '']), object_metadata: { title: 'x' }, file_size_bytes: junk(rnd) };
  if (/execute(\/batch)?$|explain$/.test(route)) {
    const stages = [{ stage_id: 'attribute_filter', parameters: { field: 'title', operator: pick(rnd, ['eq', 'regex', 'exists', 'text']), value: t.template } }];
    const body = { collection_identifiers: [w.a.collection], stages, inputs: { q: t.q }, filters: pick(rnd, [undefined, ...REGEX_FILTERS('category')]) };
    return route.endsWith('/batch') ? { queries: [{ inputs: { q: t.q } }], concurrency: pick(rnd, [1, 20, 0, 'x']) } : body;
  }
  if (/\/list$/.test(route)) {
    return pick<Json>(rnd, [
      { filters: pick(rnd, REGEX_FILTERS('category')) },
      { search: '*'.repeat(5 + Math.floor(rnd() * 3)) + '#' },
      { search: pick(rnd, ['a*b*c*d*e*f*g*#', '?'.repeat(50), '\\', '[', '(a+)+']) },
      { sort: { field: pick(rnd, ['__proto__', 'x'.repeat(1000), 'name']), direction: junk(rnd) } },
      { limit: junk(rnd), offset: junk(rnd), cursor: junk(rnd) },
      { filters: JSON.parse(deepJson(200, '{"field":"x","operator":"eq","value":1}')) },
    ]);
  }
  if (/\/batches$/.test(route)) return { object_ids: pick(rnd, [[], MALFORMED_IDS, junk(rnd)]) };
  if (/api-keys$/.test(route)) return { name: junk(rnd), namespaces: pick(rnd, [['alpha'], '*', [], junk(rnd)]), permissions: junk(rnd), expires_at: junk(rnd) };
  if (/^POST \/v1\/(namespaces|buckets|collections|retrievers|taxonomies)$/.test(route) || /^(PATCH|PUT) /.test(route)) {
    return { namespace_name: junk(rnd), bucket_name: junk(rnd), collection_name: junk(rnd), retriever_name: junk(rnd), taxonomy_name: junk(rnd), description: junk(rnd), metadata: junk(rnd), stages: junk(rnd), storage: { existing_bucket_name: junk(rnd), endpoint: pick(rnd, DATA_URLS) } };
  }
  return { x: junk(rnd) };
}

/** One random request for `route` ("METHOD /pattern"). */
export function randomRequest(rnd: Rnd, route: string, w: World): FuzzRequest {
  const [method, pattern] = route.split(' ') as [string, string];
  const valid: Record<string, string> = { bucket: w.a.bucket, collection: w.a.collection, id: w.a.retriever, namespace_identifier: w.a.ns, taxonomy_identifier: w.a.taxonomy, batchId: w.a.openBatchId };
  // DELETE only ever names ids that do not exist: deleting A would leave the rest of the run nothing to reach.
  const url = pattern
    .replace(/:([A-Za-z_]+)/g, (_m, p: string) => encodeURIComponent(method !== 'DELETE' && valid[p] && rnd() < 0.5 ? valid[p] : pick(rnd, MALFORMED_IDS)))
    .replace('*', () => pick(rnd, ['x', 'quarry-local-a-notes/x?X-Quarry-Signature=zz', '..%2F..%2Fresources.json', '%E0%A4%A', 'a'.repeat(3000)]));
  const key = rnd() < 0.8 ? w.wk : pick(rnd, [w.rk, w.admin, undefined, 'sk_' + 'x'.repeat(40)]);
  const ns = rnd() < 0.85 ? w.a.ns : pick(rnd, ['', ' ', 'x'.repeat(5000), 'local/', '/', '%E0%A4%A', 'ns_zz', 'üÿ\u00a0']);
  const req: FuzzRequest = { what: 'random', method, url, key, ns };
  if (method === 'GET' || method === 'HEAD') return req; // fetch sends no body with these
  if (method === 'DELETE') return rnd() < 0.9 ? req : { ...req, raw: '{"a":1}', contentType: 'application/json' };
  if (/manifest\/(validate|diff|apply)$/.test(pattern) && rnd() < 0.6) {
    const m = pick(rnd, manifestsFor(pattern.slice(pattern.lastIndexOf('/') + 1)));
    return { ...req, what: `manifest: ${m.what}`, raw: m.text, contentType: pick(rnd, ['application/yaml', 'text/yaml', 'application/x-yaml', 'multipart/form-data', 'application/json']) };
  }
  if (/uploads\/direct$/.test(pattern)) {
    const m = pick(rnd, multipartBodies());
    return { ...req, what: `multipart: ${m.what}`, raw: m.raw, contentType: m.contentType };
  }
  const roll = rnd();
  if (roll < 0.08) return { ...req, what: 'prototype keys', raw: pick(rnd, PROTO_JSON), contentType: 'application/json' };
  if (roll < 0.13) return { ...req, what: 'deep nesting', raw: pick(rnd, [deepJson(10_000), deepArray(10_000), `{"metadata":${deepJson(10_000)},"blobs":[]}`]), contentType: 'application/json' };
  if (roll < 0.16) return { ...req, what: 'huge body', raw: JSON.stringify({ metadata: { title: 'x'.repeat(2_000_000) }, x: Array(20_000).fill('y') }), contentType: 'application/json' };
  if (roll < 0.2) return { ...req, what: 'broken JSON', raw: pick(rnd, ['{', '{"a":', 'nul', '\u0000', '[1,]', '{"a":1}{"b":2}']), contentType: pick(rnd, ['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream']) };
  const body = baseBody(rnd, route, w);
  if (roll < 0.5 && body && typeof body === 'object' && !Array.isArray(body)) {
    const keys = Object.keys(body);
    if (keys.length) (body as Json)[pick(rnd, keys)] = junk(rnd);
  }
  return { ...req, body: roll < 0.55 ? junk(rnd) : body };
}

/** Every hostile payload once, on the routes it targets (A's namespace, the read-write key). */
export function targeted(w: World): FuzzRequest[] {
  const base = { key: w.wk, ns: w.a.ns };
  const exec = (template: string, q: string): FuzzRequest => ({
    ...base, what: `template ${template.slice(0, 60)}`, method: 'POST', url: '/v1/retrievers/execute',
    body: { collection_identifiers: [w.a.collection], stages: [{ stage_id: 'attribute_filter', parameters: { field: 'title', operator: 'eq', value: template } }], inputs: { q } },
  });
  const out: FuzzRequest[] = [
    ...TEMPLATES(EVIL_TEMPLATE, 30_000_000).map((t) => exec(t.template, t.q)),
    ...REGEX_FILTERS('title').flatMap((f): FuzzRequest[] => [
      { ...base, what: `regex filter on documents/list ${JSON.stringify(f).slice(0, 80)}`, method: 'POST', url: `/v1/collections/${w.a.collection}/documents/list`, body: { filters: f } },
      { ...base, what: `regex filter on objects/list ${JSON.stringify(f).slice(0, 80)}`, method: 'POST', url: `/v1/buckets/${w.a.bucket}/objects/list`, body: { filters: f } },
      { ...base, what: `regex filter on buckets/list ${JSON.stringify(f).slice(0, 80)}`, method: 'POST', url: '/v1/buckets/list', body: { filters: f } },
      { ...base, what: `regex attribute_filter ${JSON.stringify(f).slice(0, 80)}`, method: 'POST', url: '/v1/retrievers/execute', body: { collection_identifiers: [w.a.collection], stages: [{ stage_id: 'attribute_filter', parameters: { conditions: f } }] } },
      { ...base, what: `regex pre_filters ${JSON.stringify(f).slice(0, 80)}`, method: 'POST', url: '/v1/retrievers/execute', body: { collection_identifiers: [w.a.collection], stages: [{ stage_name: 's', config: { stage_id: 'attribute_filter', parameters: { field: 'title', operator: 'exists', value: true } }, pre_filters: f }] } },
      { ...base, what: `stored retriever with regex ${JSON.stringify(f).slice(0, 80)}`, method: 'POST', url: '/v1/retrievers', body: { retriever_name: `rx-${Math.random().toString(36).slice(2, 8)}`, collection_identifiers: [w.a.collection], stages: [{ stage_id: 'attribute_filter', parameters: { conditions: f } }] } },
    ]),
    ...['******#', '*********#'].flatMap((s): FuzzRequest[] => [
      { ...base, what: `wildcard search ${s} on buckets/list`, method: 'POST', url: '/v1/buckets/list', body: { search: s } },
      { ...base, what: `wildcard search ${s} on objects/list`, method: 'POST', url: `/v1/buckets/${w.a.bucket}/objects/list`, body: { search: s } },
    ]),
    ...MALFORMED_IDS.flatMap((id): FuzzRequest[] => [
      { ...base, what: `task id ${id.slice(0, 40)}`, method: 'GET', url: `/v1/tasks/${encodeURIComponent(id)}` },
      { ...base, what: `batch id ${id.slice(0, 40)}`, method: 'GET', url: `/v1/buckets/${w.a.bucket}/batches/${encodeURIComponent(id)}` },
      { ...base, what: `upload id ${id.slice(0, 40)}`, method: 'GET', url: `/v1/buckets/${w.a.bucket}/uploads/${encodeURIComponent(id)}` },
      { ...base, what: `object id ${id.slice(0, 40)}`, method: 'GET', url: `/v1/buckets/${w.a.bucket}/objects/${encodeURIComponent(id)}` },
      { ...base, what: `document id ${id.slice(0, 40)}`, method: 'GET', url: `/v1/collections/${w.a.collection}/documents/${encodeURIComponent(id)}` },
      { ...base, what: `execution id ${id.slice(0, 40)}`, method: 'GET', url: `/v1/retrievers/executions/${encodeURIComponent(id)}` },
      { ...base, what: `retriever id ${id.slice(0, 40)}`, method: 'POST', url: `/v1/retrievers/${encodeURIComponent(id)}/execute`, body: {} },
    ]),
    ...DATA_URLS.map((d): FuzzRequest => ({ ...base, what: `blob data ${d.slice(0, 40)}`, method: 'POST', url: `/v1/buckets/${w.a.bucket}/objects`, body: { metadata: { title: 'x' }, blobs: [{ property: 'body', type: 'text', data: d }] } })),
    ...DATA_URLS.map((d): FuzzRequest => ({ ...base, what: `blob url ${d.slice(0, 40)}`, method: 'POST', url: `/v1/buckets/${w.a.bucket}/objects`, body: { metadata: { title: 'x' }, blobs: [{ property: 'body', type: 'text', url: d }] } })),
    { ...base, what: 'metadata nested 10,000 levels (issue 14 #14)', method: 'POST', url: `/v1/buckets/${w.a.bucket}/objects`, raw: `{"metadata":{"title":"x","deep":${deepJson(10_000)}},"blobs":[{"property":"body","type":"text","data":"x"}]}`, contentType: 'application/json' },
    { ...base, what: 'object patch nested 10,000 levels', method: 'PATCH', url: `/v1/buckets/${w.a.bucket}/objects/obj_missing`, raw: `{"metadata":${deepJson(10_000)}}`, contentType: 'application/json' },
    { ...base, what: 'batch metadata nested 10,000 levels', method: 'POST', url: `/v1/buckets/${w.a.bucket}/batches`, raw: `{"object_ids":[],"metadata":${deepJson(10_000)}}`, contentType: 'application/json' },
    { ...base, what: 'top-level skip_duplicates on objects/batch', method: 'POST', url: `/v1/buckets/${w.a.bucket}/objects/batch`, body: { skip_duplicates: true, objects: [{ metadata: { title: 'x' }, blobs: [{ property: 'body', type: 'text', data: 'x' }] }] } },
    ...PROTO_JSON.flatMap((raw): FuzzRequest[] => [
      { ...base, what: `prototype keys on objects ${raw.slice(0, 40)}`, method: 'POST', url: `/v1/buckets/${w.a.bucket}/objects`, raw, contentType: 'application/json' },
      { ...base, what: `prototype keys on buckets ${raw.slice(0, 40)}`, method: 'POST', url: '/v1/buckets', raw, contentType: 'application/json' },
      { ...base, what: `prototype keys on patch ${raw.slice(0, 40)}`, method: 'PATCH', url: `/v1/buckets/${w.a.bucket}`, raw, contentType: 'application/json' },
      { ...base, what: `prototype keys on execute ${raw.slice(0, 40)}`, method: 'POST', url: '/v1/retrievers/execute', raw, contentType: 'application/json' },
    ]),
    ...['validate', 'diff', 'apply'].flatMap((op) => [
      ...manifestsFor(op).map((m): FuzzRequest => ({ ...base, what: `manifest ${op}: ${m.what}`, method: 'POST', url: `/v1/manifest/${op}`, raw: m.text, contentType: 'application/yaml' })),
      { ...base, what: `manifest ${op}: multipart without boundary`, method: 'POST', url: `/v1/manifest/${op}`, raw: 'x', contentType: 'multipart/form-data' },
      { ...base, what: `manifest ${op}: JSON with __proto__`, method: 'POST', url: `/v1/manifest/${op}`, raw: '{"apiVersion":"quarry.dev/v1alpha1","kind":"Bucket","metadata":{"name":"p"},"spec":{"namespaceRef":"alpha","metadata":{"__proto__":{"polluted":true}}}}', contentType: 'application/json' },
    ]),
    ...multipartBodies().map((m): FuzzRequest => ({ ...base, what: `uploads/direct: ${m.what}`, method: 'POST', url: `/v1/buckets/${w.a.bucket}/uploads/direct`, raw: m.raw, contentType: m.contentType })),
  ];
  return out;
}
