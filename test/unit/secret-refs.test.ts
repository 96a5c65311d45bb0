/**
 * The tenant rule for Secret references (engine/src/lib/secret-refs.ts), as pure logic: which Secret a reference
 * made for a QuarryNamespace (or a Model) may resolve to, the static check validation runs, and the read helper's
 * one answer for a missing and a refused Secret.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { foreignSecretRefErrors, readOwnedSecret, secretRefAllowed, type SecretReader } from '#core/lib/secret-refs.ts';
import { validateResource } from '#core/resources/validate.ts';

const L = (n: string) => ({ 'quarry.dev/namespace': n });

it("a QuarryNamespace's reference: its own quarry-secrets-<name>, or a Secret labelled for it; never another's", () => {
  assert.equal(secretRefAllowed(['a'], 'quarry-secrets-a', undefined), true);
  assert.equal(secretRefAllowed(['a'], 'provider-key', L('a')), true);
  assert.equal(secretRefAllowed(['a'], 'quarry-secrets-v', undefined), false);
  // A label cannot hand another namespace's secrets over: quarry-secrets-v is V's whatever its labels say.
  assert.equal(secretRefAllowed(['a'], 'quarry-secrets-v', L('a')), false);
  assert.equal(secretRefAllowed(['a'], 'provider-key', L('v')), false);
  assert.equal(secretRefAllowed(['a'], 'provider-key', {}), false, 'unlabelled: no tenant may use it');
  assert.equal(secretRefAllowed(['a'], 'provider-key', undefined), false);
  // Prefix lookalikes are not a's.
  assert.equal(secretRefAllowed(['a'], 'quarry-secrets-a-b', undefined), false);
});

it('a Model: for its namespaceRefs as for them; without any, only Secrets no QuarryNamespace owns', () => {
  assert.equal(secretRefAllowed(['a', 'b'], 'creds', L('b')), true);
  assert.equal(secretRefAllowed(['a', 'b'], 'creds', L('v')), false);
  assert.equal(secretRefAllowed([], 'creds', {}), true);
  assert.equal(secretRefAllowed([], 'creds', L('v')), false);
  assert.equal(secretRefAllowed([], 'quarry-secrets-v', {}), false);
});

it("validation refuses another namespace's quarry-secrets-* in every reference, naming the field and the fix", () => {
  const qn = (spec: Record<string, unknown>) => ({ apiVersion: 'quarry.dev/v1alpha1', kind: 'QuarryNamespace', metadata: { name: 'a' }, spec: { featureExtractors: [{ name: 'passthrough_extractor', version: 'v1' }], ...spec } });
  const errors = (o: unknown) => validateResource(o).errors.map((e) => `${e.field}: ${e.message}`);
  const bad = errors(qn({
    llm: { provider: 'openai', baseUrl: 'https://llm.example.com/v1', model: 'm', apiKeySecretRef: { name: 'quarry-secrets-v' } },
    webSearch: { engine: 'exa', apiKeySecretRef: { name: 'quarry-secrets-v' } },
    sqlConnections: [{ name: 'own', type: 'postgresql', urlSecretRef: { name: 'quarry-secrets-a' } }, { name: 'db', type: 'postgresql', urlSecretRef: { name: 'quarry-secrets-v' } }],
  }));
  assert.deepEqual(bad.map((e) => e.slice(0, e.indexOf(':'))), ['spec.llm.apiKeySecretRef.name', 'spec.webSearch.apiKeySecretRef.name', 'spec.sqlConnections[1].urlSecretRef.name']);
  assert.match(bad[0]!, /holds the secrets of QuarryNamespace 'v'.*use quarry-secrets-a, or a Secret labelled quarry\.dev\/namespace=a/);
  assert.deepEqual(errors(qn({ llm: { provider: 'openai', baseUrl: 'https://llm.example.com/v1', model: 'm', apiKeySecretRef: { name: 'provider-key' } } })), [], 'other names are judged when read');
  const bucket = { apiVersion: 'quarry.dev/v1alpha1', kind: 'Bucket', metadata: { name: 'b' }, spec: { namespaceRef: 'a', schema: { properties: { body: { type: 'text' } } }, storage: { credentialsSecretRef: { name: 'quarry-secrets-v' } } } };
  assert.match(errors(bucket).join('; '), /spec\.storage\.credentialsSecretRef\.name: the Secret 'quarry-secrets-v'/);
  assert.deepEqual(foreignSecretRefErrors([], [['f', 'quarry-secrets-v'], ['g', 'creds'], ['h', undefined]]).map((e) => e.field), ['f']);
});

it('readOwnedSecret: the data of an owned Secret; one 400 naming the field for a missing and a refused one, without reading another namespace\'s secrets', async () => {
  const reads: string[] = [];
  const store: Record<string, { data: Record<string, string>; labels: Record<string, string> }> = {
    'ns/quarry-secrets-a': { data: { k: 'own' }, labels: {} },
    'ns/quarry-secrets-v': { data: { k: 'victim' }, labels: {} },
    'ns/v-key': { data: { k: 'victim' }, labels: L('v') },
  };
  const read: SecretReader = async (k8s, name) => {
    reads.push(name);
    return store[`${k8s}/${name}`];
  };
  const ref = (name: string) => ({ k8sNamespace: 'ns', owners: ['a'], name, field: 'spec.llm.apiKeySecretRef', where: "QuarryNamespace 'a'" });
  assert.deepEqual(await readOwnedSecret(read, ref('quarry-secrets-a')), { k: 'own' });
  const answers: string[] = [];
  for (const name of ['quarry-secrets-v', 'v-key', 'missing']) {
    await assert.rejects(readOwnedSecret(read, ref(name)), (e: unknown) => {
      assert.ok(e instanceof QuarryError && e.status === 400, String(e));
      assert.equal((e.details as { field?: string }).field, 'spec.llm.apiKeySecretRef');
      assert.ok(!e.message.includes('victim'));
      answers.push(e.message.replace(name, '<name>').replaceAll(name, '<name>'));
      return true;
    });
  }
  assert.equal(new Set(answers).size, 1, `one answer whether the Secret is missing or refused: ${answers.join(' | ')}`);
  assert.ok(!reads.includes('quarry-secrets-v'), "another namespace's secrets are not even read");
});
