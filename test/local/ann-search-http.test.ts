/**
 * Issue 14 item 5 on the real path: local mode, a collection past the embedded store's ANN index threshold, and
 * feature_search with top_k 100 and 1,000 over HTTP. Before the fix every search with top_k above 32 failed once the
 * index existed ("ef must be greater than or equal to k"), and the process could die. The threshold comes from the
 * environment (QUARRY_EMBEDDED_INDEX_THRESHOLD), set small here so the test stays fast; the documents are written
 * into the namespace's vector collection directly (no embedding model is needed for a vector query).
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ROOT } from '../harness/test-env.ts';
import { LOCAL_K8S_NAMESPACE, startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';
import type { Point } from '#core/ports/vector-store.ts';
import type { LanceVectorStore } from '#engine/vector/embedded/lance-store.ts';
import { clusteredUnitVectors } from '../contract/vector-store.clustered.ts';

const THRESHOLD = 300;
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-ann-http-'));
const saved = { t: process.env.QUARRY_EMBEDDED_INDEX_THRESHOLD, m: process.env.QUARRY_MODELS_DIR };
let rt: LocalRuntime | undefined;

after(async () => {
  await rt?.stop();
  for (const [k, v] of [['QUARRY_EMBEDDED_INDEX_THRESHOLD', saved.t], ['QUARRY_MODELS_DIR', saved.m]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(scratch, { recursive: true, force: true });
});

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('local mode: feature_search with top_k 100 and 1000 over HTTP on a collection at 2x the ANN threshold', async () => {
  const manifests = path.join(scratch, 'manifests');
  cpSync(path.join(ROOT, 'examples', 'hybrid-text-search'), manifests, { recursive: true });
  process.env.QUARRY_EMBEDDED_INDEX_THRESHOLD = String(THRESHOLD);
  process.env.QUARRY_MODELS_DIR = path.join(ROOT, 'test', 'fixtures', 'models');
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir: manifests, host: '127.0.0.1', port: 0, auth: false, seed: false, manifestDebounceMs: 100 });
  const store = await eventually('the research namespace served, with its vector collection', async () => {
    const qn = await rt!.store.get('QuarryNamespace', { namespace: LOCAL_K8S_NAMESPACE, name: 'research' });
    const name = (qn?.status as { vectorCollection?: string } | undefined)?.vectorCollection;
    return rt!.namespaces.has('research') && name && (await rt!.vectors.describeCollection(name)) ? name : undefined;
  });
  // The text extractor's dense vector, declared here as ingestion would (the fixture models have no text model).
  const vector = { name: 'text_extractor_v1_embedding', size: 384, distance: 'cosine' as const };
  const spec = await rt.vectors.describeCollection(store);
  await rt.vectors.ensureCollection({ ...spec!, vectors: [...spec!.vectors.filter((v) => v.name !== vector.name), vector] });
  const n = 2 * THRESHOLD;
  const { data } = clusteredUnitVectors(n + 1, 384, 5);
  const points: Point[] = Array.from({ length: n }, (_, i) => ({
    id: `d${i}`,
    vectors: { [vector.name]: data.subarray(i * 384, (i + 1) * 384) },
    payload: { collection_id: 'abstract-passages', document_id: `d${i}`, doc_id: `d${i}`, title: `passage ${i}` },
  }));
  await rt.vectors.upsert(store, points);
  await rt.vectors.optimize!(store);
  assert.ok((await (rt.vectors as LanceVectorStore).memoryIndexState(store))?.graphed.includes(vector.name), 'the in-memory HNSW graph answers the search below');

  const query = Array.from(data.subarray(n * 384, (n + 1) * 384));
  for (const topK of [10, 100, 1000]) {
    const res = await fetch(`${rt.url}/v1/retrievers/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'research' },
      body: JSON.stringify({
        collection_identifiers: ['abstract-passages'],
        stages: [{ stage_name: 'search', stage_type: 'filter', config: { stage_id: 'feature_search', parameters: { searches: [{ feature_uri: 'quarry://text_extractor@v1/embedding', query: { input_mode: 'vector', value: query }, top_k: topK }], final_top_k: Math.min(topK, 500) } } }],
      }),
    });
    const body = (await res.json()) as { documents?: unknown[] };
    assert.equal(res.status, 200, `top_k ${topK}: ${JSON.stringify(body).slice(0, 500)}`);
    assert.ok((body.documents?.length ?? 0) >= Math.min(topK, 10), `top_k ${topK}: ${body.documents?.length} documents`);
  }
  assert.equal((await fetch(`${rt.url}/v1/health`)).status, 200, 'still serving');
});
