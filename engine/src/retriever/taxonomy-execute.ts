/**
 * On-demand taxonomy execution (reference §1.8 `POST /v1/taxonomies/{id}/execute`, also `/v1/taxonomies/execute/{id}`;
 * the SDK's ExecuteTaxonomyRequest → JoinResponse): a validation aid that classifies 1–100 sample documents sent in
 * the body against a flat taxonomy, without persisting anything. Each sample's inputs are built from the taxonomy's
 * input_mappings, its retriever runs over the reference collection, and the best `top_k` nodes at or above
 * `min_score` are the sample's matches; the best node's enrichment fields are copied onto the sample (all of its
 * fields when the taxonomy names none).
 */
import { badRequest, validationError } from '../lib/errors.ts';
import type { RetrieverEngine } from './executor.ts';
import { getPath, withPath } from './paths.ts';

export interface TaxonomyToExecute {
  taxonomy_id: string;
  taxonomy_name: string;
  /** The taxonomy as the API answers it (config.retriever_id, input_mappings, source_collection, top_k, min_score). */
  config: Record<string, unknown>;
  /** The X-Namespace the taxonomy was found with: its retriever runs there. */
  namespace: string;
}

/** Keys of the SDK's ExecuteTaxonomyRequest; `taxonomy` is the stored one (the SDK's controller fetches it too). */
const ACCEPTED = ['taxonomy', 'retriever', 'source_documents', 'source_collection_id', 'target_collection_id', 'join_mode', 'batch_size', 'scroll_filters'];
const MAX_SAMPLES = 100;
/** Node fields never copied onto a sample: the node's own identity and the run's bookkeeping. */
const NODE_INTERNAL = new Set(['document_id', 'score', 'collection_id', 'root_object_id', 'root_bucket_id', 'source_object_id', '_internal', 'vectors', 'features']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function samplesOf(body: Obj): Obj[] {
  for (const k of Object.keys(body)) {
    if (!ACCEPTED.includes(k)) throw validationError(`body.${k}: not a field of an execute request (accepted: ${ACCEPTED.join(', ')})`, { field: `body.${k}` });
  }
  if (body.join_mode != null && body.join_mode !== 'on_demand') {
    throw validationError("body.join_mode: only 'on_demand' runs through the API; batch enrichment is the collection's taxonomy_applications", { field: 'body.join_mode' });
  }
  if (body.retriever != null) throw validationError("body.retriever: a retriever override is not supported: the taxonomy's own retriever (config.retriever_id) runs; remove it", { field: 'body.retriever' });
  if (body.scroll_filters != null) throw validationError('body.scroll_filters: on-demand execution classifies the source_documents sent; remove scroll_filters', { field: 'body.scroll_filters' });
  const docs = body.source_documents;
  if (!Array.isArray(docs) || docs.length === 0 || docs.length > MAX_SAMPLES || !docs.every(isObj)) {
    throw validationError(`body.source_documents: a list of 1 to ${MAX_SAMPLES} sample documents (objects whose fields the taxonomy's input_mappings read)`, { field: 'body.source_documents' });
  }
  return docs;
}

/** A sample's value at a mapping's path: its root fields, else a {payload: {...}} envelope (the SDK's note). */
function valueAt(doc: Obj, path: string): unknown {
  const v = getPath(doc, path);
  return v !== undefined ? v : isObj(doc.payload) ? getPath(doc.payload, path) : undefined;
}

function inputsOf(doc: Obj, mappings: Obj[], i: number): Obj {
  const inputs: Obj = {};
  for (const m of mappings) {
    const key = m.input_key as string;
    if ((m.source_type ?? 'payload') === 'literal') {
      inputs[key] = m.override;
      continue;
    }
    const v = valueAt(doc, String(m.path ?? key));
    if (v === undefined) throw validationError(`body.source_documents[${i}]: has no '${String(m.path ?? key)}', which the taxonomy's input mapping '${key}' reads`, { field: `body.source_documents[${i}]` });
    inputs[key] = v;
  }
  return inputs;
}

function enrich(doc: Obj, node: Obj, fields: Obj[] | undefined): { doc: Obj; enriched: string[] } {
  let out = { ...doc };
  const enriched: string[] = [];
  if (!fields || fields.length === 0) {
    for (const [k, v] of Object.entries(node)) {
      if (NODE_INTERNAL.has(k) || k in out) continue;
      out[k] = v;
      enriched.push(k);
    }
    return { doc: out, enriched };
  }
  for (const f of fields) {
    const v = getPath(node, f.field_path as string);
    if (v === undefined) continue;
    const target = (f.target_field as string | undefined) ?? (f.field_path as string);
    if (f.merge_mode === 'append') {
      const have = getPath(out, target);
      const list: unknown[] = have === undefined || have === null ? [] : Array.isArray(have) ? [...(have as unknown[])] : [have];
      if (!list.some((x) => JSON.stringify(x) === JSON.stringify(v))) list.push(v);
      out = withPath(out, target, list);
    } else {
      out = withPath(out, target, v);
    }
    enriched.push(target);
  }
  return { doc: out, enriched };
}

/** Runs the taxonomy on the body's samples; the JoinResponse {stats, results, matches}. */
export async function executeTaxonomy(engine: RetrieverEngine, t: TaxonomyToExecute, bodyIn: unknown): Promise<Obj> {
  if (!isObj(bodyIn)) throw validationError('the request body must be a JSON object {source_documents: [...]}', { field: 'body' });
  const samples = samplesOf(bodyIn);
  const c = t.config;
  if ((c.taxonomy_type ?? 'flat') !== 'flat') {
    throw badRequest(`taxonomy '${t.taxonomy_name}' is hierarchical: on-demand execution supports flat taxonomies; use the taxonomy_enrich retriever stage`, { field: 'config.taxonomy_type' });
  }
  if (typeof c.retriever_id !== 'string') throw badRequest(`taxonomy '${t.taxonomy_name}' has no retriever (config.retriever_id): set one to execute it`, { field: 'config.retriever_id' });
  const def = await engine.load(c.retriever_id, t.namespace);
  def.namespace = t.namespace;
  const mappings = (Array.isArray(c.input_mappings) ? c.input_mappings : []) as Obj[];
  const fields = ((c.source_collection as Obj | undefined)?.enrichment_fields ?? undefined) as Obj[] | undefined;
  const topK = typeof c.top_k === 'number' ? c.top_k : 1;
  const minScore = typeof c.min_score === 'number' ? c.min_score : 0;

  const results: Obj[] = [];
  const matches: Obj[] = [];
  let enrichedDocs = 0;
  for (const [i, doc] of samples.entries()) {
    const r = await engine.execute(def, { inputs: inputsOf(doc, mappings, i) } as Parameters<RetrieverEngine['execute']>[1]);
    const nodes = ((r.body.documents ?? []) as Obj[]).filter((n) => typeof n.score !== 'number' || n.score >= minScore).slice(0, topK);
    const best = nodes[0];
    const { doc: out, enriched } = best ? enrich(doc, best, fields) : { doc, enriched: [] };
    if (best) enrichedDocs++;
    results.push(out);
    for (const n of nodes) {
      // A flat taxonomy's node label: its first enrichment field when that is text, else the node's document id.
      const first = fields?.[0] ? getPath(n, fields[0].field_path as string) : undefined;
      const label = typeof first === 'string' ? first : String(n.document_id ?? '');
      matches.push({
        document_id: typeof doc.document_id === 'string' ? doc.document_id : `sample-${i}`,
        taxonomy_id: t.taxonomy_id,
        taxonomy_name: t.taxonomy_name,
        node_id: n.document_id ?? null,
        label,
        score: typeof n.score === 'number' ? n.score : null,
        path: [label],
        hierarchy_level: 0,
        enriched_fields: n === best ? enriched : [],
      });
    }
  }
  return { stats: { processed_docs: samples.length, batches: 1, errors: 0, enriched: enrichedDocs }, results, matches };
}
