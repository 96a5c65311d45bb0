/**
 * The auth hook's scope check on X-Namespace: the header's id, display name and object name are one namespace to
 * the hook, as they are to the routes (a key scoped to a display-named namespace works with any of them), and
 * another namespace is 403 whichever way it is named.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { installAuth } from '#engine/auth/http.ts';
import { createApiKey, FileApiKeyStore } from '#engine/auth/index.ts';
import { installErrorHandling } from '#engine/app/http-errors.ts';

// Two namespaces as the resolver knows them: display name ← id, object name, display name.
const NAMESPACES = [
  { display: 'Docs_NS', names: ['ns_0a1b2c3d4e5f60718293a4b5c6d7e8f9', 'docs-ns-1234abcd', 'Docs_NS', 'default/docs-ns-1234abcd'] },
  { display: 'other', names: ['ns_ffeeddccbbaa99887766554433221100', 'other'] },
];

test('X-Namespace by id, display name or object name is checked as the one namespace it names', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'quarry-hdr-scope-'));
  const keys = new FileApiKeyStore(dir);
  const app = Fastify();
  installErrorHandling(app);
  installAuth(app, {
    keys,
    findNamespaces: async (ident) => NAMESPACES.filter((n) => n.names.includes(ident)).map((n) => ({ k8sNamespace: 'default', name: n.display, displayName: n.display })),
  });
  app.get('/v1/buckets/:bucket', async () => ({ ok: true }));
  try {
    const { key } = await createApiKey(keys, { name: 'docs-only', namespaces: ['Docs_NS'] });
    const call = (ns: string) => app.inject({ method: 'GET', url: '/v1/buckets/raw', headers: { authorization: `Bearer ${key}`, 'x-namespace': ns } });
    for (const ns of NAMESPACES[0]!.names) assert.equal((await call(ns)).statusCode, 200, `${ns} is Docs_NS`);
    for (const ns of NAMESPACES[1]!.names) {
      const res = await call(ns);
      assert.equal(res.statusCode, 403, ns);
      assert.match(res.json().error.message, /not allowed on namespace 'other'/);
    }
    assert.equal((await call('nowhere')).statusCode, 403, 'an unknown name outside the scope is refused before the route');
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
