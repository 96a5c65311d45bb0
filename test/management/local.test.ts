/** The management API contract in local mode: LocalResourceStore, the engine's view (field manager quarry-engine). */
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { managementSuite } from './suite.ts';

managementSuite('local', async () => {
  const store = new LocalResourceStore({ fieldManager: 'quarry-engine' });
  return {
    store,
    k8sNamespace: 'local',
    async engineOwns(kind, name) {
      return store.owned(kind).some((k) => k.name === name && k.namespace === 'local');
    },
    cleanup: async () => {},
  };
});
