/**
 * Names of the external resources Quarry owns, derived in one place from the Kubernetes namespace and resource
 * names, so the operator (which provisions them) and the engine and workers (which use them) always agree.
 */
import { createHash } from 'node:crypto';

function slug(s: string, max: number): string {
  const clean = s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  if (clean.length <= max) return clean;
  return `${clean.slice(0, max - 9)}-${createHash('sha256').update(s).digest('hex').slice(0, 8)}`;
}

export interface NamespaceKey {
  /** Kubernetes namespace (or the local-mode pseudo namespace). */
  k8sNamespace: string;
  /** QuarryNamespace name. */
  name: string;
}

/** Vector collection of a QuarryNamespace (one per namespace; documents carry their collection_id). */
export function vectorCollectionName(ns: NamespaceKey): string {
  return `quarry_${slug(ns.k8sNamespace, 60).replace(/-/g, '_')}__${slug(ns.name, 120).replace(/-/g, '_')}`;
}

/** JetStream work queue carrying a QuarryNamespace's extraction jobs. */
export function extractionQueueName(ns: NamespaceKey): string {
  return `QUARRY_EXTRACT_${slug(`${ns.k8sNamespace}-${ns.name}`, 100).replace(/-/g, '_').toUpperCase()}`;
}

/** Key-value bucket holding a QuarryNamespace's batch, task and object records. */
export function stateBucketName(ns: NamespaceKey): string {
  return `quarry-state-${slug(`${ns.k8sNamespace}-${ns.name}`, 80)}`;
}

/** Default S3 bucket for a Bucket resource that does not name an existing one (S3 rules: 3–63, lowercase). */
export function objectBucketName(k8sNamespace: string, bucket: string): string {
  return slug(`quarry-${k8sNamespace}-${bucket}`, 63);
}
