/**
 * Documents of a Collection (reference §1.6): list with filters and a cursor, get one, delete one. Extraction writes
 * them; these routes read the namespace's vector collection through the VectorStore port. `return_presigned_urls`
 * turns stored s3:// URLs into HTTP URLs as retriever results do; `return_vectors` adds the named vectors (see
 * toDocument), `return_vector_names` their names, `select` narrows the fields.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { validationError } from '../lib/errors.ts';
import { booleanFlag, namespaceHeader } from '../http/request-params.ts';
import type { FilterNode } from '../ports/filter.ts';
import type { ScoredPoint } from '../ports/vector-store.ts';
import { presignDocuments, type Presigner } from '../retriever/presigned-urls.ts';
import { compileFilter } from '../vector/filter-compile.ts';
import type { NamespaceIngestion } from './pipeline.ts';

export interface DocumentRoutesDeps {
  namespace(req: FastifyRequest): Promise<NamespaceIngestion>;
  presign?: Presigner;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A stored point as the documented DocumentResponse (reference §1.6): payload fields at the root; with
 * `return_vectors` the named vectors too (e.g. `text_extractor_v1_embedding`), also kept under `_vectors` as
 * retriever results carry them; with `return_vector_names`, `_vectors` is the sorted list of the vector names.
 */
function toDocument(p: ScoredPoint, opts: { vectors: boolean; names: boolean }): Record<string, unknown> {
  const payload = { document_id: p.id, ...(p.payload ?? {}) };
  const stored = p.vectors ?? {};
  const vectors = opts.vectors ? Object.fromEntries(Object.entries(stored).map(([k, v]) => [k, Array.from(v as ArrayLike<number>)])) : undefined;
  const atRoot = vectors ? Object.fromEntries(Object.entries(vectors).filter(([k]) => !(k in payload))) : {};
  return {
    ...payload,
    ...atRoot,
    ...(vectors ? { _vectors: vectors } : {}),
    ...(opts.names ? { _vectors: Object.keys(stored).sort() } : {}),
  };
}

/** `select` (reference §1.6): the named fields (dot paths) only, with document_id and collection_id always. */
function selectFields(doc: Record<string, unknown>, select: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { document_id: doc.document_id, collection_id: doc.collection_id };
  for (const path of select) {
    const parts = path.split('.');
    let from: unknown = doc;
    for (const part of parts) from = isObj(from) ? from[part] : undefined;
    if (from === undefined) continue;
    let into = out;
    for (const part of parts.slice(0, -1)) into = (isObj(into[part]) ? into[part] : (into[part] = {})) as Record<string, unknown>;
    into[parts[parts.length - 1]!] = from;
  }
  return out;
}

export function registerDocumentRoutes(app: FastifyInstance, deps: DocumentRoutesDeps): void {
  const param = (req: FastifyRequest, name: string) => (req.params as Record<string, string>)[name]!;
  const out = async (req: FastifyRequest, docs: Record<string, unknown>[], presign: boolean) =>
    presign && deps.presign ? presignDocuments(docs, deps.presign, namespaceHeader(req)) : docs;

  /**
   * Documents carry the documented ids (col_…, bkt_…) in collection_id/root_bucket_id, with the names beside them;
   * the store keeps object names.
   */
  const withIds = async (ns: NamespaceIngestion, docs: Record<string, unknown>[]) => {
    for (const d of docs) {
      if (typeof d.collection_id === 'string') {
        const ref = await ns.ns.collectionRef?.(d.collection_id).catch(() => undefined);
        if (ref) Object.assign(d, { collection_id: ref.id, collection_name: d.collection_name ?? ref.name });
      }
      if (typeof d.root_bucket_id === 'string') {
        const ref = await ns.ns.bucketRef?.(d.root_bucket_id).catch(() => undefined);
        if (ref) Object.assign(d, { root_bucket_id: ref.id, root_bucket_name: d.root_bucket_name ?? ref.name });
      }
    }
    return docs;
  };

  const list = async (req: FastifyRequest, body: unknown) => {
    const ns = await deps.namespace(req);
    if (body !== undefined && body !== null && !isObj(body)) throw validationError('the body must be a JSON object', { field: 'body' });
    const b = (body ?? {}) as Record<string, unknown>;
    const q = req.query as Record<string, unknown>;
    // page_size is the SDK's spelling of limit (documents.list sends it).
    const limit = Number(b.limit ?? q.limit ?? b.page_size ?? q.page_size ?? 10);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw validationError('limit: an integer in 1–1000', { field: 'limit' });
    const offset = Number(b.offset ?? q.offset ?? 0);
    if (!Number.isInteger(offset) || offset < 0) throw validationError('offset: a non-negative integer (documents to skip)', { field: 'offset' });
    const cursor = b.cursor ?? q.cursor;
    if (cursor !== undefined && cursor !== null && typeof cursor !== 'string') throw validationError('cursor: the next_cursor of a previous page', { field: 'cursor' });
    let filter: FilterNode | undefined;
    if (b.filters !== undefined && b.filters !== null) {
      if (!isObj(b.filters)) throw validationError('filters: a filter object {field, operator, value} or {AND|OR|NOT: [...]}', { field: 'filters' });
      compileFilter(b.filters as FilterNode); // a malformed filter is a 400 naming it, before the store sees it
      filter = b.filters as FilterNode;
    }
    const select = b.select;
    if (select !== undefined && select !== null && (!Array.isArray(select) || select.some((f) => typeof f !== 'string' || f === ''))) {
      throw validationError('select: a list of field paths to return, e.g. ["text", "metadata.title"]', { field: 'select' });
    }
    const opts = { vectors: booleanFlag(req, 'return_vectors', b) ?? false, names: booleanFlag(req, 'return_vector_names', b) ?? false };
    const page = await ns.listDocuments(param(req, 'collection'), { limit, offset, withVectors: opts.vectors || opts.names, ...(filter ? { filter } : {}), ...(typeof cursor === 'string' ? { cursor } : {}) });
    const docs = page.points.map((p) => toDocument(p, opts));
    const results = await out(req, Array.isArray(select) ? docs.map((d) => selectFields(d, select as string[])) : docs, booleanFlag(req, 'return_presigned_urls', b) ?? false);
    return { results: await withIds(ns, results), pagination: { total: page.total, page_size: limit, next_cursor: page.nextCursor ?? null }, total_documents: page.total, total_count: page.total };
  };
  app.post('/v1/collections/:collection/documents/list', async (req) => list(req, req.body));
  // The GET form (the SDK's list_documents_0): paging in the query string.
  app.get('/v1/collections/:collection/documents', async (req) => list(req, {}));

  app.get('/v1/collections/:collection/documents/:documentId', async (req) => {
    const ns = await deps.namespace(req);
    const opts = { vectors: booleanFlag(req, 'return_vectors') ?? false, names: booleanFlag(req, 'return_vector_names') ?? false };
    const doc = toDocument(await ns.getDocument(param(req, 'collection'), param(req, 'documentId'), opts.vectors || opts.names), opts);
    return (await withIds(ns, await out(req, [doc], booleanFlag(req, 'return_presigned_urls') ?? false)))[0];
  });

  app.delete('/v1/collections/:collection/documents/:documentId', async (req) => {
    const ns = await deps.namespace(req);
    await ns.deleteDocument(param(req, 'collection'), param(req, 'documentId'));
    return { success: true, document_id: param(req, 'documentId') };
  });
}
