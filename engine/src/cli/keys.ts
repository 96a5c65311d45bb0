/**
 * `quarry keys create|list|revoke`: API keys (POST|GET /v1/organizations/api-keys, DELETE …/{key_id}). A key is
 * scoped to namespaces or to all of them (`*`), has permissions (read, write, delete, admin) and may expire; only
 * admin keys on `*` may manage keys. The secret is shown once, at create.
 */
import type { Command } from 'commander';
import { seg } from './client.ts';
import { ctxOf } from './context.ts';
import { print, type Column } from './output.ts';

type KeyView = Record<string, unknown>;
const BASE = '/v1/organizations/api-keys';

const scope = (k: KeyView) => (Array.isArray(k.namespaces) ? (k.namespaces as string[]).join(',') : String(k.namespaces ?? ''));
const COLUMNS: Column<KeyView>[] = [
  { header: 'key id', value: (k) => k.key_id },
  { header: 'name', value: (k) => k.name },
  { header: 'prefix', value: (k) => k.key_prefix },
  { header: 'namespaces', value: scope },
  { header: 'status', value: (k) => k.status },
  { header: 'permissions', value: (k) => (Array.isArray(k.permissions) ? (k.permissions as string[]).join(',') : '') },
  { header: 'expires', value: (k) => k.expires_at ?? '' },
  { header: 'created', value: (k) => k.created_at },
];

const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('API keys: create, list, revoke');
  keys
    .command('create')
    .description('create an API key; its secret is printed once')
    .argument('<name>', 'a label for the key')
    .option('--scope <namespaces>', "namespaces the key may act on (comma-separated or repeated); '*' = all (default: the --namespace one, else '*')", collect)
    .option('--permissions <list>', 'read, write, delete, admin (comma-separated or repeated; default: full access)', collect)
    .option('--expires-at <time>', 'ISO 8601 instant the key stops working at, e.g. 2030-01-31T00:00:00Z (default: never)')
    .action(async (name: string, o: { scope?: string[]; permissions?: string[]; expiresAt?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const scopeList = o.scope?.length ? o.scope : ctx.opts.namespace ? [ctx.opts.namespace] : ['*'];
      const body = { name, namespaces: scopeList.includes('*') ? '*' : scopeList, ...(o.permissions?.length ? { permissions: o.permissions } : {}), ...(o.expiresAt ? { expires_at: o.expiresAt } : {}) };
      const created = await ctx.client().post<KeyView>(BASE, body, { noNamespace: true });
      if (ctx.opts.output === 'table') {
        process.stdout.write(`Created API key ${String(created.key_id)} (${String(created.name)}, namespaces ${scope(created)}).\n${String(created.key)}\nStore it now: it is not shown again. Use it with --api-key or QUARRY_API_KEY.\n`);
      } else print(ctx.opts.output, created);
    });
  keys
    .command('list')
    .description('list API keys (never their secrets)')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const res = await ctx.client().get<{ results?: KeyView[] }>(BASE, { noNamespace: true });
      print(ctx.opts.output, res, { rows: res.results ?? [], columns: COLUMNS, empty: 'No API keys.' });
    });
  keys
    .command('revoke')
    .description('revoke an API key (it stops working at once; the record stays, status revoked)')
    .argument('<key-id>', 'the key id (the 12 characters after sk_, as in `keys list`) or the full key')
    .action(async (keyId: string, _o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      // Accept the full key too: its id is the 12 characters after `sk_`.
      const id = /^sk_[a-z0-9]{12}[A-Za-z0-9]{32}$/.test(keyId) ? keyId.slice(3, 15) : keyId;
      const res = await ctx.client().delete<KeyView>(`${BASE}/${seg(id)}`, { noNamespace: true });
      if (ctx.opts.output === 'table') process.stdout.write(`Revoked API key ${String(res.key_id)} (${String(res.name)}).\n`);
      else print(ctx.opts.output, res);
    });
}
