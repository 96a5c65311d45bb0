/** The tools every caller has: list namespaces, retrievers and collections, and search a collection's documents by text. */
import { ErrorCode, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { QuarryApi } from './api.ts';
import { listCollections, listNamespaces, listRetrievers, ok } from './catalogue.ts';
import { documentsResult, jsonResult } from './results.ts';
import { toolName } from './schema.ts';

const READ_ONLY = { readOnlyHint: true, openWorldHint: false } as const;
const NS = { type: 'string', description: 'the namespace (its name or id), as list_namespaces gives it' } as const;
/** Document fields searched when the caller names none. */
const DEFAULT_FIELDS = ['text', 'title', 'name', 'description', 'content', 'body', 'transcript', 'caption'];

export const GENERIC_TOOLS: Tool[] = [
  {
    name: 'list_namespaces',
    description: 'Lists the Quarry namespaces this API key can use (name, id, description).',
    inputSchema: { type: 'object', properties: {} },
    annotations: READ_ONLY,
  },
  {
    name: 'list_retrievers',
    description: "Lists a namespace's retrievers (name, id, description, input schema, readiness) and the MCP tool that runs each Ready one.",
    inputSchema: { type: 'object', properties: { namespace: NS }, required: ['namespace'] },
    annotations: READ_ONLY,
  },
  {
    name: 'list_collections',
    description: "Lists a namespace's collections (name, id, description, document count).",
    inputSchema: { type: 'object', properties: { namespace: NS }, required: ['namespace'] },
    annotations: READ_ONLY,
  },
  {
    name: 'search_documents',
    description:
      "Finds a collection's documents whose text fields contain the query (case-insensitive substring match, no ranking: use a retriever tool for semantic search).",
    inputSchema: {
      type: 'object',
      properties: {
        namespace: NS,
        collection: { type: 'string', description: 'the collection (name or id), as list_collections gives it' },
        query: { type: 'string', minLength: 1, description: 'the text to look for' },
        fields: { type: 'array', items: { type: 'string' }, description: `document fields to search (default: ${DEFAULT_FIELDS.join(', ')})` },
        limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
      },
      required: ['namespace', 'collection', 'query'],
    },
    annotations: READ_ONLY,
  },
];

function str(args: Record<string, unknown>, key: string): string {
  const v = args[key];
  if (typeof v !== 'string' || v.trim() === '') throw new McpError(ErrorCode.InvalidParams, `${key} is required: a non-empty string`);
  return v;
}

const pickOf = (keys: string[]) => (r: Record<string, unknown>) => Object.fromEntries(keys.filter((k) => r[k] !== undefined).map((k) => [k, r[k]]));

const listText = (what: string, items: Record<string, unknown>[], nameKey: string) =>
  `${items.length} ${what}${items.length ? `: ${items.map((i) => String(i[nameKey])).join(', ')}` : ''}`;

export async function runGenericTool(api: QuarryApi, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  switch (name) {
    case 'list_namespaces': {
      const namespaces = (await listNamespaces(api)).map(pickOf(['namespace_id', 'namespace_name', 'description', 'status']));
      return jsonResult({ namespaces }, listText('namespaces', namespaces, 'namespace_name'));
    }
    case 'list_retrievers': {
      const ns = str(args, 'namespace');
      const retrievers = (await listRetrievers(api, ns)).map((r) => ({
        ...pickOf(['retriever_id', 'retriever_name', 'description', 'input_schema', 'ready', 'status'])(r),
        ...(r.ready === true && typeof r.retriever_name === 'string' ? { tool: toolName(ns, r.retriever_name) } : {}),
      }));
      return jsonResult({ namespace: ns, retrievers }, listText(`retrievers in ${ns}`, retrievers, 'retriever_name'));
    }
    case 'list_collections': {
      const ns = str(args, 'namespace');
      const collections = (await listCollections(api, ns)).map(pickOf(['collection_id', 'collection_name', 'description', 'document_count', 'status']));
      return jsonResult({ namespace: ns, collections }, listText(`collections in ${ns}`, collections, 'collection_name'));
    }
    case 'search_documents':
      return searchDocuments(api, args);
    default:
      throw new McpError(ErrorCode.InvalidParams, `unknown tool '${name}'`);
  }
}

/** `POST /v1/collections/{collection}/documents/list` with an OR of `contains` filters over the text fields. */
async function searchDocuments(api: QuarryApi, args: Record<string, unknown>): Promise<CallToolResult> {
  const ns = str(args, 'namespace');
  const collection = str(args, 'collection');
  const query = str(args, 'query');
  const fields = args.fields === undefined ? DEFAULT_FIELDS : args.fields;
  if (!Array.isArray(fields) || fields.length === 0 || fields.some((f) => typeof f !== 'string' || f === '')) {
    throw new McpError(ErrorCode.InvalidParams, 'fields must be a non-empty list of document field names');
  }
  const limit = args.limit ?? 10;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 100) throw new McpError(ErrorCode.InvalidParams, 'limit must be an integer from 1 to 100');
  const filters = { OR: (fields as string[]).map((field) => ({ field, operator: 'contains', value: query })) };
  const body = ok(await api.call('POST', `/v1/collections/${encodeURIComponent(collection)}/documents/list`, { namespace: ns, body: { filters, limit } }));
  const docs = Array.isArray(body.results) ? body.results : [];
  return documentsResult(api.baseUrl, docs, { namespace: ns, collection, query }, `Documents of ${collection} containing '${query}'`);
}
