/**
 * Search interactions (reference §7, the SDK's RetrieverInteractionsApi): `POST /v1/retrievers/interactions`,
 * `…/interactions/batch` (1–1000), `…/interactions/list`, `GET|DELETE …/interactions/{id}`. Records live in the
 * namespace's key-value store (X-Namespace), one key per interaction, so every engine replica sees them.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { notFound, validationError } from '../lib/errors.ts';
import type { NamespaceIngestion } from '../ingestion/pipeline.ts';
import { listResponse } from '../management/list.ts';

/** The reference's InteractionType enum (§ InteractionType). */
export const INTERACTION_TYPES = ['view', 'click', 'positive_feedback', 'negative_feedback', 'purchase', 'add_to_cart', 'wishlist', 'long_view', 'share', 'bookmark', 'query_refinement', 'zero_results', 'filter_toggle', 'skip', 'return_to_results'] as const;

const OPTIONAL_STRINGS = ['user_id', 'session_id', 'execution_id', 'retriever_id', 'feature_uri', 'occurred_at'] as const;
const KNOWN = new Set(['feature_id', 'document_id', 'interaction_type', 'position', 'metadata', 'query_snapshot', 'document_score', 'result_set_size', ...OPTIONAL_STRINGS]);
const KEY = 'interaction.';

export interface InteractionRoutesDeps {
  namespace(req: FastifyRequest): Promise<NamespaceIngestion>;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates one interaction body (`at` names it in errors) and returns the stored record. */
export function interactionRecord(b: unknown, at: string): Record<string, unknown> {
  if (!isObj(b)) throw validationError(`${at}: must be an object {feature_id, interaction_type, position}`, { field: at });
  for (const k of Object.keys(b)) if (!KNOWN.has(k)) throw validationError(`${at}.${k}: unknown field: remove it or fix its spelling`, { field: `${at}.${k}` });
  const featureId = b.feature_id ?? b.document_id;
  if (typeof featureId !== 'string' || !featureId) throw validationError(`${at}.feature_id: required, the document_id of the result interacted with`, { field: `${at}.feature_id` });
  const types = b.interaction_type;
  if (!Array.isArray(types) || types.length === 0 || types.some((t) => !(INTERACTION_TYPES as readonly unknown[]).includes(t))) {
    throw validationError(`${at}.interaction_type: a non-empty list of ${INTERACTION_TYPES.join(', ')}`, { field: `${at}.interaction_type` });
  }
  if (!Number.isInteger(b.position) || (b.position as number) < 0) throw validationError(`${at}.position: the 0-based rank of the result`, { field: `${at}.position` });
  for (const f of OPTIONAL_STRINGS) if (b[f] !== undefined && b[f] !== null && typeof b[f] !== 'string') throw validationError(`${at}.${f}: must be a string`, { field: `${at}.${f}` });
  const now = new Date();
  const occurred = typeof b.occurred_at === 'string' ? new Date(b.occurred_at) : now;
  if (Number.isNaN(occurred.getTime())) throw validationError(`${at}.occurred_at: an ISO 8601 time`, { field: `${at}.occurred_at` });
  const { document_id: _d, ...rest } = b;
  return {
    ...rest,
    feature_id: featureId,
    interaction_id: `int_${randomUUID().replace(/-/g, '')}`,
    // A future time is clamped to now (reference: backfilled events carry their true age).
    occurred_at: (occurred > now ? now : occurred).toISOString(),
    timestamp: now.toISOString(),
    created_at: now.toISOString(),
    deduplicated: false,
  };
}

/** Every interaction of the namespace (the learned fusion reads these). */
export async function listInteractions(ns: NamespaceIngestion): Promise<Record<string, unknown>[]> {
  const keys = await ns.kvKeys(KEY);
  const out = await Promise.all(keys.map((k) => ns.kvGet<Record<string, unknown>>(k.startsWith(KEY) ? k : `${KEY}${k}`)));
  return out.filter((x): x is Record<string, unknown> => !!x);
}

export function registerInteractionRoutes(app: FastifyInstance, deps: InteractionRoutesDeps): void {
  const body = (req: FastifyRequest) => (isObj(req.body) ? req.body : {});

  app.post('/v1/retrievers/interactions', async (req) => {
    const ns = await deps.namespace(req);
    const rec = interactionRecord(req.body, 'body');
    await ns.kvPut(`${KEY}${rec.interaction_id as string}`, rec);
    return rec;
  });

  app.post('/v1/retrievers/interactions/batch', async (req) => {
    const ns = await deps.namespace(req);
    const items = body(req).interactions;
    if (!Array.isArray(items) || items.length < 1 || items.length > 1000) throw validationError('body.interactions: give 1–1000 interactions', { field: 'body.interactions' });
    const results: Record<string, unknown>[] = [];
    const errors: string[] = [];
    for (const [i, item] of items.entries()) {
      try {
        const rec = interactionRecord(item, `body.interactions[${i}]`);
        await ns.kvPut(`${KEY}${rec.interaction_id as string}`, rec);
        results.push({ index: i, success: true, interaction_id: rec.interaction_id });
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        errors.push(message);
        results.push({ index: i, success: false, error: message });
      }
    }
    return { created: items.length - errors.length, failed: errors.length, errors, results };
  });

  app.post('/v1/retrievers/interactions/list', async (req) => {
    const ns = await deps.namespace(req);
    const b = body(req);
    const q = req.query as Record<string, unknown>;
    const retriever = b.retriever_id ?? q.retriever_id;
    const all = (await listInteractions(ns)).filter((x) => retriever === undefined || retriever === null || x.retriever_id === retriever);
    const listed = listResponse(all, { idField: 'interaction_id', nameField: 'feature_id' }, { sort: { field: 'created_at', direction: 'desc' }, ...b }, q);
    return { ...listed, items: listed.results };
  });

  app.get('/v1/retrievers/interactions/:interaction_id', async (req) => {
    const ns = await deps.namespace(req);
    const id = (req.params as { interaction_id: string }).interaction_id;
    const rec = await ns.kvGet<Record<string, unknown>>(`${KEY}${id}`);
    if (!rec) throw notFound('interaction', id);
    return rec;
  });

  app.delete('/v1/retrievers/interactions/:interaction_id', async (req) => {
    const ns = await deps.namespace(req);
    const id = (req.params as { interaction_id: string }).interaction_id;
    if (!(await ns.kvGet(`${KEY}${id}`))) throw notFound('interaction', id);
    await ns.kvDelete(`${KEY}${id}`);
    return { success: true, interaction_id: id };
  });
}
