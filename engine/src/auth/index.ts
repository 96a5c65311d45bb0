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
export { ALL_K8S_NAMESPACES, isK8sBinding, keyK8sNamespace } from './keys.ts';
export { K8S_NAMESPACE_HEADER, authorizeK8sNamespace, confineRequest, requestK8sNamespace, splitNamespaceIdent, type FindNamespaces, type NamespaceMatch, type TenancyOptions } from './tenancy.ts';
