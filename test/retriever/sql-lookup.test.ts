/**
 * sql_lookup on a real PostgreSQL (Debian package; the harness starts its own server on a free loopback port, which
 * the engine's SSRF allow-list explicitly opens): parameterised per-document lookups, rows as documents, the
 * reference's result handling; writes, several statements and injected parameter text are refused or inert, a slow
 * query is cancelled at `timeout`; a namespace reaches only the connections it declares, with its own Secret.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { QuarryError } from '#core/lib/errors.ts';
import { secretReader } from '#engine/models/custom/secrets.ts';
import { normalizeDefinition } from '#engine/retriever/normalize.ts';
import { namespaceSecretName, namespaceSecrets } from '#engine/retriever/secrets.ts';
import type { Doc } from '#engine/retriever/types.ts';
import { namespaceSqlConnector, type SqlNamespace } from '#engine/sql/connector.ts';
import { LocalResourceStore } from '#engine/store/local-resource-store.ts';
import { startPostgres, type Postgres } from '../harness/postgres.ts';
import { seed, vectorSearch, type Seeded } from './fixtures.ts';

let db: Postgres;
let admin: pg.Client;
let s: Seeded;
let strict: Seeded;
const DB_TOKEN = 'tok-9d2be61f0a';

const qns: Record<string, SqlNamespace> = {
  'team-a/docs': { metadata: { namespace: 'team-a', name: 'docs' }, spec: { sqlConnections: [{ name: 'orders', type: 'postgresql', urlSecretRef: { name: 'orders-db' } }] } },
  'team-b/docs': { metadata: { namespace: 'team-b', name: 'docs' }, spec: {} },
  // Declares the connection but holds no Secret: team-a's URL is not reachable from here.
  'team-c/docs': { metadata: { namespace: 'team-c', name: 'docs' }, spec: { sqlConnections: [{ name: 'orders', type: 'postgresql', urlSecretRef: { name: 'orders-db' } }] } },
  // Another QuarryNamespace in team-a's Kubernetes namespace: the Secret is there, but labelled for docs, not for it.
  'team-a/other': { metadata: { namespace: 'team-a', name: 'other' }, spec: { sqlConnections: [{ name: 'orders', type: 'postgresql', urlSecretRef: { name: 'orders-db' } }] } },
};

before(async () => {
  db = await startPostgres();
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query("CREATE TABLE orders (customer_id text, total integer, status text); INSERT INTO orders SELECT 'cus_p' || g, g * 10, 'paid' FROM generate_series(1, 30) g");
  const store = new LocalResourceStore({ fieldManager: 'test' });
  // Handed to QuarryNamespace docs by the label (engine/src/lib/secret-refs.ts).
  await store.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'team-a', name: 'orders-db', labels: { 'quarry.dev/namespace': 'docs' } }, data: { url: Buffer.from(db.url).toString('base64') } });
  // team-a's namespace secrets ({{SECRET.name}}): a value Postgres echoes in its error when cast to integer.
  await store.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'team-a', name: namespaceSecretName('docs') }, data: { db_token: Buffer.from(DB_TOKEN).toString('base64') } });
  const resolve = (ns: string) => {
    const q = qns[ns];
    if (!q) throw new QuarryError('NotFoundError', `namespace ${ns} not found`);
    return q;
  };
  s = await seed({ sql: namespaceSqlConnector({ resolve, readSecret: secretReader(store), allowCidrs: ['127.0.0.1/32'] }), secrets: namespaceSecrets(resolve, secretReader(store)) });
  strict = await seed({ sql: namespaceSqlConnector({ resolve, readSecret: secretReader(store), allowCidrs: [] }) });
});

after(async () => {
  await admin?.end();
  await db?.stop();
});

const stage = (name: string, id: string, parameters: Record<string, unknown>) => ({ stage_name: name, config: { stage_id: id, parameters } });
const run = async (stages: unknown[], namespace = 'team-a/docs', engine = s) =>
  (await engine.engine.execute({ ...normalizeDefinition({ collection_identifiers: ['products'], input_schema: {}, stages, cache_config: { enabled: false } }), namespace }, { inputs: {} })).body as unknown as { documents: Doc[]; stage_statistics: { stages: Record<string, { metadata?: Record<string, unknown> }> } };
const lookup = (parameters: Record<string, unknown>) => stage('sql', 'sql_lookup', { connection_id: 'orders', ...parameters });
const top3 = vectorSearch([1, 0, 0, 0], { final_top_k: 3 });
const refused = (status: number, re: RegExp) => (e: unknown) => e instanceof QuarryError && e.status === status && re.test(e.message);
const count = async () => Number((await admin.query('SELECT count(*) AS n FROM orders')).rows[0].n);

describe('sql_lookup on PostgreSQL', () => {
  it('looks up each document with its own bound parameter; the first row goes to output_field', async () => {
    const b = await run([top3, lookup({ query: 'SELECT total, status FROM orders WHERE customer_id = $1', parameters: { cid: '{{DOC.metadata.customer_id}}' } })]);
    assert.equal(b.documents.length, 3);
    for (const d of b.documents) {
      const n = Number(String(d.document_id).slice(1));
      assert.deepEqual((d as Record<string, unknown>).sql_result, { total: n * 10, status: 'paid' });
    }
  });

  it('without input documents the rows become documents; result_handling all and on_no_results work', async () => {
    const rows = await run([lookup({ query: 'SELECT customer_id, total FROM orders WHERE total > $1 ORDER BY total LIMIT 3', parameters: { min: 250 } })]);
    assert.deepEqual(rows.documents.map((d) => (d as Record<string, unknown>).sql_result), [{ customer_id: 'cus_p26', total: 260 }, { customer_id: 'cus_p27', total: 270 }, { customer_id: 'cus_p28', total: 280 }]);
    const all = await run([top3, lookup({ query: 'SELECT total FROM orders WHERE total <= $1 ORDER BY total', parameters: { max: 20 }, result_handling: 'all', output_field: 'metadata.rows' })]);
    for (const d of all.documents) assert.deepEqual((d.metadata as Record<string, unknown>).rows, [{ total: 10 }, { total: 20 }]);
    const none = await run([top3, lookup({ query: 'SELECT total FROM orders WHERE customer_id = $1', parameters: { cid: 'nobody' } })]);
    for (const d of none.documents) assert.equal((d as Record<string, unknown>).sql_result, null);
  });

  it('parameter values are bound, never spliced: injected SQL in a value matches nothing and runs nothing', async () => {
    const b = await run([top3, lookup({ query: 'SELECT total FROM orders WHERE customer_id = $1', parameters: { cid: "x' OR '1'='1'; DELETE FROM orders; --" } })]);
    for (const d of b.documents) assert.equal((d as Record<string, unknown>).sql_result, null);
    assert.equal(await count(), 30);
  });

  it('writes and several statements are refused (400 naming query), by the stage and by the read-only transaction', async () => {
    await assert.rejects(run([lookup({ query: 'DELETE FROM orders' })]), (e: unknown) => refused(400, /one SELECT/)(e) && (e as QuarryError).details?.parameter === 'query');
    await assert.rejects(run([lookup({ query: 'WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d' })]), refused(400, /read-only transaction/));
    await assert.rejects(run([lookup({ query: "SELECT 1; DROP TABLE orders" })]), refused(400, /multiple commands/));
    await assert.rejects(run([lookup({ query: "SELECT set_config('transaction_read_only', 'off', false)" })]), refused(400, /refused/));
    assert.equal(await count(), 30);
  });

  it('a slow query is cancelled at timeout (504) and the stage does not wait for it', async () => {
    const t0 = performance.now();
    await assert.rejects(run([top3, lookup({ query: 'SELECT pg_sleep(20)', timeout: 1, on_error: 'raise' })]), refused(504, /cancelled after 1000 ms/));
    assert.ok(performance.now() - t0 < 10_000, `took ${performance.now() - t0} ms`);
  });

  it('a namespace reaches only the connections it declares, with its own Secret', async () => {
    await assert.rejects(run([lookup({ query: 'SELECT 1' })], 'team-b/docs'), (e: unknown) => refused(400, /not declared in QuarryNamespace 'docs'/)(e) && (e as QuarryError).details?.parameter === 'connection_id');
    await assert.rejects(run([lookup({ query: 'SELECT 1' })], 'team-c/docs'), refused(400, /Secret 'orders-db'.*team-c/));
    // In the same Kubernetes namespace, a Secret labelled for another QuarryNamespace is not this one's.
    await assert.rejects(run([lookup({ query: 'SELECT 1' })], 'team-a/other'), refused(400, /Secret 'orders-db'.*not one this namespace may use.*quarry\.dev\/namespace=other/));
  });

  it("a database on loopback is refused by the SSRF guard unless the engine's allow-list opens it (403)", async () => {
    await assert.rejects(run([lookup({ query: 'SELECT 1' })], 'team-a/docs', strict), refused(403, /loopback/));
  });

  it('{{SECRET.name}} in parameters is bound from the namespace secret; an error that echoes it shows [secret:name] instead', async () => {
    const ok = await run([lookup({ query: 'SELECT $1::text AS v', parameters: { t: '{{SECRET.db_token}}' } })]);
    assert.deepEqual(ok.documents.map((d) => (d as Record<string, unknown>).sql_result), [{ v: DB_TOKEN }], 'the query saw the value');
    const cast = { query: 'SELECT total FROM orders WHERE total = $1::int', parameters: { t: '{{SECRET.db_token}}' } };
    await assert.rejects(run([top3, lookup({ ...cast, on_error: 'raise' })]), (e: unknown) => refused(400, /invalid input syntax for type integer: "\[secret:db_token\]"/)(e) && !(e as Error).message.includes(DB_TOKEN));
    const skipped = await run([top3, lookup(cast)]);
    const stats = JSON.stringify(skipped.stage_statistics);
    assert.match(stats, /\[secret:db_token\]/);
    assert.ok(!stats.includes(DB_TOKEN), 'stage metadata errors are scrubbed');
    // Another tenant's run of the same stage reaches no secret of team-a.
    await assert.rejects(run([lookup({ query: 'SELECT $1::text', parameters: { t: '{{SECRET.db_token}}' } })], 'team-c/docs'), refused(400, /secret 'db_token', which this namespace does not hold/));
  });
});
