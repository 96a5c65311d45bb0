/**
 * Filters inside the retriever: request `filters` merged with stage `pre_filters`, templated values rendered,
 * `{"type": "dynamic", "field": "inputs.x"}` values resolved, then compiled by the shared filter compiler
 * (engine/src/vector/filter-compile.ts) so in-memory evaluation has exactly the vector stores' semantics.
 */
import type { FilterNode } from '../ports/filter.ts';
import { compileFilter, matchesFilter, type FilterExpr } from '../vector/filter-compile.ts';
import { getPath } from './paths.ts';
import type { Doc } from './types.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergeFilters(...nodes: (FilterNode | undefined | null)[]): FilterNode | undefined {
  const present = nodes.filter((n): n is FilterNode => n !== undefined && n !== null && !(isObj(n) && Object.keys(n).length === 0));
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  return { AND: present };
}

/** Resolves DynamicValue nodes against the request scope. */
export function resolveDynamic(node: unknown, scope: Record<string, unknown>): unknown {
  if (Array.isArray(node)) return node.map((n) => resolveDynamic(n, scope));
  if (!isObj(node)) return node;
  if (node.type === 'dynamic' && typeof node.field === 'string') return getPath(scope, node.field.replace(/^INPUT\./, 'inputs.'));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = resolveDynamic(v, scope);
  return out;
}

/**
 * Compiled filters by the node they came from: a stage's static parameters (and the filter built from them) are
 * the same object on every execution, so they compile once. Nodes are never changed after they are built.
 */
const compiled = new WeakMap<object, FilterExpr>();
function compiledOf(filter: FilterNode): FilterExpr {
  let expr = compiled.get(filter);
  if (!expr) compiled.set(filter, (expr = compileFilter(filter)));
  return expr;
}

/** Keeps the documents the filter matches (all when no filter). Throws a 400 naming the bad filter part. */
export function filterDocs(docs: Doc[], filter: FilterNode | undefined): Doc[] {
  if (!filter) return docs;
  const expr = compiledOf(filter);
  if (expr.kind === 'all') return docs;
  return docs.filter((d) => matchesFilter(expr, d));
}

export function docMatches(doc: Doc, filter: FilterNode | undefined): boolean {
  if (!filter) return true;
  return matchesFilter(compiledOf(filter), doc);
}
