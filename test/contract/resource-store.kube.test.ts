/** The ResourceStore contract on the KubeResourceStore against the real kube-apiserver (Quarry CRDs installed). */
import { applyCrds, createTestNamespace, kubeConfig } from '../harness/env.ts';
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import { QUARRY_KINDS } from '#operator/runtime/kinds.ts';
import { resourceStoreContract } from './resource-store.contract.ts';

resourceStoreContract('KubeResourceStore', async () => {
  await applyCrds();
  const ns = await createTestNamespace('rs-contract');
  const kc = kubeConfig();
  const stores = new Map<string, KubeResourceStore>();
  return {
    store: (m) => {
      let s = stores.get(m);
      if (!s) stores.set(m, (s = new KubeResourceStore(kc, { kinds: QUARRY_KINDS, fieldManager: m })));
      return s;
    },
    namespace: ns.name,
    cleanup: () => ns.cleanup(),
  };
});
