/**
 * The reference's custom-model routes (§7.8) on top of the Model kind, for the caller's tenant (its API key's
 * Kubernetes namespace, else the engine's):
 *   POST   /v1/models/uploads                     {model_name, model_type, files: [{path, role?, sha256?}], runtime?}
 *                                                 → presigned PUT URL per file (object store, bucket quarry-models)
 *   POST   /v1/models/uploads/{upload_id}/confirm {files?: [{path, sha256}]} → every uploaded file hashed; a missing
 *                                                 file or a sha256 that differs is a 422 naming it; then the Model
 *                                                 resource is applied (source.upload) and delivered by the runtimes
 *   GET    /v1/models, GET /v1/models/{name}, DELETE /v1/models/{name}
 *   GET    /v1/namespaces/{ns}/models             models of the tenant with `enabled` for that namespace
 *   POST   /v1/namespaces/{ns}/models/{name}/enable | /disable   (spec.namespaceRefs)
 * Org routes need a key scoped to every namespace (*) of its Kubernetes namespace; namespace routes a key scoped to
 * that namespace. Another tenant's models do not exist for the caller (404).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { notFound, validationError } from '../lib/errors.ts';
import type { ObjectStore } from '../ports/object-store.ts';
import type { Resource, ResourceStore } from '../ports/resource-store.ts';
import { authorizeNamespace, authorizeOrgLevel } from '../auth/http.ts';
import { requestK8sNamespace } from '../auth/tenancy.ts';
import { MODEL_UPLOADS_BUCKET } from '../models/custom/sources.ts';
import { matchAll, displayName } from '../management/identifiers.ts';
import type { Model } from '../resources/generated/types.ts';
import { modelView, parseUploadRequest, type UploadDeclaration } from './model-views.ts';

export interface ModelRoutesDeps {
  resources: ResourceStore;
  objects: ObjectStore;
  /** The engine's own Kubernetes namespace (requests not confined to one act there). */
  k8sNamespace: string;
}

const UPLOAD_SECONDS = 3600;
const SHA256 = /^[0-9a-f]{64}$/;

export function registerModelRoutes(app: FastifyInstance, deps: ModelRoutesDeps): void {
  const { resources: store, objects } = deps;
  const tenant = (req: FastifyRequest) => requestK8sNamespace(req) ?? deps.k8sNamespace;
  /** Org-level: models serve every namespace of the tenant, so only a key for all of them manages them. */
  const orgOnly = authorizeOrgLevel;
  const body = (req: FastifyRequest): Record<string, unknown> => {
    const b = req.body;
    if (b === undefined || b === null) return {};
    if (typeof b !== 'object' || Array.isArray(b)) throw validationError('the body must be a JSON object', { field: 'body' });
    return b as Record<string, unknown>;
  };
  const uploadBase = (k8s: string, id: string) => `uploads/${k8s}/${id}/`;
  const getModel = async (req: FastifyRequest): Promise<Model> => {
    const name = (req.params as { model: string }).model;
    const m = await store.get<Resource>('Model', { namespace: tenant(req), name });
    if (!m || m.metadata.deletionTimestamp) throw notFound('model', name);
    return m as unknown as Model;
  };

  app.post('/v1/models/uploads', async (req) => {
    orgOnly(req, 'uploading a model');
    const k8s = tenant(req);
    const decl = parseUploadRequest(body(req));
    const id = `mupl_${randomBytes(10).toString('hex')}`;
    await objects.ensureBucket(MODEL_UPLOADS_BUCKET);
    await objects.put(MODEL_UPLOADS_BUCKET, `${uploadBase(k8s, id)}upload.json`, Buffer.from(JSON.stringify(decl)), { contentType: 'application/json' });
    const files = await Promise.all(
      decl.files.map(async (f) => ({ path: f.path, method: 'PUT', presigned_url: await objects.presignPut(MODEL_UPLOADS_BUCKET, `${uploadBase(k8s, id)}files/${f.path}`, { expiresInSeconds: UPLOAD_SECONDS }) })),
    );
    return { upload_id: id, model_name: decl.model_name, status: 'PENDING', expires_in: UPLOAD_SECONDS, files };
  });

  app.post('/v1/models/uploads/:upload/confirm', async (req) => {
    orgOnly(req, 'confirming a model upload');
    const k8s = tenant(req);
    const id = (req.params as { upload: string }).upload;
    if (!/^mupl_[0-9a-f]{20}$/.test(id)) throw notFound('model upload', id);
    const base = uploadBase(k8s, id);
    let decl: UploadDeclaration;
    try {
      const { body: s } = await objects.get(MODEL_UPLOADS_BUCKET, `${base}upload.json`);
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      decl = JSON.parse(Buffer.concat(chunks).toString('utf8')) as UploadDeclaration;
    } catch {
      throw notFound('model upload', id);
    }
    const given = body(req).files;
    const confirmed = new Map<string, string>();
    if (given !== undefined) {
      if (!Array.isArray(given)) throw validationError('body.files: must be a list of {path, sha256}', { field: 'files' });
      given.forEach((f: { path?: unknown; sha256?: unknown }, i) => {
        if (typeof f?.path !== 'string' || typeof f.sha256 !== 'string' || !SHA256.test(f.sha256)) throw validationError(`body.files[${i}]: give {path, sha256} with a 64-hex-digit lower-case sha256`, { field: `files[${i}]` });
        confirmed.set(f.path, f.sha256);
      });
    }
    const files: { path: string; role?: string; sha256: string }[] = [];
    for (const [i, f] of decl.files.entries()) {
      const want = confirmed.get(f.path) ?? f.sha256;
      if (!want) throw validationError(`files[${i}] (${f.path}): no sha256 declared at upload: confirm with body.files [{path: ${f.path}, sha256}]`, { field: `files[${i}].sha256`, file: f.path });
      const key = `${base}files/${f.path}`;
      if (!(await objects.head(MODEL_UPLOADS_BUCKET, key))) throw validationError(`file ${f.path} was not uploaded: PUT it to its presigned_url, then confirm`, { field: `files[${i}]`, file: f.path });
      const hash = createHash('sha256');
      for await (const c of (await objects.get(MODEL_UPLOADS_BUCKET, key)).body) hash.update(c as Buffer);
      const got = hash.digest('hex');
      if (got !== want) throw validationError(`file ${f.path}: the uploaded bytes have sha256 ${got}, not ${want}: upload the right file again or confirm its real hash`, { field: `files[${i}].sha256`, file: f.path, sha256: got });
      files.push({ path: f.path, ...(f.role ? { role: f.role } : {}), sha256: want });
    }
    const applied = await store.apply({
      apiVersion: 'quarry.dev/v1alpha1',
      kind: 'Model',
      metadata: { name: decl.model_name, namespace: k8s, annotations: { 'quarry.dev/upload-id': id } },
      spec: { type: decl.model_type, format: 'onnx', source: { upload: { prefix: `${base}files/` } }, files, ...(decl.runtime ? { runtime: decl.runtime } : {}), ...(decl.namespace_refs ? { namespaceRefs: decl.namespace_refs } : {}) },
    });
    return { ...modelView(applied as unknown as Model), upload_id: id };
  });

  app.get('/v1/models', async (req) => {
    const list = (await store.list<Resource>('Model', { namespace: tenant(req) })).filter((m) => !m.metadata.deletionTimestamp);
    return { results: list.map((m) => modelView(m as unknown as Model)), total: list.length };
  });

  app.get('/v1/models/:model', async (req) => modelView(await getModel(req)));

  app.delete('/v1/models/:model', async (req) => {
    orgOnly(req, 'deleting a model');
    const m = await getModel(req);
    await store.delete('Model', { namespace: tenant(req), name: m.metadata.name });
    return { success: true, model_id: m.metadata.name, deleted: true };
  });

  /** The QuarryNamespace a path names in the caller's tenant, checked against the key's scope. */
  const namespaceOf = async (req: FastifyRequest): Promise<Resource> => {
    const ident = (req.params as { ns: string }).ns;
    const [qn, more] = matchAll((await store.list<Resource>('QuarryNamespace', { namespace: tenant(req) })).filter((q) => !q.metadata.deletionTimestamp), ident);
    if (!qn || more) throw notFound('namespace', ident);
    authorizeNamespace(req, displayName(qn));
    return qn;
  };

  app.get('/v1/namespaces/:ns/models', async (req) => {
    const qn = await namespaceOf(req);
    const list = (await store.list<Resource>('Model', { namespace: tenant(req) })).filter((m) => !m.metadata.deletionTimestamp) as unknown as Model[];
    const results = list.map((m) => ({ ...modelView(m), enabled: !m.spec.namespaceRefs || m.spec.namespaceRefs.includes(qn.metadata.name) }));
    return { results, total: results.length };
  });

  for (const action of ['enable', 'disable'] as const) {
    app.post(`/v1/namespaces/:ns/models/:model/${action}`, async (req) => {
      const qn = await namespaceOf(req);
      const m = await getModel(req);
      const all = (await store.list<Resource>('QuarryNamespace', { namespace: tenant(req) })).map((q) => q.metadata.name);
      // No namespaceRefs: every namespace may use it. Disabling one lists all the others.
      const refs = new Set(m.spec.namespaceRefs ?? all);
      if (action === 'enable') refs.add(qn.metadata.name);
      else refs.delete(qn.metadata.name);
      const next = [...refs].sort();
      const applied = await store.apply({
        apiVersion: 'quarry.dev/v1alpha1',
        kind: 'Model',
        metadata: { name: m.metadata.name, namespace: tenant(req), ...(m.metadata.annotations ? { annotations: m.metadata.annotations } : {}) },
        spec: { ...m.spec, namespaceRefs: next },
      });
      return { ...modelView(applied as unknown as Model), enabled: action === 'enable' };
    });
  }
}
