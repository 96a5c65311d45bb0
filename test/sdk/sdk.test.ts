/**
 * Issue 16: the official Python SDK (`mixpeek` on PyPI, pinned in venv.ts) against a local-mode engine, unchanged.
 * The lifecycle scripts (lifecycle_generated.py: the generated client with its pydantic models; lifecycle_highlevel.py:
 * the high-level `Mixpeek` client) are written against
 * the SDK's documented usage and print one JSON report of every call; this test asserts the calls that map onto
 * features Quarry has, call by call, and a pass rate of at least 95% overall (the README lists the rest and why).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../harness/test-env.ts';
import { startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';
import { ensureSdk } from './venv.ts';

const run = promisify(execFile);
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-sdk-'));
let rt: LocalRuntime | undefined;
let python = '';

interface Report {
  layer: string;
  passed: number;
  total: number;
  calls: { call: string; ok: boolean; error?: string }[];
}

/** Issue 16: at least 95% of the calls for features Quarry has succeed unchanged. */
const MIN_RATE = 0.95;
/**
 * Calls that need a feature Quarry does not have (README: "Using the official Python SDK"): not counted.
 * `search (text shortcut)`: the high-level `Mixpeek.search(query, collection=…)` sends a retired stage shape
 * (`{type: feature_search, feature_extractor: {type: text}, query}`) that no stage registry accepts.
 */
const KNOWN_GAPS = new Set<string>(['search (text shortcut)']);

before(async () => {
  python = ensureSdk();
  const manifestsDir = path.join(scratch, 'manifests');
  mkdirSync(manifestsDir, { recursive: true });
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir, host: '127.0.0.1', port: await freePort(), seed: false, resyncMs: 1000, manifestDebounceMs: 100 });
});

after(async () => {
  await rt?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function lifecycle(script: string, prefix: string): Promise<Report> {
  const { stdout } = await run(python, [path.join(import.meta.dirname, script)], {
    cwd: import.meta.dirname,
    env: { ...process.env, QUARRY_URL: rt!.url, QUARRY_API_KEY: rt!.apiKey ?? '', SDK_PREFIX: prefix },
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Report;
}

/** Asserts the named calls succeeded and the overall rate; prints every failure. */
function assertReport(report: Report, mustPass: string[]): void {
  const failed = report.calls.filter((c) => !c.ok && !KNOWN_GAPS.has(c.call));
  const counted = report.calls.filter((c) => !KNOWN_GAPS.has(c.call));
  const rate = (counted.length - failed.length) / counted.length;
  console.log(`${report.layer}: ${report.passed} of ${report.total} calls succeeded`);
  for (const c of report.calls.filter((x) => !x.ok)) console.log(`  FAILED${KNOWN_GAPS.has(c.call) ? ' (known gap)' : ''} ${c.call}: ${c.error}`);
  for (const name of mustPass) {
    const c = report.calls.find((x) => x.call === name);
    assert.ok(c?.ok, `${name}: ${c?.error ?? 'not run'}`);
  }
  assert.ok(rate >= MIN_RATE, `${counted.length - failed.length} of ${counted.length} calls succeeded (< ${MIN_RATE * 100}%): ${failed.map((c) => c.call).join(', ')}`);
}

test('the generated client (Configuration, *Api classes, pydantic models) runs the whole lifecycle', async () => {
  const report = await lifecycle('lifecycle_generated.py', 'gen');
  // The core path and the calls fixed one by one (features shape, BatchesApi without X-Namespace, taxonomy execute).
  assertReport(report, [
    'namespaces.create_namespace', 'buckets.create_bucket', 'objects.create_object_buckets[1]', 'collections.create_collection', 'collections.trigger_collection',
    'collections.describe_collection_features', 'batches.get_batch_by_id_batches', 'batches.list_all_batches', 'tasks.get_task (poll until COMPLETED)', 'tasks.list_tasks',
    'retrievers.create_retriever', 'retrievers.execute_retriever', 'taxonomies.execute_taxonomy_taxonomies_0', 'interactions.create_interaction_retrievers', 'namespaces.delete_namespace',
  ]);
});

test('the high-level client (Mixpeek(api_key, namespace=…, base_url=…)) runs the whole lifecycle', async () => {
  const report = await lifecycle('lifecycle_highlevel.py', 'hl');
  assertReport(report, [
    'namespaces.create', 'buckets.create', 'buckets.upload[0]', 'collections.create', 'collections.trigger', 'tasks.get (poll until COMPLETED)', 'documents.list',
    'retrievers.create', 'retrievers.execute', 'retrievers.create_interaction_from_result', 'search (ephemeral retriever)', 'namespaces.delete',
  ]);
});
