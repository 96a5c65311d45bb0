/** Manifest endpoints on the Kubernetes API: KubeResourceStore against the test apiserver with the Quarry CRDs. */
import { KubeResourceStore } from '#operator/runtime/kube-resource-store.ts';
import { QUARRY_KINDS } from '#operator/runtime/kinds.ts';
import { applyCrds, createTestNamespace, kubeConfig } from '../harness/env.ts';
import { manifestSuite } from './suite.ts';

manifestSuite('Kubernetes API', async () => {
  await applyCrds();
  const ns = await createTestNamespace('manifest');
  return {
    store: new KubeResourceStore(kubeConfig(), { kinds: QUARRY_KINDS, fieldManager: 'quarry-engine' }),
    k8sNamespace: ns.name,
    cleanup: () => ns.cleanup(),
  };
});
