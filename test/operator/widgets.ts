/** The test-only Widget kind (fixtures/crds/widgets.yaml) and a helper to install it on the real apiserver. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyCrds } from '../harness/env.ts';
import type { StoragePolicy } from '#engine/objects/storage-policy.ts';
import type { KindInfo } from '#operator/runtime/kinds.ts';

export const WIDGET: KindInfo = {
  kind: 'Widget',
  group: 'runtime-test.quarry.dev',
  version: 'v1alpha1',
  plural: 'widgets',
  namespaced: true,
};

export const WIDGET_API_VERSION = 'runtime-test.quarry.dev/v1alpha1';

export async function installWidgetCrd(): Promise<void> {
  await applyCrds(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'crds'));
}

export function widget(namespace: string, name: string, spec: Record<string, unknown> = {}, annotations?: Record<string, string>) {
  return {
    apiVersion: WIDGET_API_VERSION,
    kind: 'Widget',
    metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
    spec,
  };
}

export async function eventually<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The test MinIO listens on loopback: Buckets naming it as their own spec.storage.endpoint get it exempted from the
 * SSRF guard, as an admin would with QUARRY_STORAGE_ALLOW_CIDRS.
 */
export const LOCAL_S3_POLICY: StoragePolicy = { endpoints: [], allowCidrs: ['127.0.0.0/8', '::1/128'], shared: [] };
