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
import { authorizeNamespace, authorizeOrgLevel, mayAccessNamespace, requirePermission } from '../auth/http.ts';
import { requestK8sNamespace, splitNamespaceIdent } from '../auth/tenancy.ts';
import { QuarryError, badRequest, notFound, validationError, type ErrorType } from '../lib/errors.ts';
import { namespaceHeader } from '../http/request-params.ts';
import { multipartFailure } from '../http/body-guard.ts';
import type { Resource, ResourceStore } from '../ports/resource-store.ts';
import { DISPLAY_NAME_ANNOTATION, displayName, findByIdentifier } from '../management/identifiers.ts';
import { applyPlan, listLive, type ApplyResult } from './apply.ts';
import { parseManifest } from './parse.ts';
import { diffResult, exportManifest, namespaceOfResource, planManifest, planProblems, type ManifestPlan } from './plan.ts';

export interface ManifestRouteDeps {
  resources: ResourceStore;
  /** Kubernetes namespace the engine manages resources in. */
  k8sNamespace: string;
  /** Largest manifest accepted, in bytes (default QUARRY_MANIFEST_MAX_BYTES, else 4 MiB). */
  maxBytes?: number;
  /** Most resources one manifest may declare (default QUARRY_MANIFEST_MAX_RESOURCES, else 500). */
  maxResources?: number;
}

/** Request limits of the manifest routes (README "Request limits"); beyond them a 422 names the limit. */
export function manifestLimits(env: NodeJS.ProcessEnv = process.env): { maxBytes: number; maxResources: number } {
  const num = (v: string | undefined, d: number) => (v !== undefined && Number.isInteger(Number(v)) && Number(v) > 0 ? Number(v) : d);
  return { maxBytes: num(env.QUARRY_MANIFEST_MAX_BYTES, 4 * 1024 * 1024), maxResources: num(env.QUARRY_MANIFEST_MAX_RESOURCES, 500) };
}

const tooLarge = (size: string, limit: number) =>
  validationError(`the manifest is ${size}, more than the ${limit}-byte limit: split it into several manifests (the limit is QUARRY_MANIFEST_MAX_BYTES)`, {
    field: 'manifest_file',
    limit,
    limit_name: 'QUARRY_MANIFEST_MAX_BYTES',
  });

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

async function readManifest(req: FastifyRequest, maxBytes: number): Promise<ManifestRequest> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes + 64 * 1024) throw tooLarge(`${declared} bytes`, maxBytes);
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries((req.query ?? {}) as Obj)) if (typeof v === 'string') params[k] = v;
  if (req.isMultipart()) {
    let text: string | undefined;
    const others: string[] = [];
    try {
      for await (const part of req.parts({ limits: { fileSize: maxBytes } })) {
        if (part.type === 'file') {
          const buf = await part.toBuffer().catch((err: { code?: string }) => {
            throw err?.code === 'FST_REQ_FILE_TOO_LARGE' ? tooLarge(`larger than ${maxBytes} bytes`, maxBytes) : err;
          });
          if (part.fieldname === 'manifest_file') text = buf.toString('utf8');
          else others.push(part.fieldname);
        } else if (typeof part.value === 'string') params[part.fieldname] ??= part.value;
      }
    } catch (err) {
      throw multipartFailure(err, 'manifest_file');
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
  if (typeof body === 'string') {
    if (Buffer.byteLength(body) > maxBytes) throw tooLarge(`${Buffer.byteLength(body)} bytes`, maxBytes);
    return { input: body, params };
  }
  const wrapped = isObj(body) ? (body.manifest ?? body.manifest_file) : undefined;
  if (typeof wrapped === 'string' && Buffer.byteLength(wrapped) > maxBytes) throw tooLarge(`${Buffer.byteLength(wrapped)} bytes`, maxBytes);
  if (isObj(body) && typeof (body.manifest ?? body.manifest_file) === 'string') return { input: body.manifest ?? body.manifest_file, params, ...withSecrets(secretValues(body.secrets)) };
  return { input: body, params };
}

/**
 * API keys are scoped by namespace display names (identifiers.ts). Every namespace a manifest request touches is
 * checked under the identity it HAS — the stored QuarryNamespace's display name — and, when the manifest declares
 * it, the identity it WILL have; a namespace neither stored nor declared is checked by its object name. What the
 * manifest claims alone never decides: a QuarryNamespace that names another tenant's object with this key's
 * display name in its annotation is checked as that tenant (403), and so is any resource the manifest would
 * overwrite, under the namespace it is stored in (not the one the manifest moves it to).
 */
function authorize(req: FastifyRequest, plan: ManifestPlan, prune: boolean, live: readonly Resource[]): void {
  const liveNamespaces = new Map(live.filter((r) => r.kind === 'QuarryNamespace').map((r) => [r.metadata.name, r]));
  const liveByKey = new Map(live.map((r) => [`${r.kind}/${r.metadata.name}`, r]));
  const declared = new Map(plan.resources.filter((r) => r.kind === 'QuarryNamespace').map((r) => [r.name, r.intent.metadata.annotations?.[DISPLAY_NAME_ANNOTATION] || r.name]));
  const identities = new Set<string>();
  const touch = (objectName: string | undefined) => {
    if (!objectName) return;
    const stored = liveNamespaces.get(objectName);
    const planned = declared.get(objectName);
    if (stored) identities.add(displayName(stored));
    if (planned !== undefined) identities.add(planned);
    if (!stored && planned === undefined) identities.add(objectName);
  };
  for (const r of plan.resources) {
    // A Model is organisation-level (engine/src/http/model-routes.ts): only a key for every namespace declares one.
    if (r.kind === 'Model') authorizeOrgLevel(req, `declaring Model ${r.name}`);
    touch(r.namespace);
    const old = liveByKey.get(`${r.kind}/${r.name}`);
    if (old) touch(namespaceOfResource(old as Resource & { spec?: Obj }));
  }
  if (prune) for (const p of plan.inSystemOnly) {
    if (p.kind === 'Model') authorizeOrgLevel(req, `pruning Model ${p.name}`);
    touch(p.namespace);
  }
  for (const ns of identities) authorizeNamespace(req, ns);
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

/**
 * Everything that makes a manifest request unappliable, judged once for validate, diff and apply alike (validate's
 * `valid` is exactly "apply would accept it"): the plan's problems, and prune without a manifest name.
 */
function verdict(p: ManifestPlan, prune: boolean): { valid: boolean; errors: ReturnType<typeof planProblems> } {
  const errors = planProblems(p);
  if (prune && !p.manifestName) errors.push({ field: 'manifest_name', message: PRUNE_NEEDS_NAME });
  return { valid: errors.length === 0, errors };
}

const PRUNE_NEEDS_NAME = 'prune needs the manifest name that labels its resources: give manifest_name, or metadata.name in a Mixpeek manifest';

export function registerManifestRoutes(app: FastifyInstance, deps: ManifestRouteDeps): void {
  const limits = { ...manifestLimits(), ...(deps.maxBytes ? { maxBytes: deps.maxBytes } : {}), ...(deps.maxResources ? { maxResources: deps.maxResources } : {}) };
  /**
   * The Kubernetes namespace a manifest request reads and writes (auth/tenancy.ts): the one X-Namespace names as
   * `<k8s-namespace>/…`, else the one the request is confined to (its key's), else the engine's default.
   */
  const k8sOf = (req: FastifyRequest): string => {
    const ns = namespaceHeader(req);
    return (ns ? splitNamespaceIdent(ns).k8s : undefined) ?? requestK8sNamespace(req) ?? deps.k8sNamespace;
  };
  const plan = async (req: FastifyRequest) => {
    const { input, params, secrets } = await readManifest(req, limits.maxBytes);
    // X-Namespace (or the apply example's X-Namespace-Id, reference §11 #27) names the namespace of Mixpeek items
    // that name none.
    const ns = namespaceHeader(req);
    const k8sNamespace = k8sOf(req);
    const live = await listLive(deps.resources, k8sNamespace);
    // The header is an id or a name (identifiers.ts); the converter takes the namespace's display name.
    const nsIdent = ns?.slice(ns.lastIndexOf('/') + 1);
    const known = nsIdent ? findByIdentifier(live.filter((r) => r.kind === 'QuarryNamespace'), nsIdent) : undefined;
    const parsed = parseManifest(input, { live, ...(nsIdent ? { defaultNamespace: known ? displayName(known) : nsIdent } : {}), ...withSecrets(secrets) });
    if (parsed.resources.length > limits.maxResources) {
      throw validationError(`the manifest declares ${parsed.resources.length} resources, more than the limit of ${limits.maxResources}: split it into several manifests (the limit is QUARRY_MANIFEST_MAX_RESOURCES)`, {
        field: 'manifest_file',
        limit: limits.maxResources,
        limit_name: 'QUARRY_MANIFEST_MAX_RESOURCES',
      });
    }
    const p = planManifest(parsed, { k8sNamespace, live, ...(params.manifest_name ? { manifestName: params.manifest_name } : {}) });
    return { plan: p, params, live };
  };

  app.register(async (scope) => {
    scope.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));

    scope.post('/v1/manifest/validate', async (req) => {
      const { plan: p, params, live } = await plan(req);
      const prune = flag(params.prune, 'prune');
      authorize(req, p, prune, live);
      const v = verdict(p, prune);
      const counts: Record<string, number> = {};
      for (const r of p.resources) counts[r.resource_type] = (counts[r.resource_type] ?? 0) + 1;
      return {
        valid: v.valid,
        format: p.format,
        ...(p.manifestName ? { manifest_name: p.manifestName } : {}),
        resources: counts,
        missing_secrets: p.missingSecrets,
        errors: v.errors,
        warnings: p.warnings,
        results: p.resources.map((r) => ({ resource_type: r.resource_type, kind: r.kind, name: r.name, source: r.source, action: r.action, errors: r.errors })),
      };
    });

    scope.post('/v1/manifest/diff', async (req) => {
      const { plan: p, params, live } = await plan(req);
      const prune = flag(params.prune, 'prune');
      authorize(req, p, prune, live);
      const v = verdict(p, prune);
      return { valid: v.valid, ...(v.valid ? {} : { errors: v.errors }), ...diffResult(p, prune) };
    });

    scope.post('/v1/manifest/apply', async (req) => {
      const { plan: p, params, live } = await plan(req);
      const prune = flag(params.prune, 'prune');
      const dryRun = flag(params.dry_run, 'dry_run');
      authorize(req, p, prune, live);
      // Pruning deletes what the manifest no longer lists: the key needs delete besides write (auth/permissions.ts).
      if (prune && !dryRun) requirePermission(req, 'delete', 'a manifest apply with prune=true');
      if (!p.valid) throw invalid(p);
      if (!verdict(p, prune).valid) throw badRequest(PRUNE_NEEDS_NAME, { field: 'manifest_name' });
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

