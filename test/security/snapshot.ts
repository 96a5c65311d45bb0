/**
 * What tenant V has, read with the admin key, for before/after comparisons: its resources (their specs and
 * identities, not the status the reconcilers keep refreshing), objects, documents, uploads, batches, tasks,
 * execution history, the manifest export, the blobs on disk; and A's namespace identity (a takeover renames it).
 */
import path from 'node:path';
import { filesUnder, type Json, type World } from './world.ts';

/** Fields that change without anyone acting on V (reconciler status, timestamps, counts kept by resync). */
const VOLATILE = /(_at|_time|Time|_count|_bytes|^conditions$|^status_message$|^ready$|^status$|^pagination$|^duration_ms$|^vector_indexes$|^output_schema$|^last_batch$)/;

function stripVolatile(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripVolatile);
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v as Json).filter(([k]) => !VOLATILE.test(k)).map(([k, x]) => [k, stripVolatile(x)]));
}

export async function snapshotV(w: World): Promise<Json> {
  const get = async (method: string, url: string, ns?: string, body?: unknown) => {
    const r = await w.api(w.admin, method, url, { ...(ns ? { ns } : {}), ...(body !== undefined ? { body } : {}) });
    return { status: r.status, body: r.status === 200 ? r.body : r.text.slice(0, 200) };
  };
  const ns = w.v.ns;
  const resources = {
    namespace: await get('GET', `/v1/namespaces/${w.v.nsId}`),
    bucket: await get('GET', `/v1/buckets/${w.v.bucketId}`, ns),
    collection: await get('GET', `/v1/collections/${w.v.collectionId}`, ns),
    retriever: await get('GET', `/v1/retrievers/${w.v.retrieverId}`, ns),
    taxonomy: await get('GET', `/v1/taxonomies/${w.v.taxonomyId}`, ns),
    lists: Object.fromEntries(
      await Promise.all(['buckets', 'collections', 'retrievers', 'taxonomies'].map(async (p) => [p, await get('POST', `/v1/${p}/list?limit=1000`, ns, {})] as const)),
    ),
    alpha: await get('GET', `/v1/namespaces/${w.a.nsId}`),
  };
  const data = {
    objects: await get('POST', `/v1/buckets/${w.v.bucket}/objects/list?limit=1000`, ns, {}),
    documents: await get('POST', `/v1/collections/${w.v.collection}/documents/list`, ns, { limit: 1000 }),
    uploads: await get('POST', `/v1/buckets/${w.v.bucket}/uploads/list?limit=1000`, ns, {}),
    batches: await get('POST', `/v1/buckets/${w.v.bucket}/batches/list?limit=1000`, ns, {}),
    tasks: await get('POST', '/v1/tasks/list?limit=1000', ns, {}),
    adhocRuns: await get('POST', '/v1/retrievers/executions/list?limit=1000', ns, {}),
    interactions: await get('POST', '/v1/retrievers/interactions/list?limit=1000', ns, {}),
    namedRuns: await get('POST', `/v1/retrievers/${w.v.retriever}/executions/list?limit=1000`, ns, {}),
    export: (await w.api(w.admin, 'GET', `/v1/manifest/export?namespace=${ns}`)).text,
  };
  const blobs = filesUnder(path.join(w.engine.dataDir, 'objects', w.v.storageBucket));
  return { resources: stripVolatile(resources) as Json, data, blobs };
}

/** The first differences between two snapshots, as readable lines (empty when equal). */
export function differences(before: unknown, after: unknown, at = '', out: string[] = []): string[] {
  if (out.length >= 8) return out;
  if (JSON.stringify(before) === JSON.stringify(after)) return out;
  if (before && after && typeof before === 'object' && typeof after === 'object' && Array.isArray(before) === Array.isArray(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const k of keys) differences((before as Json)[k], (after as Json)[k], `${at}/${k}`, out);
    return out;
  }
  out.push(`${at || '/'}: ${JSON.stringify(before)?.slice(0, 300)} → ${JSON.stringify(after)?.slice(0, 300)}`);
  return out;
}
