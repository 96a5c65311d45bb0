/**
 * What a manifest would do, computed before anything is written: every resource validated like the apiserver
 * and the operator would (validate.ts, with the live object for the CRDs' immutability rules), references
 * resolved against the manifest and the live resources, and a field-level diff against the live state.
 * Pure given the live resources, so the CLI runs it offline (`live: []`).
 */
import diff from 'microdiff';
import { stringify } from 'yaml';
import { getExtractor } from '../extractors/registry.ts';
import type { ApplyIntent, Resource } from '../ports/resource-store.ts';
import { DNS_LABEL } from '../resources/common.ts';
import { child, type FieldError } from '../resources/field-error.ts';
import { API_VERSION, type QuarryKind } from '../resources/generated/types.ts';
import { validateResource } from '../resources/validate.ts';
import { DISPLAY_NAME_ANNOTATION, displayName, displayNameProblem } from '../management/identifiers.ts';
import { manifestLabelValue, toMixpeekManifest, type ManifestIssue, type ManifestResource } from './mixpeek.ts';
import type { ManifestFormat, ParsedManifest } from './parse.ts';

export const MANIFEST_LABEL = 'quarry.dev/manifest';
/** Apply order: what others refer to first (reference §6.1: namespaces → buckets → collections → … → retrievers). */
export const KIND_ORDER: readonly QuarryKind[] = ['QuarryNamespace', 'Bucket', 'Collection', 'Retriever', 'Taxonomy'];
export const RESOURCE_TYPE: Readonly<Record<QuarryKind, string>> = {
  QuarryNamespace: 'namespace',
  Bucket: 'bucket',
  Collection: 'collection',
  Retriever: 'retriever',
  Taxonomy: 'taxonomy',
  Model: 'model',
};

export type Action = 'create' | 'update' | 'unchanged' | 'delete';

export interface FieldChange {
  field: string;
  change: 'added' | 'removed' | 'changed';
  from?: unknown;
  to?: unknown;
}

export interface ResourcePlan {
  kind: QuarryKind;
  /** The Kubernetes object name. */
  name: string;
  /** The name the manifest (and the API) gives it: differs from `name` for names that are not DNS labels. */
  displayName: string;
  resource_type: string;
  /** Where it came from in the input (e.g. buckets[0] or document 2). */
  source: string;
  /** The QuarryNamespace it belongs to (its own name for a QuarryNamespace). */
  namespace: string;
  intent: ApplyIntent;
  errors: FieldError[];
  action: Exclude<Action, 'delete'>;
  changes: FieldChange[];
}

export interface PruneItem {
  kind: QuarryKind;
  name: string;
  displayName: string;
  resource_type: string;
  namespace: string;
}

export interface ManifestPlan {
  format: ManifestFormat;
  k8sNamespace: string;
  manifestName?: string;
  resources: ResourcePlan[];
  /** Live resources labelled with this manifest that it no longer lists (deleted only with prune). */
  inSystemOnly: PruneItem[];
  /** Problems located in the input that belong to no single converted resource. */
  errors: ManifestIssue[];
  warnings: ManifestIssue[];
  secrets: string[];
  /** Placeholders a resource would store without a value (each also an error). */
  missingSecrets: string[];
  valid: boolean;
}

export interface PlanOptions {
  /** Kubernetes namespace the resources go to. */
  k8sNamespace: string;
  /** Overrides the manifest's own name (Mixpeek metadata.name, or a shared quarry.dev/manifest label). */
  manifestName?: string;
  /** Quarry resources currently in k8sNamespace ([] offline). */
  live?: readonly Resource[];
  /** Offline (CLI) planning cannot see the cluster: skip "referenced resource does not exist" errors. */
  offline?: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const dnsLabel = new RegExp(DNS_LABEL);
const keyOf = (kind: string, name: string) => `${kind}/${name}`;

export function namespaceOfResource(r: { kind: string; metadata: { name: string }; spec?: Obj }): string {
  return r.kind === 'QuarryNamespace' ? r.metadata.name : String(r.spec?.namespaceRef ?? '');
}

/** The manifest name: explicit, else the Mixpeek metadata.name, else a quarry.dev/manifest label every resource shares. */
function manifestNameOf(parsed: ParsedManifest, explicit?: string): string | undefined {
  if (explicit) return explicit;
  if (parsed.name) return parsed.name;
  const labels = new Set(parsed.resources.map((r) => r.metadata.labels?.[MANIFEST_LABEL]));
  return labels.size === 1 ? [...labels][0] : undefined;
}

/** References by name that a resource makes: [kind, name, field]. */
function references(r: ManifestResource): [QuarryKind, string, string][] {
  const s = r.spec;
  const out: [QuarryKind, string, string][] = [];
  const add = (kind: QuarryKind, v: unknown, field: string) => {
    if (typeof v === 'string') out.push([kind, v, field]);
  };
  const addList = (kind: QuarryKind, v: unknown, field: string) => {
    if (Array.isArray(v)) v.forEach((x, i) => add(kind, x, `${field}[${i}]`));
  };
  if (r.kind !== 'QuarryNamespace') add('QuarryNamespace', s.namespaceRef, 'spec.namespaceRef');
  if (r.kind === 'Collection') {
    const src = isObj(s.source) ? s.source : {};
    addList('Bucket', src.bucketRefs, 'spec.source.bucketRefs');
    addList('Collection', src.collectionRefs, 'spec.source.collectionRefs');
    if (Array.isArray(s.taxonomyApplications)) {
      s.taxonomyApplications.forEach((t, i) => {
        if (!isObj(t)) return;
        add('Taxonomy', t.taxonomyRef, `spec.taxonomyApplications[${i}].taxonomyRef`);
        add('Collection', t.targetCollectionRef, `spec.taxonomyApplications[${i}].targetCollectionRef`);
      });
    }
  }
  if (r.kind === 'Retriever') addList('Collection', s.collectionRefs, 'spec.collectionRefs');
  if (r.kind === 'Taxonomy') {
    add('Retriever', s.retrieverRef, 'spec.retrieverRef');
    if (isObj(s.sourceCollection)) add('Collection', s.sourceCollection.collectionRef, 'spec.sourceCollection.collectionRef');
    if (Array.isArray(s.nodes)) {
      s.nodes.forEach((n, i) => {
        if (!isObj(n)) return;
        add('Collection', n.collectionRef, `spec.nodes[${i}].collectionRef`);
        add('Retriever', n.retrieverRef, `spec.nodes[${i}].retrieverRef`);
      });
    }
  }
  return out;
}

/** Feature URIs a Collection spec produces (from the extractor registry; known before any document exists). */
function collectionFeatureUris(spec: Obj | undefined): string[] | undefined {
  const fx = isObj(spec?.featureExtractor) ? spec.featureExtractor : undefined;
  if (!fx || typeof fx.name !== 'string') return undefined;
  const def = getExtractor(fx.name, typeof fx.version === 'string' ? fx.version : 'v1');
  if (!def) return undefined;
  return def.vectors(isObj(fx.params) ? fx.params : {}).map((v) => v.featureUri);
}

function fieldPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((acc, seg) => child(acc, seg), '');
}

/** Field-level changes from `live` to `desired` (spec, plus the labels and annotations the manifest sets). */
export function fieldChanges(desired: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown }, live: Resource | undefined): FieldChange[] {
  if (!live) return [];
  const pickKeys = (src: Record<string, string> | undefined, keys: Record<string, string> | undefined) =>
    Object.fromEntries(Object.keys(keys ?? {}).filter((k) => src?.[k] !== undefined).map((k) => [k, src![k]]));
  const before = {
    metadata: { labels: pickKeys(live.metadata.labels, desired.metadata.labels), annotations: pickKeys(live.metadata.annotations, desired.metadata.annotations) },
    spec: live.spec ?? {},
  };
  const after = { metadata: { labels: desired.metadata.labels ?? {}, annotations: desired.metadata.annotations ?? {} }, spec: desired.spec ?? {} };
  return diff(before, after).map((d) => {
    const field = fieldPath(d.path);
    if (d.type === 'CREATE') return { field, change: 'added', to: d.value };
    if (d.type === 'REMOVE') return { field, change: 'removed', from: d.oldValue };
    return { field, change: 'changed', from: d.oldValue, to: d.value };
  });
}

// Kubernetes label and annotation syntax (apimachinery validation): checked here so that validate, apply on the
// local store and apply on the apiserver (which enforces it) agree.
const QUALIFIED_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function keyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return 'the prefix before / must be a DNS subdomain (e.g. example.com)';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) return 'the name must be 1-63 letters, digits, -, _ or ., starting and ending with a letter or digit';
  return undefined;
}

/** Labels and annotations the apiserver would refuse, and a display-name annotation the API would refuse. */
function metadataErrors(r: ManifestResource): FieldError[] {
  const out: FieldError[] = [];
  for (const [k, v] of Object.entries(r.metadata.labels ?? {})) {
    const p = keyProblem(k);
    if (p) out.push({ field: `metadata.labels["${k}"]`, message: `not a valid label key: ${p}` });
    else if (v.length > 63 || (v !== '' && !QUALIFIED_NAME.test(v))) out.push({ field: `metadata.labels["${k}"]`, message: 'not a valid label value: at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit' });
  }
  for (const k of Object.keys(r.metadata.annotations ?? {})) {
    const p = keyProblem(k);
    if (p) out.push({ field: `metadata.annotations["${k}"]`, message: `not a valid annotation key: ${p}` });
  }
  const shown = r.metadata.annotations?.[DISPLAY_NAME_ANNOTATION];
  if (shown !== undefined) {
    const p = displayNameProblem(r.kind, shown);
    if (p) out.push({ field: `metadata.annotations["${DISPLAY_NAME_ANNOTATION}"]`, message: `the name ${p}` });
  }
  return out;
}

/** Validates, resolves and diffs a parsed manifest. Never throws for bad input. */
export function planManifest(parsed: ParsedManifest, opts: PlanOptions): ManifestPlan {
  const live = opts.live ?? [];
  const liveByKey = new Map(live.map((r) => [keyOf(r.kind, r.metadata.name), r]));
  const manifestName = manifestNameOf(parsed, opts.manifestName);
  const label = manifestName ? manifestLabelValue(manifestName) : undefined;
  const errors: ManifestIssue[] = [...parsed.errors];
  const desiredByKey = new Map<string, ManifestResource>();
  for (const r of parsed.resources) desiredByKey.set(keyOf(r.kind, r.metadata.name), r);

  const resources: ResourcePlan[] = parsed.resources.map((r, i) => {
    const errs: FieldError[] = [];
    const source = parsed.sources[i] ?? `resource ${i + 1}`;
    if (parsed.resources.findIndex((o) => o.kind === r.kind && o.metadata.name === r.metadata.name) !== i) {
      errs.push({ field: 'metadata.name', message: `${r.kind} ${r.metadata.name} appears more than once in the manifest: keep one` });
    }
    if (r.metadata.name.length > 63 || !dnsLabel.test(r.metadata.name)) {
      errs.push({ field: 'metadata.name', message: 'must be a Kubernetes object name: lower-case letters, digits and "-", at most 63, e.g. product-search' });
    }
    errs.push(...metadataErrors(r));
    if (r.kind === 'QuarryNamespace') {
      // Keys and X-Namespace find a namespace by its display name: two namespaces must never share one.
      const shown = displayName(r);
      const other = live.find((l) => l.kind === 'QuarryNamespace' && l.metadata.name !== r.metadata.name && displayName(desiredByKey.get(keyOf(l.kind, l.metadata.name)) ?? l) === shown);
      if (other) errs.push({ field: `metadata.annotations["${DISPLAY_NAME_ANNOTATION}"]`, message: `namespace name '${shown}' is already taken by another namespace: choose another name` });
    }
    if (r.metadata.namespace !== undefined && r.metadata.namespace !== opts.k8sNamespace) {
      errs.push({ field: 'metadata.namespace', message: `this server manages Kubernetes namespace ${opts.k8sNamespace}: remove metadata.namespace or set it to ${opts.k8sNamespace}` });
    }
    const metadata: ApplyIntent['metadata'] = { name: r.metadata.name, namespace: opts.k8sNamespace };
    const labels = { ...(r.metadata.labels ?? {}), ...(label ? { [MANIFEST_LABEL]: label } : {}) };
    if (Object.keys(labels).length > 0) metadata.labels = labels;
    if (r.metadata.annotations && Object.keys(r.metadata.annotations).length > 0) metadata.annotations = { ...r.metadata.annotations };
    const intent: ApplyIntent = { apiVersion: r.apiVersion, kind: r.kind, metadata, spec: r.spec };

    const old = liveByKey.get(keyOf(r.kind, r.metadata.name));
    const context: { namespaceExtractors?: string[]; featureUris?: string[] } = {};
    const ns = namespaceOfResource(r);
    const nsObj = (desiredByKey.get(keyOf('QuarryNamespace', ns)) ?? liveByKey.get(keyOf('QuarryNamespace', ns))) as { spec?: Obj } | undefined;
    if (r.kind === 'Collection' && nsObj && Array.isArray(nsObj.spec?.featureExtractors)) {
      context.namespaceExtractors = (nsObj.spec.featureExtractors as Obj[]).map((fx) => `${String(fx.name)}@${typeof fx.version === 'string' ? fx.version : 'v1'}`);
    }
    if (r.kind === 'Retriever' && Array.isArray(r.spec.collectionRefs)) {
      const uris: string[] = [];
      let known = true;
      for (const c of r.spec.collectionRefs) {
        const col = (desiredByKey.get(keyOf('Collection', String(c))) ?? liveByKey.get(keyOf('Collection', String(c)))) as { spec?: Obj } | undefined;
        const u = collectionFeatureUris(col?.spec);
        if (u) uris.push(...u);
        else known = false;
      }
      if (known) context.featureUris = uris;
    }
    const v = validateResource({ apiVersion: r.apiVersion, kind: r.kind, metadata, spec: r.spec }, { ...(old ? { old } : {}), context });
    errs.push(...v.errors);

    for (const [kind, name, field] of references(r)) {
      const target = desiredByKey.get(keyOf(kind, name)) ?? liveByKey.get(keyOf(kind, name));
      if (!target) {
        if (!opts.offline) errs.push({ field, message: `${kind} '${name}' is neither in this manifest nor in Kubernetes namespace ${opts.k8sNamespace}: add it to the manifest or fix the name` });
        continue;
      }
      if (kind !== 'QuarryNamespace' && r.kind !== 'QuarryNamespace') {
        const theirs = namespaceOfResource(target as { kind: string; metadata: { name: string }; spec?: Obj });
        if (theirs && ns && theirs !== ns) errs.push({ field, message: `${kind} '${name}' belongs to another namespace, not ${ns}: resources can only refer to resources of their own namespace` });
      }
    }

    const desiredDefaulted = v.value ? { metadata, spec: (v.value as { spec?: unknown }).spec } : { metadata, spec: r.spec };
    const changes = fieldChanges(desiredDefaulted, old);
    const action = !old ? 'create' : changes.length > 0 ? 'update' : 'unchanged';
    return { kind: r.kind, name: r.metadata.name, displayName: displayName(r), resource_type: RESOURCE_TYPE[r.kind], source, namespace: ns, intent, errors: errs, action, changes };
  });

  const inSystemOnly: PruneItem[] = label
    ? live
        .filter((r) => r.metadata.labels?.[MANIFEST_LABEL] === label && !desiredByKey.has(keyOf(r.kind, r.metadata.name)) && KIND_ORDER.includes(r.kind as QuarryKind))
        .map((r) => ({ kind: r.kind as QuarryKind, name: r.metadata.name, displayName: displayName(r), resource_type: RESOURCE_TYPE[r.kind as QuarryKind], namespace: namespaceOfResource(r as { kind: string; metadata: { name: string }; spec?: Obj }) }))
    : [];

  resources.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
  const valid = errors.length === 0 && resources.every((r) => r.errors.length === 0);
  return { format: parsed.format, k8sNamespace: opts.k8sNamespace, ...(manifestName ? { manifestName } : {}), resources, inSystemOnly, errors, warnings: parsed.warnings, secrets: parsed.secrets, missingSecrets: parsed.missingSecrets, valid };
}

/** Every problem of a plan as flat entries: resource, field, message. */
export function planProblems(plan: ManifestPlan): { resource_type?: string; kind?: string; name?: string; object_name?: string; source?: string; field: string; message: string }[] {
  return [
    ...plan.errors.map((e) => ({ field: e.location, message: e.message })),
    ...plan.resources.flatMap((r) => r.errors.map((e) => ({ resource_type: r.resource_type, kind: r.kind, ...resultName(r), source: r.source, field: e.field, message: e.message }))),
  ];
}

/** How results name a resource: the manifest's name, and the object name beside it when they differ. */
export function resultName(r: { name: string; displayName: string }): { name: string; object_name?: string } {
  return r.displayName !== r.name ? { name: r.displayName, object_name: r.name } : { name: r.name };
}

/** The diff in the documented DiffResult shape (§6.2) plus the field-level changes. */
export function diffResult(plan: ManifestPlan, prune = false) {
  const item = (r: ResourcePlan) => ({
    resource_type: r.resource_type,
    kind: r.kind,
    ...resultName(r),
    action: r.action,
    ...(r.changes.length > 0 ? { details: { changes: r.changes } } : {}),
  });
  const deletions = plan.inSystemOnly.map((p) => ({ resource_type: p.resource_type, kind: p.kind, ...resultName(p), action: 'delete' as const, details: { applied_only_with_prune: !prune } }));
  return {
    ...(plan.manifestName ? { manifest_name: plan.manifestName } : {}),
    to_create: plan.resources.filter((r) => r.action === 'create').map(item),
    differences: plan.resources.filter((r) => r.action === 'update').map(item),
    unchanged: plan.resources.filter((r) => r.action === 'unchanged').map(item),
    in_system_only: deletions,
    resources: [...plan.resources.map(item), ...(prune ? deletions : [])],
    warnings: plan.warnings,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Export

const DROPPED_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

/** A live resource reduced to what a manifest carries: apiVersion, kind, name, labels, annotations, spec. */
export function toManifestResource(r: Resource): { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec: Obj } {
  const metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> } = { name: r.metadata.name };
  if (r.metadata.labels && Object.keys(r.metadata.labels).length > 0) metadata.labels = { ...r.metadata.labels };
  const ann = Object.entries(r.metadata.annotations ?? {}).filter(([k]) => !DROPPED_ANNOTATIONS.has(k));
  if (ann.length > 0) metadata.annotations = Object.fromEntries(ann);
  return { apiVersion: r.apiVersion || API_VERSION, kind: r.kind, metadata, spec: (r.spec ?? {}) as Obj };
}

export interface ExportOptions {
  format?: 'yaml' | 'mixpeek';
  /** Only these QuarryNamespaces (and what belongs to them). */
  namespaces?: readonly string[];
  /** Only resources labelled with this manifest. */
  manifestName?: string;
  /** Name written into the Mixpeek manifest's metadata. */
  name?: string;
}

/** Live resources as a manifest: multi-document CR YAML (default) or one Mixpeek manifest. */
export function exportManifest(live: readonly Resource[], opts: ExportOptions = {}): string {
  const label = opts.manifestName ? manifestLabelValue(opts.manifestName) : undefined;
  const selected = live
    .filter((r) => KIND_ORDER.includes(r.kind as QuarryKind))
    .filter((r) => !opts.namespaces || opts.namespaces.includes(namespaceOfResource(r as { kind: string; metadata: { name: string }; spec?: Obj })))
    .filter((r) => !label || r.metadata.labels?.[MANIFEST_LABEL] === label)
    .map(toManifestResource)
    .sort((a, b) => KIND_ORDER.indexOf(a.kind as QuarryKind) - KIND_ORDER.indexOf(b.kind as QuarryKind) || a.metadata.name.localeCompare(b.metadata.name));
  if (opts.format === 'mixpeek') return stringify(toMixpeekManifest(selected, { name: opts.name ?? opts.manifestName ?? 'exported-manifest' }));
  return selected.map((r) => stringify(r)).join('---\n');
}
