/** Tool results: a retriever's documents as structured content (id, score, key fields, link) plus a short text. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { isObj } from './schema.ts';

const MAX_STRING = 2000;
const TEXT_LINES = 10;

/** A document's fields, long strings cut (an agent's context is small); engine-internal `_…` fields dropped. */
function keyFields(d: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d)) {
    if (k.startsWith('_')) continue;
    out[k] = typeof v === 'string' && v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v;
  }
  return out;
}

/** The API URL of a document (GET with the same key and X-Namespace), when the document names its collection. */
export function documentUrl(baseUrl: string, d: Record<string, unknown>): string | undefined {
  const id = d.document_id;
  const col = d.collection_id ?? d.collection_name;
  if (typeof id !== 'string' || typeof col !== 'string') return undefined;
  return `${baseUrl}/v1/collections/${encodeURIComponent(col)}/documents/${encodeURIComponent(id)}`;
}

const label = (d: Record<string, unknown>) => {
  for (const k of ['title', 'name', 'text', 'description']) {
    const v = d[k] ?? (isObj(d.metadata) ? d.metadata[k] : undefined);
    if (typeof v === 'string' && v.trim()) return v.trim().replace(/\s+/g, ' ').slice(0, 120);
  }
  return '';
};

export interface DocumentsOut {
  documents: Record<string, unknown>[];
  [k: string]: unknown;
}

/** Documents → `{documents: [{document_id, score, url, …fields}]}` with `extra` beside, and a text summary. */
export function documentsResult(baseUrl: string, docs: unknown[], extra: Record<string, unknown>, heading: string): CallToolResult {
  const documents = docs.filter(isObj).map((d) => {
    const url = documentUrl(baseUrl, d);
    return { document_id: d.document_id ?? null, score: typeof d.score === 'number' ? d.score : null, ...(url ? { url } : {}), ...keyFields(d) };
  });
  const structured: DocumentsOut = { ...extra, count: documents.length, documents };
  const lines = documents.slice(0, TEXT_LINES).map((d, i) => {
    const score = typeof d.score === 'number' ? ` (score ${d.score.toFixed(4)})` : '';
    const l = label(d);
    return `${i + 1}. ${String(d.document_id)}${score}${l ? `: ${l}` : ''}`;
  });
  const more = documents.length > TEXT_LINES ? [`… and ${documents.length - TEXT_LINES} more (see the structured content)`] : [];
  const links = documents
    .slice(0, TEXT_LINES)
    .filter((d) => typeof d.url === 'string')
    .map((d) => ({ type: 'resource_link' as const, uri: d.url as string, name: String(d.document_id), mimeType: 'application/json' }));
  return {
    content: [{ type: 'text', text: [`${heading}: ${documents.length} document${documents.length === 1 ? '' : 's'}`, ...lines, ...more].join('\n') }, ...links],
    structuredContent: structured,
  };
}

/** Any JSON answer (lists) as structured content plus its JSON text. */
export function jsonResult(structured: Record<string, unknown>, text: string): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

/** A failed call (the API's documented error), reported to the model as a tool error it can read and correct. */
export function errorResult(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}
