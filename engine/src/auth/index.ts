/** API keys: format, hashing, stores (file, Kubernetes Secrets) and the Fastify hook. */
export {
  KEY_PREFIX,
  adoptApiKey,
  createApiKey,
  ensureBootstrapKey,
  generateApiKey,
  hashApiKey,
  inScope,
  keyId,
  normalizeScope,
  publicKeyView,
  revokeApiKey,
  verifyApiKey,
  type ApiKeyRecord,
  type ApiKeyStore,
  type NamespaceScope,
  type VerifyResult,
} from './keys.ts';
export { FileApiKeyStore, API_KEYS_FILE } from './file-store.ts';
export { authorizeNamespace, installAuth, mayAccessNamespace, requestKey, type AuthOptions } from './http.ts';
