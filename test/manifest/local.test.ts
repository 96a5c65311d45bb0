/** Manifest endpoints on local mode's ResourceStore (LocalResourceStore, in memory). */
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { manifestSuite } from './suite.ts';

manifestSuite('local store', async () => ({
  store: new LocalResourceStore({ fieldManager: 'quarry-engine' }),
  k8sNamespace: 'local',
  cleanup: async () => {},
}));
