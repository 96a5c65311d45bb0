/**
 * Pagination after the final stage (reference §3.9): `offset`, `cursor`, `scroll` and `keyset`, plus the
 * top-level `limit`/`offset` and `settings.limit` the docs and widget send. Cursors are opaque base64url tokens
 * holding a position; pages come from the same (cached) final result, so iterating returns every document once.
 */
import { badRequest } from '../lib/errors.ts';
import type { Doc } from './types.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface PageRequest {
  pagination?: unknown;
  limit?: unknown;
  offset?: unknown;
  settings?: unknown;
}

function int(v: unknown, field: string, min: number, max: number, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw badRequest(`${field} must be an integer between ${min} and ${max}`, { field });
  return v as number;
}

const encode = (o: number) => Buffer.from(JSON.stringify({ o })).toString('base64url');
function decode(token: unknown, field: string): number {
  if (token === undefined || token === null || token === '') return 0;
  if (typeof token !== 'string') throw badRequest(`${field} must be the opaque string returned by the previous page`, { field });
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown };
    if (Number.isInteger(v.o) && (v.o as number) >= 0) return v.o as number;
  } catch {
    // fall through to the error below
  }
  throw badRequest(`${field} is not a cursor this engine issued: pass the value from the previous response unchanged`, { field });
}

export interface Page {
  documents: Doc[];
  pagination: Record<string, unknown>;
}

/** Validates the pagination part of a request without paging (used before execution). */
export function checkPagination(req: PageRequest): void {
  paginate([], req);
}

export function paginate(docs: Doc[], req: PageRequest): Page {
  const total = docs.length;
  const p = req.pagination;
  if (p !== undefined && p !== null && !isObj(p)) throw badRequest('pagination must be an object such as {"method": "offset", "page_size": 10, "page_number": 1}', { field: 'pagination' });
  const settings = isObj(req.settings) ? req.settings : undefined;
  if (req.settings !== undefined && req.settings !== null && !settings) throw badRequest('settings must be an object such as {"limit": 10}', { field: 'settings' });
  if (!p) {
    const rawLimit = req.limit ?? settings?.limit;
    if (rawLimit === undefined && req.offset === undefined) {
      return { documents: docs, pagination: { method: 'none', total, limit: total, offset: 0, has_next: false, has_previous: false } };
    }
    const limit = int(rawLimit, 'limit', 1, 10000, 10);
    const offset = int(req.offset, 'offset', 0, 1_000_000, 0);
    return offsetPage(docs, offset, limit);
  }
  const method = p.method ?? 'offset';
  switch (method) {
    case 'offset': {
      const size = int(p.page_size ?? p.limit, 'pagination.page_size', 1, 500, 10);
      if (p.offset !== undefined) return offsetPage(docs, int(p.offset, 'pagination.offset', 0, 1_000_000, 0), size);
      const page = int(p.page_number, 'pagination.page_number', 1, 1_000_000, 1);
      return offsetPage(docs, (page - 1) * size, size, page);
    }
    case 'cursor': {
      const limit = int(p.limit ?? p.page_size, 'pagination.limit', 1, 500, 10);
      const start = decode(p.cursor, 'pagination.cursor');
      const documents = docs.slice(start, start + limit);
      const hasNext = start + limit < total;
      const next = hasNext ? encode(start + limit) : null;
      return { documents, pagination: { method, total, page_size: limit, cursor: next, next_cursor: next, has_next: hasNext } };
    }
    case 'scroll': {
      const limit = int(p.limit, 'pagination.limit', 1, 1000, 100);
      int(p.scroll_ttl, 'pagination.scroll_ttl', 60, 3600, 300);
      const start = decode(p.scroll_id, 'pagination.scroll_id');
      const documents = docs.slice(start, start + limit);
      const hasNext = start + limit < total;
      return { documents, pagination: { method, total, limit, scroll_id: hasNext ? encode(start + limit) : null, has_next: hasNext } };
    }
    case 'keyset': {
      const limit = int(p.limit, 'pagination.limit', 1, 500, 10);
      let start = 0;
      if (p.after !== undefined && p.after !== null) {
        // The reference's keyset example names the key `id` ({score, id}); the engine's next_cursor says document_id.
        const id = isObj(p.after) ? (p.after.document_id ?? p.after.id) : undefined;
        if (!isObj(p.after) || typeof id !== 'string') {
          throw badRequest('pagination.after must be the next_cursor object of the previous page ({score, document_id}; id is accepted for document_id)', { field: 'pagination.after' });
        }
        const i = docs.findIndex((d) => d.document_id === id);
        if (i >= 0) start = i + 1;
        else {
          const s = typeof p.after.score === 'number' ? p.after.score : Infinity;
          start = docs.findIndex((d) => (d.score ?? -Infinity) < s || ((d.score ?? -Infinity) === s && String(d.document_id) > id));
          if (start < 0) start = total;
        }
      }
      const documents = docs.slice(start, start + limit);
      const hasNext = start + limit < total;
      const last = documents[documents.length - 1];
      return {
        documents,
        pagination: { method, total, limit, has_next: hasNext, next_cursor: hasNext && last ? { score: last.score ?? null, document_id: last.document_id ?? null } : null },
      };
    }
    default:
      throw badRequest(`pagination.method '${String(method)}' is not supported: use offset, cursor, scroll or keyset`, { field: 'pagination.method' });
  }
}

function offsetPage(docs: Doc[], offset: number, limit: number, page?: number): Page {
  const total = docs.length;
  return {
    documents: docs.slice(offset, offset + limit),
    pagination: {
      method: 'offset',
      total,
      limit,
      offset,
      ...(page !== undefined ? { page_number: page, page_size: limit, total_pages: Math.ceil(total / limit) } : {}),
      has_next: offset + limit < total,
      has_previous: offset > 0,
    },
  };
}
