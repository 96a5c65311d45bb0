/**
 * The tenant rule for Secret references (spec.llm.apiKeySecretRef, spec.sqlConnections[].urlSecretRef and
 * spec.webSearch.apiKeySecretRef of a QuarryNamespace, spec.storage.credentialsSecretRef of a Bucket,
 * spec.source.s3.credentialsSecretRef of a Model). The engine and the operator read those Secrets with their own
 * privileges and send what they hold to endpoints the same spec names, so a reference must never reach a Secret its
 * writer does not own — another tenant's above all (in local mode every tenant shares one Kubernetes namespace; in
 * cluster mode several QuarryNamespaces may share one, beside Secrets of unrelated applications).
 *
 * A reference made for QuarryNamespace N resolves only to a Secret of N's Kubernetes namespace that is
 *   - `quarry-secrets-N`, N's namespace secrets (any key of it), or
 *   - labelled `quarry.dev/namespace: N` (the opt-in: whoever may write Secrets there, e.g. a GitOps repository,
 *     hands that Secret to N; local mode: a line `quarry.dev/namespace=N` in the file `.labels` of its folder);
 * never another QuarryNamespace's `quarry-secrets-*`, whatever its labels. A Model (organisation-level: tenants'
 * keys cannot declare one) made for spec.namespaceRefs [N…] follows the same rule for each N it lists; without
 * namespaceRefs it may use a Secret that is neither a `quarry-secrets-*` nor labelled for any QuarryNamespace.
 *
 * The rule is enforced where the Secret is READ (readOwnedSecret: engine; secretRefAllowed: the operator), and the
 * part that needs no read — a name that is another namespace's `quarry-secrets-*` — also when a spec is validated
 * (foreignSecretRefErrors, from resources/validate.ts: a 422 from the API, Stalled/InvalidSpec from the operator).
 * A refused reference and a missing Secret give the same answer, so the refusal tells nothing about which Secrets
 * exist.
 */
import { badRequest } from './errors.ts';

/** The label that hands a Secret to one QuarryNamespace (its object name) of the Secret's Kubernetes namespace. */
export const SECRET_NAMESPACE_LABEL = 'quarry.dev/namespace';
export const NAMESPACE_SECRET_PREFIX = 'quarry-secrets-';

/** The Secret holding a namespace's secrets, one key per secret, in the namespace's Kubernetes namespace. */
export const namespaceSecretName = (namespaceName: string): string => `${NAMESPACE_SECRET_PREFIX}${namespaceName}`;

/** A Secret as the rule sees it: its decoded data and its labels. */
export interface StoredSecret {
  data: Record<string, string>;
  labels: Record<string, string>;
}

/** Reads a Secret of a Kubernetes namespace (local mode: the local secrets store); undefined when it does not exist. */
export type SecretReader = (k8sNamespace: string, name: string) => Promise<StoredSecret | undefined>;

/**
 * Who a reference is made for: the QuarryNamespace(s) whose resource names the Secret (a QuarryNamespace itself, a
 * Bucket's namespaceRef, a Model's namespaceRefs; [] for a Model without namespaceRefs).
 */
export type SecretOwners = readonly string[];

/** The QuarryNamespace whose `quarry-secrets-*` this name is, if it is one. */
const secretsOf = (name: string): string | undefined => (name.startsWith(NAMESPACE_SECRET_PREFIX) ? name.slice(NAMESPACE_SECRET_PREFIX.length) : undefined);

/** True when a reference made for `owners` may use the Secret `name` with these labels. */
export function secretRefAllowed(owners: SecretOwners, name: string, labels: Record<string, string> | undefined): boolean {
  const of = secretsOf(name);
  if (of !== undefined) return owners.includes(of);
  const label = labels?.[SECRET_NAMESPACE_LABEL];
  return owners.length === 0 ? label === undefined : label !== undefined && owners.includes(label);
}

/** How to give the owners a Secret, for messages. */
export function secretRefFix(owners: SecretOwners, name: string, k8sNamespace: string): string {
  if (owners.length === 0) return `use a Secret of Kubernetes namespace '${k8sNamespace}' that is neither a QuarryNamespace's ${NAMESPACE_SECRET_PREFIX}* nor labelled ${SECRET_NAMESPACE_LABEL}, or list the QuarryNamespaces in spec.namespaceRefs`;
  const n = owners[0]!;
  return `put the value in the Secret ${namespaceSecretName(n)}, or label the Secret for this namespace: kubectl label secret ${name} -n ${k8sNamespace} ${SECRET_NAMESPACE_LABEL}=${n} (local mode: a line ${SECRET_NAMESPACE_LABEL}=${n} in <data dir>/secrets/${name}/.labels)`;
}

/**
 * Field errors for references that name another QuarryNamespace's `quarry-secrets-*` (known without reading the
 * Secret). `refs` are [field, Secret name] pairs.
 */
export function foreignSecretRefErrors(owners: SecretOwners, refs: readonly [string, string | undefined][]): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  for (const [field, name] of refs) {
    const of = name === undefined ? undefined : secretsOf(name);
    if (of === undefined || owners.includes(of)) continue;
    const own = owners.length ? `: use ${owners.map(namespaceSecretName).join(' or ')}, or a Secret labelled ${SECRET_NAMESPACE_LABEL}=${owners[0]}` : `; use a Secret that is not a QuarryNamespace's ${NAMESPACE_SECRET_PREFIX}*`;
    out.push({ field, message: `the Secret '${name}' holds the secrets of QuarryNamespace '${of}', which ${owners.length ? `${owners.length === 1 ? 'is' : 'are'} not ${owners.join(', ')}` : 'this resource is not for'}${own}` });
  }
  return out;
}

export interface SecretRefRead {
  /** The Kubernetes namespace of the referencing resource (the only one a reference reaches). */
  k8sNamespace: string;
  owners: SecretOwners;
  name: string;
  /** The referencing field, e.g. spec.llm.apiKeySecretRef, named in the 400. */
  field: string;
  /** Who refers, for messages (e.g. QuarryNamespace 'a'). */
  where: string;
  /** More details for the 400 (e.g. the stage parameter that chose the reference). */
  details?: Record<string, unknown>;
}

/**
 * The data of a referenced Secret the owners may use; a 400 naming the field and the fix when it does not exist or
 * they may not (one answer for both: whether another tenant's Secret exists is not disclosed).
 */
export async function readOwnedSecret(read: SecretReader | undefined, r: SecretRefRead): Promise<Record<string, string>> {
  const of = secretsOf(r.name);
  // Another namespace's quarry-secrets-* is not even read.
  const s = read && (of === undefined || r.owners.includes(of)) ? await read(r.k8sNamespace, r.name) : undefined;
  if (s && secretRefAllowed(r.owners, r.name, s.labels)) return s.data;
  throw badRequest(`${r.where}: the Secret '${r.name}' (${r.field}) does not exist in Kubernetes namespace '${r.k8sNamespace}' or is not one this namespace may use: ${secretRefFix(r.owners, r.name, r.k8sNamespace)}`, { ...r.details, field: r.field });
}
