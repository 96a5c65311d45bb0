/**
 * Tenancy cases of the custom-model routes (engine/src/http/model-routes.ts). A's keys are scoped to namespace
 * alpha, so the organisation-level writes (upload, confirm, delete) are refused to them; reads list only the tenant's
 * own models; the namespace routes refuse V's namespace in every spelling.
 */
import type { Case } from './tenancy-cases.ts';
import type { World } from './world.ts';
import { both } from './tenancy-attacks.ts';

type Gen = (w: World) => Case[];

const UPLOAD = { model_name: 'stolen', model_type: 'reranker', files: [{ path: 'model.onnx', role: 'model', sha256: '0'.repeat(64) }] };
const vNames = (w: World) => [w.v.ns, w.v.nsId];

export const MODEL_CASES: [string, Gen][] = [
  ['POST /v1/models/uploads', (w) => both(w, { what: 'org upload with a namespace-scoped key', method: 'POST', url: '/v1/models/uploads', ns: w.a.ns, body: UPLOAD, expect: 'deny' })],
  ['POST /v1/models/uploads/:upload/confirm', (w) => both(w, { what: 'org confirm with a namespace-scoped key', method: 'POST', url: `/v1/models/uploads/mupl_${'0'.repeat(20)}/confirm`, ns: w.a.ns, body: {}, expect: 'deny' })],
  ['GET /v1/models', (w) => both(w, { what: "list (only the tenant's)", method: 'GET', url: '/v1/models', ns: w.a.ns, expect: 'noleak' })],
  ['GET /v1/models/:model', (w) => both(w, { what: 'a model that is not the tenant\'s', method: 'GET', url: '/v1/models/victim-model', ns: w.a.ns, expect: 'deny' })],
  ['DELETE /v1/models/:model', (w) => both(w, { what: 'org delete with a namespace-scoped key', method: 'DELETE', url: '/v1/models/victim-model', ns: w.a.ns, expect: 'deny' })],
  ['GET /v1/namespaces/:ns/models', (w) => vNames(w).flatMap((v) => both(w, { what: `V's namespace ${v}`, method: 'GET', url: `/v1/namespaces/${encodeURIComponent(v)}/models`, ns: w.a.ns, expect: 'deny' }))],
  ...(['enable', 'disable'] as const).map((action): [string, Gen] => [
    `POST /v1/namespaces/:ns/models/:model/${action}`,
    (w) => vNames(w).flatMap((v) => both(w, { what: `${action} for V's namespace ${v}`, method: 'POST', url: `/v1/namespaces/${encodeURIComponent(v)}/models/victim-model/${action}`, ns: w.a.ns, body: {}, expect: 'deny' })),
  ]),
];
