/**
 * Two tenants for the MCP tests in one local-mode engine (startLocalEngine: no models needed): namespaces `alpha` and
 * `victim`, each a bucket, a passthrough collection with three documents and a Ready retriever that filters by the
 * `title` input (attribute_filter), plus keys scoped to each.
 */
import assert from 'node:assert/strict';
import { eventually, startLocalEngine, type LocalEngine } from '../manifest/local-engine.ts';

export const TITLES = ['amber lantern', 'basalt river', 'cobalt meadow'];

function tenant(ns: string, description: string): string {
  return `apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata:
  name: ${ns}
spec:
  description: ${description}
  featureExtractors:
    - name: passthrough_extractor
      version: v1
  payloadIndexes:
    - field: title
      type: keyword
---
apiVersion: quarry.dev/v1alpha1
kind: Bucket
metadata:
  name: ${ns}-notes
spec:
  namespaceRef: ${ns}
  schema:
    properties:
      title:
        type: string
        required: true
      body:
        type: text
---
apiVersion: quarry.dev/v1alpha1
kind: Collection
metadata:
  name: ${ns}-docs
spec:
  namespaceRef: ${ns}
  source:
    bucketRefs: [${ns}-notes]
  featureExtractor:
    name: passthrough_extractor
    version: v1
    fieldPassthrough:
      - sourcePath: title
      - sourcePath: body
---
apiVersion: quarry.dev/v1alpha1
kind: Retriever
metadata:
  name: ${ns}-by-title
  annotations:
    quarry.dev/source-name: by-title
spec:
  namespaceRef: ${ns}
  description: Finds the ${ns} notes with exactly this title
  collectionRefs: [${ns}-docs]
  inputSchema:
    title:
      type: string
      required: true
      description: the exact title
    limit:
      type: integer
  stages:
    - stageName: match
      stageType: filter
      config:
        stageId: attribute_filter
        parameters:
          field: title
          operator: eq
          value: "{{INPUT.title}}"
`;
}

export interface McpWorld {
  e: LocalEngine;
  /** read-only keys scoped to alpha and to victim. */
  alphaKey: string;
  victimKey: string;
}

async function fill(e: LocalEngine, ns: string): Promise<void> {
  const api = (method: string, url: string, body?: unknown) => e.call(method, url, { headers: { 'x-namespace': ns }, ...(body !== undefined ? { body } : {}) });
  await eventually(`${ns} served`, async () => (await api('POST', `/v1/buckets/${ns}-notes/objects/list`, {})).status === 200, 120_000);
  await eventually(`${ns}-docs ACTIVE`, async () => (await api('GET', `/v1/collections/${ns}-docs`)).body.status === 'ACTIVE', 120_000);
  const ids: string[] = [];
  for (const title of TITLES) {
    const o = await api('POST', `/v1/buckets/${ns}-notes/objects`, { metadata: { title }, blobs: [{ property: 'body', type: 'text', data: `${ns}: the ${title} note` }] });
    assert.ok([200, 201].includes(o.status), o.text);
    ids.push(o.body.object_id as string);
  }
  const batch = await api('POST', `/v1/buckets/${ns}-notes/batches`, { object_ids: ids });
  assert.equal(batch.status, 200, batch.text);
  const submitted = await api('POST', `/v1/buckets/${ns}-notes/batches/${batch.body.batch_id as string}/submit`, {});
  assert.equal(submitted.status, 200, submitted.text);
  await eventually(`${ns} task COMPLETED`, async () => (await api('GET', `/v1/tasks/${submitted.body.task_id as string}`)).body.status === 'COMPLETED', 120_000);
  await eventually(`${ns} retriever Ready`, async () => (await api('GET', '/v1/retrievers/by-title')).body.ready === true, 120_000);
}

export async function startMcpWorld(): Promise<McpWorld> {
  const e = await startLocalEngine();
  try {
    const applied = await e.call('POST', '/v1/manifest/apply', { body: `${tenant('alpha', 'the alpha tenant')}---\n${tenant('victim', 'the victim tenant')}` });
    assert.equal(applied.status, 200, applied.text);
    await fill(e, 'alpha');
    await fill(e, 'victim');
    return { e, alphaKey: await e.keyFor(['alpha'], ['read']), victimKey: await e.keyFor(['victim'], ['read']) };
  } catch (err) {
    await e.stop();
    throw err;
  }
}
