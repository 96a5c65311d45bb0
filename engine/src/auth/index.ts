/** API keys: format, hashing, stores (file, Kubernetes Secrets) and the Fastify hook. */
export {
  KEY_PREFIX,
  adoptApiKey,
  createApiKey,
  defaultPermissions,
  effectivePermissions,
  ensureBootstrapKey,
  generateApiKey,
  hashApiKey,
  inScope,
  keyId,
  keyStatus,
  normalizeScope,
  publicKeyView,
  revokeApiKey,
  verifyApiKey,
  type ApiKeyRecord,
  type ApiKeyStore,
  type KeyStatus,
  type NamespaceScope,
  type NewKey,
  type VerifyResult,
} from './keys.ts';
export { FileApiKeyStore, API_KEYS_FILE } from './file-store.ts';
export { authorizeNamespace, authorizeResolvedNamespace, installAuth, mayAccessNamespace, requestKey, requirePermission, type AuthOptions } from './http.ts';
export { PERMISSIONS, PERMISSION_RULES, allows, normalizePermissions, requiredPermission, type Permission, type PermissionRule } from './permissions.ts';
