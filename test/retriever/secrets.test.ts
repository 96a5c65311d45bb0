/**
 * `{{SECRET.name}}` in stage parameters (engine/src/retriever/secrets.ts), on the real path: the executor, the
 * namespace's Secret in a resource store (secretReader, as the cluster engine reads it) and a real HTTP server on
 * loopback that records what api_call sends. Resolved in egress parameters from the run's own namespace only;
 * refused (400 naming the parameter) anywhere else, for a computed name and for a name the namespace does not hold;
 * the value never appears in a response, stage statistics, stream events, explain or an error.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { QuarryError } from '#core/lib/errors.ts';
import { secretReader } from '#engine/models/custom/secrets.ts';
import { explain } from '#engine/retriever/explain.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import { namespaceSecretName, namespaceSecrets, secretRefs } from '#engine/retriever/secrets.ts';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { seed, vectorSearch, type Seeded } from './fixtures.ts';

const TOKEN = 'tok-7f3a9c1e55d0b2';
const OTHER = 'other-tenant-0c9e4d';
const seen: Record<string, string | undefined>[] = [];
let server: http.Server;
let base: string;
let s: Seeded;
let secret: (ns: string, data: Record<string, string>) => Promise<unknown>;

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ authorization: req.headers.authorization, 'x-api-key': req.headers['x-api-key'] as string | undefined, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok": true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Two tenants (Kubernetes namespaces team-a and team-b), each with a QuarryNamespace `docs` and its own Secret.
  const store = new LocalResourceStore({ fieldManager: 'test' });
  secret = (ns: string, data: Record<string, string>) =>
    store.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: ns, name: namespaceSecretName('docs') }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
  await secret('team-a', { api_token: TOKEN, 'db-pass': 'p@ss word/1' });
  await secret('team-b', { only_b: OTHER });
  const qns: Record<string, { metadata: { name: string; namespace: string } }> = {
    'team-a/docs': { metadata: { namespace: 'team-a', name: 'docs' } },
    'team-b/docs': { metadata: { namespace: 'team-b', name: 'docs' } },
  };
  const resolve = (ns: string) => qns[ns] ?? (() => { throw new QuarryError('NotFoundError', `namespace '${ns}' not found`); })();
  s = await seed({ ssrfAllowCidrs: ['127.0.0.1/32'], secrets: namespaceSecrets(resolve, secretReader(store)) });
});

after(() => new Promise<void>((r) => server.close(() => r())));

const stage = (name: string, id: string, parameters: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ stage_name: name, config: { stage_id: id, parameters, ...extra } });
const top1 = vectorSearch([1, 0, 0, 0], { final_top_k: 1 });
const call = (parameters: Record<string, unknown>) => stage('call', 'api_call', { url: `${base}/hook`, allowed_domains: ['127.0.0.1'], output_field: 'metadata.hook', on_error: 'raise', ...parameters });
const def = (stages: unknown[]) => normalizeDefinition({ collection_identifiers: ['products'], input_schema: { which: { type: 'string' } }, stages, cache_config: { enabled: false } });
const run = (stages: unknown[], namespace = 'team-a/docs', events?: unknown[]) =>
  s.engine.execute({ ...def(stages), namespace }, { inputs: { which: 'api_token' } }, events ? { onEvent: (e) => events.push(e) } : {});
const refused = (parameter: RegExp, re: RegExp, secret?: string) => (e: unknown) =>
  e instanceof QuarryError && e.status === 400 && re.test(e.message) && parameter.test(String(e.details?.parameter)) && (secret === undefined || e.details?.secret === secret) && !e.message.includes(TOKEN);

describe('{{SECRET.name}} in egress parameters', () => {
  it('api_call headers and body get the value of the namespace secret; the response shows none of it', async () => {
    seen.length = 0;
    const events: unknown[] = [];
    const r = await run([top1, call({ method: 'POST', headers: { 'x-api-key': '{{SECRET.api_token}}' }, body: { token: "{{ secrets['api_token'] }}", q: '{{INPUT.which}}' } })], 'team-a/docs', events);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!['x-api-key'], TOKEN);
    assert.deepEqual(JSON.parse(seen[0]!.body!), { token: TOKEN, q: 'api_token' });
    assert.deepEqual((r.body.documents as { metadata: { hook: unknown } }[])[0]!.metadata.hook, { ok: true });
    assert.ok(!JSON.stringify(r.body).includes(TOKEN), 'the response carries no secret value');
    assert.ok(!JSON.stringify(events).includes(TOKEN), 'nor do the stream events');
    const history = s.engine.history.list('team-a/docs', () => true);
    assert.ok(!JSON.stringify(history).includes(TOKEN), 'nor the execution history');
  });

  it('a secret rotated in the Secret is read again on the next run (a stage reading secrets keeps no value between runs)', async () => {
    seen.length = 0;
    // The same definition object twice: the executor's per-instance parameter cache must not keep the value.
    const d = { ...def([top1, call({ headers: { 'x-api-key': '{{SECRET.api_token}}' } })]), namespace: 'team-a/docs' };
    await s.engine.execute(d, { inputs: {} });
    await secret('team-a', { api_token: 'rotated-1', 'db-pass': 'p@ss word/1' });
    try {
      await s.engine.execute(d, { inputs: {} });
    } finally {
      await secret('team-a', { api_token: TOKEN, 'db-pass': 'p@ss word/1' });
    }
    assert.deepEqual(seen.map((x) => x['x-api-key']), [TOKEN, 'rotated-1']);
  });

  it("another namespace's secret is never reachable: the same retriever in team-b finds no api_token (400 naming it)", async () => {
    seen.length = 0;
    await assert.rejects(run([top1, call({ headers: { 'x-api-key': '{{SECRET.api_token}}' } })], 'team-b/docs'), refused(/^headers\.x-api-key$/, /secret 'api_token', which this namespace does not hold/, 'api_token'));
    // team-a cannot name team-b's secret either.
    await assert.rejects(run([top1, call({ headers: { 'x-api-key': '{{SECRET.only_b}}' } })]), (e: unknown) => refused(/headers/, /only_b/, 'only_b')(e) && !(e as Error).message.includes(OTHER));
    assert.equal(seen.length, 0, 'nothing was sent');
  });

  it('without a namespace nothing is resolved (400)', async () => {
    await assert.rejects(s.engine.execute(def([top1, call({ headers: { 'x-api-key': '{{SECRET.api_token}}' } })]), { inputs: {} }), refused(/headers/, /without a namespace/));
  });
});

describe('{{SECRET.name}} anywhere else is refused, never rendered', () => {
  it('a prompt, a filter value, a URL: 400 naming the parameter and where secrets may go', async () => {
    await assert.rejects(run([top1, stage('f', 'llm_filter', { criteria: 'keep {{SECRET.api_token}}' })]), refused(/^criteria$/, /reads secret 'api_token'.*resolved only in parameters that send them.*llm_filter that is api_key/, 'api_token'));
    await assert.rejects(run([stage('a', 'attribute_filter', { field: 'metadata.brand', operator: 'eq', value: '{{ SECRET.api_token }}' })]), refused(/^value$/, /attribute_filter has none/));
    await assert.rejects(run([top1, call({ url: `${base}/hook?k={{SECRET.api_token}}` })]), refused(/^url$/, /in api_call that is headers, body/));
  });

  it('pre_filters and request filters are refused by the template guard (400), not rendered empty', async () => {
    const pre = stage('s', 'feature_search', (top1 as { config: { parameters: Record<string, unknown> } }).config.parameters, { pre_filters: { field: 'metadata.brand', operator: 'eq', value: '{{SECRET.api_token}}' } });
    await assert.rejects(run([pre]), refused(/^pre_filters/, /resolved only in parameters that send them/));
    await assert.rejects(
      s.engine.execute({ ...def([top1]), namespace: 'team-a/docs' }, { inputs: {}, filters: { field: 'metadata.brand', operator: 'eq', value: '{{secret.api_token}}' } }),
      refused(/^filters/, /resolved only in parameters/),
    );
  });

  it('a computed name (SECRET[INPUT.which]) or another spelling is refused: a request never picks the secret', async () => {
    seen.length = 0;
    await assert.rejects(run([top1, call({ headers: { 'x-api-key': '{{ SECRET[INPUT.which] }}' } })]), refused(/headers/, /computed name/));
    await assert.rejects(run([top1, call({ headers: { 'x-api-key': '{{ Secret.api_token }}' } })]), refused(/headers/, /computed name or another spelling/));
    assert.equal(seen.length, 0);
  });

  it('an unknown secret is a 400 naming the parameter and the secret, with no value in it', async () => {
    await assert.rejects(run([top1, call({ headers: { 'x-k': 'Bearer {{SECRET.nope}}' } })]), refused(/^headers\.x-k$/, /secret 'nope'.*quarry-secrets-<namespace name>/, 'nope'));
  });

  it('explain leaves the template as written, reads no secret, and warns about a misplaced one', () => {
    const plan = explain(def([top1, call({ headers: { 'x-api-key': '{{SECRET.api_token}}' } }), stage('f', 'llm_filter', { criteria: '{{SECRET.api_token}}', api_key: '{{SECRET.api_token}}' })]), { which: 'x' });
    const text = JSON.stringify(plan);
    assert.ok(!text.includes(TOKEN));
    assert.match(text, /parameter 'criteria' reads secret 'api_token'/);
    assert.doesNotMatch(text, /parameter 'api_key' reads/);
  });
});

describe('secret references (pure logic)', () => {
  it('finds written-out names in {{ }} and {% %} blocks, flags computed ones, ignores plain text and string literals', () => {
    assert.deepEqual(secretRefs('Bearer {{SECRET.a_b}} and {{ secrets["c-d.e"] }}'), { names: ['a_b', 'c-d.e'], dynamic: false });
    assert.deepEqual(secretRefs('{% if SECRET.x %}y{% endif %}'), { names: ['x'], dynamic: false });
    assert.equal(secretRefs('my secret recipe {{INPUT.q}}'), undefined);
    assert.equal(secretRefs('{{ "the secret" ~ INPUT.q }}'), undefined);
    assert.equal(secretRefs('{{ DOC.secret }}'), undefined, 'a field named secret is not the namespace');
    assert.deepEqual(secretRefs('{{ SECRET[INPUT.k] }}'), { names: [], dynamic: true });
    assert.deepEqual(secretRefs('{% set s = secret %}{{ s.x }}'), { names: [], dynamic: true });
  });
});
