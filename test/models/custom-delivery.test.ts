/**
 * Custom model delivery (engine/src/models/custom/) on real sources: a Model's files fetched from a volume, from an
 * https server on loopback (through the SSRF guard) and from real MinIO (s3:// with a credentials Secret), verified
 * by sha256 into the cache, loaded through OnnxModels and run. The synthetic CLIP and cross-encoder of hack/models/
 * are the models; the reranker's scores are checked against its numpy reference, the CLIP's outputs against the same
 * files loaded as a built-in. Also: a tampered file is refused and never loaded, a restart re-uses the cache without
 * downloading, a file that is not a model or has other dimensions fails naming the file, volume roots and the SSRF
 * guard hold.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { ModelCache } from '#engine/models/custom/cache.ts';
import { CustomModels } from '#engine/models/custom/custom-models.ts';
import { S3ObjectStore } from '#engine/objects/s3.ts';
import type { Model, ModelSpec } from '#core/resources/generated/types.ts';
import { validateResource, formatErrors } from '#core/resources/validate.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/models');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const file = (dir: string, p: string, role: string) => ({ path: p, role, sha256: sha(path.join(FIXTURES, dir, p)) }) as ModelSpec['files'][number];

const clipFiles = () => [
  file('tiny_clip', 'vision_model.onnx', 'vision_model'),
  file('tiny_clip', 'text_model.onnx', 'text_model'),
  file('tiny_clip', 'tokenizer.json', 'tokenizer'),
  file('tiny_clip', 'tokenizer_config.json', 'tokenizer_config'),
  file('tiny_clip', 'preprocessor_config.json', 'preprocessor_config'),
];
const rerankerFiles = () => [file('tiny_reranker', 'model.onnx', 'model'), file('tiny_reranker', 'tokenizer.json', 'tokenizer'), file('tiny_reranker', 'tokenizer_config.json', 'tokenizer_config')];

function model(name: string, spec: ModelSpec, namespace = 'team-a', generation = 1): Model {
  const m = { apiVersion: 'quarry.dev/v1alpha1', kind: 'Model', metadata: { name, namespace, generation }, spec } as Model;
  const v = validateResource(m);
  assert.equal(v.valid, true, formatErrors(v.errors));
  return v.value as Model;
}

/** Serves `root` over HTTP on loopback, counting requests per path; `tamper` rewrites a path's body. */
function fileServer(root: string) {
  const hits = new Map<string, number>();
  const tamper = new Map<string, Buffer>();
  const server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    hits.set(p, (hits.get(p) ?? 0) + 1);
    const f = path.join(root, p);
    const body = tamper.get(p) ?? (f.startsWith(root) && existsSync(f) ? readFileSync(f) : undefined);
    if (!body) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
  });
  return { server, hits, tamper };
}

const png = (r: number, g: number, b: number) => sharp({ create: { width: 300, height: 260, channels: 3, background: { r, g, b } } }).png().toBuffer();

describe('custom model delivery', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'quarry-custom-models-'));
  /** A second allowed volume root for models made by the tests. */
  const volRoot = mkdtempSync(path.join(os.tmpdir(), 'quarry-model-volume-'));
  const builtins = new OnnxModels({ dir: FIXTURES });
  const srv = fileServer(FIXTURES);
  let base = '';
  const reference = JSON.parse(readFileSync(path.join(FIXTURES, 'tiny_reranker/reference.json'), 'utf8')) as { items: { input: [string, string]; score: number }[] };

  const manager = (cacheDir: string, host = new OnnxModels({ dir: FIXTURES }), extra: Partial<ConstructorParameters<typeof CustomModels>[0]['sources']> = {}) => {
    const cache = new ModelCache(cacheDir);
    return { host, cache, custom: new CustomModels({ host, cache, sources: { volumeRoots: [FIXTURES, volRoot], allowCidrs: ['127.0.0.0/8'], ...extra }, retryMs: 0 }) };
  };

  before(async () => {
    await new Promise<void>((r) => srv.server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(srv.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await builtins.close();
    await new Promise((r) => srv.server.close(r));
    rmSync(tmp, { recursive: true, force: true });
    rmSync(volRoot, { recursive: true, force: true });
  });

  it('serves an image-text model from a volume: same vectors as the same files installed as a built-in', async () => {
    const { host, custom, cache } = manager(path.join(tmp, 'vol'));
    await custom.sync([model('my-clip', { type: 'image-text', source: { volume: { path: path.join(FIXTURES, 'tiny_clip') } }, files: clipFiles(), runtime: { dimensions: 3 } })]);
    assert.deepEqual(custom.failed(), []);
    assert.deepEqual(custom.served().map((s) => [s.name, s.kind]), [['team-a/my-clip', 'image-text-embedding']]);
    const images = [await png(200, 30, 30), await png(20, 200, 90)];
    assert.deepEqual(await host.embedImage('team-a/my-clip', images), await builtins.embedImage('tiny_clip', images));
    assert.deepEqual(await host.embedText('team-a/my-clip', ['a photo of a dog']), await builtins.embedText('tiny_clip', ['a photo of a dog']));
    assert.equal(host.info('team-a/my-clip').dimensions, 3);
    assert.equal(cache.stats.downloads, 5);
    await host.close();
  });

  it('generates the preprocessing from spec.runtime.image when no preprocessor_config file is given', async () => {
    const { host, custom } = manager(path.join(tmp, 'gen'));
    const files = clipFiles().filter((f) => f.role !== 'preprocessor_config');
    const image = { size: 224, cropSize: 224, mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711], resample: 'bicubic' as const };
    await custom.sync([model('gen-clip', { type: 'image-text', source: { volume: { path: path.join(FIXTURES, 'tiny_clip') } }, files, runtime: { dimensions: 3, image } })]);
    assert.deepEqual(custom.failed(), []);
    const img = [await png(90, 120, 250)];
    assert.deepEqual(await host.embedImage('team-a/gen-clip', img), await builtins.embedImage('tiny_clip', img));
    await host.close();
  });

  it('serves a reranker over https on loopback; its scores match the numpy reference; a restart downloads nothing', async () => {
    const spec: ModelSpec = { type: 'reranker', source: { https: { url: `${base}/tiny_reranker/` } }, files: rerankerFiles(), runtime: { maxTokens: 24 } };
    const dir = path.join(tmp, 'https');
    const first = manager(dir);
    await first.custom.sync([model('my-reranker', spec)]);
    assert.deepEqual(first.custom.failed(), []);
    for (const item of reference.items) {
      const [score] = await first.host.rerank('team-a/my-reranker', item.input[0], [item.input[1]]);
      assert.ok(Math.abs(score! - item.score) < 1e-4, `${item.input.join(' | ')}: ${score} vs ${item.score}`);
    }
    assert.equal(srv.hits.get('/tiny_reranker/model.onnx'), 1);
    await first.host.close();

    // A new process on the same cache directory: served again, nothing fetched.
    const second = manager(dir);
    await second.custom.sync([model('my-reranker', spec)]);
    assert.deepEqual(second.custom.failed(), []);
    assert.equal(srv.hits.get('/tiny_reranker/model.onnx'), 1, 'the restart downloaded the file again');
    assert.equal(second.cache.stats.downloads, 0);
    assert.equal(second.cache.stats.hits, 3);
    assert.equal((await second.host.rerank('team-a/my-reranker', reference.items[0]!.input[0], [reference.items[0]!.input[1]])).length, 1);
    await second.host.close();
  });

  it('refuses a tampered file: HashMismatch naming it, the model not served, nothing of it in the cache', async () => {
    const { host, custom, cache } = manager(path.join(tmp, 'tampered'));
    const good = readFileSync(path.join(FIXTURES, 'tiny_reranker/model.onnx'));
    const bad = Buffer.from(good);
    bad[bad.length - 10] = bad[bad.length - 10]! ^ 0xff;
    srv.tamper.set('/tampered/model.onnx', bad);
    try {
      const spec: ModelSpec = { type: 'reranker', source: { https: { url: `${base}/tampered/` } }, files: rerankerFiles(), runtime: { maxTokens: 24 } };
      await custom.sync([model('tampered', spec)]);
      assert.deepEqual(custom.served(), []);
      const [f] = custom.failed();
      assert.equal(f?.reason, 'HashMismatch');
      assert.equal(f?.file, 'model.onnx');
      assert.match(f!.message, /file model\.onnx: sha256 of .*tampered\/model\.onnx is [0-9a-f]{64}, spec\.files lists [0-9a-f]{64}/);
      assert.throws(() => host.info('team-a/tampered'), /not installed/);
      assert.equal(existsSync(cache.blobPath(sha(path.join(FIXTURES, 'tiny_reranker/model.onnx')))), false);
      assert.deepEqual(readdirSync(path.join(cache.dir, 'tmp')), [], 'a refused download left a file behind');
      assert.equal(cache.stats.mismatches, 1);
    } finally {
      srv.tamper.delete('/tampered/model.onnx');
    }
    await host.close();
  });

  it('a file that is not a model, or other dimensions than declared: LoadFailed naming the file', async () => {
    const dir = mkdtempSync(path.join(volRoot, 'broken-'));
    try {
      cpSync(path.join(FIXTURES, 'tiny_clip'), dir, { recursive: true });
      writeFileSync(path.join(dir, 'text_model.onnx'), 'this is not an onnx graph');
      const files = clipFiles().map((f) => (f.role === 'text_model' ? { ...f, sha256: sha(path.join(dir, 'text_model.onnx')) } : f));
      const { host, custom } = manager(path.join(tmp, 'broken'));
      await custom.sync([
        model('broken-clip', { type: 'image-text', source: { volume: { path: dir } }, files, runtime: { dimensions: 3 } }),
        model('wide-clip', { type: 'image-text', source: { volume: { path: path.join(FIXTURES, 'tiny_clip') } }, files: clipFiles(), runtime: { dimensions: 512 } }),
      ]);
      assert.deepEqual(custom.served(), []);
      const byName = Object.fromEntries(custom.failed().map((f) => [f.name, f]));
      assert.equal(byName['team-a/broken-clip']?.reason, 'LoadFailed');
      assert.equal(byName['team-a/broken-clip']?.file, 'text_model.onnx');
      assert.equal(byName['team-a/wide-clip']?.reason, 'LoadFailed');
      assert.equal(byName['team-a/wide-clip']?.file, 'vision_model.onnx');
      assert.match(byName['team-a/wide-clip']!.message, /returned 3 values per item.*says 512/);
      await host.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('volume sources stay under the allowed roots (symlinks included); https to loopback needs the allow-list', async () => {
    const outside = mkdtempSync(path.join(os.tmpdir(), 'quarry-outside-'));
    const link = path.join(volRoot, 'escape');
    try {
      cpSync(path.join(FIXTURES, 'tiny_reranker'), outside, { recursive: true });
      symlinkSync(outside, link);
      const { custom, host } = manager(path.join(tmp, 'roots'), undefined, { allowCidrs: [] });
      await custom.sync([
        model('outside', { type: 'reranker', source: { volume: { path: outside } }, files: rerankerFiles() }),
        model('escape', { type: 'reranker', source: { volume: { path: link } }, files: rerankerFiles() }),
        model('ssrf', { type: 'reranker', source: { https: { url: `${base}/tiny_reranker/` } }, files: rerankerFiles() }),
      ]);
      const byName = Object.fromEntries(custom.failed().map((f) => [f.name, f]));
      assert.equal(byName['team-a/outside']?.reason, 'VolumeNotAllowed');
      assert.match(byName['team-a/outside']!.message, /QUARRY_MODEL_VOLUME_ROOTS|not under a model volume root/);
      assert.equal(byName['team-a/escape']?.reason, 'VolumeNotAllowed');
      assert.equal(byName['team-a/escape']?.file, 'model.onnx');
      assert.equal(byName['team-a/ssrf']?.reason, 'FetchFailed');
      assert.match(byName['team-a/ssrf']!.message, /QUARRY_FETCH_ALLOW_PRIVATE/);
      assert.deepEqual(custom.served(), []);
      await host.close();
    } finally {
      rmSync(link, { force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it("serves a model from s3:// on real MinIO with the credentials of a Secret; a missing Secret names it; a tenant's Secret is never used", async (t) => {
    const endpoint = process.env.S3_ENDPOINT;
    if (!endpoint) assert.fail('S3_ENDPOINT is not set: source .cache/test-env.sh (real MinIO) before running this file');
    const store = new S3ObjectStore({ endpoint, region: 'us-east-1', accessKeyId: process.env.S3_ACCESS_KEY!, secretAccessKey: process.env.S3_SECRET_KEY!, forcePathStyle: true });
    const bucket = `quarry-models-test-${Date.now().toString(36)}`;
    await store.ensureBucket(bucket);
    t.after(async () => {
      await store.deleteBucket(bucket, { force: true }).catch(() => {});
      await store.close();
    });
    for (const f of rerankerFiles()) await store.put(bucket, `team/reranker/${f.path}`, readFileSync(path.join(FIXTURES, 'tiny_reranker', f.path)));
    const host = new URL(endpoint).host;
    const keys = { accessKeyId: process.env.S3_ACCESS_KEY!, secretAccessKey: process.env.S3_SECRET_KEY! };
    // The same working keys in Secrets a Model for every namespace may not use: a tenant's namespace secrets, and a
    // Secret labelled for one QuarryNamespace (lib/secret-refs.ts).
    const secrets: Record<string, { data: Record<string, string>; labels: Record<string, string> }> = {
      'team-a/minio-reader': { data: keys, labels: {} },
      'team-a/quarry-secrets-victim': { data: keys, labels: {} },
      'team-a/victim-s3': { data: keys, labels: { 'quarry.dev/namespace': 'victim' } },
    };
    const { custom, host: models } = manager(path.join(tmp, 's3'), undefined, {
      storagePolicy: { endpoints: [host], allowCidrs: [], shared: [] },
      readSecret: async (ns, name) => secrets[`${ns}/${name}`],
    });
    const spec = (secret: string, namespaceRefs?: string[]): ModelSpec => ({ ...(namespaceRefs ? { namespaceRefs } : {}), type: 'reranker', source: { s3: { url: `s3://${bucket}/team/reranker/`, endpoint, forcePathStyle: true, credentialsSecretRef: { name: secret } } }, files: rerankerFiles(), runtime: { maxTokens: 24 } });
    // Another namespace's quarry-secrets-* fails validation (a 422, Stalled); stored anyway (no admission check), the runtime still refuses it.
    const nsSecret = { ...model('tenant-ns-secret', spec('minio-reader')), spec: spec('quarry-secrets-victim') };
    assert.match(formatErrors(validateResource(nsSecret).errors), /spec\.source\.s3\.credentialsSecretRef\.name: the Secret 'quarry-secrets-victim' holds the secrets of QuarryNamespace 'victim'/);
    await custom.sync([model('s3-reranker', spec('minio-reader')), model('no-secret', spec('absent')), nsSecret, model('tenant-labelled', spec('victim-s3')), model('for-victim', spec('victim-s3', ['victim']))]);
    assert.deepEqual(custom.served().map((s) => s.name).sort(), ['team-a/for-victim', 'team-a/s3-reranker']);
    const failed = new Map(custom.failed().map((f) => [f.name, f]));
    assert.equal(failed.get('team-a/no-secret')?.reason, 'SecretMissing');
    assert.match(failed.get('team-a/no-secret')!.message, /Secret 'absent' not found in namespace 'team-a'/);
    for (const n of ['team-a/tenant-ns-secret', 'team-a/tenant-labelled']) {
      assert.equal(failed.get(n)?.reason, 'SecretNotAllowed', n);
      assert.match(failed.get(n)!.message, /not one this Model may use/);
    }
    const item = reference.items[2]!;
    const [score] = await models.rerank('team-a/s3-reranker', item.input[0], [item.input[1]]);
    assert.ok(Math.abs(score! - item.score) < 1e-4);
    await models.close();
  });

  it('a deleted Model is unregistered; models of two Kubernetes namespaces with one name stay apart', async () => {
    const { host, custom } = manager(path.join(tmp, 'tenants'));
    const vol = { volume: { path: path.join(FIXTURES, 'tiny_reranker') } };
    await custom.sync([model('shared-name', { type: 'reranker', source: vol, files: rerankerFiles() }, 'team-a'), model('shared-name', { type: 'reranker', source: vol, files: rerankerFiles() }, 'team-b')]);
    assert.deepEqual(custom.served().map((s) => s.name).sort(), ['team-a/shared-name', 'team-b/shared-name']);
    await custom.sync([model('shared-name', { type: 'reranker', source: vol, files: rerankerFiles() }, 'team-b')]);
    assert.deepEqual(custom.served().map((s) => s.name), ['team-b/shared-name']);
    assert.throws(() => host.info('team-a/shared-name'), /not installed/);
    await host.close();
  });
});
