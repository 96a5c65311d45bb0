/**
 * The `quarry` CLI, run as a subprocess (bin/quarry) against a local engine started here (local mode on a copy of
 * examples/hybrid-text-search plus a rerank-free retriever): --help on every command, exit codes (0 ok, 1 API
 * error, 2 usage, 3 unreachable), offline validate/convert, get, keys, manifest apply/diff/export, upload with a
 * batch, batch status --watch, search, and `up`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { ROOT, freePort } from '../harness/test-env.ts';
import { buildProgram } from '#engine/cli/program.ts';
import { snippet, thumbnailUrl } from '#engine/cli/search.ts';
import { fileMetadata, readJournal } from '#engine/cli/upload.ts';
import { DOCS_SEARCH } from '../manifest/fixtures.ts';
import { runCli, spawnCli, startEngine, type Engine } from './helpers.ts';

const SEARCH_RETRIEVER = `apiVersion: quarry.dev/v1alpha1
kind: Retriever
metadata:
  name: abstract-search
spec:
  namespaceRef: research
  description: Dense + BM25 passage search without rerank, for the CLI tests.
  collectionRefs: [abstract-passages]
  inputSchema:
    query:
      type: text
      required: true
  stages:
    - stageName: hybrid
      stageType: filter
      config:
        stageId: feature_search
        parameters:
          searches:
            - feature_uri: quarry://text_extractor@v1/all_minilm_l6_v2
              query: { input_mode: text, value: "{{INPUT.query}}" }
              top_k: 20
            - feature_uri: quarry://text_extractor@v1/bm25
              query: { input_mode: text, value: "{{INPUT.query}}" }
              top_k: 20
          fusion: rrf
          final_top_k: 10
`;

const EXTRA_RETRIEVER = SEARCH_RETRIEVER.replace('name: abstract-search', 'name: abstract-search-two').replace('without rerank, for the CLI tests', 'second copy applied through the CLI');

let engine: Engine;
let work: string;

before(async () => {
  engine = await startEngine({ example: 'hybrid-text-search', namespace: 'research', extraManifests: { '40-search.yaml': SEARCH_RETRIEVER } });
  work = path.join(engine.scratch, 'work');
  mkdirSync(work, { recursive: true });
});

after(async () => {
  await engine?.stop();
});

/** Every command path of the program, e.g. ['upload'], ['keys', 'create']. */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

async function inBatches<T, R>(items: T[], size: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

describe('usage', () => {
  test('--help on every command exits 0 and shows its usage', async () => {
    const paths = [[], ...commandPaths(buildProgram())];
    assert.ok(paths.length >= 15, `commands found: ${paths.map((p) => p.join(' ')).join(', ')}`);
    const results = await inBatches(paths, 3, async (p) => ({ p, r: await runCli([...p, '--help']) }));
    for (const { p, r } of results) {
      assert.equal(r.code, 0, `quarry ${p.join(' ')} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: quarry${p.length ? ' ' + p.join(' ') : ''}`, 'm'), `usage line of quarry ${p.join(' ')}`);
    }
  });

  test('bad usage exits 2 with a message', async () => {
    const cases: [string[], RegExp, Record<string, string>?][] = [
      [['bogus'], /unknown command 'bogus'/],
      [['upload'], /missing required argument 'bucket'/],
      [['get'], /missing required argument 'kind'/],
      [['-o', 'xml', 'get', 'buckets'], /Allowed choices are json, yaml, table/],
      [['upload', 'abstracts', '.', '--concurrency', '0'], /--concurrency must be a positive integer/],
      [['keys'], /Usage: quarry keys/],
      [['get', 'widgets'], /unknown kind 'widgets'/, engine.env()],
      [['search', 'abstract-search', 'q', '--filters', '{not json'], /--filters must be JSON/, engine.env()],
      [['search', 'abstract-search', 'q', '--input', 'novalue'], /expected key=value/],
      [['get', 'buckets'], /pass --namespace/, { QUARRY_URL: engine.url }],
      [['upload', 'abstracts', path.join(ROOT, 'no-such-dir')], /no such file or directory/, engine.env()],
      [['apply'], /required option '-f, --file <path>' not specified/],
    ];
    await inBatches(cases, 3, async ([args, message, env]) => {
      const r = await runCli(args, env ?? {});
      assert.equal(r.code, 2, `quarry ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, `quarry ${args.join(' ')}`);
    });
  });

  test('an unreachable server exits 3 naming the URL', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const files = path.join(work, 'one');
    mkdirSync(files, { recursive: true });
    writeFileSync(path.join(files, 'x.txt'), 'x');
    for (const args of [['get', 'buckets'], ['search', 'abstract-search', 'q'], ['upload', 'abstracts', files, '-p', 'abstract'], ['keys', 'list'], ['batch', 'status', 'btch_x', '--bucket', 'abstracts']]) {
      const r = await runCli(['--server', dead, '-n', 'research', ...args]);
      assert.equal(r.code, 3, `quarry ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`cannot reach the Quarry server at ${dead.replace(/[.]/g, '\\.')} \\(ECONNREFUSED\\)`));
    }
  });

  test('a server error exits 1 with the documented message and type', async () => {
    const missing = await runCli(['get', 'bucket', 'no-such-bucket'], engine.env());
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /^Error: .*no-such-bucket/m);
    assert.match(missing.stderr, /type: NotFoundError \(HTTP 404\)/);

    const noRetriever = await runCli(['search', 'no-such-retriever', 'q'], engine.env());
    assert.equal(noRetriever.code, 1, noRetriever.stderr);
    assert.match(noRetriever.stderr, /type: NotFoundError \(HTTP 404\)/);

    const badKey = await runCli(['get', 'buckets'], engine.env({ QUARRY_API_KEY: 'sk_not_a_key' }));
    assert.equal(badKey.code, 1, badKey.stderr);
    assert.match(badKey.stderr, /type: UnauthorizedError \(HTTP 401\)/);
  });
});

describe('offline manifests', () => {
  test('validate: the examples are valid; a broken resource is reported by field and exits 1', async () => {
    // The whole examples folder: every scenario's resources; the GitOps wiring in it is skipped, not an error.
    const ok = await runCli(['validate', '-f', path.join(ROOT, 'examples')]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    for (const r of ['QuarryNamespace/research', 'Bucket/abstracts', 'Retriever/abstract-hybrid-search', 'Taxonomy/']) assert.match(ok.stdout, new RegExp(`^ok +${r}`, 'm'));
    assert.match(ok.stdout, /^warning: .*gitops.*: skipped, no Quarry resources in it$/m);
    assert.doesNotMatch(ok.stdout, /invalid/);

    const bad = path.join(work, 'bad-bucket.yaml');
    writeFileSync(bad, 'apiVersion: quarry.dev/v1alpha1\nkind: Bucket\nmetadata:\n  name: b\nspec:\n  namespaceRef: research\n  schema:\n    properties:\n      body:\n        type: sound\n');
    const r = await runCli(['validate', '-f', bad, '-o', 'json']);
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { valid: boolean; resources: { kind: string; valid: boolean; errors: { field: string }[] }[] };
    assert.equal(out.valid, false);
    assert.equal(out.resources[0]!.kind, 'Bucket');
    assert.ok(out.resources[0]!.errors.some((e) => e.field.includes('spec.schema.properties')), JSON.stringify(out.resources[0]!.errors));
  });

  test('convert: a Mixpeek manifest becomes valid Quarry resources and converts back', async () => {
    const mixpeek = path.join(work, 'docs-search.yaml');
    writeFileSync(mixpeek, DOCS_SEARCH);
    const crsFile = path.join(work, 'docs-search-crs.yaml');
    const toCrs = await runCli(['convert', '-f', mixpeek, '--out', crsFile]);
    assert.equal(toCrs.code, 0, toCrs.stderr);
    const crs = parseAllDocuments(readFileSync(crsFile, 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string; annotations?: Record<string, string> } });
    const kinds = new Set(crs.map((c) => c.kind));
    for (const k of ['QuarryNamespace', 'Bucket', 'Collection', 'Retriever']) assert.ok(kinds.has(k), `${k} in ${[...kinds].join(', ')}`);
    // Names become object names as the management API derives them (docs_ns is no DNS label: derived, annotated).
    assert.ok(
      crs.some((c) => c.kind === 'QuarryNamespace' && /^docs-ns-[0-9a-f]{8}$/.test(c.metadata.name) && c.metadata.annotations?.['quarry.dev/source-name'] === 'docs_ns'),
      'names become object names',
    );

    const valid = await runCli(['validate', '-f', crsFile]);
    assert.equal(valid.code, 0, valid.stdout + valid.stderr);
    const validMixpeek = await runCli(['validate', '-f', mixpeek]);
    assert.equal(validMixpeek.code, 0, validMixpeek.stdout + validMixpeek.stderr);

    // A folder with the same resources twice (the manifest and its converted CRs): each second declaration is named.
    const twice = path.join(work, 'twice');
    mkdirSync(twice, { recursive: true });
    copyFileSync(mixpeek, path.join(twice, 'a.yaml'));
    copyFileSync(crsFile, path.join(twice, 'b.yaml'));
    const dup = await runCli(['validate', '-f', twice]);
    assert.equal(dup.code, 1, dup.stdout + dup.stderr);
    assert.match(dup.stdout, /metadata\.name: QuarryNamespace 'docs-ns-[0-9a-f]{8}' is declared twice \(also in .*a\.yaml/);

    const back = await runCli(['convert', '-f', crsFile, '-o', 'json']);
    assert.equal(back.code, 0, back.stderr);
    const manifest = JSON.parse(back.stdout) as { version: string; namespaces: { name: string }[]; buckets: { name: string }[] };
    assert.equal(manifest.version, '1.0');
    assert.deepEqual(manifest.namespaces.map((n) => n.name), ['docs_ns'], 'the original names come back');
    assert.deepEqual(manifest.buckets.map((b) => b.name).sort(), ['docs', 'labels']);
  });

  test('upload helpers: a torn journal line is ignored; per-file metadata placeholders', () => {
    const journal = path.join(work, 'journal.jsonl');
    const entry = (p: string) => JSON.stringify({ path: p, sha256: 'a'.repeat(64), size: 1, object_id: `obj_${p}`, at: 'now' });
    writeFileSync(journal, `${entry('/x/1.txt')}\n${entry('/x/2.txt')}\n{"path":"/x/3.txt","sha2`);
    const done = readJournal(journal);
    assert.deepEqual([...done.values()].map((e) => e.object_id), ['obj_/x/1.txt', 'obj_/x/2.txt']);
    assert.ok(done.has(`/x/1.txt\0${'a'.repeat(64)}`));
    assert.deepEqual(fileMetadata({ doc_id: '{stem}', src: 'dir/{filename}', year: 2020 }, '/data/papers/p-01.txt'), { doc_id: 'p-01', src: 'dir/p-01.txt', year: 2020 });
  });

  test('output helpers: snippet and thumbnail URL of a hit', () => {
    assert.equal(snippet({ document_id: 'd', text: 'hello world' }), 'hello world');
    assert.equal(snippet({ document_id: 'd', title: 'A title' }), 'A title');
    assert.equal(thumbnailUrl({ thumbnail_url: 's3://b/k.jpg', document_blobs: [{ role: 'thumbnail', url: 's3://b/k.jpg', presigned_url: 'http://x/k.jpg?sig=1' }] }), 'http://x/k.jpg?sig=1');
    assert.equal(thumbnailUrl({ thumbnail_url: 'http://x/t.jpg' }), 'http://x/t.jpg');
    assert.equal(thumbnailUrl({ text: 'no blobs' }), '');
  });
});

describe('against the engine', () => {
  test('get: namespaces, buckets, retrievers (table, json, yaml)', async () => {
    const ns = await runCli(['get', 'namespaces'], engine.env());
    assert.equal(ns.code, 0, ns.stderr);
    assert.match(ns.stdout, /^NAME\s+ID\s+STATUS/m);
    assert.match(ns.stdout, /^research\b/m);

    const buckets = await runCli(['get', 'buckets', '-o', 'json'], engine.env());
    assert.equal(buckets.code, 0, buckets.stderr);
    assert.match(buckets.stdout, /"abstracts"/);

    const retrievers = await runCli(['get', 'retrievers'], engine.env());
    assert.equal(retrievers.code, 0, retrievers.stderr);
    assert.match(retrievers.stdout, /^abstract-search\b/m);
    assert.match(retrievers.stdout, /^abstract-hybrid-search\b/m);
    // --limit pages through the server's 1000-per-request cap, and caps what is listed.
    const many = await runCli(['get', 'retrievers', '--limit', '5000', '-o', 'json'], engine.env());
    assert.equal(many.code, 0, many.stderr);
    assert.ok(JSON.parse(many.stdout).results.length >= 2, many.stdout);
    const first = await runCli(['get', 'retrievers', '--limit', '1', '-o', 'json'], engine.env());
    assert.equal(JSON.parse(first.stdout).results.length, 1);
    assert.ok(JSON.parse(first.stdout).total >= 2, 'total counts every retriever');

    const one = await runCli(['get', 'bucket', 'abstracts', '-o', 'yaml'], engine.env());
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /abstracts/);
  });

  test('keys: create, list, use, revoke (a revoked key is refused)', async () => {
    assert.ok(engine.apiKey, 'local mode runs with API keys');
    const created = await runCli(['keys', 'create', 'cli-test', '--scope', 'research', '-o', 'json'], engine.env());
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout) as { key: string; key_id: string; namespaces: string[] };
    assert.match(key.key, /^sk_/);
    assert.deepEqual(key.namespaces, ['research']);

    const list = await runCli(['keys', 'list'], engine.env());
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${key.key_id}\\s+cli-test\\s+sk_${key.key_id}\\s+research\\s+active`, 'm'));
    assert.doesNotMatch(list.stdout, new RegExp(key.key), 'secrets are never listed');

    const use = await runCli(['get', 'buckets'], engine.env({ QUARRY_API_KEY: key.key }));
    assert.equal(use.code, 0, use.stderr);
    assert.match(use.stdout, /^abstracts\b/m);

    const revoke = await runCli(['keys', 'revoke', key.key_id], engine.env());
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.match(revoke.stdout, new RegExp(`Revoked API key ${key.key_id}`));

    const refused = await runCli(['get', 'buckets'], engine.env({ QUARRY_API_KEY: key.key }));
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /revoked/);
    assert.match(refused.stderr, /type: UnauthorizedError \(HTTP 401\)/);

    // --permissions and --expires-at reach the key: a read-only key reads but may not manage keys.
    const reader = await runCli(['keys', 'create', 'cli-reader', '--scope', 'research', '--permissions', 'read', '--expires-at', '2999-01-01T00:00:00Z', '-o', 'json'], engine.env());
    assert.equal(reader.code, 0, reader.stderr);
    const readKey = JSON.parse(reader.stdout) as { key: string; permissions: string[]; expires_at: string };
    assert.deepEqual(readKey.permissions, ['read']);
    assert.equal(readKey.expires_at, '2999-01-01T00:00:00.000Z');
    assert.equal((await runCli(['get', 'buckets'], engine.env({ QUARRY_API_KEY: readKey.key }))).code, 0);
    const denied = await runCli(['keys', 'list'], engine.env({ QUARRY_API_KEY: readKey.key }));
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(denied.stderr, /lacks the 'admin' permission/);
    const bad = await runCli(['keys', 'create', 'x', '--permissions', 'superuser'], engine.env());
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /permissions must be/);
  });

  test('manifests on the server: diff, apply (dry run, then for real), validate --remote, export', async () => {
    const diff = await runCli(['diff', '-f', engine.manifestsDir], engine.env());
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /^unchanged\s+\S+\s+research\b/m);
    assert.doesNotMatch(diff.stdout, /^(create|update)\s/m, diff.stdout);

    const file = path.join(work, 'extra-retriever.yaml');
    writeFileSync(file, EXTRA_RETRIEVER);
    const remote = await runCli(['validate', '--remote', '-f', file], engine.env());
    assert.equal(remote.code, 0, remote.stdout + remote.stderr);
    assert.match(remote.stdout, /^valid/m);

    const dry = await runCli(['apply', '-f', file, '--dry-run', '-o', 'json'], engine.env());
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal((JSON.parse(dry.stdout) as { dry_run: boolean }).dry_run, true);
    const notYet = await runCli(['get', 'retriever', 'abstract-search-two'], engine.env());
    assert.equal(notYet.code, 1, 'a dry run creates nothing');

    const applied = await runCli(['apply', '-f', file], engine.env());
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /abstract-search-two\s+created/);
    const got = await runCli(['get', 'retriever', 'abstract-search-two', '-o', 'json'], engine.env());
    assert.equal(got.code, 0, got.stderr);

    const again = await runCli(['diff', '-f', file], engine.env());
    assert.match(again.stdout, /^unchanged\s+\S+\s+abstract-search-two\b/m);

    // An invalid manifest: 422, nothing applied, every problem on its own line naming resource and field.
    const broken = path.join(work, 'broken-retriever.yaml');
    writeFileSync(broken, EXTRA_RETRIEVER.replace('name: abstract-search-two', 'name: broken').replace('collectionRefs: [abstract-passages]', 'collectionRefs: [no-such-collection]'));
    const refused = await runCli(['apply', '-f', broken], engine.env());
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /type: ValidationError \(HTTP 422\)/);
    assert.match(refused.stderr, /^ {2}- Retriever\/broken spec\.collectionRefs\[0\]: .*no-such-collection/m);
    const brokenDiff = await runCli(['diff', '-f', broken], engine.env());
    assert.equal(brokenDiff.code, 1, 'the diff of an invalid manifest fails like validate');
    assert.match(brokenDiff.stdout, /^create\s+\S+\s+broken\b/m, 'and is still shown');
    assert.match(brokenDiff.stderr, /apply would refuse it/);
    assert.match(brokenDiff.stderr, /^ {2}- Retriever\/broken spec\.collectionRefs\[0\]: .*no-such-collection/m);

    const exported = await runCli(['export'], engine.env());
    assert.equal(exported.code, 0, exported.stderr);
    const docs = parseAllDocuments(exported.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    assert.ok(docs.some((d) => d.kind === 'Retriever' && d.metadata.name === 'abstract-search-two'), 'export lists the applied retriever');
    assert.ok(docs.some((d) => d.kind === 'Bucket' && d.metadata.name === 'abstracts'));
  });

  test('upload: files with the same content in flight at once become one object', async () => {
    const dir = path.join(work, 'copies');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 6; i++) writeFileSync(path.join(dir, `copy-${i}.txt`), 'One abstract saved six times under different names.');
    const r = await runCli(['upload', 'abstracts', dir, '-p', 'abstract', '-m', 'doc_id={stem}', '-m', 'title={stem}', '--concurrency', '6', '-o', 'json'], engine.env());
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { uploaded: number; duplicates: number; object_ids: string[] };
    assert.deepEqual([s.uploaded, s.duplicates, s.object_ids.length], [1, 5, 1]);
  });

  test('upload --batch, batch status --watch, search', async () => {
    const dir = path.join(work, 'papers');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'vitamin.txt'), 'Vitamin D supplements reduce the risk of hip fractures in older adults. The effect was larger with calcium.');
    writeFileSync(path.join(dir, 'coffee.txt'), 'Coffee consumption is associated with lower mortality. Moderate intake showed the strongest association.');
    writeFileSync(path.join(dir, 'sleep.txt'), 'Short sleep duration increases the risk of obesity in children. Bedtime routines helped.');
    const up = await runCli(['upload', 'abstracts', dir, '-p', 'abstract', '-m', 'doc_id={stem}', '-m', 'title={stem}', '-m', 'year=2021', '--batch', '-o', 'json'], engine.env());
    assert.equal(up.code, 0, up.stderr);
    const summary = JSON.parse(up.stdout) as { uploaded: number; object_ids: string[]; batch: { batch_id: string } };
    assert.equal(summary.uploaded, 3);
    assert.match(summary.batch.batch_id, /^btch_/);

    const watch = await runCli(['batch', 'status', summary.batch.batch_id, '--bucket', 'abstracts', '--watch', '--interval', '200'], engine.env());
    assert.equal(watch.code, 0, watch.stdout + watch.stderr);
    assert.match(watch.stderr, /^progress: tier 0: \w+ \d+\/3 jobs/m);
    assert.match(watch.stdout, /status COMPLETED/);
    assert.match(watch.stdout, /tier 0: COMPLETED 3\/3 jobs \(100%\) failed=0/);

    const objects = await runCli(['get', 'objects', '--bucket', 'abstracts'], engine.env());
    assert.equal(objects.code, 0, objects.stderr);
    assert.match(objects.stdout, /^OBJECT ID\s+STATUS\s+BLOBS\s+FILENAME/m);
    for (const f of ['vitamin.txt', 'coffee.txt', 'sleep.txt']) assert.match(objects.stdout, new RegExp(`abstract:text\\s+${f.replace('.', '\\.')}`));

    // Without --bucket the batch is found through the bucket list.
    const status = await runCli(['batch', 'status', summary.batch.batch_id, '-o', 'json'], engine.env());
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { status: string }).status, 'COMPLETED');

    // Watching a batch nobody submitted would wait forever: it stops at once, exit 1.
    const draft = await fetch(`${engine.url}/v1/buckets/abstracts/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'research', authorization: `Bearer ${engine.apiKey}` },
      body: JSON.stringify({ object_ids: summary.object_ids.slice(0, 1) }),
    });
    assert.equal(draft.status, 200);
    const draftId = ((await draft.json()) as { batch_id: string }).batch_id;
    const watchDraft = await runCli(['batch', 'status', draftId, '--bucket', 'abstracts', '--watch'], engine.env());
    assert.equal(watchDraft.code, 1, watchDraft.stderr);
    assert.match(watchDraft.stderr, /is a DRAFT: nothing runs until it is submitted/);

    const search = await runCli(['search', 'abstract-search', 'does vitamin D prevent fractures'], engine.env());
    assert.equal(search.code, 0, search.stderr);
    const lines = search.stdout.split('\n');
    assert.match(lines[0]!, /^#\s+SCORE\s+DOCUMENT\s+TEXT\s+URL$/);
    assert.match(lines[1]!, /^1\s+\d\.\d{4}\s+\S+\s+Vitamin D supplements/, search.stdout);
    assert.match(search.stdout, /result\(s\)/);

    const json = await runCli(['search', 'abstract-search', 'coffee mortality', '--limit', '2', '-o', 'json'], engine.env());
    assert.equal(json.code, 0, json.stderr);
    const res = JSON.parse(json.stdout) as { documents: { doc_id?: string; text?: string }[] };
    assert.ok(res.documents.length >= 1 && res.documents.length <= 2);
    assert.match(res.documents[0]!.text ?? '', /Coffee/);
  });
});

test('up: serves local mode until Ctrl-C, prints the URL and key the other commands use', async () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-cli-up-'));
  try {
    const port = await freePort();
    const child = spawnCli(['up', '--port', String(port), '--data-dir', path.join(scratch, 'data'), '--manifests', engine.manifestsDir, '--no-seed']);
    let stdout = '';
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (c: string) => {
        stdout += c;
        if (stdout.includes('Press Ctrl-C to stop.')) resolve();
      });
      void exited.then((code) => reject(new Error(`quarry up exited ${code}: ${stderr}`)));
    });
    assert.match(stdout, new RegExp(`http://127\\.0\\.0\\.1:${port}`));
    const key = /QUARRY_API_KEY=(\S+)/.exec(stdout)?.[1];
    const env = { QUARRY_URL: `http://127.0.0.1:${port}`, QUARRY_NAMESPACE: 'research', ...(key ? { QUARRY_API_KEY: key } : {}) };
    const ns = await runCli(['get', 'namespaces'], env);
    assert.equal(ns.code, 0, ns.stderr);
    assert.match(ns.stdout, /^research\b/m);
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
