/** API keys: format, hashing, the file store (0600, no plaintext on disk), revocation and the bootstrap key. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  API_KEYS_FILE,
  FileApiKeyStore,
  adoptApiKey,
  createApiKey,
  ensureBootstrapKey,
  generateApiKey,
  hashApiKey,
  keyId,
  revokeApiKey,
  verifyApiKey,
} from '#engine/auth/index.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'quarry-keys-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('keys are sk_ + a 12-character lower-case id + a 32-character base62 secret, all different', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const { id, key } = generateApiKey();
    assert.match(key, /^sk_[a-z0-9]{12}[A-Za-z0-9]{32}$/);
    assert.equal(key.slice(3, 15), id);
    assert.equal(keyId(key), id);
    seen.add(key);
  }
  assert.equal(seen.size, 200);
  assert.equal(keyId('sk_short'), undefined);
  assert.equal(keyId('pk_' + 'a'.repeat(44)), undefined);
});

test('the hash is sha256 of the key; verification accepts the key only, and reports revoked keys', async () => {
  const store = new FileApiKeyStore(tempDir());
  const { key, record } = await createApiKey(store, { name: 'ci', namespaces: ['alpha'] });
  assert.equal(record.secret_hash, hashApiKey(key));
  assert.match(record.secret_hash, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(await verifyApiKey(store, key), { ok: true, record });
  // Same id, different secret: the id finds the record, the hash rejects it.
  const forged = key.slice(0, 15) + (key[15] === 'A' ? 'B' : 'A') + key.slice(16);
  assert.deepEqual(await verifyApiKey(store, forged), { ok: false, reason: 'unknown' });
  assert.deepEqual(await verifyApiKey(store, 'sk_nope'), { ok: false, reason: 'malformed' });
  const revoked = await revokeApiKey(store, record.id);
  assert.equal(revoked?.revoked, true);
  assert.ok(revoked?.revoked_at);
  assert.deepEqual(await verifyApiKey(store, key), { ok: false, reason: 'revoked' });
  assert.equal(await revokeApiKey(store, 'doesnotexist'), undefined);
});

test('the file store writes a 0600 file holding hashes, never the plaintext, and survives a reopen', async () => {
  const dir = tempDir();
  const store = new FileApiKeyStore(dir);
  const a = await createApiKey(store, { name: 'a', namespaces: '*' });
  const b = await createApiKey(store, { name: 'b', namespaces: ['x', 'y'] });
  const file = path.join(dir, API_KEYS_FILE);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const text = readFileSync(file, 'utf8');
  for (const k of [a.key, b.key]) {
    assert.ok(!text.includes(k), 'plaintext key on disk');
    assert.ok(!text.includes(k.slice(15)), 'secret part on disk');
    assert.ok(text.includes(hashApiKey(k)));
  }
  const reopened = new FileApiKeyStore(dir);
  assert.deepEqual((await reopened.list()).map((r) => [r.name, r.namespaces]), [['a', '*'], ['b', ['x', 'y']]]);
  assert.equal((await verifyApiKey(reopened, b.key)).ok, true);
  // A revocation by another process (another store instance) is seen without restarting.
  await revokeApiKey(reopened, a.record.id);
  assert.deepEqual(await verifyApiKey(store, a.key), { ok: false, reason: 'revoked' });
});

test('ensureBootstrapKey creates one all-namespaces key on first start only', async () => {
  const dir = tempDir();
  const store = new FileApiKeyStore(dir);
  const first = await ensureBootstrapKey(store);
  assert.ok(first);
  const v = await verifyApiKey(store, first);
  assert.ok(v.ok && v.record.namespaces === '*');
  assert.equal(await ensureBootstrapKey(new FileApiKeyStore(dir)), undefined, 'a second start prints nothing');
  assert.equal((await store.list()).length, 1);
  // All keys revoked: the next start gets a fresh key again (otherwise nobody could get in).
  await revokeApiKey(store, (await store.list())[0]!.id);
  const again = await ensureBootstrapKey(store);
  assert.ok(again && again !== first);
});

test('a key made elsewhere (the chart: sk_ + 40 random characters) is adopted once and never revived', async () => {
  const store = new FileApiKeyStore(tempDir());
  const chartKey = 'sk_QwErTy123456UiOpAsDfGhJkLzXcVbNm7890AbCd';
  assert.equal(keyId(chartKey), 'qwerty123456');
  assert.equal(await adoptApiKey(store, chartKey, { name: 'bootstrap', namespaces: '*' }), true);
  assert.equal(await adoptApiKey(store, chartKey, { name: 'bootstrap', namespaces: '*' }), true);
  assert.equal((await store.list()).length, 1);
  assert.equal((await verifyApiKey(store, chartKey)).ok, true);
  assert.equal(await ensureBootstrapKey(store), undefined, 'an adopted key counts as the first key');
  // Same lookup id, other key: refused, the stored one is untouched.
  const clash = 'sk_QwErTy123456' + 'Z'.repeat(28);
  assert.equal(await adoptApiKey(store, clash, { name: 'x', namespaces: '*' }), false);
  assert.equal((await verifyApiKey(store, clash)).ok, false);
  await revokeApiKey(store, 'qwerty123456');
  assert.equal(await adoptApiKey(store, chartKey, { name: 'bootstrap', namespaces: '*' }), true);
  assert.deepEqual(await verifyApiKey(store, chartKey), { ok: false, reason: 'revoked' });
  await assert.rejects(adoptApiKey(store, 'sk_tooshort', { name: 'x', namespaces: '*' }), /not an API key/);
});

test('bootstrap and adopted keys are admin on *; only active keys count, so a store of expired keys gets a new bootstrap key', async () => {
  const store = new FileApiKeyStore(tempDir());
  await createApiKey(store, { name: 'old', namespaces: '*', expires_at: '2001-01-01T00:00:00.000Z' });
  const fresh = await ensureBootstrapKey(store);
  assert.ok(fresh, 'an expired key is not an active key');
  const v = await verifyApiKey(store, fresh);
  assert.ok(v.ok);
  assert.deepEqual(v.record.permissions, ['admin']);
  assert.equal(v.record.expires_at, undefined);
  const chartKey = 'sk_AdMiN0000001' + 'x'.repeat(28);
  assert.equal(await adoptApiKey(store, chartKey, { name: 'bootstrap', namespaces: '*', permissions: ['admin'] }), true);
  const adopted = await verifyApiKey(store, chartKey);
  assert.ok(adopted.ok && adopted.record.permissions?.join() === 'admin');
});
