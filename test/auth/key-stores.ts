/**
 * Both API-key stores, for tests that run the same checks against each: the local file store (a temporary data
 * directory) and the Kubernetes Secret store (a fresh namespace on the test apiserver, uncached so a second instance
 * reads what the first wrote). `legacy` writes a record the way stores did before permissions and expiry existed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { API_KEYS_FILE, FileApiKeyStore, generateApiKey, hashApiKey, type ApiKeyStore, type NamespaceScope } from '#engine/auth/index.ts';
import { API_KEY_LABEL, KubeSecretApiKeyStore, secretNameOf } from '#engine/auth/kube-secret-store.ts';
import { createTestNamespace, kubeConfig } from '../harness/env.ts';

export interface KeyStoreUnderTest {
  store: ApiKeyStore;
  /** Another instance over the same storage (a restart, another replica). */
  reopen(): ApiKeyStore;
  /** Stores a key record without permissions or expires_at, as written before they existed; returns the key. */
  legacy(name: string, namespaces: NamespaceScope): Promise<string>;
  cleanup(): Promise<void>;
}

export const KEY_STORES: { name: string; open(): Promise<KeyStoreUnderTest> }[] = [
  {
    name: 'local file',
    async open() {
      const dir = mkdtempSync(path.join(tmpdir(), 'quarry-keys-'));
      const store = new FileApiKeyStore(dir);
      return {
        store,
        reopen: () => new FileApiKeyStore(dir),
        async legacy(name, namespaces) {
          const { id, key } = generateApiKey();
          const file = path.join(dir, API_KEYS_FILE);
          let shape: { version: 1; keys: unknown[] } = { version: 1, keys: [] };
          try {
            shape = JSON.parse(readFileSync(file, 'utf8')) as typeof shape;
          } catch {
            /* no file yet */
          }
          shape.keys.push({ id, name, secret_hash: hashApiKey(key), namespaces, created_at: new Date().toISOString(), revoked: false });
          writeFileSync(file, JSON.stringify(shape), { mode: 0o600 });
          return key;
        },
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'Kubernetes Secret',
    async open() {
      const ns = await createTestNamespace('api-key-perms');
      const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
      return {
        store: new KubeSecretApiKeyStore(kubeConfig(), { namespace: ns.name, cacheTtlMs: 0 }),
        reopen: () => new KubeSecretApiKeyStore(kubeConfig(), { namespace: ns.name, cacheTtlMs: 0 }),
        async legacy(name, namespaces) {
          const { id, key } = generateApiKey();
          const stringData = { id, name, secret_hash: hashApiKey(key), namespaces: JSON.stringify(namespaces), created_at: new Date().toISOString(), revoked: 'false' };
          await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: secretNameOf(id), labels: { [API_KEY_LABEL]: 'true' } }, stringData } });
          return key;
        },
        cleanup: () => ns.cleanup(),
      };
    },
  },
];
