// Namespace ingestion state: the state KV bucket, object records, their index-key claims, blobs and the documents written for them.
import { createHash } from 'node:crypto';
import type { KeyValue } from '../ports/job-queue.ts';
import type { ScoredPoint } from '../ports/vector-store.ts';
import type { FilterNode } from '../ports/filter.ts';
import { notFound } from '../lib/errors.ts';
import { extractionQueueName, stateBucketName, vectorCollectionName } from '../naming.ts';
import { newId } from './ids.ts';
import type { StoredBlob } from './types.ts';
import { extractionQueueSpec, CLAIM_WAIT_MS, indexKey, asClaim } from './pipeline-model.ts';
import type { IngestionPorts, NamespaceView, ObjectRecord, NewObject, ObjectIndex, IndexClaim } from './pipeline-model.ts';

/** The stored state of one namespace's ingestion (objects, claims, blobs, documents); NamespaceIngestion adds batches and the worker. */
export class NamespaceState {
  protected readonly ports: IngestionPorts;
  readonly ns: NamespaceView;
  readonly queueName: string;
  readonly vectorCollection: string;
  protected kvBucket?: KeyValue;

  constructor(ports: IngestionPorts, ns: NamespaceView) {
    this.ports = ports;
    this.ns = ns;
    this.queueName = extractionQueueName(ns.key);
    this.vectorCollection = vectorCollectionName(ns.key);
  }

  protected async kv(): Promise<KeyValue> {
    this.kvBucket ??= await this.ports.queue.kv(stateBucketName(this.ns.key));
    return this.kvBucket;
  }

  async init(): Promise<void> {
    await this.ports.queue.ensureQueue(extractionQueueSpec(this.ns.key));
    await this.kv();
  }

  async kvGet<T>(key: string): Promise<T | undefined> {
    return (await (await this.kv()).get<T>(key))?.value;
  }

  async kvPut<T>(key: string, value: T): Promise<void> {
    await (await this.kv()).put(key, value);
  }

  async kvDelete(key: string): Promise<void> {
    await (await this.kv()).delete(key);
  }

  async kvKeys(prefix: string): Promise<string[]> {
    return (await this.kv()).keys(prefix);
  }

  // ---- objects -------------------------------------------------------------------------------------------

  async listObjects(): Promise<ObjectRecord[]> {
    return this.getObjects(await this.listObjectIds());
  }

  /** Every object id, from the keys alone (no record is read). */
  async listObjectIds(): Promise<string[]> {
    return (await (await this.kv()).keys('object.')).map((k) => k.slice('object.'.length));
  }

  /** The records of these objects; ids with no record (deleted meanwhile) are left out. */
  async getObjects(ids: string[]): Promise<ObjectRecord[]> {
    const kv = await this.kv();
    const records = await Promise.all(ids.map((id) => kv.get<ObjectRecord>(`object.${id}`)));
    return records.filter((r): r is NonNullable<typeof r> => !!r).map((r) => r.value);
  }

  /** Objects replaced in place (unique-key updates), by id: when, from small marker keys (no record is read). */
  async replacedObjects(): Promise<Map<string, string>> {
    const kv = await this.kv();
    const keys = await kv.keys('replaced.');
    const entries = await Promise.all(keys.map(async (k) => [k.slice('replaced.'.length), (await kv.get<string>(k))?.value] as const));
    return new Map(entries.filter((e): e is readonly [string, string] => typeof e[1] === 'string'));
  }

  /** Deletes an object, its blobs and every document derived from it. */
  async deleteObject(objectId: string): Promise<void> {
    const o = await this.getObject(objectId);
    if (o.content_hash) await this.releaseIndexKey('hash', o.bucket, o.content_hash, objectId);
    if (o.unique_key_hash) await this.releaseIndexKey('ukey', o.bucket, o.unique_key_hash, objectId);
    const storage = await this.ns.storageBucket(o.bucket);
    const own = await this.blobKey(o.bucket, `${objectId}/`);
    for (const b of o.blobs) if (b.key.startsWith(own) || b.key.startsWith(`${objectId}/`)) await this.ports.objects.delete(storage, b.key);
    await this.deleteDocuments(objectId);
    await (await this.kv()).delete(`object.${objectId}`);
    if (o.replaced_at) await (await this.kv()).delete(`replaced.${objectId}`);
  }

  // ---- documents (read and delete; extraction writes them) ------------------------------------------------------

  /** A Collection's documents matching `filter` (a page, and how many match in all). 404 for an unknown collection. */
  async listDocuments(collection: string, opts: { filter?: FilterNode; limit: number; cursor?: string; offset?: number; withVectors?: boolean }): Promise<{ points: ScoredPoint[]; nextCursor?: string; total: number }> {
    const filter = await this.documentsOf(collection, opts.filter);
    if (!(await this.ports.vectors.listCollections()).includes(this.vectorCollection)) return { points: [], total: 0 };
    const total = await this.ports.vectors.count(this.vectorCollection, filter);
    // `offset` documents are skipped from the cursor (or the start) in the store's order, without their payloads.
    let cursor = opts.cursor;
    for (let skip = opts.offset ?? 0; skip > 0; ) {
      const step = await this.ports.vectors.scroll(this.vectorCollection, { filter, limit: Math.min(skip, 1000), ...(cursor ? { cursor } : {}), withPayload: false, withVectors: false });
      skip -= step.points.length;
      cursor = step.nextCursor;
      if (!cursor || step.points.length === 0) return { points: [], total };
    }
    const page = await this.ports.vectors.scroll(this.vectorCollection, { filter, limit: opts.limit, ...(cursor ? { cursor } : {}), withPayload: true, withVectors: opts.withVectors ?? false });
    return { points: page.points, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}), total };
  }

  /** One document of a Collection; 404 when the collection has no such document. */
  async getDocument(collection: string, documentId: string, withVectors = false): Promise<ScoredPoint> {
    await this.documentsOf(collection);
    const [p] = (await this.ports.vectors.listCollections()).includes(this.vectorCollection)
      ? await this.ports.vectors.retrieve(this.vectorCollection, [documentId], { withVectors })
      : [];
    if (!p || p.payload?.collection_id !== collection) throw notFound('document', documentId);
    return p;
  }

  async deleteDocument(collection: string, documentId: string): Promise<void> {
    await this.getDocument(collection, documentId);
    await this.ports.vectors.delete(this.vectorCollection, [documentId]);
  }

  /** The store filter selecting `collection`'s documents (and `filter`), once the collection is known to exist. */
  protected async documentsOf(collection: string, filter?: FilterNode): Promise<FilterNode> {
    if (!(await this.ns.collections()).some((c) => c.name === collection)) throw notFound('collection', collection);
    const own: FilterNode = { field: 'collection_id', value: collection };
    return filter ? { AND: [own, filter] } : own;
  }

  /** Deletes every document extracted from an object (directly or through collections fed by collections). */
  async deleteDocuments(objectId: string): Promise<void> {
    if ((await this.ports.vectors.listCollections()).includes(this.vectorCollection)) {
      await this.ports.vectors.deleteByFilter(this.vectorCollection, { field: 'root_object_id', value: objectId });
    }
  }

  // ---- object indexes (skip_duplicates, unique keys) ---------------------------------------------------------

  /**
   * Atomically claims `key` in `bucket`'s `index` for `objectId` (compare-and-set in the state store, so two
   * concurrent creates with the same content or unique key cannot both win). Answers the live object already
   * holding it, or undefined when the claim is ours. A holder whose object is gone (deleted, or its creator died
   * before storing it) is taken over; one just claimed by a concurrent create is waited for.
   */
  async claimIndexKey(index: ObjectIndex, bucket: string, key: string, objectId: string): Promise<ObjectRecord | undefined> {
    const kv = await this.kv();
    const k = indexKey(index, bucket, key);
    const mine: IndexClaim = { object_id: objectId, claimed_at: Date.now() };
    for (;;) {
      const held = asClaim(await kv.mutate<IndexClaim | string>(k, (cur) => cur ?? mine))!;
      if (held.object_id === objectId) return undefined;
      const live = await kv.get<ObjectRecord>(`object.${held.object_id}`);
      if (live) return live.value;
      if (Date.now() - held.claimed_at < CLAIM_WAIT_MS) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const took = asClaim(await kv.mutate<IndexClaim | string>(k, (cur) => (asClaim(cur)?.object_id === held.object_id ? mine : (cur ?? mine))))!;
      if (took.object_id === objectId) return undefined;
    }
  }

  /** Records `objectId` as the latest holder of `key` (a create without skip_duplicates). */
  async recordIndexKey(index: ObjectIndex, bucket: string, key: string, objectId: string): Promise<void> {
    await (await this.kv()).put<IndexClaim>(indexKey(index, bucket, key), { object_id: objectId, claimed_at: Date.now() });
  }

  /** Drops `objectId`'s claim on `key` (its object is deleted, replaced, or was never stored). */
  async releaseIndexKey(index: ObjectIndex, bucket: string, key: string, objectId: string): Promise<void> {
    const kv = await this.kv();
    const k = indexKey(index, bucket, key);
    const held = await kv.get<IndexClaim | string>(k);
    if (held && asClaim(held.value)!.object_id === objectId) await kv.delete(k);
  }

  /** The first confirmed upload of this content in `bucket` (uploads confirmed without creating an object). */
  async claimUploadContent(bucket: string, hash: string, uploadId: string): Promise<string> {
    return (await this.kv()).mutate<string>(`uploadhash.${bucket}.${hash}`, (cur) => cur ?? uploadId);
  }

  async putObject(obj: NewObject): Promise<ObjectRecord> {
    const now = new Date().toISOString();
    const record: ObjectRecord = { ...obj, object_id: obj.object_id ?? newId('obj'), status: 'ACTIVE', created_at: obj.created_at ?? now, updated_at: now };
    await (await this.kv()).put(`object.${record.object_id}`, record);
    return record;
  }

  /**
   * Writes a new version of an existing object (unique-key upsert/update) by compare-and-set, and answers the
   * version it actually overwrote: with concurrent replacements that is another writer's, not the one read before,
   * and its blobs are the ones the caller must drop. No previous version: the object was deleted meanwhile.
   */
  async replaceObject(obj: NewObject & { object_id: string }): Promise<{ record: ObjectRecord; previous?: ObjectRecord }> {
    let previous: ObjectRecord | undefined;
    const record = await (await this.kv()).mutate<ObjectRecord>(`object.${obj.object_id}`, (cur) => {
      previous = cur;
      const now = new Date().toISOString();
      return { ...obj, status: 'ACTIVE', created_at: cur?.created_at ?? obj.created_at ?? now, updated_at: now, replaced_at: now };
    });
    // A marker the Collection controller lists without reading every record (see replacedObjects).
    await (await this.kv()).put(`replaced.${record.object_id}`, record.replaced_at);
    return { record, ...(previous ? { previous } : {}) };
  }

  /**
   * Changes an object's record by compare-and-set (PATCH): `fn` gets the current record and answers the new one;
   * updated_at moves. 404 when the object is gone.
   */
  async updateObject(objectId: string, fn: (o: ObjectRecord) => ObjectRecord): Promise<ObjectRecord> {
    return (await this.kv()).mutate<ObjectRecord>(`object.${objectId}`, (cur) => {
      if (!cur) throw notFound('object', objectId);
      return { ...fn(cur), object_id: cur.object_id, bucket: cur.bucket, updated_at: new Date().toISOString() };
    });
  }

  async getObject(objectId: string): Promise<ObjectRecord> {
    const e = await (await this.kv()).get<ObjectRecord>(`object.${objectId}`);
    if (!e) throw notFound('object', objectId);
    return e.value;
  }

  /** The object-store key of `relative` (e.g. `<object>/<blob>`) for a Bucket resource: under its spec.storage.prefix. */
  async blobKey(bucket: string, relative: string): Promise<string> {
    return `${(await this.ns.storagePrefix?.(bucket)) ?? ''}${relative}`;
  }

  /** Stores a blob's bytes in the bucket's storage and returns its blob record. */
  async storeBlob(bucket: string, objectId: string, property: string, type: StoredBlob['type'], bytes: Buffer, contentType: string, filename?: string): Promise<StoredBlob> {
    const blobId = newId('blob');
    const key = await this.blobKey(bucket, `${objectId}/${blobId}`);
    await this.ports.objects.put(await this.ns.storageBucket(bucket), key, bytes, { contentType, contentLength: bytes.length });
    return {
      blob_id: blobId,
      property,
      type,
      key,
      content_type: contentType,
      size_bytes: bytes.length,
      checksum: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      ...(filename ? { filename } : {}),
    };
  }

  // ---- batches -------------------------------------------------------------------------------------------
}
