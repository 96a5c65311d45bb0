/**
 * Applies a valid plan through the ResourceStore port: create-or-update in dependency order (server-side apply,
 * so a resource left out of the manifest's fields is released, never clobbering other managers), then — only
 * with prune — deletes the resources labelled with this manifest that it no longer lists, dependents first.
 * Validation already happened for the whole manifest (planManifest); a write the apiserver still rejects stops
 * the run, the resources this run created are deleted again (as the reference's atomic apply does; updates are
 * not reverted: the earlier state belonged to whoever wrote it) and the rest are reported as skipped.
 */
import { ResourceStoreError, type Resource, type ResourceStore } from '../ports/resource-store.ts';
import type { QuarryKind } from '../resources/generated/types.ts';
import { idOf } from '../management/identifiers.ts';
import { KIND_ORDER, RESOURCE_TYPE, resultName, type FieldChange, type ManifestPlan } from './plan.ts';

export type ResourceStatus = 'created' | 'updated' | 'unchanged' | 'deleted' | 'failed' | 'skipped' | 'rolled_back';

export interface ResourceResult {
  resource_type: string;
  kind: QuarryKind;
  /** The manifest's name; `object_name` is the Kubernetes object name when it differs. */
  name: string;
  object_name?: string;
  status: ResourceStatus;
  /** The resource's API id once written (ns_…, bkt_…, col_…, ret_…, tax_…, as the management API returns it). */
  resource_id?: string;
  changes?: FieldChange[];
  error?: string;
}

export interface ApplyResult {
  success: boolean;
  dry_run: boolean;
  manifest_name?: string;
  resources: ResourceResult[];
  created_count: number;
  updated_count: number;
  unchanged_count: number;
  deleted_count: number;
  failed_count: number;
  skipped_count: number;
  errors: string[];
  warnings: { location: string; message: string }[];
  rollback_performed: boolean;
  /** The write that failed, with the store's reason (NotFound, Conflict, Invalid, Forbidden, Unavailable, Unknown). */
  failure?: { kind: QuarryKind; name: string; reason: string; status: number; message: string };
  /** Resources created by this run and deleted again after a failure. */
  rolled_back?: { kind: QuarryKind; name: string }[];
}

/** Live Quarry resources of a Kubernetes namespace. */
export async function listLive(store: ResourceStore, k8sNamespace: string): Promise<Resource[]> {
  const lists = await Promise.all(KIND_ORDER.map((k) => store.list(k, { namespace: k8sNamespace })));
  return lists.flat();
}

export async function applyPlan(store: ResourceStore, plan: ManifestPlan, opts: { prune?: boolean; dryRun?: boolean } = {}): Promise<ApplyResult> {
  const dryRun = opts.dryRun ?? false;
  const results: ResourceResult[] = [];
  const errors: string[] = [];
  let failed = false;
  const created: { kind: QuarryKind; name: string; uid?: string }[] = [];
  let failure: ApplyResult['failure'];
  for (const r of plan.resources) {
    const base = { resource_type: r.resource_type, kind: r.kind, ...resultName(r) };
    if (failed) {
      results.push({ ...base, status: 'skipped' });
      continue;
    }
    const willChange = r.action !== 'unchanged';
    const status: ResourceStatus = r.action === 'create' ? 'created' : r.action === 'update' ? 'updated' : 'unchanged';
    if (!willChange || dryRun) {
      results.push({ ...base, status, ...(r.changes.length ? { changes: r.changes } : {}) });
      continue;
    }
    try {
      // force: the manifest is the declared intent for these fields, like kubectl apply --server-side --force-conflicts.
      const written = await store.apply(r.intent, { force: true });
      if (r.action === 'create') created.push({ kind: r.kind, name: r.name, ...(written.metadata.uid ? { uid: written.metadata.uid } : {}) });
      results.push({ ...base, status, resource_id: idOf(written), ...(r.changes.length ? { changes: r.changes } : {}) });
    } catch (err) {
      failed = true;
      const message = err instanceof ResourceStoreError ? `${err.reason}: ${err.message}` : (err as Error).message;
      errors.push(`${r.kind} ${r.name}: ${message}`);
      results.push({ ...base, status: 'failed', error: message });
      failure = {
        kind: r.kind,
        name: r.name,
        reason: err instanceof ResourceStoreError ? err.reason : 'Unknown',
        status: err instanceof ResourceStoreError ? err.status : 0,
        message: (err as Error).message,
      };
    }
  }
  const rolledBack: { kind: QuarryKind; name: string }[] = [];
  if (failed) {
    for (const c of created.reverse()) {
      try {
        // uid precondition: never delete an object someone recreated under the same name meanwhile.
        await store.delete(c.kind, { namespace: plan.k8sNamespace, name: c.name, ...(c.uid ? { uid: c.uid } : {}) });
        rolledBack.push({ kind: c.kind, name: c.name });
        const res = results.find((x) => x.kind === c.kind && x.name === c.name);
        if (res) res.status = 'rolled_back';
      } catch (err) {
        errors.push(`rollback of ${c.kind} ${c.name} failed: ${(err as Error).message}`);
      }
    }
  }
  if (opts.prune) {
    const order = [...plan.inSystemOnly].sort((a, b) => KIND_ORDER.indexOf(b.kind) - KIND_ORDER.indexOf(a.kind));
    for (const p of order) {
      const base = { resource_type: RESOURCE_TYPE[p.kind], kind: p.kind, ...resultName(p) };
      if (failed) {
        results.push({ ...base, status: 'skipped' });
        continue;
      }
      if (dryRun) {
        results.push({ ...base, status: 'deleted' });
        continue;
      }
      try {
        await store.delete(p.kind, { namespace: plan.k8sNamespace, name: p.name });
        results.push({ ...base, status: 'deleted' });
      } catch (err) {
        failed = true;
        const message = (err as Error).message;
        errors.push(`${p.kind} ${p.name}: ${message}`);
        results.push({ ...base, status: 'failed', error: message });
        failure = {
          kind: p.kind,
          name: p.name,
          reason: err instanceof ResourceStoreError ? err.reason : 'Unknown',
          status: err instanceof ResourceStoreError ? err.status : 0,
          message,
        };
      }
    }
  }
  const count = (s: ResourceStatus) => results.filter((r) => r.status === s).length;
  return {
    success: !failed,
    dry_run: dryRun,
    ...(plan.manifestName ? { manifest_name: plan.manifestName } : {}),
    resources: results,
    created_count: count('created'),
    updated_count: count('updated'),
    unchanged_count: count('unchanged'),
    deleted_count: count('deleted'),
    failed_count: count('failed'),
    skipped_count: count('skipped'),
    errors,
    warnings: plan.warnings,
    ...(failure ? { failure } : {}),
    rollback_performed: rolledBack.length > 0,
    ...(rolledBack.length > 0 ? { rolled_back: rolledBack } : {}),
  };
}
