/** The management API contract in cluster mode: KubeResourceStore (field manager quarry-engine) on the test apiserver. */
import { applyCrds, createTestNamespace, kubeConfig } from '../harness/env.ts';
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import { QUARRY_KINDS } from '#operator/runtime/kinds.ts';
import { managementSuite } from './suite.ts';

interface ManagedField {
  manager: string;
  operation: string;
  subresource?: string;
  fieldsV1?: Record<string, unknown>;
}

managementSuite('cluster', async () => {
  await applyCrds();
  const ns = await createTestNamespace('mgmt');
  const store = new KubeResourceStore(kubeConfig(), { kinds: QUARRY_KINDS, fieldManager: 'quarry-engine' });
  return {
    store,
    k8sNamespace: ns.name,
    async engineOwns(kind, name) {
      const obj = await store.get(kind, { namespace: ns.name, name });
      const mf = (obj?.metadata.managedFields ?? []) as ManagedField[];
      return mf.some((m) => m.manager === 'quarry-engine' && m.operation === 'Apply' && !m.subresource && JSON.stringify(m.fieldsV1 ?? {}).includes('"f:spec"'));
    },
    cleanup: () => ns.cleanup(),
  };
});
