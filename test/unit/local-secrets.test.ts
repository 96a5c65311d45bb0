/** Local mode's secrets store (<data dir>/secrets/<name>/<key>): read per key, only for local's Kubernetes namespace, no path escapes. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { localSecretReader } from '#engine/store/local-secrets.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'quarry-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('reads every key file of a Secret folder; other namespaces, unknown names and path escapes read nothing', async () => {
  mkdirSync(path.join(dir, 'secrets', 'openai'), { recursive: true });
  writeFileSync(path.join(dir, 'secrets', 'openai', 'apiKey'), 'sk-local\n');
  writeFileSync(path.join(dir, 'outside'), 'not a secret');
  const read = localSecretReader(path.join(dir, 'secrets'), 'local');
  assert.deepEqual(await read('local', 'openai'), { data: { apiKey: 'sk-local\n' }, labels: {} });
  assert.equal(await read('other-tenant', 'openai'), undefined);
  assert.equal(await read('local', 'missing'), undefined);
  assert.equal(await read('local', '..'), undefined);
  assert.equal(await read('local', '../outside'), undefined);
});

it("reads a Secret's labels from its .labels file (key=value lines), which is not a key", async () => {
  mkdirSync(path.join(dir, 'secrets', 'search'), { recursive: true });
  writeFileSync(path.join(dir, 'secrets', 'search', 'apiKey'), 'k');
  writeFileSync(path.join(dir, 'secrets', 'search', '.labels'), '# handed to research\nquarry.dev/namespace = research\n\nnot a label\nteam=blue\n');
  const read = localSecretReader(path.join(dir, 'secrets'), 'local');
  assert.deepEqual(await read('local', 'search'), { data: { apiKey: 'k' }, labels: { 'quarry.dev/namespace': 'research', team: 'blue' } });
});
