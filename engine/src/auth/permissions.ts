/**
 * What an API key's `permissions` (reference §8.2: `read|write|delete|admin`) allow, decided per request from the
 * method and the matched route pattern (Fastify's, e.g. `/v1/buckets/:bucket/objects/list`, so an encoded path cannot
 * pass for another route). The one place that maps routes to permissions: the auth hook asks `requiredPermission`.
 *
 *   admin   everything, and key management (/v1/organizations/api-keys…, /v1/organizations/users/…/api-keys…)
 *   read    GET/HEAD, and the POSTs that only read: every …/list, retriever execute (named, anonymous, batch),
 *           explain, manifest validate/diff/export, POST /mcp (its tools' API calls are checked on their own)
 *   write   every other POST, PUT and PATCH (create, update, upload, trigger, manifest apply)
 *   delete  DELETE (and manifest apply with prune=true, besides write: checked by the manifest route)
 *
 * The first matching rule decides; a method no rule names needs admin.
 */

export const PERMISSIONS = ['read', 'write', 'delete', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface PermissionRule {
  /** HTTP methods the rule applies to; `*` = all. */
  methods: readonly string[] | '*';
  /** Tested against the matched route pattern (or the path when no route matched). */
  route: RegExp;
  permission: Permission;
}

const ANY = /^/;
const READS = ['GET', 'HEAD', 'OPTIONS'];

export const PERMISSION_RULES: readonly PermissionRule[] = [
  { methods: '*', route: /^\/v1\/organizations\/api-keys(\/|$)/, permission: 'admin' },
  { methods: '*', route: /^\/v1\/organizations\/users(\/|$)/, permission: 'admin' },
  { methods: READS, route: ANY, permission: 'read' },
  { methods: ['POST'], route: /\/list$/, permission: 'read' },
  { methods: ['POST'], route: /^\/v1\/retrievers\/execute$/, permission: 'read' },
  { methods: ['POST'], route: /^\/v1\/retrievers\/:id\/(execute|explain|execute\/explain|execute\/batch)$/, permission: 'read' },
  { methods: ['POST'], route: /^\/v1\/manifest\/(validate|diff|export)$/, permission: 'read' },
  // MCP (engine/src/mcp): each API call its tools make is authorised again with its own permission.
  { methods: ['POST'], route: /^\/mcp$/, permission: 'read' },
  { methods: ['POST', 'PUT', 'PATCH'], route: ANY, permission: 'write' },
  { methods: ['DELETE'], route: ANY, permission: 'delete' },
];

/** The permission a request needs: `route` is the matched route pattern, or the path when none matched. */
export function requiredPermission(method: string, route: string, rules: readonly PermissionRule[] = PERMISSION_RULES): Permission {
  const m = method.toUpperCase();
  for (const r of rules) if ((r.methods === '*' || r.methods.includes(m)) && r.route.test(route)) return r.permission;
  return 'admin';
}

/** Whether `granted` covers `needed` (admin covers everything). */
export function allows(granted: readonly Permission[], needed: Permission): boolean {
  return granted.includes('admin') || granted.includes(needed);
}

export function isPermission(v: unknown): v is Permission {
  return typeof v === 'string' && (PERMISSIONS as readonly string[]).includes(v);
}

/** A valid, de-duplicated permission list (in the canonical order), or undefined. Empty lists are invalid. */
export function normalizePermissions(v: unknown): Permission[] | undefined {
  if (!Array.isArray(v) || v.length === 0 || !v.every(isPermission)) return undefined;
  return PERMISSIONS.filter((p) => v.includes(p));
}
