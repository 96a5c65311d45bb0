/** Request parsing and response shape of the custom-model routes (model-routes.ts). */
import { validationError } from '../lib/errors.ts';
import type { Model, ModelSpec } from '../resources/generated/types.ts';

export interface UploadDeclaration {
  model_name: string;
  model_type: ModelSpec['type'];
  files: { path: string; role?: string; sha256?: string }[];
  runtime?: Record<string, unknown>;
  namespace_refs?: string[];
}

const TYPES = ['text-embedding', 'image-text', 'reranker', 'ocr'];
const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PATH = /^(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._/-]{1,255}$/;

export function parseUploadRequest(b: Record<string, unknown>): UploadDeclaration {
  const { model_name: name, model_type: type, files, runtime, namespace_refs: refs, format } = b;
  if (typeof name !== 'string' || !NAME.test(name)) throw validationError('model_name: required, a Kubernetes name (lower-case letters, digits and -, at most 63)', { field: 'model_name' });
  if (typeof type !== 'string' || !TYPES.includes(type)) throw validationError(`model_type: required, one of ${TYPES.join(', ')}`, { field: 'model_type' });
  if (format !== undefined && format !== 'onnx') throw validationError('format: Quarry runs onnx; export safetensors/pytorch/huggingface checkpoints to ONNX first', { field: 'format' });
  if (!Array.isArray(files) || files.length < 1 || files.length > 32) throw validationError('files: give 1–32 files [{path, role?, sha256?}]', { field: 'files' });
  const out = files.map((f: unknown, i) => {
    const x = (f ?? {}) as { path?: unknown; role?: unknown; sha256?: unknown };
    if (typeof x.path !== 'string' || !PATH.test(x.path)) throw validationError(`files[${i}].path: a relative path without '..' (letters, digits, . _ - /)`, { field: `files[${i}].path` });
    if (x.role !== undefined && typeof x.role !== 'string') throw validationError(`files[${i}].role: must be a string`, { field: `files[${i}].role` });
    if (x.sha256 !== undefined && (typeof x.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(x.sha256))) throw validationError(`files[${i}].sha256: 64 lower-case hex digits`, { field: `files[${i}].sha256` });
    return { path: x.path, ...(typeof x.role === 'string' ? { role: x.role } : {}), ...(typeof x.sha256 === 'string' ? { sha256: x.sha256 } : {}) };
  });
  if (new Set(out.map((f) => f.path)).size !== out.length) throw validationError('files: each path once', { field: 'files' });
  if (runtime !== undefined && (typeof runtime !== 'object' || runtime === null || Array.isArray(runtime))) throw validationError('runtime: must be an object (dimensions, maxTokens, pooling, normalize, image, …)', { field: 'runtime' });
  if (refs !== undefined && (!Array.isArray(refs) || !refs.every((r) => typeof r === 'string'))) throw validationError('namespace_refs: a list of namespace names', { field: 'namespace_refs' });
  return { model_name: name, model_type: type as ModelSpec['type'], files: out, ...(runtime ? { runtime: runtime as Record<string, unknown> } : {}), ...(refs ? { namespace_refs: refs as string[] } : {}) };
}

export function modelView(m: Model): Record<string, unknown> {
  const ready = (m.status as { conditions?: { type: string; status: string; reason?: string; message?: string }[] } | undefined)?.conditions?.find((c) => c.type === 'Ready');
  return {
    model_id: m.metadata.name,
    model_name: m.metadata.name,
    model_type: m.spec.type,
    format: m.spec.format ?? 'onnx',
    files: m.spec.files.map((f) => ({ path: f.path, sha256: f.sha256, ...(f.role ? { role: f.role } : {}) })),
    ...(m.spec.runtime ? { runtime: m.spec.runtime } : {}),
    namespace_refs: m.spec.namespaceRefs ?? null,
    status: ready?.status === 'True' ? 'READY' : ready ? 'NOT_READY' : 'PENDING',
    ...(ready && ready.status !== 'True' ? { reason: ready.reason, message: ready.message } : {}),
    created_at: m.metadata.creationTimestamp ?? null,
  };
}
