/**
 * Manifest endpoints (reference §6.2), declarative where the reference is create-only:
 *   POST /v1/manifest/validate            → {valid, resources, missing_secrets, errors, warnings, results}
 *   POST /v1/manifest/diff[?prune=true]   → {to_create, differences, unchanged, in_system_only, resources}
 *   POST /v1/manifest/apply[?dry_run=true&prune=true&manifest_name=]
 *        create-or-update every resource; nothing is written when anything is invalid (422 listing every
 *        problem by resource and field); prune deletes resources labelled with this manifest it no longer lists;
 *        a write the store still rejects is an error in the documented shape with the ApplyResult in details
 *   GET|POST /v1/manifest/export[?format=yaml|mixpeek&namespace=a,b&manifest=&manifest_name=]
 * The manifest comes as multipart/form-data with the file field `manifest_file` (§6.2), or as the raw body
 * (application/yaml, text/yaml, text/plain, or JSON: the manifest itself or {manifest: "<yaml>"}); both
 * Quarry custom-resource YAML and the Mixpeek manifest format are accepted.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authorizeNamespace, mayAccessNamespace, requirePermission } from '../auth/http.ts';
import { requestK8sNamespace, splitNamespaceIdent } from '../auth/tenancy.ts';
import { QuarryError, badRequest, notFound, validationError, type ErrorType } from '../lib/errors.ts';
import { namespaceHeader } from '../http/request-params.ts';
import type { Resource, ResourceStore } from '../ports/resource-store.ts';
import { DISPLAY_NAME_ANNOTATION, displayName, findByIdentifier } from '../management/identifiers.ts';
import { applyPlan, listLive, type ApplyResult } from './apply.ts';
import { parseManifest } from './parse.ts';
import { diffResult, exportManifest, planManifest, planProblems, type ManifestPlan } from './plan.ts';

export interface ManifestRouteDeps {
  resources: ResourceStore;
  /** Kubernetes namespace the engine manages resources in. */
  k8sNamespace: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

interface ManifestRequest {
  input: unknown;
  params: Record<string, string>;
  /** Values of `${{ secrets.NAME }}` placeholders: a JSON object in the body's `secrets` or a `secrets` form field. */
  secrets?: Record<string, string>;
}

function secretValues(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  let o = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch {
      throw badRequest('secrets must be a JSON object {"NAME": "value"}', { field: 'secrets' });
    }
  }
  if (!isObj(o) || !Object.values(o).every((x) => typeof x === 'string')) throw badRequest('secrets must be an object of strings {"NAME": "value"}', { field: 'secrets' });
  return o as Record<string, string>;
}

function flag(v: string | undefined, name: string): boolean {
  if (v === undefined || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw badRequest(`${name} must be true or false, got '${v}'`, { field: name });
}

const withSecrets = (secrets: Record<string, string> | undefined) => (secrets ? { secrets } : {});

async function readManifest(req: FastifyRequest): Promise<ManifestRequest> {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries((req.query ?? {}) as Obj)) if (typeof v === 'string') params[k] = v;
  if (req.isMultipart()) {
    let text: string | undefined;
    const others: string[] = [];
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        const buf = await part.toBuffer();
        if (part.fieldname === 'manifest_file') text = buf.toString('utf8');
        else others.push(part.fieldname);
      } else if (typeof part.value === 'string') params[part.fieldname] ??= part.value;
    }
    if (text === undefined) {
      throw badRequest(`the multipart body has no file field manifest_file${others.length ? ` (got ${others.join(', ')})` : ''}: send the manifest as manifest_file`, { field: 'manifest_file' });
    }
    return { input: text, params, ...withSecrets(secretValues(params.secrets)) };
  }
  const body = req.body;
  if (body === undefined || body === null || body === '') {
    throw badRequest('no manifest: send multipart/form-data with the file field manifest_file, or the YAML as the request body', { field: 'manifest_file' });
  }
  if (typeof body === 'string') return { input: body, params };
  if (isObj(body) && typeof (body.manifest ?? body.manifest_file) === 'string') return { input: body.manifest ?? body.manifest_file, params, ...withSecrets(secretValues(body.secrets)) };
  return { input: body, params };
}

/**
 * API keys are scoped by namespace display names (identifiers.ts): the annotation of a namespace the manifest
 * declares or of the live one, else the object name.
 */
function authorize(req: FastifyRequest, plan: ManifestPlan, prune: boolean, live: readonly Resource[]): void {
  const display = new Map<string, string>();
  for (const r of live) if (r.kind === 'QuarryNamespace') display.set(r.metadata.name, displayName(r));
  for (const r of plan.resources) if (r.kind === 'QuarryNamespace') display.set(r.name, r.intent.metadata.annotations?.[DISPLAY_NAME_ANNOTATION] || r.name);
  const names = new Set([...plan.resources.map((r) => r.namespace), ...(prune ? plan.inSystemOnly.map((p) => p.namespace) : [])]);
  for (const ns of names) if (ns) authorizeNamespace(req, display.get(ns) ?? ns);
}

function invalid(plan: ManifestPlan) {
  const problems = planProblems(plan);
  const bad = plan.resources.filter((r) => r.errors.length > 0);
  return validationError(
    `the manifest is invalid: ${problems.length} problem${problems.length === 1 ? '' : 's'}${bad.length ? ` in ${bad.length} resource${bad.length === 1 ? '' : 's'}` : ''}; nothing was applied. ${problems
      .slice(0, 5)
      .map((p) => `${p.kind ? `${p.kind} ${p.name} ` : ''}${p.field}: ${p.message}`)
      .join('; ')}${problems.length > 5 ? '; ...' : ''}`,
    {
      resources: bad.map((r) => ({ resource_type: r.resource_type, kind: r.kind, name: r.name, source: r.source, errors: r.errors })),
      errors: problems,
      validation_errors: problems.map((p) => ({ type: 'value_error', location: [...(p.kind ? [p.kind, p.name!] : []), p.field], message: p.message })),
      warnings: plan.warnings,
    },
  );
}

/** A failed write as the documented error, the whole ApplyResult (what was written, rolled back, skipped) in details. */
function applyFailed(result: ApplyResult): QuarryError {
  const f = result.failure;
  const type: ErrorType =
    f?.reason === 'Invalid' ? 'ValidationError' : f?.reason === 'Conflict' ? 'AlreadyExistsError' : f?.reason === 'Forbidden' ? 'ForbiddenError' : f?.reason === 'NotFound' ? 'NotFoundError' : 'InternalServerError';
  const rolled = result.rolled_back?.length ?? 0;
  return new QuarryError(
    type,
    `applying ${f ? `${f.kind} ${f.name}` : 'the manifest'} failed: ${f?.message ?? result.errors.join('; ')}${rolled ? `; the ${rolled} resource${rolled === 1 ? '' : 's'} created by this apply were deleted again` : ''}`,
    { ...result },
  );
}

export function registerManifestRoutes(app: FastifyInstance, deps: ManifestRouteDeps): void {
  /**
   * The Kubernetes namespace a manifest request reads and writes (auth/tenancy.ts): the one X-Namespace names as
   * `<k8s-namespace>/…`, else the one the request is confined to (its key's), else the engine's default.
   */
  const k8sOf = (req: FastifyRequest): string => {
    const ns = namespaceHeader(req);
    return (ns ? splitNamespaceIdent(ns).k8s : undefined) ?? requestK8sNamespace(req) ?? deps.k8sNamespace;
  };
  const plan = async (req: FastifyRequest) => {
    const { input, params, secrets } = await readManifest(req);
    // X-Namespace (or the apply example's X-Namespace-Id, reference §11 #27) names the namespace of Mixpeek items
    // that name none.
    const ns = namespaceHeader(req);
    const k8sNamespace = k8sOf(req);
    const live = await listLive(deps.resources, k8sNamespace);
    // The header is an id or a name (identifiers.ts); the converter takes the namespace's display name.
    const nsIdent = ns?.slice(ns.lastIndexOf('/') + 1);
    const known = nsIdent ? findByIdentifier(live.filter((r) => r.kind === 'QuarryNamespace'), nsIdent) : undefined;
    const parsed = parseManifest(input, { live, ...(nsIdent ? { defaultNamespace: known ? displayName(known) : nsIdent } : {}), ...withSecrets(secrets) });
    const p = planManifest(parsed, { k8sNamespace, live, ...(params.manifest_name ? { manifestName: params.manifest_name } : {}) });
    return { plan: p, params, live };
  };

  app.register(async (scope) => {
    scope.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));

    scope.post('/v1/manifest/validate', async (req) => {
      const { plan: p, live } = await plan(req);
      authorize(req, p, false, live);
      const counts: Record<string, number> = {};
      for (const r of p.resources) counts[r.resource_type] = (counts[r.resource_type] ?? 0) + 1;
      return {
        valid: p.valid,
        format: p.format,
        ...(p.manifestName ? { manifest_name: p.manifestName } : {}),
        resources: counts,
        missing_secrets: p.missingSecrets,
        errors: planProblems(p),
        warnings: p.warnings,
        results: p.resources.map((r) => ({ resource_type: r.resource_type, kind: r.kind, name: r.name, source: r.source, action: r.action, errors: r.errors })),
      };
    });

    scope.post('/v1/manifest/diff', async (req) => {
      const { plan: p, params, live } = await plan(req);
      const prune = flag(params.prune, 'prune');
      authorize(req, p, prune, live);
      return { valid: p.valid, ...(p.valid ? {} : { errors: planProblems(p) }), ...diffResult(p, prune) };
    });

    scope.post('/v1/manifest/apply', async (req) => {
      const { plan: p, params, live } = await plan(req);
      const prune = flag(params.prune, 'prune');
      const dryRun = flag(params.dry_run, 'dry_run');
      authorize(req, p, prune, live);
      // Pruning deletes what the manifest no longer lists: the key needs delete besides write (auth/permissions.ts).
      if (prune && !dryRun) requirePermission(req, 'delete', 'a manifest apply with prune=true');
      if (!p.valid) throw invalid(p);
      if (prune && !p.manifestName) {
        throw badRequest('prune needs the manifest name that labels its resources: give manifest_name, or metadata.name in a Mixpeek manifest', { field: 'manifest_name' });
      }
      const result = await applyPlan(deps.resources, p, { prune, dryRun });
      if (!result.success) throw applyFailed(result);
      return result;
    });

    const exportHandler = async (req: FastifyRequest, reply: { header(k: string, v: string): unknown }) => {
      const q: Obj = { ...((req.query ?? {}) as Obj), ...(isObj(req.body) ? req.body : {}) };
      const format = q.format === undefined || q.format === 'yaml' || q.format === 'quarry' ? 'yaml' : q.format === 'mixpeek' ? 'mixpeek' : undefined;
      if (!format) throw badRequest(`format must be yaml (Quarry resources) or mixpeek, got '${String(q.format)}'`, { field: 'format' });
      const wanted = [q.namespace, q.namespace_id, q.namespaces, q.namespace_ids]
        .flatMap((v) => (Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : []))
        .map((s) => String(s).trim())
        .filter(Boolean);
      const all = await listLive(deps.resources, k8sOf(req));
      const namespaces = all.filter((r) => r.kind === 'QuarryNamespace');
      const nsDisplay = new Map(namespaces.map((r) => [r.metadata.name, displayName(r)]));
      // Ids, names or object names (identifiers.ts); an unknown one is a 404 (403 first when outside the key's scope).
      const selected = wanted.map((w) => {
        const ns = findByIdentifier(namespaces, w.slice(w.lastIndexOf('/') + 1));
        if (!ns) {
          authorizeNamespace(req, w);
          throw notFound('namespace', w);
        }
        authorizeNamespace(req, displayName(ns));
        return ns.metadata.name;
      });
      const live = all.filter((r) => {
        const ns = r.kind === 'QuarryNamespace' ? r.metadata.name : String((r.spec as Obj | undefined)?.namespaceRef ?? '');
        return mayAccessNamespace(req, nsDisplay.get(ns) ?? ns);
      });
      reply.header('content-type', 'application/yaml; charset=utf-8');
      return exportManifest(live, {
        format,
        ...(selected.length ? { namespaces: selected } : {}),
        ...(typeof q.manifest === 'string' && q.manifest ? { manifestName: q.manifest } : {}),
        ...(typeof q.manifest_name === 'string' && q.manifest_name ? { name: q.manifest_name } : {}),
      });
    };
    scope.get('/v1/manifest/export', exportHandler);
    scope.post('/v1/manifest/export', exportHandler);
  });
}

